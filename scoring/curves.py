"""Affect curves (intensity, arousal, valence) on a regular grid, fused from the analysis."""

from __future__ import annotations

import numpy as np

from ..contracts import Analysis, Curves
from ..vision.emotion import LOUD_DB_LOUD, LOUD_DB_QUIET, MOTION_FULL, SHOT_SEC_FAST, SHOT_SEC_SLOW

#: Weights of the intensity terms (after Hanjalic & Xu 2005: motion, cutting rate, sound energy,
#: plus the per-shot emotion reading's arousal); without production audio "loudness" is left out
#: and the rest renormalised.
INTENSITY_WEIGHTS = {"cut_rate": 0.30, "motion": 0.30, "loudness": 0.25, "emotion": 0.15}


def gaussian_smooth(x: np.ndarray, sigma: float, *, truncate: float = 4.0) -> np.ndarray:
    """``scipy.ndimage.gaussian_filter1d(x, sigma, mode="nearest")`` in numpy (the edges repeat
    the end values; the kernel is cut at ``truncate`` standard deviations), without importing
    scipy.ndimage (0.15 s) for a few hundred samples.

    Parameters
    ----------
    x : np.ndarray, shape (n,)
    sigma : float
        Standard deviation in samples (> 0).
    """
    x = np.asarray(x, np.float64)
    radius = int(truncate * float(sigma) + 0.5)
    if len(x) == 0 or radius == 0:
        return x.copy()
    k = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-0.5 * (k / float(sigma)) ** 2)
    w /= w.sum()
    return np.convolve(np.pad(x, radius, mode="edge"), w, mode="valid")


def smooth_within(x: np.ndarray, bounds: list[tuple[int, int]], sigma: float) -> np.ndarray:
    """Gaussian smoothing that never crosses a boundary: each ``[a, b)`` span is smoothed alone.

    Parameters
    ----------
    x : np.ndarray, shape (n,)
    bounds : list of (start, end) index spans covering ``x``
    sigma : float
        Standard deviation in samples.
    """
    out = np.asarray(x, np.float64).copy()
    for a, b in bounds:
        if b - a > 1 and sigma > 0:
            out[a:b] = gaussian_smooth(out[a:b], sigma)
    return out


def _grid(duration_sec: float, rate_hz: float) -> np.ndarray:
    n = max(1, int(np.ceil(duration_sec * rate_hz)))
    return (np.arange(n) + 0.5) / rate_hz


def cut_rate_per_min(cut_sec: np.ndarray, t: np.ndarray, *, window_sec: float = 8.0) -> np.ndarray:
    """Local cutting rate (cuts per minute): cuts convolved with a Gaussian of ``window_sec`` std.

    The edges are corrected for the part of the window that lies outside the film.
    """
    if len(t) == 0:
        return np.zeros(0)
    cuts = np.asarray(cut_sec, dtype=np.float64)
    w = np.zeros(len(t))
    # a block of the grid at a time, against the cuts within 10 deviations of it (a term further
    # out is under 2e-22 of one at the centre): linear in the film's length, not quadratic
    order = np.argsort(cuts, kind="stable")
    sorted_cuts = cuts[order]
    reach = 10.0 * window_sec
    for i in range(0, len(t), 1024):
        tb = t[i : i + 1024]
        lo, hi = np.searchsorted(sorted_cuts, [tb[0] - reach, tb[-1] + reach], side="left")
        near = np.sort(order[lo:hi])  # in the given order: the same sums as against every cut
        d = tb[:, None] - cuts[near][None, :]
        w[i : i + 1024] = np.exp(-0.5 * (d / window_sec) ** 2).sum(axis=1)
    w /= window_sec * np.sqrt(2 * np.pi)
    import math

    erf = np.frompyfunc(math.erf, 1, 1)  # a few thousand values: no need for scipy.special (0.12 s import)
    lo, hi = 0.0, t[-1] + (t[1] - t[0] if len(t) > 1 else 0.0)
    inside = 0.5 * (erf((hi - t) / (window_sec * np.sqrt(2))) - erf((lo - t) / (window_sec * np.sqrt(2)))).astype(np.float64)
    return 60.0 * w / np.maximum(inside, 0.2)


def affect_curves(analysis: Analysis, *, rate_hz: float = 10.0, smooth_sec: float = 1.5) -> tuple[Curves, dict[str, np.ndarray]]:
    """Fuse cut rate, motion, loudness and per-shot emotion into 0..1 / -1..1 curves.

    Returns
    -------
    curves : Curves
        ``intensity`` in 0..1, ``arousal`` and ``valence`` in -1..1, sampled at ``rate_hz``
        (value ``k`` is the mean over ``[k / rate_hz, (k + 1) / rate_hz)``).
    terms : dict of np.ndarray
        The normalised 0..1 intensity terms (``cut_rate``, ``motion``, ``loudness``), same grid,
        for explaining the plan.
    """
    dur = analysis.video.duration_sec
    t = _grid(dur, rate_hz)
    pts = np.asarray(analysis.frames.pts_sec, dtype=np.float64)
    motion = np.asarray(analysis.frames.motion, dtype=np.float64)
    # motion: mean per grid bin (frames binned by their PTS)
    if len(pts):
        bins = np.minimum((pts * rate_hz).astype(int), len(t) - 1)
        sums = np.bincount(bins, weights=motion, minlength=len(t))
        counts = np.bincount(bins, minlength=len(t))
        m = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        idx = np.arange(len(t))
        good = ~np.isnan(m)
        m = np.interp(idx, idx[good], m[good]) if good.any() else np.zeros(len(t))
    else:
        m = np.zeros(len(t))
    terms: dict[str, np.ndarray] = {"motion": np.clip(m / MOTION_FULL, 0, 1)}
    cpm = cut_rate_per_min(np.asarray([c.time_sec for c in analysis.cuts]), t)
    shot_sec = 60.0 / np.maximum(cpm, 1e-6)
    terms["cut_rate"] = np.clip(np.log(SHOT_SEC_SLOW / shot_sec) / np.log(SHOT_SEC_SLOW / SHOT_SEC_FAST), 0, 1)
    weights = dict(INTENSITY_WEIGHTS)
    if analysis.audio.present and analysis.audio.loudness_db:
        lvl = np.asarray(analysis.audio.loudness_db, dtype=np.float64)
        src_t = (np.arange(len(lvl)) + 0.5) / analysis.audio.rate_hz
        lvl_t = np.interp(t, src_t, lvl)
        terms["loudness"] = np.clip((lvl_t - LOUD_DB_QUIET) / (LOUD_DB_LOUD - LOUD_DB_QUIET), 0, 1)
    else:
        weights.pop("loudness")
    # per-shot emotion as steps
    val = np.zeros(len(t))
    aro = np.zeros(len(t))
    bounds: list[tuple[int, int]] = []
    for s in analysis.shots:
        a, b = np.searchsorted(t, [s.start_sec, s.end_sec])
        val[a:b] = s.valence
        aro[a:b] = s.arousal
        if b > a:
            bounds.append((int(a), int(b)))
    terms["emotion"] = (aro + 1) / 2
    sigma = smooth_sec * rate_hz
    # smoothing respects shot boundaries: a cut stays a step in the curves (the cut-rate term is
    # already a windowed measure)
    for k in ("motion", "loudness", "emotion"):
        if k in terms:
            terms[k] = smooth_within(terms[k], bounds, sigma)
    total = sum(weights.values())
    intensity = np.clip(sum(weights[k] * terms[k] for k in weights) / total, 0, 1)
    val = np.clip(smooth_within(val, bounds, sigma), -1, 1)
    aro = np.clip(smooth_within(aro, bounds, sigma), -1, 1)

    def r(a: np.ndarray) -> list[float]:
        return [round(float(x), 4) for x in a]

    return Curves(rate_hz=rate_hz, intensity=r(intensity), arousal=r(aro), valence=r(val)), terms
