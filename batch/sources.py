"""What a batch scores: the videos named by files, folders and manifests, each with its options
and the folder under OUT its outputs go to.

A manifest is a CSV file (a header row) or JSON Lines (one object a line): a ``path`` to the video
(relative to the manifest) plus any option of ``tempscore score`` by its command-line name
(``style``, ``mood``, ``prompt``, ``seed``, ``tempo-range``, ``no-dialogue`` ...), and optionally
``name``, the video's folder under OUT. In CSV an empty cell leaves the option as the command line
set it and ``;`` separates the entries of a repeatable option (``mood``, ``prompt``).
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import hashlib
import json
import os
import typing
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import InvalidSettings

__all__ = ["Job", "VIDEO_SUFFIXES", "MANIFEST_SUFFIXES", "REPORT_NAMES", "PATH_OPTIONS", "collect_jobs",
           "read_manifest", "option_value", "is_file_option", "assign_folders", "options_digest"]

#: Files a folder is searched for (case-insensitive).
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".mxf", ".avi", ".webm", ".mts", ".m2ts", ".mpg", ".mpeg",
                  ".wmv", ".ts")
#: A source with one of these suffixes is a manifest, not a video.
MANIFEST_SUFFIXES = (".csv", ".jsonl", ".ndjson")
#: What the batch itself writes at the top of OUT (no video's folder may take these names).
REPORT_NAMES = ("batch.csv", "batch.json", "index.html", ".batch")
#: Manifest columns naming the video.
_PATH_KEYS = ("path", "video", "file")
#: Options that name files: relative to the manifest that names them (a soundfont may be a name instead).
PATH_OPTIONS = ("reference", "duck_regions", "conform_from", "clip_checkpoint", "soundfont")
#: Soundfonts named, not given as files.
FONT_NAMES = ("fluidr3", "timgm6mb")
#: Options that say how to run, not what to make: a batch takes them from its command line only.
_RUN_ONLY = ("force",)


@dataclass(frozen=True)
class Job:
    """One video of a batch.

    Attributes
    ----------
    video : Path
        The video, absolute.
    label : str
        How the batch names it: its path under the folder it was found in, as a manifest wrote it, or
        its file name (POSIX separators).
    options : dict
        Options over the batch's own, by :class:`~tempscore.api.Options` field name.
    where : str
        Where it was listed (``"lib/"``, ``"shots.csv line 4"``), for messages.
    name : str or None
        The folder under OUT a manifest asked for.
    """

    video: Path
    label: str
    options: dict[str, Any] = field(default_factory=dict)
    where: str = ""
    name: str | None = None

    @property
    def base(self) -> str:
        """The folder under OUT it would take alone: ``name``, else the label without its extension."""
        if self.name:
            return self.name
        p = PurePosixPath(self.label)
        return str(p.with_name(p.stem)) if p.suffix else str(p)


def collect_jobs(sources: Iterable[Path | str], *, out_dir: Path | None = None) -> list[Job]:
    """The videos of ``sources``: files, folders (searched recursively for :data:`VIDEO_SUFFIXES`,
    hidden entries and tempscore's outputs left out, and ``out_dir`` when it is inside) and
    manifests. The same video with the same options listed twice is one job.

    Raises
    ------
    InvalidSettings
        A source that does not exist, a manifest that cannot be read, no video at all.
    """
    jobs: list[Job] = []
    for src in sources:
        path = Path(src)
        if not path.exists():
            raise InvalidSettings(f"{path}: no such file or folder; give videos, folders of videos or a manifest "
                                  f"(.csv, .jsonl)")
        if path.is_dir():
            found = list(_videos_under(path, skip=out_dir))
            if not found:
                raise InvalidSettings(f"{path}: no videos in it ({', '.join(s[1:] for s in VIDEO_SUFFIXES[:5])}, ...)")
            jobs += found
        elif path.suffix.lower() in MANIFEST_SUFFIXES:
            jobs += read_manifest(path)
        else:
            jobs.append(Job(video=Path(os.path.abspath(path)), label=path.name, where=str(path)))
    if not jobs:
        raise InvalidSettings("no videos to score; give videos, folders of videos or a manifest")
    return _unique(jobs)


def _videos_under(folder: Path, *, skip: Path | None) -> Iterator[Job]:
    root = Path(os.path.abspath(folder))
    skip_real = os.path.realpath(skip) if skip is not None else None
    for here, dirs, files in os.walk(root):
        if skip_real is not None and os.path.realpath(here) == skip_real:
            dirs[:] = []
            continue
        # hidden folders and a project's cache are not looked in; the walk is in name order (stable)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not d.endswith(".cache"))
        for name in sorted(files):
            if name.startswith(".") or not name.lower().endswith(VIDEO_SUFFIXES) or ".scored." in name:
                continue
            video = Path(here) / name
            yield Job(video=video, label=video.relative_to(root).as_posix(), where=f"{folder}/")


def read_manifest(path: Path) -> list[Job]:
    """The jobs of a CSV or JSON Lines manifest (see the module's doc); a bad row is one line naming it."""
    rows = _jsonl_rows(path) if path.suffix.lower() != ".csv" else _csv_rows(path)
    jobs = [_job_of_row(path, line, row) for line, row in rows]
    if not jobs:
        raise InvalidSettings(f"{path}: lists no videos; give a 'path' column (CSV) or key (JSON Lines)")
    return jobs


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = [h.strip() for h in next(reader, [])]
            if not any(_key(h) in _PATH_KEYS for h in header):
                raise InvalidSettings(f"{path}: the first row must name the columns, one of them 'path' (the video)")
            for row in reader:
                if not any(c.strip() for c in row) or row[0].lstrip().startswith("#"):
                    continue
                if len(row) > len(header):
                    raise InvalidSettings(f"{path} line {reader.line_num}: {len(row)} cells for {len(header)} columns")
                values: dict[str, Any] = {}
                for h, cell in zip(header, row):
                    if cell.strip():  # an empty cell: the command line's value
                        values.setdefault(h, []).append(cell.strip())
                yield reader.line_num, {h: v[0] if len(v) == 1 else v for h, v in values.items()}
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InvalidSettings(f"{path}: cannot read it as CSV ({exc})") from exc


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidSettings(f"{path}: cannot read it ({exc})") from exc
    for i, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise InvalidSettings(f"{path} line {i}: not a JSON object ({exc.args[0]})") from None
        if not isinstance(row, dict):
            raise InvalidSettings(f"{path} line {i}: not a JSON object; write one object a line, e.g. "
                                  '{"path": "cut.mp4", "style": "action"}')
        yield i, {k: v for k, v in row.items() if v is not None}


def _key(column: str) -> str:
    """A column's option name: ``--tempo-range``, ``tempo-range`` and ``tempo_range`` are one."""
    return column.strip().lstrip("-").replace("-", "_").lower()


def _job_of_row(manifest: Path, line: int, row: dict[str, Any]) -> Job:
    where = f"{manifest} line {line}"
    given = {_key(k): v for k, v in row.items()}
    path_key = next((k for k in _PATH_KEYS if k in given), None)
    if path_key is None or not isinstance(given[path_key], str) or not given[path_key].strip():
        raise InvalidSettings(f"{where}: no video path; give it in the 'path' column")
    written = given.pop(path_key).strip()
    name = given.pop("name", None)
    if name is not None:
        name = _folder_name(str(name), where)
    base = manifest.parent
    options = {}
    for k, v in given.items():
        if k in _PATH_KEYS:
            raise InvalidSettings(f"{where}: give the video once (columns {', '.join(_PATH_KEYS)} all name it)")
        opt, value = option_value(k, v, where=where)
        if is_file_option(opt, value):
            value = os.path.abspath(base / os.path.expanduser(value))
        options[opt] = value
    video = Path(os.path.abspath(base / os.path.expanduser(written)))
    rel = PurePosixPath(Path(written).as_posix())
    label = rel.as_posix() if not rel.is_absolute() and ".." not in rel.parts and "~" not in written else video.name
    return Job(video=video, label=_normalise(label), options=options, where=where, name=name)


def is_file_option(name: str, value: Any) -> bool:
    """Whether option ``name`` set to ``value`` names a file."""
    return (name in PATH_OPTIONS and isinstance(value, str) and bool(value)
            and not (name == "soundfont" and value.lower() in FONT_NAMES))


def _normalise(label: str) -> str:
    return PurePosixPath(os.path.normpath(label)).as_posix()


def _folder_name(name: str, where: str) -> str:
    p = PurePosixPath(name.strip().replace("\\", "/"))
    if not name.strip() or p.is_absolute() or any(part in ("..", ".") for part in p.parts):
        raise InvalidSettings(f"{where}: name {name!r} must be a folder under OUT (relative, no '..')")
    if p.parts[0] in REPORT_NAMES:
        raise InvalidSettings(f"{where}: name {name!r} is what the batch report is called; choose another")
    return p.as_posix()


@functools.cache
def _option_types() -> dict[str, Any]:
    from ..api.options import Options

    hints = typing.get_type_hints(Options)
    return {f.name: hints[f.name] for f in dataclasses.fields(Options)}


def option_value(key: str, value: Any, *, where: str) -> tuple[str, Any]:
    """The :class:`~tempscore.api.Options` field and value a manifest's column and cell stand for
    (``"no-dialogue", "yes"`` -> ``("dialogue", False)``); a wrong one is one line naming ``where``."""
    name = _key(key)
    negate = name.startswith("no_") and name[3:] in _option_types() and name not in _option_types()
    if negate:
        name = name[3:]
    types = _option_types()
    if name not in types or name in _RUN_ONLY:
        known = ", ".join(k.replace("_", "-") for k in sorted(types) if k not in _RUN_ONLY)
        raise InvalidSettings(f"{where}: '{key}' is not an option of a video; use path, name or one of {known}")
    try:
        out = _convert(types[name], value)
    except (TypeError, ValueError):
        raise InvalidSettings(f"{where}: {key} = {value!r} is not a {_type_name(types[name])}") from None
    return name, (not out) if negate else out


def _convert(kind: Any, value: Any) -> Any:
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    if typing.get_origin(kind) is list:
        items = value if isinstance(value, list) else [value]
        return [s.strip() for item in items for s in str(item).split(";") if s.strip()] if any(
            isinstance(i, str) for i in items) else [str(i) for i in items]
    if args:  # X | None
        kind = args[0]
    if kind is bool:
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word in ("1", "true", "yes", "on", "y"):
            return True
        if word in ("0", "false", "no", "off", "n"):
            return False
        raise ValueError(value)
    if kind is int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(value)
        return int(value)
    if kind is float:
        if isinstance(value, bool):
            raise ValueError(value)
        return float(value)
    if isinstance(value, (list, dict, bool)):
        raise TypeError(value)
    return str(value)


def _type_name(kind: Any) -> str:
    if typing.get_origin(kind) is list:
        return "list of texts (';' between them in CSV)"
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    kind = args[0] if args else kind
    return {bool: "yes/no", int: "whole number", float: "number"}.get(kind, "text")


def options_digest(options: dict[str, Any]) -> str:
    """A short stable name of a set of options (canonical JSON hashed)."""
    return hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _unique(jobs: list[Job]) -> list[Job]:
    seen: set[tuple[str, str, str | None]] = set()
    out = []
    for j in jobs:
        key = (os.path.normcase(str(j.video)), options_digest(j.options), j.name)
        if key not in seen:
            seen.add(key)
            out.append(j)
    return out


def assign_folders(jobs: list[Job], claim: Callable[[str], tuple[str, str] | None]) -> list[str]:
    """Each job's folder under OUT (a relative POSIX path), all different.

    A job takes its :attr:`Job.base` when no other job of the batch wants it. Jobs that want the same
    folder (``cut.mp4`` and ``cut.mov``; one video twice with two styles; a name shared by two
    sources) take ``base``, ``base-2``, ``base-3`` ...: a job keeps the one an earlier run gave it
    (``claim(folder)``: the label and options digest recorded there, or None), the others go in
    label order (as listed, for one label) to the first free one.
    """
    wanted: dict[str, list[int]] = {}
    for i, j in enumerate(jobs):
        wanted.setdefault(_not_a_report_name(j.base), []).append(i)
    out: list[str | None] = [None] * len(jobs)
    taken = set(wanted)
    for base, idx in sorted(wanted.items()):
        if len(idx) == 1:
            out[idx[0]] = base
            continue
        names = list(candidate_folders(base, len(idx), taken - {base}))
        claims = {n: claim(n) for n in names}
        free = set(names)
        order = sorted(idx, key=lambda i: jobs[i].label)  # (stable: one label's jobs as listed)
        for precise in (True, False):  # a job's own folder from before: same label and options, then same label
            for i in order:
                mine = (jobs[i].label, options_digest(jobs[i].options))
                hit = next((n for n in names if out[i] is None and n in free and (c := claims[n]) is not None
                            and (tuple(c) == mine if precise else c[0] == mine[0])), None)
                if hit is not None:
                    out[i] = hit
                    free.discard(hit)
        for i in order:
            if out[i] is None:
                out[i] = next(n for n in names if n in free)
                free.discard(out[i])
        taken.update(names)
    return [str(o) for o in out]


def _not_a_report_name(base: str) -> str:
    parts = PurePosixPath(base).parts
    if parts[0] in REPORT_NAMES:  # a video called batch.json.mp4
        return str(PurePosixPath(f"{parts[0]}-video", *parts[1:]))
    return base


def candidate_folders(base: str, count: int, taken: set[str] | frozenset[str] = frozenset()) -> Iterator[str]:
    """``count`` folder names for jobs that all want ``base``: ``base``, ``base-2``, ... skipping
    those ``taken`` by other jobs."""
    n, made = 1, 0
    while made < count:
        name = base if n == 1 else f"{base}-{n}"
        n += 1
        if name in taken:
            continue
        made += 1
        yield name
