"""Tempo: cut rate -> tempo, the beat grid (tempo map), and fitting a cue's tempo to its hits."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np

from ..contracts import TempoEvent


def tempo_from_cut_rate(
    cuts_per_min: float,
    *,
    bpm_min: float = 60.0,
    bpm_max: float = 140.0,
    cpm_slow: float = 4.0,
    cpm_fast: float = 40.0,
) -> float:
    """Target tempo for a cutting rate: faster editing -> faster tempo, monotone, within range.

    Parameters
    ----------
    cuts_per_min : float
        Cutting rate of the passage.
    bpm_min, bpm_max : float
        The user's tempo range.
    cpm_slow, cpm_fast : float
        Cut rates that map to ``bpm_min`` and ``bpm_max`` (log-linear in between): 4 cuts/min
        is a long-take passage, 40 cuts/min (1.5 s shots) an action montage.
    """
    cpm = max(float(cuts_per_min), 1e-6)
    x = math.log(cpm / cpm_slow) / math.log(cpm_fast / cpm_slow)
    x = min(1.0, max(0.0, x))
    return bpm_min + x * (bpm_max - bpm_min)


@dataclass
class TempoFit:
    """Result of :func:`fit_cue_tempo`."""

    bpm: float
    beats: int  # whole beats in the cue
    hits_on_grid: int  # hits within the tolerance of a grid point
    errors_frames: np.ndarray  # per hit, distance to the nearest grid point, frames


def grid_errors_frames(hit_sec: np.ndarray, bpm: np.ndarray | float, *, fps: float, subdivision: int) -> np.ndarray:
    """Distance (frames) of each hit (seconds from the cue's first beat) to the nearest grid point.

    Returns shape ``(len(bpm), len(hit_sec))`` for array ``bpm``.
    """
    bpm_arr = np.atleast_1d(np.asarray(bpm, dtype=np.float64))[:, None]
    grid_sec = 60.0 / bpm_arr / subdivision
    pos = np.asarray(hit_sec, dtype=np.float64)[None, :] / grid_sec
    return np.abs(pos - np.round(pos)) * grid_sec * fps


def fit_cue_tempo(
    duration_sec: float,
    target_bpm: float,
    hit_sec: np.ndarray,
    *,
    fps: float,
    bpm_min: float = 60.0,
    bpm_max: float = 140.0,
    tolerance: float = 0.12,
    subdivision: int = 2,
    hit_tolerance_frames: float = 1.0,
) -> TempoFit:
    """Choose a cue's tempo: a whole number of beats over the cue, as many hits on the grid as possible.

    The cue's first downbeat is its start (a cut), and its length is a whole number of beats, so the
    next cue also starts on a beat. Among those tempi within ``tolerance`` of the target (and the
    user range), the one putting the most hits within ``hit_tolerance_frames`` of a grid point
    (beats split in ``subdivision``) wins; ties go to the smaller total error, then to the
    tempo closest to the target.

    Parameters
    ----------
    duration_sec : float
        Cue length.
    target_bpm : float
        Tempo asked for by the picture (e.g. :func:`tempo_from_cut_rate`).
    hit_sec : np.ndarray, shape (n,)
        Hit times in seconds from the cue start.
    fps : float
        Frame rate (errors are measured in frames).
    """
    lo = max(bpm_min, target_bpm * (1 - tolerance))
    hi = min(bpm_max, target_bpm * (1 + tolerance))
    n_lo = max(1, math.ceil(duration_sec * lo / 60.0 - 1e-9))
    n_hi = math.floor(duration_sec * hi / 60.0 + 1e-9)
    if n_hi < n_lo:  # no whole-beat tempo near the target: nearest one within the user range
        u_lo = max(1, math.ceil(duration_sec * bpm_min / 60.0 - 1e-9))
        u_hi = math.floor(duration_sec * bpm_max / 60.0 + 1e-9)
        n_lo = n_hi = min(range(u_lo, max(u_lo, u_hi) + 1), key=lambda n: abs(60.0 * n / duration_sec - target_bpm))
    beats = np.arange(n_lo, n_hi + 1)
    bpm = 60.0 * beats / duration_sec
    hits = np.asarray(hit_sec, dtype=np.float64)
    if len(hits):
        err = grid_errors_frames(hits, bpm, fps=fps, subdivision=subdivision)
        on = (err <= hit_tolerance_frames + 1e-9).sum(axis=1)
        total = np.minimum(err, 3 * hit_tolerance_frames).sum(axis=1)
    else:
        err = np.zeros((len(bpm), 0))
        on = np.zeros(len(bpm), int)
        total = np.zeros(len(bpm))
    order = np.lexsort((np.abs(bpm - target_bpm), total, -on))
    k = int(order[0])
    return TempoFit(bpm=float(bpm[k]), beats=int(beats[k]), hits_on_grid=int(on[k]), errors_frames=err[k])


class TempoMap:
    """A beat grid: piecewise-constant tempo and meter, each event starting a new bar.

    Built from :class:`TempoEvent` s sorted by time; the first must be at 0 s. ``bar`` numbers in
    the events are recomputed so that each event starts a bar (the short last bar of a cue is
    its own event with a smaller ``beats_per_bar``).
    """

    def __init__(self, events: list[TempoEvent]) -> None:
        if not events:
            raise ValueError("empty tempo map")
        evs = sorted(events, key=lambda e: e.time_sec)
        if abs(evs[0].time_sec) > 1e-9:
            raise ValueError("tempo map must start at 0 s")
        self.events = evs
        self._times = [e.time_sec for e in evs]
        # cumulative beats and bars at each event
        self._beats0 = [0.0]
        bar = 1
        evs[0].bar = 1
        for a, b in zip(evs[:-1], evs[1:]):
            beats = (b.time_sec - a.time_sec) * a.bpm / 60.0
            self._beats0.append(self._beats0[-1] + beats)
            bar += max(1, int(round(beats / a.beats_per_bar))) if beats > 1e-9 else 0
            b.bar = bar

    def _index(self, time_sec: float) -> int:
        return max(0, bisect.bisect_right(self._times, time_sec + 1e-9) - 1)

    def time_to_beats(self, time_sec: float) -> float:
        """Quarter-note beats elapsed since 0 s."""
        i = self._index(time_sec)
        e = self.events[i]
        return self._beats0[i] + (time_sec - e.time_sec) * e.bpm / 60.0

    def beats_to_time(self, beats: float) -> float:
        i = max(0, bisect.bisect_right(self._beats0, beats + 1e-9) - 1)
        e = self.events[i]
        return e.time_sec + (beats - self._beats0[i]) * 60.0 / e.bpm

    def bar_beat(self, time_sec: float) -> tuple[int, float]:
        """Bar (1-based) and beat (1-based, fractional) at ``time_sec``."""
        i = self._index(time_sec)
        e = self.events[i]
        beats = (time_sec - e.time_sec) * e.bpm / 60.0
        bar_off = int((beats + 1e-7) // e.beats_per_bar)  # a hair of float error must not cross a bar line
        return e.bar + bar_off, max(1.0, 1.0 + beats - bar_off * e.beats_per_bar)

    def nearest_grid(self, time_sec: float, *, subdivision: int = 2) -> float:
        """Time of the grid point (beat / ``subdivision``) nearest to ``time_sec``."""
        i = self._index(time_sec)
        e = self.events[i]
        step = 60.0 / e.bpm / subdivision
        cands = [e.time_sec + round((time_sec - e.time_sec) / step) * step]
        if i + 1 < len(self.events):
            cands.append(self.events[i + 1].time_sec)
        if i > 0:
            cands.append(e.time_sec)
        return min(cands, key=lambda t: abs(t - time_sec))
