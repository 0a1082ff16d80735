"""What a user may type where a command wants a project's file: the file, its folder, or the video."""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import InvalidSettings
from ..project import stem_of

log = logging.getLogger("tempscore.cli")

__all__ = ["stage_input", "timeline_cue_number"]


def stage_input(path: Path, suffix: str, output_dir: Path | None, *, command: str, before: str) -> Path:
    """The stage file a command reads, as a user may name it: the file itself; a folder holding
    one ``*<suffix>`` (the ``-o`` of ``score``); or the video, whose ``<stem><suffix>`` is in
    ``-o`` or beside it. Anything else (another stage's file too) is returned as given: the stage
    says what is wrong with it."""
    path = Path(path)
    if path.is_dir():
        found = sorted(path.glob(f"*{suffix}"))
        if len(found) == 1:
            return found[0]
        if found:
            raise InvalidSettings(f"{path} holds {len(found)} {suffix} files ({', '.join(p.name for p in found)}); "
                                  f"name one: tempscore {command} {found[0]}")
        raise InvalidSettings(f"{path} holds no <stem>{suffix}; run `tempscore {before}` first (or `tempscore score "
                              f"VIDEO -o {path}` for every stage)")
    if not path.is_file() or path.suffix.lower() in (".json", ".mid", ".midi", ".wav", ".csv"):
        return path  # a stage's file (a wrong one is named by the stage), or nothing there
    for folder in ([output_dir] if output_dir is not None else []) + [path.parent]:
        candidate = Path(folder) / f"{stem_of(path)}{suffix}"
        if candidate.is_file():
            log.info("%s: reading %s", path.name, candidate)
            return candidate
    return path


def timeline_cue_number(args: list[str], *, command: str, what: str,
                         folder: Path | None = None) -> tuple[Path, str, int]:
    """``TIMELINE CUE N`` or ``CUE N [TIMELINE]`` (the timeline: the only ``*.timeline.json`` in
    ``folder`` (``-o``) or the working folder when left out; a folder given as TIMELINE: the only
    one in it) -> (timeline, cue, N)."""
    usage = f"{command} CUE {what.upper()}"
    if not 2 <= len(args) <= 3:
        raise InvalidSettings(f"give the cue and the {what} (and the timeline): tempscore {usage} <stem>.timeline.json")
    first, second, third = (*args, None) if len(args) == 2 else args

    def is_timeline(arg: str) -> bool:
        return arg.lower().endswith(".json") or Path(arg).is_file() or Path(arg).is_dir()

    def only_one_in(where: Path) -> Path:
        found = sorted(where.glob("*.timeline.json"))
        if len(found) != 1:
            listed = (f"found {', '.join(p.name for p in found)}" if found else
                      "none in this folder" if where == Path.cwd() else f"none in {where}")
            raise InvalidSettings(f"which timeline? give it: tempscore {usage} <stem>.timeline.json ({listed})")
        return found[0]

    if folder is not None and not folder.is_dir():
        raise InvalidSettings(f"-o {folder}: no such folder; give the folder `tempscore score` wrote to")
    if third is None:
        if is_timeline(first):
            raise InvalidSettings(f"give the cue and the {what}: tempscore {command} {first} CUE {what.upper()}")
        timeline, cue, number = only_one_in(folder if folder is not None else Path.cwd()), first, second
    elif is_timeline(first):
        timeline, cue, number = Path(first), second, third
    else:
        timeline, cue, number = Path(third), first, second
    if timeline.is_dir():
        timeline = only_one_in(timeline)
    try:
        return timeline, cue, int(number)
    except ValueError:
        example = 4 if command == "rate" else 2
        raise InvalidSettings(f"{what} {number!r} is not a whole number; e.g. tempscore {command} {timeline.name} "
                              f"{cue} {example}") from None
