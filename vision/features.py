"""Per-frame picture features: motion energy, brightness, saturation, colour warmth."""

from __future__ import annotations

import numpy as np

from ..contracts import FrameFeatures

#: Features are measured on a thumbnail of this size (cheap and robust to noise).
THUMB_SIZE = (64, 36)
#: Frames whose features are computed together (one vectorised pass instead of ~15 small numpy
#: calls per frame); also the only thumbnails held at any time.
BATCH_FRAMES = 128
#: ``back`` looks this many steps further back than the previous one (flash/impact test).
BACK_FRAMES = 3
#: Motion is measured per second of picture: as the change over 1/MOTION_REF_FPS s (one frame at
#: 25 fps, where the thresholds were set), whatever the rate. Frames are compared
#: :func:`feature_step` frames apart (10 at 240 fps), and the change scaled to that interval.
MOTION_REF_FPS = 25.0


def feature_step(fps: float) -> int:
    """Frames between the two frames a change is measured on: the nearest to 1/MOTION_REF_FPS s
    (1 up to 37 fps, 2 at 50-60, 5 at 120, 10 at 240)."""
    return max(1, round(float(fps) / MOTION_REF_FPS))
#: The picture fingerprint of a frame: its grey thumbnail averaged down to this many cells
#: (rows, columns), one byte each; what :mod:`tempscore.scoring.conform` finds a recut's frames by.
FINGERPRINT_CELLS = (6, 8)
_LUMA_BGR = np.array([0.114, 0.587, 0.299], dtype=np.float32)


class PictureFeatures:
    """Accumulates per-frame features from the decode stream (one small job: measure pixels).

    Changes are measured between frame ``i`` and frame ``i - step`` (``step``:
    :func:`feature_step` of the frame rate, 1 at 25 fps; fewer frames back at the film's start).
    ``change`` is that mean absolute grey difference (0..1): how much the picture jumped in
    about 1/25 s. ``motion`` is the same per second of picture: ``change`` scaled to exactly
    1/:data:`MOTION_REF_FPS` s (x fps / (25 x step)), so the same content measures the same
    motion at 24, 60 or 240 fps. At a cut neither is motion, so :meth:`finish` replaces it by the
    value before the cut for the ``step`` frames whose comparison spans it.
    ``frame_change`` keeps the raw colour difference to the previous frame for cut strength;
    ``back[k][i]`` is the mean abs grey difference between frames ``i`` and ``i - (k + 2) * step``
    (0 where there is no such frame).

    Thumbnails are buffered and measured :data:`BATCH_FRAMES` at a time; the per-frame series
    are float arrays (8 bytes a value), so a 2-hour reel costs a few MB.

    Parameters
    ----------
    fps : float
        The picture's frame rate (25 when not given: one frame apart, as before it was known).
    """

    _SERIES = ("pts_sec", "change", "motion", "frame_change", "brightness", "saturation", "warmth")

    def __init__(self, fps: float = MOTION_REF_FPS) -> None:
        self.step = feature_step(fps)
        #: scale from a change over ``step`` frames to one over 1/MOTION_REF_FPS s
        self._per_step = float(fps) / (MOTION_REF_FPS * self.step)
        self._fps = float(fps)
        self._seen = 0  # frames measured so far (the first ``step`` compare fewer frames back)
        self._thumbs: list[np.ndarray] = []
        self._pts: list[float] = []
        self._ctx: np.ndarray | None = None  # the last BACK_FRAMES + 1 thumbnails measured (float, 0..1)
        self._done: dict[str, list[np.ndarray]] = {k: [] for k in self._SERIES}
        self._back: list[list[np.ndarray]] = [[] for _ in range(BACK_FRAMES)]
        self._prints: list[np.ndarray] = []

    def add(self, pts_sec: float, bgr: np.ndarray) -> None:
        """Add the next frame (BGR, any size); its thumbnail is measured with the next batch."""
        import cv2

        self._thumbs.append(cv2.resize(bgr, THUMB_SIZE, interpolation=cv2.INTER_AREA))
        self._pts.append(pts_sec)
        if len(self._thumbs) >= BATCH_FRAMES:
            self._flush()

    def _flush(self) -> None:
        if not self._thumbs:
            return
        f = np.stack(self._thumbs).astype(np.float32) * np.float32(1 / 255)  # (b, h, w, 3) BGR
        b = len(f)
        gray = f @ _LUMA_BGR
        # (a reduction over an axis of 3 is ~7x slower in numpy than two elementwise passes; same values)
        mx = np.maximum(np.maximum(f[..., 0], f[..., 1]), f[..., 2])
        mn = np.minimum(np.minimum(f[..., 0], f[..., 1]), f[..., 2])
        sat = np.where(mx > 1e-6, (mx - mn) / np.maximum(mx, 1e-6), 0.0)
        d = self._done
        d["pts_sec"].append(np.asarray(self._pts, np.float64))
        d["brightness"].append(gray.mean(axis=(1, 2), dtype=np.float64))
        d["saturation"].append(sat.mean(axis=(1, 2), dtype=np.float64))
        d["warmth"].append((f[..., 2] - f[..., 0]).mean(axis=(1, 2), dtype=np.float64))
        rows, cols = FINGERPRINT_CELLS
        h, w = gray.shape[1:]
        cells = gray[:, : h - h % rows, : w - w % cols].reshape(b, rows, h // rows, cols, w // cols).mean(axis=(2, 4))
        self._prints.append(np.round(cells.reshape(b, rows * cols) * 255).astype(np.uint8))
        # previous frames (colour) in front of this batch, for the differences
        prev = self._ctx if self._ctx is not None else np.zeros((0,) + f.shape[1:], np.float32)
        allf = np.concatenate([prev, f])
        allg = allf @ _LUMA_BGR
        p = len(prev)
        frame_change = np.zeros(b)
        if p + b > 1:
            lo = max(p, 1)
            frame_change[lo - p:] = np.abs(allf[lo:] - allf[lo - 1:-1]).mean(axis=(1, 2, 3), dtype=np.float64)
        change, lags = self._step_change(allg, p, b)
        d["change"].append(change)
        d["motion"].append(change * self._fps / (MOTION_REF_FPS * np.maximum(lags, 1)))
        d["frame_change"].append(frame_change)
        for k in range(BACK_FRAMES):
            lag = (k + 2) * self.step
            col = np.zeros(b)
            lo = max(p, lag)
            if p + b > lo:
                col[lo - p:] = np.abs(allg[lo:] - allg[lo - lag:p + b - lag]).mean(axis=(1, 2), dtype=np.float64)
            self._back[k].append(col)
        self._ctx = allf[-((BACK_FRAMES + 1) * self.step):].copy()
        self._seen += b
        self._thumbs, self._pts = [], []

    def _step_change(self, allg: np.ndarray, p: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Mean abs grey difference of each of this batch's ``b`` frames to the frame ``step`` back
        (fewer at the film's start), and that lag; ``allg``: the ``p`` context frames, then the batch."""
        first = self._seen  # index in the film of the batch's first frame
        lags = np.minimum(np.arange(first, first + b), self.step)
        change = np.zeros(b)
        for lag in np.unique(lags[lags > 0]):  # one lag but in the first batch
            rows = np.flatnonzero(lags == lag)
            cur = p + rows
            change[rows] = np.abs(allg[cur] - allg[cur - lag]).mean(axis=(1, 2), dtype=np.float64)
        return change, lags

    def _series(self, name: str) -> np.ndarray:
        self._flush()
        parts = self._done[name]
        if len(parts) > 1:
            parts[:] = [np.concatenate(parts)]
        return parts[0] if parts else np.zeros(0)

    @property
    def pts_sec(self) -> np.ndarray:
        return self._series("pts_sec")

    @property
    def motion(self) -> np.ndarray:
        """Per frame: the picture's change per 1/MOTION_REF_FPS s (cuts not removed)."""
        return self._series("motion")

    @property
    def change(self) -> np.ndarray:
        """Per frame: the grey change to the frame ``step`` back (the jump a flash or impact makes)."""
        return self._series("change")

    @property
    def frame_change(self) -> np.ndarray:
        return self._series("frame_change")

    @property
    def brightness(self) -> np.ndarray:
        return self._series("brightness")

    @property
    def saturation(self) -> np.ndarray:
        return self._series("saturation")

    @property
    def warmth(self) -> np.ndarray:
        return self._series("warmth")

    @property
    def fingerprint(self) -> np.ndarray:
        """(n_frames, rows * cols) uint8: each frame's grey thumbnail in :data:`FINGERPRINT_CELLS` cells."""
        self._flush()
        if len(self._prints) > 1:
            self._prints[:] = [np.concatenate(self._prints)]
        return self._prints[0] if self._prints else np.zeros((0, FINGERPRINT_CELLS[0] * FINGERPRINT_CELLS[1]), np.uint8)

    @property
    def back(self) -> list[np.ndarray]:
        self._flush()
        for parts in self._back:
            if len(parts) > 1:
                parts[:] = [np.concatenate(parts)]
        return [parts[0] if parts else np.zeros(0) for parts in self._back]

    def finish(self, cut_frames: list[int]) -> FrameFeatures:
        """Freeze into :class:`FrameFeatures`, removing the cut spikes from ``motion`` (the ``step``
        frames after a cut compare across it)."""
        motion = self.motion.copy()
        for c in cut_frames:
            if 0 < c < len(motion):
                motion[c:c + self.step] = motion[c - 1]
        if len(motion) > 1:
            motion[0] = motion[1]

        def r(xs: np.ndarray) -> list[float]:  # keep JSON small
            return np.round(xs, 5).tolist()

        return FrameFeatures(
            pts_sec=np.round(self.pts_sec, 6).tolist(),
            motion=r(motion),
            brightness=r(self.brightness),
            saturation=r(self.saturation),
            warmth=r(self.warmth),
        )
