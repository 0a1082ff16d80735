"""Per-frame picture features: motion energy, brightness, saturation, colour warmth."""

from __future__ import annotations

import numpy as np

from ..contracts import FrameFeatures

#: Features are measured on a thumbnail of this size (cheap and robust to noise).
THUMB_SIZE = (64, 36)


class PictureFeatures:
    """Accumulates per-frame features from the decode stream (one small job: measure pixels).

    ``motion`` is the mean absolute difference of consecutive grey thumbnails (0..1). At a cut
    it is not motion, so :meth:`finish` replaces it by the previous frame's value there.
    ``frame_change`` keeps the raw colour difference for cut strength.
    """

    def __init__(self) -> None:
        self._prev_gray: np.ndarray | None = None
        self._grays: list[np.ndarray] = []  # the last few grey thumbnails (newest last)
        #: back[k][i]: mean abs grey difference between frames i and i - k - 2 (flash/impact test)
        self.back: list[list[float]] = [[], [], []]
        self._prev_rgb: np.ndarray | None = None
        self.pts_sec: list[float] = []
        self.motion: list[float] = []
        self.frame_change: list[float] = []
        self.brightness: list[float] = []
        self.saturation: list[float] = []
        self.warmth: list[float] = []

    def add(self, pts_sec: float, bgr: np.ndarray) -> None:
        import cv2

        thumb = cv2.resize(bgr, THUMB_SIZE, interpolation=cv2.INTER_AREA)
        f = thumb.astype(np.float32) / 255.0
        gray = f @ np.array([0.114, 0.587, 0.299], dtype=np.float32)  # BGR -> luma
        mx = f.max(axis=2)
        mn = f.min(axis=2)
        sat = np.where(mx > 1e-6, (mx - mn) / np.maximum(mx, 1e-6), 0.0)
        self.pts_sec.append(pts_sec)
        self.brightness.append(float(gray.mean()))
        self.saturation.append(float(sat.mean()))
        self.warmth.append(float((f[..., 2] - f[..., 0]).mean()))
        if self._prev_gray is None:
            self.motion.append(0.0)
            self.frame_change.append(0.0)
        else:
            self.motion.append(float(np.abs(gray - self._prev_gray).mean()))
            self.frame_change.append(float(np.abs(f - self._prev_rgb).mean()))
        for k, col in enumerate(self.back):
            j = len(self._grays) - k - 2
            col.append(float(np.abs(gray - self._grays[j]).mean()) if j >= 0 else 0.0)
        self._grays = (self._grays + [gray])[-(len(self.back) + 1):]
        self._prev_gray, self._prev_rgb = gray, f

    def finish(self, cut_frames: list[int]) -> FrameFeatures:
        """Freeze into :class:`FrameFeatures`, removing the cut spikes from ``motion``."""
        motion = list(self.motion)
        for c in cut_frames:
            if 0 < c < len(motion):
                motion[c] = motion[c - 1]
        if len(motion) > 1:
            motion[0] = motion[1]
        r = lambda xs: [round(x, 5) for x in xs]  # noqa: E731 - keep JSON small
        return FrameFeatures(
            pts_sec=[round(t, 6) for t in self.pts_sec],
            motion=r(motion),
            brightness=r(self.brightness),
            saturation=r(self.saturation),
            warmth=r(self.warmth),
        )
