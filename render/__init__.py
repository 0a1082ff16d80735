"""Timeline + notes -> MIDI, audio (soundfont synthesis), mix, mux."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..contracts import Timeline
from .midi import score_to_midi, write_midi
from .mix import LoudnessReport, apply_fades, normalize_loudness, true_peak_dbtp, write_wav
from .mux import mux
from .synth import default_soundfont, synthesize_midi

log = logging.getLogger(__name__)

__all__ = ["RenderSettings", "RenderResult", "render_audio", "score_to_midi", "write_midi", "mux",
           "default_soundfont", "synthesize_midi", "true_peak_dbtp"]


@dataclass
class RenderSettings:
    sr: int = 48000
    target_lufs: float = -23.0  # music alone, EBU R128
    max_true_peak_dbtp: float = -1.0
    soundfont: str | None = None


@dataclass
class RenderResult:
    music: np.ndarray  # (n, 2) float32, the score alone, loudness-normalised
    mix: np.ndarray | None  # (n, 2) production audio + score, None without production audio
    loudness: LoudnessReport
    soundfont: str


def render_audio(midi_path: Path, timeline: Timeline, *, settings: RenderSettings | None = None) -> RenderResult:
    """Synthesise the MIDI score to exactly the video's length, fade, normalise, and mix with the
    production audio when the video has one.

    Parameters
    ----------
    midi_path : Path
        ``<stem>.score.mid`` (possibly edited in a DAW).
    timeline : Timeline
        For the video's duration, path and the cue edges.
    """
    s = settings or RenderSettings()
    sf = Path(s.soundfont) if s.soundfont else default_soundfont()
    dur = timeline.video.duration_sec
    music = synthesize_midi(midi_path, sr=s.sr, duration_sec=dur, soundfont=sf)
    music = apply_fades(music, sr=s.sr, fade_in_sec=[c.start_sec for c in timeline.cues],
                        fade_out_end_sec=[dur])
    music, report = normalize_loudness(music, sr=s.sr, target_lufs=s.target_lufs,
                                       max_true_peak_dbtp=s.max_true_peak_dbtp)
    mix = None
    if timeline.video.audio_streams:
        from ..vision.audio import read_audio

        got = read_audio(Path(timeline.video.path), sr=s.sr, mono=False)
        if got is not None and len(got[0]):
            prod = np.zeros_like(music)
            n = min(len(prod), len(got[0]))
            prod[:n] = got[0][:n]
            mix = prod + music
            tp = true_peak_dbtp(mix)
            if tp > s.max_true_peak_dbtp:
                mix *= np.float32(10 ** ((s.max_true_peak_dbtp - tp - 0.05) / 20))
    return RenderResult(music=music, mix=mix, loudness=report, soundfont=str(sf))
