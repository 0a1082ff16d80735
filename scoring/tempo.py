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


#: Tempo range of each mood (BPM): adagio/andante for the calm moods, moderato to allegro for the
#: aroused ones; the cutting rate places a cue inside its mood's range.
MOOD_TEMPO_BPM = {"sombre": (52.0, 80.0), "serene": (60.0, 92.0), "tense": (84.0, 132.0), "excited": (108.0, 160.0)}
#: A mood range narrower than this inside the user's range is widened to it (BPM).
MIN_MOOD_SPAN_BPM = 12.0


@dataclass
class TempoTarget:
    """Where a cue's tempo search starts and what it may use."""

    bpm: float  # the target
    bpm_min: float  # the range the search may use (the mood's, inside the user's)
    bpm_max: float
    subdivision: int  # the hit grid (1/subdivision beat): doubled when the cutting is faster than the mood
    why: str


def tempo_for_mood(cuts_per_min: float, mood: str, *, bpm_min: float, bpm_max: float, subdivision: int = 2,
                   cpm_slow: float = 4.0, cpm_fast: float = 40.0, arousal: float | None = None) -> TempoTarget:
    """The target tempo of a cue: its mood sets the range, the cutting rate (and its arousal) the
    place inside it.

    The mood's range (:data:`MOOD_TEMPO_BPM`) is cut to the user's ``bpm_min..bpm_max`` (widened to
    :data:`MIN_MOOD_SPAN_BPM` inside it when little is left, the user's whole range when nothing
    is); the cutting rate then places the target log-linearly, ``cpm_slow`` cuts a minute at the
    bottom, ``cpm_fast`` at the top (:func:`tempo_from_cut_rate`); with ``arousal`` given, the place
    is 0.6 of the cutting's and 0.4 of the arousal's within the mood's half of the circumplex
    (-1..0 for the calm moods, 0..1 for the aroused ones), so a livelier picture plays faster in
    the same mood. Cutting at least 1.5 times
    faster than that tempo would have on the user's whole range (a fast montage under a calm mood)
    plays in double time against the picture: the hits may land on a grid twice as fine (16ths
    instead of 8ths), so they are still reached at the mood's tempo.
    """
    lo_m, hi_m = MOOD_TEMPO_BPM.get(mood, (bpm_min, bpm_max))
    lo, hi = max(lo_m, bpm_min), min(hi_m, bpm_max)
    note = ""
    if hi - lo < MIN_MOOD_SPAN_BPM:
        if hi_m < bpm_min or lo_m > bpm_max:
            lo, hi = bpm_min, bpm_max
            note = f" (the mood's {lo_m:g}-{hi_m:g} BPM is outside the tempo range: the whole range)"
        else:
            mid = min(max((lo + hi) / 2, bpm_min + MIN_MOOD_SPAN_BPM / 2), bpm_max - MIN_MOOD_SPAN_BPM / 2)
            lo, hi = max(bpm_min, mid - MIN_MOOD_SPAN_BPM / 2), min(bpm_max, mid + MIN_MOOD_SPAN_BPM / 2)
    target = tempo_from_cut_rate(cuts_per_min, bpm_min=lo, bpm_max=hi, cpm_slow=cpm_slow, cpm_fast=cpm_fast)
    lively = ""
    if arousal is not None and hi > lo:
        place = float(np.clip(arousal + 1 if mood in ("serene", "sombre") else arousal, 0, 1))
        target = lo + (0.6 * (target - lo) / (hi - lo) + 0.4 * place) * (hi - lo)
        lively = f" and arousal {arousal:+.2f}"
    free = tempo_from_cut_rate(cuts_per_min, bpm_min=bpm_min, bpm_max=bpm_max, cpm_slow=cpm_slow, cpm_fast=cpm_fast)
    double = free >= 1.5 * target
    sub = subdivision * 2 if double else subdivision
    why = (f"cut rate {cuts_per_min:.1f}/min{lively} -> {target:.1f} BPM in the {mood or 'whole'} range {lo:g}-{hi:g} BPM{note}"
           + (f"; the cutting asks for {free:.0f} BPM, so the hits are reached in double time (1/{sub}-beat grid)"
              if double else ""))
    return TempoTarget(round(target, 6), lo, hi, sub, why)


def grid_errors_frames(hit_sec: np.ndarray, bpm: np.ndarray | float, *, fps: float, subdivision: int,
                       offset_sec: np.ndarray | float = 0.0) -> np.ndarray:
    """Distance (frames) of each hit to the nearest grid point ``offset + k * 60 / bpm / subdivision``.

    Parameters
    ----------
    hit_sec : np.ndarray, shape (n,)
        Hit times, seconds from the cue start.
    bpm : float or np.ndarray, shape (m,)
    offset_sec : float or np.ndarray, shape (m,)
        Grid phase per tempo.

    Returns
    -------
    np.ndarray, shape (m, n)
    """
    bpm_arr = np.atleast_1d(np.asarray(bpm, dtype=np.float64))[:, None]
    off = np.atleast_1d(np.asarray(offset_sec, dtype=np.float64))[:, None]
    grid_sec = 60.0 / bpm_arr / subdivision
    pos = (np.asarray(hit_sec, dtype=np.float64)[None, :] - off) / grid_sec
    return np.abs(pos - np.round(pos)) * grid_sec * fps


def tempo_candidates(target_bpm: float, *, bpm_min: float, bpm_max: float, tolerance: float,
                     step_bpm: float = 0.01) -> np.ndarray:
    """Tempi on a ``step_bpm`` grid within ``tolerance`` of the target and inside the user range."""
    lo = max(bpm_min, target_bpm * (1 - tolerance))
    hi = min(bpm_max, target_bpm * (1 + tolerance))
    if hi < lo:
        lo = hi = min(max(target_bpm, bpm_min), bpm_max)
    k0, k1 = int(np.ceil(lo / step_bpm - 1e-9)), int(np.floor(hi / step_bpm + 1e-9))
    return np.arange(k0, max(k0, k1) + 1) * step_bpm


def best_offsets(hit_sec: np.ndarray, weights: np.ndarray, bpm: np.ndarray, *, fps: float, subdivision: int,
                 tol_frames: float) -> tuple[np.ndarray, np.ndarray]:
    """For each tempo, the grid phase that lands the most hit weight within ``tol_frames``.

    An optimal window ``[phi - tol, phi + tol]`` (on the circle of one grid step) can always be
    slid until a hit sits on its left edge, so ``phi = phase_i + tol`` for some hit ``i``: those
    candidates are checked exhaustively.

    Returns
    -------
    offset_sec, landed_weight : np.ndarray, shape (m,)
    """
    h = np.asarray(hit_sec, np.float64)
    w = np.asarray(weights, np.float64)
    step = 60.0 / np.asarray(bpm, np.float64)[:, None] / subdivision  # (m, 1)
    tol = tol_frames / fps
    phase = np.mod(h[None, :], step)  # (m, n)
    cand = phase + np.minimum(tol, step / 2)  # (m, n) candidate offsets
    d = np.abs(phase[:, None, :] - cand[:, :, None])  # (m, n_cand, n)
    d = np.minimum(d, step[:, :, None] - d)
    score = ((d <= tol + 1e-9) * w[None, None, :]).sum(axis=2)  # (m, n_cand)
    k = np.argmax(score, axis=1)
    rows = np.arange(len(step))
    return np.mod(cand[rows, k], step[:, 0]), score[rows, k]


def fit_constant_tempo(
    hit_sec: np.ndarray,
    *,
    target_bpm: float,
    fps: float,
    weights: np.ndarray | None = None,
    bpm_min: float = 60.0,
    bpm_max: float = 140.0,
    tolerance: float = 0.15,
    step_bpm: float = 0.01,
    subdivision: int = 2,
    tol_frames: float = 1.0,
    anchored: bool = True,
    prefer_bpm: tuple[float, ...] = (),
) -> tuple[float, float, float]:
    """The click-track calculation: exhaustive search of tempo (``step_bpm`` grid) and grid phase.

    Maximises the weight of hits within ``tol_frames`` of a grid point (beats split in
    ``subdivision``). ``anchored`` fixes the phase so the cue start is a downbeat; otherwise the best
    start offset is searched too (:func:`best_offsets`). Ties go to tempi within 0.5 % of one in
    ``prefer_bpm`` (metric modulations of the previous cue), then to the smaller total error, then
    to the tempo nearest the target.

    Returns
    -------
    bpm, offset_sec, landed_weight
    """
    h = np.asarray(hit_sec, np.float64)
    w = np.ones(len(h)) if weights is None else np.asarray(weights, np.float64)
    bpm = tempo_candidates(target_bpm, bpm_min=bpm_min, bpm_max=bpm_max, tolerance=tolerance, step_bpm=step_bpm)
    if anchored or len(h) == 0:
        off = np.zeros(len(bpm))
    else:
        off, _ = best_offsets(h, w, bpm, fps=fps, subdivision=subdivision, tol_frames=tol_frames)
    if len(h):
        err = grid_errors_frames(h, bpm, fps=fps, subdivision=subdivision, offset_sec=off)
        landed = ((err <= tol_frames + 1e-9) * w[None, :]).sum(axis=1)
        total = np.minimum(err, 3 * tol_frames).sum(axis=1)
    else:
        landed = np.zeros(len(bpm))
        total = np.zeros(len(bpm))
    related = np.zeros(len(bpm), bool)
    for p in prefer_bpm:
        related |= np.abs(bpm / p - 1) <= 0.005
    order = np.lexsort((np.abs(bpm - target_bpm), total, ~related, -np.round(landed, 9)))
    k = int(order[0])
    return float(bpm[k]), float(off[k]), float(landed[k])


#: Positions this close (beats) are one: the tempo map's times and tempi are stored rounded.
BEAT_EPS = 1e-4
#: A must-hit (the editor's must marker, a hit added by hand) may take a ramp this many times ``max_ramp``.
MUST_RAMP_FACTOR = 2.0
#: Largest tempo change allowed to fit the end of a cue to a whole beat.
MAX_TAIL_CHANGE = 0.125


@dataclass
class HitFit:
    """How one candidate hit fared in :func:`fit_cue_grid`."""

    time_sec: float  # from the cue start
    weight: float
    landed: bool
    error_frames: float  # hit minus nearest grid point, frames (signed)
    how: str  # "tempo" (on the constant grid), "ramp" (a gentle tempo change lands it) or "dropped"
    reason: str


@dataclass
class CueGrid:
    """The beat grid of one cue, relative to its start."""

    bpm: float  # the cue's base tempo
    beats: int  # whole beats from the cue start to its end
    events: list[TempoEvent]  # times relative to the cue start; the first at 0 (bar line)
    hits: list[HitFit]
    ramps: int
    constant_landed: float  # landed weight with the constant tempo alone
    #: A tempo of the grid outside the allowed range (the one furthest out), when the cue is too
    #: short for a whole number of beats inside it; None when every tempo is in range.
    outside_range_bpm: float | None = None


@dataclass(frozen=True)
class GridSearch:
    """What :func:`fit_cue_grid` may do to fit a cue's grid (the tempo search's settings).

    Attributes
    ----------
    target_bpm : float
        Where the tempo search starts.
    fps : float
        The picture's frame rate (hit errors are in frames).
    bpm_min, bpm_max : float
        The tempi the grid may use (ramps and the end's adjustment included).
    tolerance : float
        How far from ``target_bpm`` the base tempo may be (a fraction).
    subdivision : int
        The hit grid: 1/``subdivision`` of a beat.
    tol_frames : float
        A hit within this many frames of a grid point is landed.
    max_ramp : float
        The largest tempo change (a fraction) a ramp onto a missed hit may take (0: none).
    beats_per_bar : int
    prefer_bpm : tuple of float
        Tempi preferred among equals (metric modulations of the previous cue).
    fixed_bpm : float, optional
        A tempo the user set: kept as set (no search, no ramps; a held last beat at the end).
    """

    target_bpm: float
    fps: float
    bpm_min: float = 60.0
    bpm_max: float = 140.0
    tolerance: float = 0.15
    subdivision: int = 2
    tol_frames: float = 1.0
    max_ramp: float = 0.06
    beats_per_bar: int = 4
    prefer_bpm: tuple[float, ...] = ()
    fixed_bpm: float | None = None

    def in_range(self, bpm: float) -> bool:
        """Whether a tempo may be used (any tempo around a user-set one)."""
        return self.bpm_min - 1e-9 <= bpm <= self.bpm_max + 1e-9 or self.fixed_bpm is not None


def fit_cue_grid(duration_sec: float, hit_sec: np.ndarray, search: GridSearch, *, weights: np.ndarray | None = None,
                 must: np.ndarray | None = None) -> CueGrid:
    """Fit a cue's beat grid to its hit points: constant tempo, then gentle ramps, then a whole-beat end.

    1. :func:`fit_constant_tempo` (anchored: the cue starts on a downbeat) picks the base tempo,
       unless ``search.fixed_bpm`` (a user-locked tempo) is given.
    2. Walking the hits in time order, a hit the constant grid misses is landed exactly by changing
       the tempo of the span since the previous landed hit by at most ``search.max_ramp`` (a tempo
       ramp on the click track); the base tempo resumes at the hit. The ramped solution is kept
       only if it lands at least as much weight as the constant one.
    3. The span after the last landed hit is fitted to a whole number of beats, so the cue ends on
       a beat and the next cue starts on a downbeat; a partial last bar gets its own meter.

    Parameters
    ----------
    duration_sec : float
        Cue length.
    hit_sec : np.ndarray, shape (n,)
        Candidate hits, seconds from the cue start, sorted.
    search : GridSearch
        The tempo search's settings.
    weights : np.ndarray, shape (n,), optional
        Each hit's weight (default 1).
    must : np.ndarray of bool, shape (n,), optional
        Must-hits (the editor's must markers, hits added by hand): in step 2 an ordinary hit is not
        landed when landing it would leave the next must-hit out of reach (off the grid and beyond
        a ramp); its reason names the must-hit it was given up for.
    """
    h = np.asarray(hit_sec, np.float64)
    w = np.ones(len(h)) if weights is None else np.asarray(weights, np.float64)
    must_ = np.zeros(len(h), bool) if must is None else np.asarray(must, bool)
    T, const_landed = _base_tempo(h, w, search)
    walker = _HitWalk(h, w, must_, T, search)
    segs, fits, anchors, landed = walker.run(allow_ramps=search.max_ramp > 0 and search.fixed_bpm is None)
    if landed < const_landed - 1e-9:
        segs, fits, anchors, landed = walker.run(allow_ramps=False)
    end = _fit_end(duration_sec, T, segs, anchors, search)
    events = _metered(_merged(end.events), end.n_beats, search.beats_per_bar)
    _remeasure(fits, events, search)
    if end.tail_at is not None and end.tail_at <= 1e-9 and end.tail_pos == 0:  # the tail starts the cue: its
        T = end.tail_bpm  # tempo is the one that plays
    outside = max((e.bpm for e in events if _outside(e.bpm, search.bpm_min, search.bpm_max) > 1e-6
                   and search.fixed_bpm is None
                   and (end.held_at is None or abs(e.time_sec - end.held_at) > 1e-6)),  # (a held last beat: a fermata)
                  key=lambda b: _outside(b, search.bpm_min, search.bpm_max), default=None)
    return CueGrid(bpm=float(T), beats=end.n_beats, events=events, hits=fits,
                   ramps=sum(1 for f in fits if f.how == "ramp"), constant_landed=const_landed, outside_range_bpm=outside)


def _base_tempo(h: np.ndarray, w: np.ndarray, search: GridSearch) -> tuple[float, float]:
    """Step 1: the base tempo (the user's, or the constant-tempo search's) and the weight it lands alone."""
    s = search
    if s.fixed_bpm is not None:
        T = float(s.fixed_bpm)
        landed = float(((grid_errors_frames(h, T, fps=s.fps, subdivision=s.subdivision) <= s.tol_frames + 1e-9)
                        * w).sum()) if len(h) else 0.0
        return T, landed
    T, _, landed = fit_constant_tempo(h, target_bpm=s.target_bpm, fps=s.fps, weights=w, bpm_min=s.bpm_min,
                                      bpm_max=s.bpm_max, tolerance=s.tolerance, subdivision=s.subdivision,
                                      tol_frames=s.tol_frames, anchored=True, prefer_bpm=s.prefer_bpm)
    return T, landed


#: A grid point the walk has reached: (time, index in subdivisions, ramp segments before it, a must-hit's).
_Anchor = tuple[float, float, int, bool]


class _HitWalk:
    """Step 2 of :func:`fit_cue_grid`: the hits in time order, each landed on the grid, by a ramp, or dropped."""

    def __init__(self, h: np.ndarray, w: np.ndarray, must: np.ndarray, T: float, search: GridSearch) -> None:
        self.h, self.w, self.must, self.T, self.s = h, w, must, T, search
        self.step = 60.0 / T / search.subdivision  # seconds per grid point at the base tempo
        self.tol = search.tol_frames / search.fps

    def run(self, *, allow_ramps: bool) -> tuple[list[tuple[float, float]], list[HitFit], list[_Anchor], float]:
        """Ramp segments [(start, bpm)], per-hit results, the anchors and the landed weight."""
        fps, T = self.s.fps, self.T
        segs: list[tuple[float, float]] = []
        out: list[HitFit] = []
        a_t, a_pos = 0.0, 0.0  # anchor: a grid point (time, index in subdivisions)
        anchors: list[_Anchor] = [(0.0, 0.0, 0, False)]
        for i, (t, wt) in enumerate(zip(self.h, self.w)):
            pos = a_pos + (t - a_t) / self.step
            err = (pos - round(pos)) * self.step
            blocked = self._blocked(i, (a_t, a_pos), float(t), pos, err, allow_ramps)
            if blocked is not None:
                out.append(HitFit(float(t), float(wt), False, err * fps, "dropped",
                                  f"given up for the must-hit at {blocked:.3f}s (landing both is out of reach)"))
                continue
            if abs(err) <= self.tol + 1e-9:
                out.append(HitFit(float(t), float(wt), True, err * fps, "tempo", "on the grid"))
                a_t, a_pos = t - err, float(round(pos))
                anchors.append((a_t, a_pos, len(segs), bool(self.must[i])))
                continue
            span = t - a_t
            best = self._ramp(i, span) if allow_ramps and span >= 60.0 / T else None
            if best is not None:
                segs.append((a_t, best[1]))  # back-to-back ramps: merged below (the later event wins)
                segs.append((float(t), T))
                out.append(HitFit(float(t), float(wt), True, 0.0, "ramp",
                                  f"tempo {best[1] / T - 1:+.1%} from {a_t:.3f}s lands it"))
                a_t, a_pos = float(t), a_pos + best[0]
                anchors.append((a_t, a_pos, len(segs), bool(self.must[i])))
            else:
                out.append(HitFit(float(t), float(wt), False, err * fps, "dropped", self._why_dropped(err, span, len(out))))
        return segs, out, anchors, sum(f.weight for f in out if f.landed)

    def _blocked(self, i: int, anchor: tuple[float, float], t: float, pos: float, err: float,
                 allow_ramps: bool) -> float | None:
        """The must-hit landing hit ``i`` would cost (:func:`_blocks_must`), when it would land."""
        if not self.must.any() or not self.reach(anchor, t, allow_ramps, bool(self.must[i])):
            return None
        landed_at = (t - err, float(round(pos))) if abs(err) <= self.tol + 1e-9 else (t, None)
        return _blocks_must(i, self.h, self.must, anchor, landed_at,
                            reach=lambda at, t_: self.reach(at, t_, allow_ramps, True))

    def _ramp(self, i: int, span: float) -> tuple[int, float] | None:
        """The gentlest ramp (grid points, tempo) that lands hit ``i`` ``span`` seconds after the anchor."""
        T, sub = self.T, self.s.subdivision
        best = None
        for m in (int(np.floor(span / self.step)), int(np.ceil(span / self.step))):
            if m >= 1:
                t2 = m * 60.0 / (sub * span)
                if abs(t2 / T - 1) <= self.ramp_limit(i) and self.s.in_range(t2) and (
                        best is None or abs(t2 / T - 1) < abs(best[1] / T - 1)):
                    best = (m, t2)
        return best

    def _why_dropped(self, err: float, span: float, i: int) -> str:
        T, fps = self.T, self.s.fps
        if span >= 60.0 / T:
            m = max(1, round(span / self.step))
            need = (f"; a ramp would need {abs(m * 60.0 / (self.s.subdivision * span) / T - 1):.1%} "
                    f"(max {self.ramp_limit(i):.0%})")
        else:
            need = "; too close to the previous hit for a ramp"
        return f"{err * fps:+.1f} frames off the grid at {T:.2f} BPM{need}"

    def ramp_limit(self, i: int) -> float:
        """The largest ramp onto hit ``i``: a must-hit may take twice the usual."""
        return self.s.max_ramp * (MUST_RAMP_FACTOR if self.must[i] else 1.0)

    def reach(self, anchor: tuple[float, float], t: float, allow_ramps: bool, is_must: bool) -> bool:
        """Whether a hit at ``t`` can be landed from the grid point ``anchor`` (on the grid, or by a ramp)."""
        a_t, a_pos = anchor
        pos = a_pos + (t - a_t) / self.step
        if abs((pos - round(pos)) * self.step) <= self.tol + 1e-9:
            return True
        span = t - a_t
        if not allow_ramps or span < 60.0 / self.T:
            return False
        limit = self.s.max_ramp * (MUST_RAMP_FACTOR if is_must else 1.0)
        for m in (int(np.floor(span / self.step)), int(np.ceil(span / self.step))):
            t2 = m * 60.0 / (self.s.subdivision * span) if m >= 1 else 0.0
            if m >= 1 and abs(t2 / self.T - 1) <= limit and self.s.in_range(t2):
                return True
        return False


@dataclass
class _End:
    """Step 3's result: the cue's beats and tempo events, and where its tail was fitted."""

    n_beats: int
    events: list[tuple[float, float]]  # (time from the cue start, bpm)
    tail_at: float | None = None  # where the re-timed tail starts (None: a user-set tempo)
    tail_pos: float | None = None  # its grid index
    tail_bpm: float = 0.0
    held_at: float | None = None  # a must-hit's cue ending on a held last beat: the time that beat starts


def _fit_end(duration_sec: float, T: float, segs: list[tuple[float, float]], anchors: list[_Anchor],
             search: GridSearch) -> _End:
    """Step 3: whole beats to the end. From the latest anchor whose tail can be fitted with a gentle
    tempo change (at most MAX_TAIL_CHANGE), the tail gets a whole number of beats; hits in a
    re-timed tail are re-measured after. A tempo the user set is kept as set instead: whole beats
    at it, the last one held to the cue's end (a fermata, not a ramp over the cue)."""
    if search.fixed_bpm is not None:
        n_beats, events_t = _held_last_beat(duration_sec, T)
        return _End(n_beats, events_t)
    s, step = search, 60.0 / T / search.subdivision
    held_at = held_bpm = None
    for a_t, a_pos, nseg, is_must in reversed(anchors):  # noqa: B007 - the anchor found is used after the loop
        pos_r = float(np.ceil(a_pos / s.subdivision - 1e-9) * s.subdivision)  # first whole beat at/after the anchor
        r = a_t + (pos_r - a_pos) * step
        if r > duration_sec - 1e-6:
            continue
        span = duration_sec - r
        n_tail = max(1, int(round(span * T / 60.0)))
        t_end = n_tail * 60.0 / span
        if abs(t_end / T - 1) <= MAX_TAIL_CHANGE and s.bpm_min - 1e-9 <= t_end <= s.bpm_max + 1e-9:
            break
        if is_must and abs(t_end / T - 1) <= MUST_RAMP_FACTOR * MAX_TAIL_CHANGE and (
                s.bpm_min - 1e-9 <= t_end <= s.bpm_max + 1e-9):
            break  # going back past the last must-hit would lose it: the tail from it, a larger change
        if is_must and span * T / 60.0 >= 1.0 - 1e-6:  # or whole beats at the tempo, the last one held
            n_tail, held = _held_last_beat(span, T)
            t_end, held_bpm = T, held[-1][1]
            held_at = r + held[-1][0] if abs(held_bpm - T) > 1e-9 else None
            break
        if is_must and span * T / 60.0 >= 0.5:  # under a beat left: one short last beat (at most twice as fast)
            n_tail, t_end, held_bpm, held_at = 1, T, 60.0 / span, r
            break
        if r <= 1e-9:  # the whole cue is the tail: the whole number of beats closest to T inside the range
            n_tail, t_end = _whole_tail(span, T, s)
            break
    n_beats = int(round(pos_r / s.subdivision)) + n_tail
    events_t: list[tuple[float, float]] = [(0.0, T)] + segs[:nseg]
    if abs(t_end - T) > 1e-6:
        events_t = [e for e in events_t if e[0] < r - 1e-9] + [(r, t_end)]
    if held_at is not None:  # (the ramps before the anchor end at the base tempo: it plays on to the held beat)
        events_t = [e for e in events_t if e[0] < r - 1e-9] + [(r, T)] * int(held_at > r + 1e-9) + [(held_at, held_bpm)]
    return _End(n_beats, events_t, tail_at=r, tail_pos=pos_r, tail_bpm=t_end, held_at=held_at)


def _whole_tail(span: float, T: float, search: GridSearch) -> tuple[int, float]:
    """A cue that is all tail: the whole number of beats closest to ``T`` inside the range (none may
    be: a short cue in a narrow range; then the tempo nearest the range, and said). (beats, bpm)"""
    n0 = span * T / 60.0
    cands = sorted({max(1, int(np.floor(n0)) + d) for d in (-1, 0, 1, 2)},
                   key=lambda n: (_outside(n * 60.0 / span, search.bpm_min, search.bpm_max), abs(n - n0)))
    return cands[0], cands[0] * 60.0 / span


def _merged(events_t: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Tempo events with a ramp starting where another event is merged: the later one wins."""
    merged: list[tuple[float, float]] = []
    for t, b in events_t:
        if merged and abs(merged[-1][0] - t) < 1e-9:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((t, b))
    return merged


def _metered(events_t: list[tuple[float, float]], n_beats: int, beats_per_bar: int) -> list[TempoEvent]:
    """The tempo events with the meter: bars of ``beats_per_bar`` from the cue start, a partial last
    bar in its own meter."""
    local = TempoMap([TempoEvent(t, b, beats_per_bar, bar_line=(i == 0)) for i, (t, b) in enumerate(events_t)])
    full, rest = divmod(n_beats, beats_per_bar)
    events = [TempoEvent(round(float(t), 9), round(float(b), 6), beats_per_bar, bar_line=(i == 0))
              for i, (t, b) in enumerate(events_t)]
    if rest and full:
        t_meter = local.beats_to_time(full * beats_per_bar)
        same = [e for e in events if abs(e.time_sec - t_meter) < 1e-6]
        if same:
            same[0].bar_line, same[0].beats_per_bar = True, rest
        else:
            bpm_there = local.events[local._index(t_meter)].bpm
            events.append(TempoEvent(round(float(t_meter), 9), round(float(bpm_there), 6), rest, bar_line=True))
            events.sort(key=lambda e: e.time_sec)
        for e in events:
            if e.time_sec > t_meter + 1e-6:
                e.beats_per_bar = rest
    elif rest:
        events[0].beats_per_bar = rest
    return events


def _remeasure(fits: list[HitFit], events: list[TempoEvent], search: GridSearch) -> None:
    """Truth: each hit's error against the final grid; a landed hit the end's adjustment moved off is dropped."""
    final = TempoMap([TempoEvent(**vars(e)) for e in events])
    for f in fits:
        g = final.nearest_grid(f.time_sec, subdivision=search.subdivision)
        f.error_frames = round((f.time_sec - g) * search.fps, 3)
        if f.landed and abs(f.error_frames) > search.tol_frames + 1e-6:
            f.landed, f.how = False, "dropped"
            f.reason = f"{f.error_frames:+.1f} frames off after the end-of-cue tempo adjustment"


def _blocks_must(i: int, h: np.ndarray, must: np.ndarray, anchor: tuple[float, float],
                 landed_at: tuple[float, float | None], *, reach) -> float | None:  # noqa: ANN001 - reach: Callable
    """The time of the next must-hit after hit ``i`` that landing ``i`` (an ordinary hit) would put
    out of reach while it is in reach now; None when there is none (or ``i`` is a must-hit itself).
    ``landed_at``: the grid point ``i`` would become (its grid index None when a ramp lands it: then
    any grid index, so only its time is the anchor's)."""
    if must[i]:
        return None
    nxt = next((j for j in range(i + 1, len(h)) if must[j]), None)
    if nxt is None or not reach(anchor, float(h[nxt])):
        return None
    t_new, pos_new = landed_at
    if pos_new is None:  # a ramp lands i exactly on some grid point: its phase is i's time
        pos_new = 0.0
    return None if reach((t_new, pos_new), float(h[nxt])) else float(h[nxt])


def _held_last_beat(duration_sec: float, bpm: float) -> tuple[int, list[tuple[float, float]]]:
    """Whole beats at ``bpm`` filling ``duration_sec``, the last one held to the end (its tempo
    ``bpm / (1 + f)`` for the fraction ``f`` of a beat left over): (beats, [(time, bpm)])."""
    exact = duration_sec * bpm / 60.0
    n = max(1, int(np.floor(exact + 1e-6)))
    f = exact - n
    if f <= 1e-6:
        return n, [(0.0, bpm)]
    held = bpm / (1.0 + f)
    return n, [(0.0, bpm if n > 1 else held)] + ([((n - 1) * 60.0 / bpm, held)] if n > 1 else [])


def _outside(bpm: float, bpm_min: float, bpm_max: float) -> float:
    """How far ``bpm`` is outside ``[bpm_min, bpm_max]`` (0 inside), BPM."""
    return max(0.0, bpm_min - bpm, bpm - bpm_max)


class TempoMap:
    """A beat grid: piecewise-constant tempo; meters change at bar lines.

    Built from :class:`TempoEvent` s sorted by time; the first must be at 0 s and is a bar line.
    ``bar_line`` events start a new bar (a partial bar before them still counts as a bar); other
    events change the tempo inside the bar. ``bar`` of every event is recomputed.
    """

    def __init__(self, events: list[TempoEvent]) -> None:
        if not events:
            raise ValueError("empty tempo map")
        evs = sorted(events, key=lambda e: e.time_sec)
        if abs(evs[0].time_sec) > 1e-9:
            raise ValueError("tempo map must start at 0 s")
        evs[0].bar_line = True
        self.events = evs
        self._times = [e.time_sec for e in evs]
        self._beats0 = [0.0]
        for a, b in zip(evs[:-1], evs[1:]):
            self._beats0.append(self._beats0[-1] + (b.time_sec - a.time_sec) * a.bpm / 60.0)
        # meter segments: (start beat, beats per bar, bar number at start)
        self._meters: list[tuple[float, int, int]] = []
        for e, b0 in zip(evs, self._beats0):
            if e.bar_line:
                if self._meters:
                    s0, bpb, bar0 = self._meters[-1]
                    # a bar shorter than BEAT_EPS beats is rounding in the events' times, not a bar
                    bars = int(np.ceil((b0 - s0 - BEAT_EPS) / bpb))
                    self._meters.append((b0, e.beats_per_bar, bar0 + max(bars, 0)))
                else:
                    self._meters.append((0.0, e.beats_per_bar, 1))
            else:
                e.beats_per_bar = self._meters[-1][1]
            e.bar = self._bar_beat_at(b0)[0]
        self._meter_starts = [m[0] for m in self._meters]

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

    def bpm_at(self, time_sec: float) -> float:
        return self.events[self._index(time_sec)].bpm

    def _bar_beat_at(self, beats: float) -> tuple[int, float]:
        meters = self._meters
        j = max(0, bisect.bisect_right([m[0] for m in meters], beats + 1e-7) - 1)
        s0, bpb, bar0 = meters[j]
        k = int((beats - s0 + 1e-7) // bpb)  # a hair of float error must not cross a bar line
        return int(bar0 + k), float(max(1.0, 1.0 + beats - s0 - k * bpb))

    def bar_beat_of_beats(self, beats: float, *, grid: int | None = None) -> tuple[int, float]:
        """Bar and beat (both 1-based) of a position in beats since 0 s; ``grid``: the position is
        a point of the 1/``grid``-beat grid, and is snapped to it first (the events' times and
        tempi are stored rounded, so a grid point can come out a hair before its bar line: it is
        beat 1 of the next bar, never "beat 5" of a 4/4 bar)."""
        if not grid:
            return self._bar_beat_at(beats)
        j = max(0, bisect.bisect_right(self._meter_starts, beats + BEAT_EPS) - 1)
        s0, bpb, bar0 = self._meters[j]
        rel = max(0.0, round((beats - s0) * grid) / grid)  # every meter starts on a bar line of the grid
        k = int(rel // bpb)
        return int(bar0 + k), 1.0 + rel - k * bpb

    def bar_beat(self, time_sec: float) -> tuple[int, float]:
        """Bar (1-based) and beat (1-based, fractional) at ``time_sec``."""
        return self._bar_beat_at(self.time_to_beats(time_sec))

    def nearest_grid(self, time_sec: float, *, subdivision: int = 2) -> float:
        """Time of the grid point (1/``subdivision`` beat) nearest to ``time_sec``."""
        b = self.time_to_beats(time_sec) * subdivision
        cands = [self.beats_to_time(np.floor(b) / subdivision), self.beats_to_time(np.ceil(b) / subdivision)]
        return float(min(cands, key=lambda t: abs(t - time_sec)))
