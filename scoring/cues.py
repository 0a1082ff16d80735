"""Cue segmentation: runs of shots with similar affect, optimal partition with a change penalty."""

from __future__ import annotations

import numpy as np


def segment_cues(
    start_sec: np.ndarray,
    end_sec: np.ndarray,
    features: np.ndarray,
    *,
    min_cue_sec: float = 8.0,
    max_cue_sec: float = 240.0,
    change_penalty: float = 1.0,
) -> list[tuple[int, int]]:
    """Split a run of shots into cues by optimal partitioning (dynamic programming).

    Minimises the duration-weighted variance of the shot ``features`` inside each cue plus
    ``change_penalty`` per cue, subject to every cue lasting at least ``min_cue_sec`` and at most
    ``max_cue_sec`` (limits a single shot cannot meet are relaxed).

    Parameters
    ----------
    start_sec, end_sec : np.ndarray, shape (n,)
        Shot bounds in seconds.
    features : np.ndarray, shape (n, d)
        Per-shot affect (e.g. intensity, valence), roughly unit-scaled.

    Returns
    -------
    list of (first_shot, end_shot)
        Half-open shot index ranges, covering all shots in order.
    """
    n = len(start_sec)
    if n == 0:
        return []
    dur = np.maximum(np.asarray(end_sec, float) - np.asarray(start_sec, float), 1e-6)
    x = np.asarray(features, float).reshape(n, -1)
    # prefix sums for weighted variance: sum w, sum w x, sum w x^2
    W = np.concatenate([[0.0], np.cumsum(dur)])
    S = np.vstack([np.zeros(x.shape[1]), np.cumsum(dur[:, None] * x, axis=0)])
    Q = np.vstack([np.zeros(x.shape[1]), np.cumsum(dur[:, None] * x * x, axis=0)])
    t_start = np.concatenate([np.asarray(start_sec, float), [float(end_sec[-1])]])
    best = np.full(n + 1, np.inf)
    best[0] = 0.0
    prev = np.zeros(n + 1, int)
    total = t_start[n] - t_start[0]
    for j in range(1, n + 1):
        i = np.arange(j)
        w = W[j] - W[i]
        s = S[j] - S[i]
        cost = ((Q[j] - Q[i]) - s * s / w[:, None]).sum(axis=1) + change_penalty
        length = t_start[j] - t_start[i]
        ok = np.ones(j, bool)
        if total >= min_cue_sec:
            ok &= (length >= min_cue_sec) | (j - i == 1) & (i == 0) & (j == n)
        ok &= (length <= max_cue_sec) | (j - i == 1)
        cand = np.where(ok, best[:j] + cost, np.inf)
        k = int(np.argmin(cand))
        if np.isinf(cand[k]):
            if j < n:
                continue  # no admissible cue ends here
            # the end must be reached: relax the limits for the last cue
            cand = best[:j] + cost
            k = int(np.argmin(cand))
        best[j] = cand[k]
        prev[j] = k
    segs = []
    j = n
    while j > 0:
        segs.append((int(prev[j]), j))
        j = prev[j]
    return segs[::-1]
