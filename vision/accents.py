"""Accents: candidate hit points inside shots (flashes, impacts, sudden motion onsets, audio transients).

Everything here works on per-frame signals measured in the single decode pass
(:class:`tempscore.vision.features.PictureFeatures`) and on the production-audio onsets, so it
adds no decoding. The same "the picture comes back" test keeps flash frames out of the cuts.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Sequence

import numpy as np

from ..contracts import Accent

log = logging.getLogger(__name__)

#: A flash/impact lasts at most this many steps (:func:`~tempscore.vision.features.feature_step`
#: frames: one at 25 fps, so 0.12 s) before the picture returns.
MAX_FLASH_FRAMES = 3
#: The picture "returns" when the difference to the frame before the event drops under this
#: fraction of the jump into the event.
RETURN_RATIO = 0.35
#: Smallest luma jump (0..1) into a frame that counts as a flash.
FLASH_MIN_JUMP = 0.06
#: Smallest grey change (mean abs, 0..1) into a frame that counts as an impact (shake, hit).
IMPACT_MIN_CHANGE = 0.03
#: Motion onset: motion (mean abs grey difference, 0..1) at least this, and this many times the
#: mean of the preceding ``ONSET_CONTEXT`` frames.
MOTION_ONSET_MIN = 0.012
MOTION_ONSET_RATIO = 3.0
ONSET_CONTEXT_SEC = 0.4
#: Accents closer than this are one accent (the strongest is kept).
NMS_SEC = 0.16


def _frames(sec: float, fps: float) -> int:
    """A duration in whole frames (at least one)."""
    return max(1, round(sec * fps))


def transient_events(change: Sequence[float], back: Sequence[Sequence[float]], *, step: int = 1) -> list[tuple[int, int]]:
    """Frames where the picture jumps and comes back within ``MAX_FLASH_FRAMES`` steps.

    Parameters
    ----------
    change : sequence of float
        ``change[i]``: mean abs grey difference between frames ``i`` and ``i - step``.
    back : sequence of sequences of float
        ``back[k][i]``: mean abs grey difference between frames ``i`` and ``i - (k + 2) * step``
        (k = 0 .. MAX_FLASH_FRAMES - 1).
    step : int
        Frames per step (:func:`~tempscore.vision.features.feature_step`: 1 at 25 fps).

    Returns
    -------
    list of (frame, length)
        First frame of each transient and how many frames it lasts.
    """
    n = len(change)
    out: list[tuple[int, int]] = []
    i = 1
    while i < n:
        jump = change[i]
        if jump >= IMPACT_MIN_CHANGE:
            for k in range(1, MAX_FLASH_FRAMES + 1):
                j = i + k * step  # the frame k steps on, against the one a step before the jump
                if j < n and back[k - 1][j] < RETURN_RATIO * jump:
                    out.append((i, k * step))
                    i = j
                    break
        i += 1
    return out


def find_accents(
    *,
    pts_sec: Sequence[float],
    motion: Sequence[float],
    brightness: Sequence[float],
    change: Sequence[float],
    back: Sequence[Sequence[float]],
    cut_frames: Sequence[int],
    gradual: Sequence[tuple[int, int]] = (),
    audio_onsets: Sequence[dict] = (),
    fps: float = 25.0,
    step: int = 1,
) -> list[Accent]:
    """Visual and audio accents with a strength, one per event, aligned to frames.

    Parameters
    ----------
    pts_sec : sequence of float
        Frame times, seconds from the first frame.
    motion : sequence of float
        Per-frame motion, the grey change per 1/25 s (0..1), cuts not removed
        (:attr:`~tempscore.vision.features.PictureFeatures.motion`).
    brightness : sequence of float
        Mean luma per frame, 0..1.
    change, back, step : see :func:`transient_events`.
    cut_frames : sequence of int
        Hard cuts (no accent is reported within a step of a cut, nor in the step after it whose
        changes span it: the cut is the hit).
    gradual : sequence of (start, end)
        Gradual transitions, frames; no visual accents inside.
    audio_onsets : sequence of dict
        ``{"time_sec", "strength"}`` from the production audio.
    fps : float
        Frame rate: the onset context (:data:`ONSET_CONTEXT_SEC`) and the spacing of accents
        (:data:`NMS_SEC`) are in seconds.

    Returns
    -------
    list of Accent
        Sorted by frame. Kinds: ``flash`` (bright frame that goes away), ``impact`` (a jolt that
        goes away: shake, hit), ``motion`` (sudden motion onset), ``audio`` (transient in the
        production audio, at the frame showing when it starts).
    """
    n = len(pts_sec)
    if n < 3:
        return []
    near_cut = np.zeros(n, bool)
    for c in cut_frames:  # a step either side, and the step of frames after it that compare across it
        near_cut[max(0, c - step): min(n, c + 2 * step)] = True
    for a, b in gradual:
        near_cut[max(0, a - step): min(n, b + step)] = True
    b = np.asarray(brightness, np.float64)
    m = np.asarray(motion, np.float64)
    cands: list[tuple[int, str, float]] = []
    in_transient = np.zeros(n, bool)
    for f, k in transient_events(change, back, step=step):
        in_transient[f: min(n, f + k + 1)] = True
        if near_cut[f]:
            continue
        jump = b[f] - b[f - 1]
        if jump >= FLASH_MIN_JUMP:
            cands.append((f, "flash", float(min(1.0, jump / 0.3))))
        else:
            cands.append((f, "impact", float(min(1.0, change[f] / 0.15))))
    for f in _motion_onsets(m, _frames(ONSET_CONTEXT_SEC, fps)):
        if not (near_cut[f] or in_transient[f] or in_transient[f - 1]):
            cands.append((f, "motion", float(min(1.0, m[f] / 0.04))))
    # one accent per visual event: strongest first, suppress neighbours
    cands.sort(key=lambda c: -c[2])
    kept: list[tuple[int, str, float]] = []
    nms = _frames(NMS_SEC, fps)
    for c in cands:
        if all(abs(c[0] - k[0]) > nms for k in kept):
            kept.append(c)
    accents = [Accent(frame=f, time_sec=round(float(pts_sec[f]), 6), kind=kind, strength=round(s, 3), source="picture")
               for f, kind, s in kept]
    pts = list(pts_sec)
    for o in audio_onsets:
        t = float(o["time_sec"])
        i = bisect.bisect_right(pts, t + 1e-9) - 1  # the frame on screen when the sound starts
        if 0 <= i < n:
            accents.append(Accent(frame=i, time_sec=round(float(pts[i]), 6), kind="audio",
                                  strength=float(o["strength"]), source="audio"))
    accents.sort(key=lambda a: (a.frame, a.kind))
    return accents


def _motion_onsets(m: np.ndarray, context: int) -> np.ndarray:
    """Frames ``f >= 2`` where motion jumps: at least :data:`MOTION_ONSET_MIN` and
    :data:`MOTION_ONSET_RATIO` times the mean of the ``context`` frames before (from frame 1 on),
    the frame before not yet.

    Parameters
    ----------
    m : np.ndarray, shape (n,)
        Per-frame motion.
    context : int
        Frames the baseline is the mean of.
    """
    n = len(m)
    if n < 3:
        return np.zeros(0, int)
    f = np.arange(2, n)
    cs = np.concatenate([[0.0], np.cumsum(m)])  # cs[i] = sum of m[:i]
    lo = np.maximum(1, f - context)
    base = (cs[f] - cs[lo]) / (f - lo)  # vectorised, to within rounding: a loose first pass ...
    loose = (m[f] >= MOTION_ONSET_MIN) & (m[f] >= MOTION_ONSET_RATIO * base - 1e-6) & (
        m[f - 1] < MOTION_ONSET_RATIO * base + 1e-6)
    out = []
    for k in f[loose]:  # ... then each candidate exactly
        b = float(m[max(1, k - context): k].mean())
        if m[k] >= MOTION_ONSET_RATIO * b and m[k - 1] < MOTION_ONSET_RATIO * b + 1e-9:
            out.append(int(k))
    return np.asarray(out, int)
