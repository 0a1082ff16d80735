"""A click track for the players: the beat grid of every cue as clicks, with a count-in bar before each.

``<stem>.click.wav`` plays an accented click (1.5 kHz) on each downbeat and a plain one (1 kHz) on
the other beats, as studio click tracks do, through every cue with music; before each cue a bar of
count-in clicks (at the cue's first tempo and metre, ending just before its first downbeat) gets
the players in. A cue whose tempo changes freely (ramps onto hits) is still clicked beat by beat;
a tacet cue gets no click. The MIDI gets the same clicks as a drum track (:data:`CLICK_TRACK`:
GM high/low wood block), which the render leaves out of the score's audio.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..scoring.tempo import TempoMap

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from ..contracts import Timeline

__all__ = ["CLICK_TRACK", "Click", "click_audio", "click_midi_track", "click_times", "write_click_wav"]

#: Name of the MIDI click track (the render skips it: clicks are for headphones, not the score).
CLICK_TRACK = "Click (tempscore)"
#: Click pitches (Hz): downbeat, other beats.
DOWNBEAT_HZ, BEAT_HZ = 1500.0, 1000.0
#: A click's length (s) and level (dBFS peak).
CLICK_SEC, CLICK_DBFS = 0.03, -6.0
#: GM percussion keys of the MIDI click: high wood block (downbeat), low wood block.
DOWNBEAT_KEY, BEAT_KEY = 76, 77


@dataclass(frozen=True)
class Click:
    """One click: its time (s from the picture's first frame), whether it is a downbeat, and whether it
    belongs to a count-in (before its cue's first downbeat)."""

    time_sec: float
    downbeat: bool
    count_in: bool
    cue_id: str


def click_times(timeline: Timeline) -> list[Click]:
    """Every beat of every cue with music, and a count-in bar before each cue.

    The count-in uses the cue's first tempo and metre, backwards from its first downbeat; it is
    left out where it would start before the picture, and cut short where the previous cue still
    plays (its clicks win)."""
    tmap = TempoMap(timeline.tempo_map)
    out: list[Click] = []
    for k, cue in enumerate(timeline.cues):
        if cue.tacet or cue.end_sec <= cue.start_sec:
            continue
        b0 = tmap.time_to_beats(cue.start_sec)
        b1 = tmap.time_to_beats(cue.end_sec)
        bpm, bpb = tmap.bpm_at(cue.start_sec), cue.beats_per_bar
        prev_plays = k > 0 and not timeline.cues[k - 1].tacet
        if not prev_plays:
            for i in range(bpb, 0, -1):
                t = cue.start_sec - i * 60.0 / bpm
                if t >= 0:
                    out.append(Click(round(t, 6), i == bpb, True, cue.id))
        n = int(np.floor(b1 - b0 + 1e-6))
        for i in range(n):
            t = tmap.beats_to_time(b0 + i)
            _, beat = tmap.bar_beat_of_beats(b0 + i, grid=1)
            out.append(Click(round(t, 6), abs(beat - 1.0) < 1e-6, False, cue.id))
    out.sort(key=lambda c: c.time_sec)
    return out


def _tone(freq: float, sr: int) -> np.ndarray:
    n = int(CLICK_SEC * sr)
    t = np.arange(n) / sr
    env = np.exp(-t / (CLICK_SEC / 5))
    return (10 ** (CLICK_DBFS / 20) * env * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def click_audio(timeline: Timeline, *, sr: int = 48000) -> np.ndarray:
    """The click track, mono float32, ``shape (n,)``, the picture's length at ``sr``."""
    n = int(round(timeline.video.duration_sec * sr))
    out = np.zeros(n, np.float32)
    tones = {True: _tone(DOWNBEAT_HZ, sr), False: _tone(BEAT_HZ, sr)}
    for c in click_times(timeline):
        a = int(round(c.time_sec * sr))
        tone = tones[c.downbeat][: max(0, n - a)]
        out[a:a + len(tone)] += tone
    return out


def write_click_wav(timeline: Timeline, path: Path, *, sr: int = 48000, protect: tuple[Path, ...] = ()) -> Path:
    """Write ``<stem>.click.wav`` (mono, 24-bit), atomically."""
    import soundfile as sf

    from ..fileio import atomic_path

    with atomic_path(path, protect=protect) as tmp:
        sf.write(str(tmp), click_audio(timeline, sr=sr), sr, subtype="PCM_24", format="WAV")
    return path


def click_midi_track(timeline: Timeline, tick: Callable[[float], int]) -> list[tuple[int, int, object]]:
    """The clicks as MIDI events on channel 10 ``(tick, order, message)``, for :func:`~tempscore.render.midi.score_to_midi`."""
    import mido

    ev: list[tuple[int, int, object]] = []
    for c in click_times(timeline):
        key = DOWNBEAT_KEY if c.downbeat else BEAT_KEY
        a = tick(c.time_sec)
        ev.append((a, 2, mido.Message("note_on", channel=9, note=key, velocity=110 if c.downbeat else 80)))
        ev.append((a + 60, 1, mido.Message("note_off", channel=9, note=key, velocity=0)))
    return ev
