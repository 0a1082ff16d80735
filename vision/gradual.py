"""Gradual transitions (fade-outs to black, fade-ins from black, dissolves) from the decode stream.

Model (from first principles, not fitted to any footage): every frame of a fade or a dissolve
between the last frame ``A`` of the outgoing shot and the first frame ``B`` of the incoming one is
a blend ``A + alpha * (B - A)`` with ``alpha`` rising from 0 to 1. For a window ``[s, e]``
(``s``: last pure frame of the old shot, ``e``: first pure frame of the new one) the frames at a
quarter, half and three quarters of the way are projected on ``B - A``:

- the fitted ``alpha`` must follow the ramp (within ``MAX_ALPHA_DEV`` of 0.25 / 0.5 / 0.75:
  linear, eased and gamma-space blends pass; a hard cut inside the window leaves at least one
  point 0.5 away, so it never passes);
- what the blend does not explain (mean abs residual) must be small beside the change
  (``MAX_RESIDUAL`` of ``mean |B - A|``), which rejects motion: a pan, a zoom or a moving object
  is no blend of its two ends;
- the contrast (luma variance) of the frames inside must be that of a blend,
  ``(1-q)^2 var A + q^2 var B + 2q(1-q) cov(A, B)``, within ``MAX_CONTRAST_DEV``, and nearer to it
  than to the full contrast a continuous change (zoom, pan, colour drift) keeps; this holds when
  both shots move, unlike the residual, which motion inflates (hence its loose limit);
- the blend must stop at the window's ends: frames a quarter of its length outside project on
  ``B - A`` at 0 and 1 within ``MAX_OUTSIDE_DEV``;
- the change must be a shot change: ``mean |B - A|`` at least ``MIN_CHANGE``; if one end is black
  (mean luma under ``DARK``) it is a fade, otherwise the two ends must differ in *structure*
  (correlation of their zero-mean luma under ``MAX_STRUCTURE_CORR``), so a light change in one
  shot (same picture, brighter) is no dissolve.

Windows of 4 frames to 3 s are tried at lengths 25 % apart as frames arrive; the best window of
each group of overlapping passes is refined frame by frame (start and end within 15 % of its
length) and scored by ``change * quality``, where ``quality`` is the product of ``1 - x / limit``
over the alpha, residual, outside and contrast deviations (it must be at least ``MIN_QUALITY``:
the tests together pass clearly, not each at its limit); the score is largest for the window that
spans exactly the transition. Memory holds a ring of about 3.5 s of 32x18 thumbnails.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

log = logging.getLogger(__name__)

THUMB = (32, 18)
MIN_FRAMES = 4
MAX_SEC = 3.0
MIN_CHANGE = 0.06
DARK = 0.06
MAX_ALPHA_DEV = 0.3
MAX_RESIDUAL = 0.45
MAX_STRUCTURE_CORR = 0.8
MAX_OUTSIDE_DEV = 0.2
#: the four deviation tests together must pass clearly, not each at its limit
MIN_QUALITY = 0.1
#: |log| of measured over predicted contrast (luma variance) of the frames inside: log(1.5)
MAX_CONTRAST_DEV = 0.405
#: variance (luma, 0..1 squared) added to both sides: a black frame's contrast is noise
VAR_FLOOR = 2e-4
#: a fade's ramp goes on while the mean luma falls by more than this per frame (0..1)
RAMP_STEP = 5e-4
#: fractions of the window where the blend is checked
PROBES = (0.25, 0.5, 0.75)
_LUMA_BGR = np.array([0.114, 0.587, 0.299], dtype=np.float32)


@dataclass(frozen=True)
class Transition:
    """A gradual transition: ``start`` is the last frame of the outgoing shot, ``end`` the first frame
    of the incoming one (frames strictly between are blends); ``kind`` is ``fade_in`` | ``fade_out`` |
    ``dissolve``."""

    start: int
    end: int
    kind: str
    score: float
    change: float


class GradualDetector:
    """Streams frames (any size, BGR) and finds fades and dissolves; see the module docstring.

    Parameters
    ----------
    fps : Fraction
        Frame rate (sets the longest window, ``MAX_SEC`` seconds).
    batch_frames : int
        Frames evaluated together.
    """

    def __init__(self, fps: Fraction, *, batch_frames: int = 128) -> None:
        self.max_len = max(MIN_FRAMES + 1, int(round(MAX_SEC * float(fps))))
        lens = []
        x = float(MIN_FRAMES)
        while x <= self.max_len:
            if not lens or int(round(x)) != lens[-1]:
                lens.append(int(round(x)))
            x *= 1.25
        self.lengths = lens
        self.delay = int(math.ceil(0.15 * self.max_len)) + 2  # look-ahead kept for refinement
        self.batch = batch_frames
        # ring buffer of the last frames: colour thumbnails (flattened) and their luma
        self._cap = self.max_len + 2 * self.delay + batch_frames + 8
        w, h = THUMB
        self._rgb = np.zeros((self._cap, h * w * 3), np.float32)
        self._luma = np.zeros((self._cap, h * w), np.float32)
        self._first = 0  # oldest frame still needed
        self._count = 0
        self._next_end = MIN_FRAMES  # next window end to evaluate
        self._found: list[Transition] = []

    def add(self, bgr: np.ndarray) -> None:
        import cv2

        t = cv2.resize(bgr, THUMB, interpolation=cv2.INTER_AREA).astype(np.float32) * np.float32(1 / 255)
        i = self._count % self._cap
        self._rgb[i] = t.reshape(-1)
        self._luma[i] = (t @ _LUMA_BGR).reshape(-1)
        self._count += 1
        if self._count - self.delay - self._next_end >= self.batch:
            self._evaluate(self._count - self.delay)

    # -- window tests -------------------------------------------------------------------------
    def _mean_luma(self, i: int) -> float:
        return float(self._luma[i % self._cap].mean())

    def _test(self, s: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Vectorised window test for windows ``[s[i], e[i]]``: (passes, score, kind code 0/1/2).

        The tests run cheapest first, each on the windows that passed the ones before.
        """
        n = len(s)
        ok = np.zeros(n, bool)
        score = np.full(n, -1.0)
        kind_out = np.full(n, 2)
        cap, rgb, lum = self._cap, self._rgb, self._luma
        a, b = rgb[s % cap], rgb[e % cap]
        d = b - a
        change = np.abs(d).mean(axis=1)
        idx = np.flatnonzero(change >= MIN_CHANGE)
        if not len(idx):
            return ok, score, kind_out
        s, e, a, d, change = s[idx], e[idx], a[idx], d[idx], change[idx]
        dd = np.einsum("ij,ij->i", d, d) + 1e-12
        # the blend at the middle, and no blend outside the window
        m = rgb[(s + np.round(0.5 * (e - s)).astype(int)) % cap] - a
        alpha = np.einsum("ij,ij->i", m, d) / dd
        res = np.abs(m - alpha[:, None] * d).mean(axis=1)
        dev = np.abs(alpha - 0.5)
        k = np.maximum(2, np.round(0.25 * (e - s)).astype(int))
        before = rgb[np.maximum(s - k, self._first) % cap] - a
        after = rgb[np.minimum(e + k, self._count - 1) % cap] - a
        out_dev = np.maximum(np.abs(np.einsum("ij,ij->i", before, d) / dd),
                             np.abs(np.einsum("ij,ij->i", after, d) / dd - 1))
        keep = (dev <= MAX_ALPHA_DEV) & (res <= MAX_RESIDUAL * change) & (out_dev <= MAX_OUTSIDE_DEV)
        idx, s, e, a, d, change, dd, dev, res, out_dev = (x[keep] for x in (idx, s, e, a, d, change, dd, dev, res, out_dev))
        if not len(idx):
            return ok, score, kind_out
        # structure and contrast of the two ends
        la, lb = lum[s % cap], lum[e % cap]
        ma, mb = la.mean(axis=1), lb.mean(axis=1)
        za, zb = la - ma[:, None], lb - mb[:, None]
        va, vb = (za * za).mean(axis=1), (zb * zb).mean(axis=1)
        cov = (za * zb).mean(axis=1)
        corr = cov / np.sqrt(va * vb + 1e-12)
        vdev = np.zeros(len(s), np.float32)
        v_blend = np.zeros(len(s), np.float32)  # summed |log| distances of the contrast to a blend's ...
        v_cont = np.zeros(len(s), np.float32)  # ... and to a continuous change's (full contrast throughout)
        for q in PROBES:
            j = (s + np.round(q * (e - s)).astype(int)) % cap
            if q != 0.5:
                mq = rgb[j] - a
                aq = np.einsum("ij,ij->i", mq, d) / dd
                dev = np.maximum(dev, np.abs(aq - q))
                res = np.maximum(res, np.abs(mq - aq[:, None] * d).mean(axis=1))
            # Contrast of a blend: var((1-q)A + qB) = (1-q)^2 var A + q^2 var B + 2q(1-q) cov(A, B); it
            # holds when both shots move (a moving picture keeps its contrast), and fails for a
            # continuous change (zoom, pan, drift), where the picture keeps its full contrast.
            vk = lum[j].var(axis=1)
            pred = (1 - q) ** 2 * va + q * q * vb + 2 * q * (1 - q) * cov
            dist = np.abs(np.log((vk + VAR_FLOOR) / (np.maximum(pred, 0) + VAR_FLOOR)))
            vdev = np.maximum(vdev, dist)
            v_blend += dist
            v_cont += np.abs(np.log((vk + VAR_FLOOR) / ((1 - q) * va + q * vb + VAR_FLOOR)))
        rel = res / np.maximum(change, 1e-6)
        dark_a, dark_b = ma < DARK, mb < DARK
        kind = np.where(dark_a, 0, np.where(dark_b, 1, 2))  # fade_in, fade_out, dissolve
        quality = ((1 - dev / MAX_ALPHA_DEV) * (1 - rel / MAX_RESIDUAL) * (1 - out_dev / MAX_OUTSIDE_DEV)
                   * (1 - vdev / MAX_CONTRAST_DEV))
        good = ((quality >= MIN_QUALITY) & (dev <= MAX_ALPHA_DEV) & (rel <= MAX_RESIDUAL)
                & (vdev <= MAX_CONTRAST_DEV) & (v_blend < v_cont)
                & ~(dark_a & dark_b) & ((kind != 2) | (corr < MAX_STRUCTURE_CORR)))
        ok[idx] = good
        score[idx] = np.where(good, change * quality, -1.0)
        kind_out[idx] = kind
        return ok, score, kind_out

    def _evaluate(self, stop: int) -> None:
        """Test every window ending in ``[next_end, stop)``; refine the best of each overlapping group."""
        ends = np.arange(self._next_end, stop)
        if not len(ends):
            return
        cands: list[tuple[float, int, int]] = []
        for length in self.lengths:
            e = ends[ends - length >= self._first]
            if not len(e):
                continue
            s = e - length
            ok, score, _ = self._test(s, e)
            cands += [(float(sc), int(a), int(b)) for sc, a, b in zip(score[ok], s[ok], e[ok])]
        cands.sort(reverse=True)
        picked: list[tuple[float, int, int]] = []
        for c in cands:
            if all(c[2] < p[1] or c[1] > p[2] for p in picked):
                picked.append(c)
        for _, s, e in picked:
            self._found.append(self._refine(s, e))
        self._next_end = stop
        # the next windows end at >= stop and start at >= stop - max_len; refinement reaches delay further back
        self._first = max(self._first, stop - self.max_len - self.delay - 2)

    def _refine(self, s: int, e: int) -> Transition:
        r = max(2, int(math.ceil(0.15 * (e - s))))
        lo_s, hi_e = max(self._first, s - r), min(self._count - 1, e + r)
        ss, ee = np.meshgrid(np.arange(lo_s, s + r + 1), np.arange(e - r, hi_e + 1), indexing="ij")
        ss, ee = ss.reshape(-1), ee.reshape(-1)
        keep = (ee - ss >= MIN_FRAMES) & (ee - ss <= self.max_len) & (ss >= self._first)
        ss, ee = ss[keep], ee[keep]
        ok, score, kind = self._test(ss, ee)
        i = int(np.argmax(score))
        s, e, kind = int(ss[i]), int(ee[i]), ("fade_in", "fade_out", "dissolve")[int(kind[i])]
        # A fade's darkest frames barely differ from black; follow the luma ramp to its black end.
        luma = self._mean_luma
        if kind == "fade_in":
            while s - 1 >= self._first and e - s < self.max_len and luma(s - 1) < luma(s) - RAMP_STEP:
                s -= 1
        elif kind == "fade_out":
            while e + 1 < self._count and e - s < self.max_len and luma(e + 1) < luma(e) - RAMP_STEP:
                e += 1
        a = self._rgb[s % self._cap]
        b = self._rgb[e % self._cap]
        return Transition(start=s, end=e, kind=kind,
                          score=round(float(score[i]), 4), change=round(float(np.abs(b - a).mean()), 4))

    def finish(self) -> list[Transition]:
        """Evaluate the last windows; return the transitions, sorted, overlaps resolved by score."""
        self._evaluate(self._count)
        best: list[Transition] = []
        for t in sorted(self._found, key=lambda t: -t.score):
            if all(t.end <= b.start or t.start >= b.end for b in best):
                best.append(t)
        return sorted(best, key=lambda t: t.start)
