"""Reading a project's files back: timelines (validated), dialogue regions, fingerprints, seeds."""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING

from ..contracts import Timeline
from ..errors import InvalidSettings, OutputError

if TYPE_CHECKING:
    import numpy as np

    from ..contracts import VideoInfo
    from ..project import OutputSet

log = logging.getLogger(__name__)

__all__ = ["load_timeline", "load_for_update", "check_conform_from", "read_duck_regions", "speech_regions_for",
           "refuse_other_videos_file", "midi_seed", "save_fingerprint", "load_fingerprint"]


def load_timeline(path: Path, *, raw: bytes | None = None) -> Timeline:
    """Read and validate a (possibly hand-edited) timeline (:func:`tempscore.scoring.validate.load_timeline`,
    every command's one check); bad fields give a one-line error naming them. ``raw``: the file's
    bytes, already read."""
    from ..scoring.validate import load_timeline as load_checked

    return load_checked(Path(path), raw=raw)


def load_for_update(path: Path) -> tuple[Timeline, bytes | None]:
    """:func:`load_timeline`, and the bytes it parsed: a stage that writes the timeline back passes
    them on, so a save made meanwhile is not overwritten."""
    try:
        raw = Path(path).read_bytes()
    except OSError:
        raw = None  # load_timeline says why
    return load_timeline(path, raw=raw), raw


def check_conform_from(path: Path, *, fresh: bool = False) -> None:
    """``--conform-from PATH``: a readable timeline, and not with ``--fresh`` (one line, exit 2, if not)."""
    if fresh:
        raise InvalidSettings("--conform-from takes the edits of an earlier version, --fresh drops all edits: "
                              "give one of them")
    if not Path(path).is_file():
        raise InvalidSettings(f"--conform-from {path}: file not found; give the earlier version's "
                              "<stem>.timeline.json")
    load_timeline(Path(path))


def read_duck_regions(path: Path) -> list[tuple[float, float]]:
    """Speech regions from a CSV file: two columns ``start_sec,end_sec`` (a header line and ``#``
    comments are allowed). Bad rows give a one-line :class:`InvalidSettings` naming the line."""
    path = Path(path)
    if not path.is_file():
        raise InvalidSettings(f"--duck-regions {path}: file not found")
    out: list[tuple[float, float]] = []
    with path.open(newline="", encoding="utf-8") as f:
        for i, row in enumerate(csv.reader(f), 1):
            cells = [c.strip() for c in row if c.strip()]
            if not cells or cells[0].startswith("#"):
                continue
            try:
                a, b = float(cells[0]), float(cells[1])
            except (ValueError, IndexError):
                if i == 1 and not cells[0].replace(".", "", 1).lstrip("-").isdigit():  # a header line
                    continue
                raise InvalidSettings(f"{path}:{i}: expected two numbers start_sec,end_sec, got {','.join(row)!r}") from None
            if not (0 <= a < b):
                raise InvalidSettings(f"{path}:{i}: a region needs 0 <= start_sec < end_sec, got {a:g},{b:g}")
            out.append((a, b))
    return out


def speech_regions_for(timeline: Timeline, analysis_file: Path, *,
                       outputs: OutputSet | None = None) -> tuple[list[tuple[float, float]], str]:
    """Dialogue regions from the analysis the timeline was planned from (``audio.speech``), if any:
    the file the timeline names, else ``analysis_file`` (the project's); this run's version of it
    when ``outputs`` has one.

    Returns ``(regions, source)``; ``source`` names the file, or says why there are none.
    """
    candidates = [Path(timeline.analysis_path)] if timeline.analysis_path else []
    candidates.append(Path(analysis_file))
    for p in candidates:
        p = outputs.current(p) if outputs is not None else p
        if p.is_file():
            try:
                data = json.loads(p.read_text(encoding="utf-8"))
                speech = (data.get("audio") or {}).get("speech") or []
                regions = [(float(r["start_sec"]), float(r["end_sec"])) for r in speech]
                regions = [(a, b) for a, b in regions if math.isfinite(a) and math.isfinite(b) and 0 <= a < b]
            except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
                log.warning("%s: speech regions unreadable (%s); no ducking", p, exc)
                return [], f"{p.name}: unreadable"
            return regions, (p.name if regions else f"{p.name}: no speech regions")
    return [], "no analysis file"


def refuse_other_videos_file(path: Path, recorded: VideoInfo, video: Path, content_hash: str) -> None:
    """Refuse to overwrite ``path`` (a stage file made for the ``recorded`` video) when it was made
    for another picture that is still there: two videos with the same stem in one folder
    (``a.mp4``, ``a.mov``) would share their outputs, and the other's plan and edits would be
    lost. Not refused: the same content (a copy), a recut (the same path, new content), a moved
    project (the recorded video gone)."""
    if not recorded.path or recorded.content_hash == content_hash:
        return
    rec, video = Path(recorded.path), Path(video)
    try:
        if rec.resolve() == video.resolve() or not rec.exists() or rec.samefile(video):
            return
    except OSError:
        return
    raise OutputError(f"{path.name} in {path.parent} was made for {rec}, another video; its plan and outputs "
                      f"would be overwritten: write {video.name}'s elsewhere with -o DIR (or rename it)")


def midi_seed(midi_path: Path) -> int | None:
    """The composer seed recorded in a score MIDI file's conductor text ("..., seed N"), if any."""
    from ..render.midi import conductor_texts

    for text in conductor_texts(midi_path) or []:
        m = re.search(r"seed (-?\d+)", text)
        if m:
            return int(m.group(1))
    return None


def save_fingerprint(path: Path, fingerprint: np.ndarray, *, protect: tuple[Path, ...]) -> None:
    """Keep a picture fingerprint (what a recut's edits are conformed with); a failure only costs that."""
    import io

    import numpy as np

    from ..fileio import atomic_path

    buf = io.BytesIO()
    np.savez_compressed(buf, fingerprint=fingerprint)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, protect=protect) as tmp:
            tmp.write_bytes(buf.getvalue())
    except OSError as exc:
        log.debug("could not keep the picture fingerprint %s (%s)", path, exc)


def load_fingerprint(path: Path) -> np.ndarray | None:
    """A picture fingerprint kept by :func:`save_fingerprint`, or None."""
    import numpy as np

    with contextlib.suppress(OSError, ValueError, KeyError), np.load(path, allow_pickle=False) as z:
        fp = z["fingerprint"]
        return fp if fp.ndim == 2 and fp.dtype == np.uint8 else None
    return None
