"""A score composers can read: the temp score as MusicXML (music21), and a PDF where MuseScore is.

``<stem>.score.musicxml`` holds one part per instrument of the MIDI (the click track left out),
named as the players read them and written at their written pitch (clarinets and trumpets in B
flat, horns in F sound lower than written), with the tempo map's tempi and metres, a key
signature per cue, each cue's name as a rehearsal mark and each hit as a text mark over its beat.
Dorico, Sibelius, Finale and MuseScore open it as a sketch to orchestrate. ``<stem>.score.pdf``
is MuseScore 3's headless rendering of it (Debian's ``musescore3``), when installed.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from ..scoring.tempo import TempoMap

if TYPE_CHECKING:
    from music21.base import Music21Object
    from music21.stream import Score

    from ..contracts import Timeline

log = logging.getLogger(__name__)

__all__ = ["QUARTER_GRID", "musescore_exe", "musicxml_score", "write_musicxml", "write_pdf"]

#: The notation's quantisation: notes on sixteenths and eighth-note triplets (quarter lengths).
QUARTER_GRID = (4, 3)


def musicxml_score(midi: Path, timeline: Timeline) -> Score:
    """The MIDI as a music21 score, with rehearsal marks per cue and text marks per hit (see the module)."""
    from music21 import converter, expressions

    from .click import CLICK_TRACK

    sc = converter.parse(str(midi), format="midi", quantizePost=True, quarterLengthDivisors=QUARTER_GRID)
    for p in list(sc.parts):
        if (p.partName or "") == CLICK_TRACK or not p.flatten().notes:
            sc.remove(p)
    tmap = TempoMap(timeline.tempo_map)
    top = sc.parts[0] if sc.parts else None
    if top is None:
        return sc
    measures = list(top.getElementsByClass("Measure"))

    def put(q: float, el: Music21Object) -> None:
        m = next((m for m in reversed(measures) if m.offset <= q + 1e-9), None)
        if m is None:
            top.insert(q, el)
        else:
            m.insert(max(0.0, q - m.offset), el)

    for cue in timeline.cues:
        put(round(tmap.time_to_beats(cue.start_sec) * 12) / 12,
            expressions.RehearsalMark(f"{cue.id}{f' {cue.title}' if cue.title else ''}"))
    for i, h in enumerate(timeline.hit_points, 1):
        te = expressions.TextExpression(f"H{i} {h.kind}")
        te.placement = "above"
        put(round(tmap.time_to_beats(h.time_sec) * 12) / 12, te)
    return sc


def write_musicxml(midi: Path, timeline: Timeline, path: Path, *, protect: tuple[Path, ...] = ()) -> dict:
    """Write ``<stem>.score.musicxml`` (written pitch), atomically; returns its parts and notes."""
    from ..fileio import atomic_path

    sc = musicxml_score(midi, timeline)
    written = sc.toWrittenPitch() if any(p.getInstrument().transposition is not None for p in sc.parts) else sc
    with atomic_path(path, protect=protect) as tmp:
        written.write("musicxml", fp=str(tmp), makeNotation=True)
    return {"parts": [p.partName or "" for p in sc.parts], "notes": sum(len(p.flatten().notes) for p in sc.parts)}


def musescore_exe() -> str | None:
    """MuseScore's command (``mscore3``, ``musescore3``, ``mscore``, ``musescore``), or None."""
    for name in ("mscore3", "musescore3", "mscore", "musescore", "mscore4portable"):
        if found := shutil.which(name):
            return found
    return None


def write_pdf(musicxml: Path, path: Path, *, timeout_sec: float = 180.0, protect: tuple[Path, ...] = ()) -> str:
    """Render the MusicXML to PDF with MuseScore (headless); returns what happened, in words."""
    from ..fileio import atomic_path

    exe = musescore_exe()
    if exe is None:
        return "skipped: MuseScore is not installed (Debian: apt install musescore3)"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": os.environ.get("XDG_RUNTIME_DIR", "/tmp")}
    with atomic_path(path, protect=protect) as tmp:
        tmp.unlink()
        try:
            proc = subprocess.run([exe, "-o", str(tmp), str(musicxml)], capture_output=True, text=True, env=env,
                                  timeout=timeout_sec, check=False)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"MuseScore took over {timeout_sec:.0f} s to engrave {musicxml.name}") from None
        if proc.returncode != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
            tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-2:])
            raise RuntimeError(f"MuseScore could not engrave {musicxml.name}: {tail}")
    return f"engraved by {Path(exe).name}"
