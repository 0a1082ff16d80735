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

#: A flash/impact lasts at most this many frames before the picture returns.
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
ONSET_CONTEXT = 10
#: Accents closer than this (frames) are one accent (the strongest is kept).
NMS_FRAMES = 4


def transient_events(change: Sequence[float], back: Sequence[Sequence[float]]) -> list[tuple[int, int]]:
    """Frames where the picture jumps and comes back within ``MAX_FLASH_FRAMES`` frames.

    Parameters
    ----------
    change : sequence of float
        ``change[i]``: mean abs grey difference between frames ``i`` and ``i - 1``.
    back : sequence of sequences of float
        ``back[k][i]``: mean abs grey difference between frames ``i`` and ``i - k - 2``
        (k = 0 .. MAX_FLASH_FRAMES - 1).

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
                j = i + k
                if j < n and back[k - 1][j] < RETURN_RATIO * jump:
                    out.append((i, k))
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
) -> list[Accent]:
    """Visual and audio accents with a strength, one per event, aligned to frames.

    Parameters
    ----------
    pts_sec : sequence of float
        Frame times, seconds from the first frame.
    motion : sequence of float
        Raw per-frame grey change (0..1), cuts not removed.
    brightness : sequence of float
        Mean luma per frame, 0..1.
    change, back : see :func:`transient_events`.
    cut_frames : sequence of int
        Hard cuts (no accent is reported within one frame of a cut: the cut is the hit).
    gradual : sequence of (start, end)
        Gradual transitions, frames; no visual accents inside.
    audio_onsets : sequence of dict
        ``{"time_sec", "strength"}`` from the production audio.

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
    for c in cut_frames:
        near_cut[max(0, c - 1): min(n, c + 2)] = True
    for a, b in gradual:
        near_cut[max(0, a - 1): min(n, b + 1)] = True
    b = np.asarray(brightness, np.float64)
    m = np.asarray(motion, np.float64)
    cands: list[tuple[int, str, float]] = []
    in_transient = np.zeros(n, bool)
    for f, k in transient_events(change, back):
        in_transient[f: min(n, f + k + 1)] = True
        if near_cut[f]:
            continue
        jump = b[f] - b[f - 1]
        if jump >= FLASH_MIN_JUMP:
            cands.append((f, "flash", float(min(1.0, jump / 0.3))))
        else:
            cands.append((f, "impact", float(min(1.0, change[f] / 0.15))))
    for f in range(2, n):
        if near_cut[f] or in_transient[f] or in_transient[f - 1]:
            continue
        ctx = m[max(1, f - ONSET_CONTEXT): f]
        base = float(ctx.mean()) if len(ctx) else 0.0
        if m[f] >= MOTION_ONSET_MIN and m[f] >= MOTION_ONSET_RATIO * base and m[f - 1] < MOTION_ONSET_RATIO * base + 1e-9:
            cands.append((f, "motion", float(min(1.0, m[f] / 0.04))))
    # one accent per visual event: strongest first, suppress neighbours
    cands.sort(key=lambda c: -c[2])
    kept: list[tuple[int, str, float]] = []
    for c in cands:
        if all(abs(c[0] - k[0]) > NMS_FRAMES for k in kept):
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
