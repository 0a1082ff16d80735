"""Auditions: each alternative take of a cue as its own MIDI file and a listenable WAV.

``<stem>.variants/`` holds ``<cue>.v<k>.mid`` and ``<cue>.v<k>.wav`` per variant and
``manifest.json`` (cue -> seeds, the take of each, and what each WAV was rendered from), which
``tempscore pick`` reads. An audition whose MIDI comes out byte-identical to the one its WAV was
rendered from (with the same soundfont and length, the WAV untouched) is not rendered again.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..fileio import write_text_atomic

if TYPE_CHECKING:
    from ..cache import StageCache
    from ..contracts import Cue, Score, Timeline

__all__ = ["write_auditions", "cue_tempo_map", "file_state", "identity"]

AUDITION_SR = 48000
AUDITION_LUFS = -23.0


def identity(path: Path) -> list:
    """``[resolved path, size, mtime_ns]``: a file as cache keys name it."""
    st = Path(path).stat()
    return [str(Path(path).resolve()), st.st_size, st.st_mtime_ns]


def file_state(path: Path | str) -> list | None:
    """``[size, mtime_ns]`` of a file, or None when it is not there."""
    try:
        st = Path(path).stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def cue_tempo_map(timeline: Timeline, cue: Cue) -> list:
    """The cue's slice of the timeline's tempo map, shifted to start at 0 (ramps and meter changes
    kept), so an audition file has the cue's real bar grid."""
    from ..contracts import TempoEvent

    events = sorted(timeline.tempo_map, key=lambda e: e.time_sec)
    at_start = [e for e in events if e.time_sec <= cue.start_sec + 1e-9]
    first = at_start[-1] if at_start else TempoEvent(0.0, cue.tempo_bpm, cue.beats_per_bar)
    out = [TempoEvent(0.0, first.bpm, first.beats_per_bar, bar_line=True)]
    for e in events:
        if cue.start_sec + 1e-9 < e.time_sec < cue.end_sec - 1e-9:
            out.append(TempoEvent(round(e.time_sec - cue.start_sec, 9), e.bpm, e.beats_per_bar, bar_line=e.bar_line))
    return out


def _read_manifest(folder: Path) -> dict[str, Any]:
    try:
        old = json.loads((folder / "manifest.json").read_text())
        if not isinstance(old, dict):
            raise ValueError("not an object")
    except (OSError, ValueError):
        old = {}
    return old


def _kept_entries(old: dict[str, Any], timeline: Timeline, only: list[str]) -> tuple[dict, dict]:
    """The manifest's seeds and takes of the cues not auditioned again (still in the timeline)."""
    try:
        seeds = {k: v for k, v in (old.get("seeds") or {}).items()
                 if k not in only and any(c.id == k for c in timeline.cues)}
        takes = {k: v for k, v in (old.get("takes") or {}).items() if k in seeds}
    except AttributeError:
        return {}, {}
    return seeds, takes


def _cue_audition(score: Score, timeline: Timeline, cue: Cue, seed: int) -> Score:
    """The cue's stretch of a whole-film score, starting at 0, with the cue's bar grid."""
    from ..contracts import Score as ScoreType

    parts = []
    for p in score.parts:
        notes = [type(x)(x.start_sec - cue.start_sec, min(x.end_sec, cue.end_sec) - cue.start_sec, x.pitch, x.velocity)
                 for x in p.notes if cue.start_sec - 1e-6 <= x.start_sec < cue.end_sec]
        if notes:
            parts.append(type(p)(p.name, p.program, p.is_drum, notes))
    return ScoreType(parts=parts, tempo_map=cue_tempo_map(timeline, cue), markers=[],
                     duration_sec=cue.end_sec - cue.start_sec, composer=score.composer, seed=seed)


def write_auditions(timeline: Timeline, scores: dict[str, list[tuple[int, Score]]], folder: Path, *,
                    cache: StageCache | None = None, only: list[str] | None = None) -> dict[str, list[str]]:
    """Write the auditions of ``scores`` (cue id -> ``(seed, whole-film score with that cue's
    take)`` per variant) into ``folder`` with its manifest; ``only``: the cues auditioned now
    (the others' entries in an existing manifest are kept). Returns cue id -> WAV paths."""
    from ..render.midi import write_midi
    from ..render.mix import normalize_loudness, write_wav
    from ..render.synth import default_soundfont, synthesize_midi

    protect = (Path(timeline.video.path),)
    old = _read_manifest(folder)
    manifest, takes = _kept_entries(old, timeline, only) if only is not None else ({}, {})
    rendered = old.get("auditions") if isinstance(old.get("auditions"), dict) else {}
    auditions: dict[str, dict] = {}
    font_id = identity(default_soundfont())
    fonts: dict = {}  # soundfonts loaded once for all the auditions
    files: dict[str, list[str]] = {}
    for cue in timeline.cues:
        if cue.id not in scores:
            continue
        manifest[cue.id] = [sd for sd, _ in scores[cue.id]]
        for k, (sd, score) in enumerate(scores[cue.id], 1):
            takes.setdefault(cue.id, []).append(score.takes.get(cue.id, {}))
            name = f"{cue.id}.v{k}"
            mid = write_midi(_cue_audition(score, timeline, cue, sd), folder / f"{name}.mid", protect=protect)
            length = cue.end_sec - cue.start_sec + 1.0
            record = {"midi_sha256": hashlib.sha256(mid.read_bytes()).hexdigest(), "soundfont": font_id,
                      "duration_sec": round(length, 6)}
            wav = folder / f"{name}.wav"
            if rendered.get(name) != {**record, "wav": file_state(wav)}:  # new notes, other font or length, WAV touched
                audio = synthesize_midi(mid, sr=AUDITION_SR, duration_sec=length, cache=cache, fonts=fonts)
                audio, _ = normalize_loudness(audio, sr=AUDITION_SR, target_lufs=AUDITION_LUFS)
                wav = write_wav(wav, audio, sr=AUDITION_SR, protect=protect)
            auditions[name] = {**record, "wav": file_state(wav)}
            files.setdefault(cue.id, []).append(str(wav))
    if only is not None:  # the other cues' auditions stay as they were
        auditions = {**{k: v for k, v in rendered.items() if k.split(".v")[0] in manifest}, **auditions}
    write_text_atomic(folder / "manifest.json",
                      json.dumps({"seeds": manifest, "takes": takes, "auditions": auditions}, indent=1),
                      protect=protect)
    return files
