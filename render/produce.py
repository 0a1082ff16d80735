"""The render's files: the score WAV, the stems and the scored video, made in one pass.

The music's track starts encoding the moment its loudness is set, and its WAV is written on the
encoders' threads, while the production mix is made; the mux waits for the encoders.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..threads import ONE_BLAS_THREAD

if TYPE_CHECKING:
    import numpy as np

    from ..cache import StageCache
    from ..contracts import Timeline
    from . import RenderResult as AudioResult
    from . import RenderSettings

__all__ = ["RenderTargets", "Produced", "produce"]


@dataclass
class RenderTargets:
    """Where the render writes: the WAV, the scored video (None: no picture) and each section's stem."""

    wav: Path
    scored: Path | None
    stem_path: Callable[[str], Path]


@dataclass
class Produced:
    """What :func:`produce` made: files written (what -> path), the audio result and the track reports."""

    files: dict[str, Path] = field(default_factory=dict)
    audio: AudioResult | None = None
    tracks: list[str] = field(default_factory=list)
    aac_reports: dict[str, dict] = field(default_factory=dict)


def produce(midi_path: Path, timeline: Timeline, settings: RenderSettings, *, regions: list[tuple[float, float]],
            video: Path | None, targets: RenderTargets, cache: StageCache, fonts: dict | None = None,
            protect: tuple[Path, ...] = (),
            progress: Callable[[str, float, float], None] | None = None) -> Produced:
    """Synthesise, mix and write the render's files (see the module's docstring).

    Parameters
    ----------
    video : Path or None
        The picture to mux onto (``targets.scored``), or None for the audio alone.
    progress : callable, optional
        ``progress(phase, done, total)``: the phases of :func:`tempscore.render.render_audio`, then
        ``"encoding audio"`` in seconds of tracks, and ``"muxing"``.
    """
    from . import render_audio
    from .mix import write_wav
    from .mux import TrackEncoder, mux
    from .spill import Spill, give_back_free_heap, ram_budget_bytes

    s = settings
    out = Produced()
    give_back_free_heap()  # what the earlier stages freed, before the budget is read from the free memory
    scored = targets.scored if video is not None else None
    # programme-length buffers in RAM up to a budget from the free memory, the rest in files whose
    # pages are given back as they are used, until the last track is encoded and written (.spill)
    spill = Spill(Path(cache.root), ram_bytes=ram_budget_bytes(s.ram_buffers_mb))
    encoding = _HeldBack(progress)  # the encoders start early: their phase is shown once the mix is done
    # cache entries (cue audio, reverb pieces, encoded tracks) are written behind, off the critical path;
    # one BLAS thread (tempscore.threads): the fingerprints' products run in the encoders' threads, and
    # OpenBLAS's idle threads spinning beside them slowed the encoders (~0.05 s of a 1 s re-render)
    with ONE_BLAS_THREAD, spill.trimming(), cache.writing_behind(), TrackEncoder(
            scored or targets.wav, sr=s.sr, cache=cache, progress=encoding if progress else None) as encoder:
        if video is not None:  # the tracks to encode, for the progress bar's total
            encoder.expected_samples = _expected_samples(timeline, s)
        wav_job: list = []

        def early(music: np.ndarray) -> None:
            """The music is final: its track starts encoding and its WAV is written on the encoders'
            threads, while the production mix is made here."""
            if video is not None and s.mux_tracks in ("all", "separate"):
                encoder.submit(music, "music")
            wav_job.append(encoder.run(write_wav, targets.wav, music, sr=s.sr, protect=protect))

        result = render_audio(midi_path, timeline, settings=s, speech=regions, production_audio=video is not None,
                              cache=cache, fonts=fonts, music_ready=early, progress=progress, spill=spill)
        encoding.release()
        tracks = _tracks_to_mux(result, s) if video is not None else []
        for audio, _ in tracks:  # encoding while the WAV is written
            encoder.submit(audio, "mix" if audio is result.mix else "music")
        t = time.perf_counter()
        out.files["wav"] = Path(wav_job[0].result() if wav_job else write_wav(targets.wav, result.music, sr=s.sr,
                                                                               protect=protect))
        for section, audio in result.stems.items():
            out.files[f"stem_{section}"] = Path(write_wav(targets.stem_path(section), audio, sr=s.sr, protect=protect))
        result.timings_sec["wav"] = round(time.perf_counter() - t, 3)  # what was left of writing it
        if video is not None:
            t = time.perf_counter()
            mux(video, tracks, scored, sr=s.sr, encoder=encoder,
                ready=(lambda: progress("muxing", 0, 1)) if progress is not None else None)
            result.timings_sec["mux"] = round(time.perf_counter() - t, 3)  # what was left of encoding, and the mux
            out.files["video"] = scored
        out.aac_reports = dict(encoder.reports)
    out.audio = result
    out.tracks = [title for _, title in tracks]
    return out


class _HeldBack:
    """A progress callback whose reports (from any thread) are held until :meth:`release`, then the
    last one is passed on: the phases reach the caller in order, never back and forth."""

    def __init__(self, progress: Callable[[str, float, float], None] | None) -> None:
        self.progress = progress
        self._lock = threading.Lock()
        self._open = False
        self._last: tuple[str, float, float] | None = None

    def __call__(self, phase: str, done: float, total: float) -> None:
        with self._lock:
            if not self._open:
                self._last = (phase, done, total)
                return
        if self.progress is not None:
            self.progress(phase, done, total)

    def release(self) -> None:
        with self._lock:
            self._open, last = True, self._last
        if last is not None and self.progress is not None:
            self.progress(*last)


def _expected_samples(timeline: Timeline, s: RenderSettings) -> int:
    n = int(round(timeline.video.duration_sec * s.sr))
    mixed = bool(timeline.video.audio_streams) and s.mux_tracks in ("all", "mixed")
    return n * (int(mixed) + int(s.mux_tracks in ("all", "separate") or not mixed))


def _tracks_to_mux(result: AudioResult, s: RenderSettings) -> list[tuple[np.ndarray, str]]:
    """The float tracks of the scored video with their titles (encoded from memory: no temporary WAV)."""
    tracks: list[tuple[np.ndarray, str]] = []
    if result.mix is not None and s.mux_tracks in ("all", "mixed"):
        tracks.append((result.mix, "Temp score + production audio (tempscore)"))
    if result.mix is None or s.mux_tracks in ("all", "separate"):
        tracks.append((result.music, "Temp score only (tempscore)" if tracks else "Temp score (tempscore)"))
    return tracks
