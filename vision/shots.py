"""Shot boundaries with PySceneDetect detectors fed from the single decode stream."""

from __future__ import annotations

import logging
from fractions import Fraction

import numpy as np

from ..contracts import Cut

log = logging.getLogger(__name__)


class ShotDetector:
    """Hard cuts (PySceneDetect ``ContentDetector``) and fades (``ThresholdDetector``).

    Frames are pushed one by one with :meth:`add`; :meth:`finish` returns the cuts. Both
    detectors see the same decoded frames, so the video is decoded once.

    Parameters
    ----------
    fps : Fraction
        Exact frame rate (used for minimum shot lengths).
    content_threshold : float
        ContentDetector threshold (PySceneDetect's default 27 is tuned for full-size frames;
        it works the same on 320 px analysis frames since the score is a mean over pixels).
    min_shot_sec : float
        Shorter shots are merged (protects against flicker); PySceneDetect's flash filter also
        keeps single bright frames (photo flashes) from counting as cuts.
    fade_threshold : float
        Mean pixel value (0..255) under which a frame counts as black for fades.
    """

    def __init__(
        self,
        fps: Fraction,
        *,
        content_threshold: float = 27.0,
        min_shot_sec: float = 0.25,
        fade_threshold: float = 12.0,
    ) -> None:
        from scenedetect import ContentDetector, ThresholdDetector

        self.fps = Fraction(fps)
        min_len = max(2, int(round(min_shot_sec * float(self.fps))))
        self._content = ContentDetector(threshold=content_threshold, min_scene_len=min_len)
        self._fade = ThresholdDetector(threshold=fade_threshold, min_scene_len=min_len, fade_bias=1.0)
        self._content_cuts: list[int] = []
        self._fade_cuts: list[int] = []
        self._last = -1
        self._dark = fade_threshold / 255.0

    @property
    def names(self) -> list[str]:
        return ["scenedetect.ContentDetector", "scenedetect.ThresholdDetector"]

    def _tc(self, index: int):  # noqa: ANN202 - scenedetect FrameTimecode
        from scenedetect import FrameTimecode

        return FrameTimecode(index, fps=self.fps)

    def add(self, index: int, bgr: np.ndarray) -> None:
        tc = self._tc(index)
        self._content_cuts += [c.frame_num for c in self._content.process_frame(tc, bgr)]
        self._fade_cuts += [c.frame_num for c in self._fade.process_frame(tc, bgr)]
        self._last = index

    def finish(self, pts_sec: list[float], brightness: list[float], frame_change: list[float],
               transients: list[tuple[int, int]] = ()) -> list[Cut]:  # type: ignore[assignment]
        """Merge both detectors' cuts into a sorted list of :class:`Cut`.

        A content cut inside a fade's dark run or ramp is the fade itself and is dropped. A cut
        at a transient (``(frame, length)``: a flash or jolt after which the picture returns, see
        :func:`tempscore.vision.accents.transient_events`) is not a cut either.
        """
        flashed = set()
        for f, k in transients:
            flashed.update(range(f, f + k + 2))
        if self._last >= 0:
            tc = self._tc(self._last)
            self._content_cuts += [c.frame_num for c in self._content.post_process(tc)]
            self._fade_cuts += [c.frame_num for c in self._fade.post_process(tc)]
        n = len(pts_sec)
        b = brightness
        dark = self._dark
        cuts: list[Cut] = []
        protected: list[tuple[int, int]] = []
        for f in sorted(set(self._fade_cuts)):
            if not 0 < f < n:
                continue
            start = _ramp_start(b, f)
            end = _fade_in_end(b, f, max_frames=int(2 * float(self.fps)))
            protected.append((start - 1, end + 1))
            if end - start >= 3:
                cuts.append(Cut(frame=start, time_sec=pts_sec[start], kind="gradual", end_frame=end, strength=0.6,
                                detector="threshold"))
            else:  # straight cut out of black
                cuts.append(Cut(frame=f, time_sec=pts_sec[f], kind="hard", strength=1.0, detector="threshold"))
        for f in sorted(set(self._content_cuts)):
            if not 0 < f < n or any(s <= f <= e for s, e in protected) or f in flashed:
                continue
            if b[f] < dark and b[f - 1] < 1.5 * dark:
                continue  # change between near-black frames: the tail of a fade, not a cut
            if 2 <= f < n - 1 and b[f - 2] > b[f - 1] > b[f] > b[f + 1] and frame_change[f] < 0.08:
                continue  # inside a smooth fade-out ramp
            strength = float(min(1.0, frame_change[f] / 0.25)) if f < len(frame_change) else 1.0
            cuts.append(Cut(frame=f, time_sec=pts_sec[f], kind="hard", strength=round(strength, 3), detector="content"))
        cuts.sort(key=lambda c: c.frame)
        return cuts


def _ramp_start(brightness: list[float], f: int) -> int:
    """First frame of the fade-in that crosses the black threshold at ``f``: walk back to the darkest frame."""
    i = f
    while i > 1 and brightness[i - 1] < brightness[i] - 1e-4 and brightness[i - 2] < brightness[i - 1] - 1e-4:
        i -= 1
    return i


def _fade_in_end(brightness: list[float], f: int, *, max_frames: int) -> int:
    """Frame (exclusive) where the fade-in ramp that starts at ``f`` levels off."""
    n = len(brightness)
    i = f
    while i + 1 < n and i - f < max_frames and brightness[i + 1] > brightness[i] + 1e-4:
        i += 1
    return min(i + 1, n)


def shots_from_cuts(cuts: list[Cut], frame_count: int) -> list[tuple[int, int]]:
    """``[start, end)`` frame ranges of the shots delimited by ``cuts``."""
    bounds = [0] + [c.frame for c in cuts if 0 < c.frame < frame_count] + [frame_count]
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
