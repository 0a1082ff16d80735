"""The single decode pass: every frame once, at analysis resolution, with its exact timestamp."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import VideoOpenFailure
from ..media import ff_path

if TYPE_CHECKING:
    from av import VideoFrame

log = logging.getLogger(__name__)


@dataclass
class DecodedFrame:
    """One decoded frame: 0-based index in decode order, PTS seconds from the first frame, BGR pixels."""

    index: int
    pts_sec: float
    bgr: np.ndarray  # (height, width, 3) uint8


def analysis_size(width: int, height: int, *, target_width: int = 320) -> tuple[int, int]:
    """Analysis frame size: ``target_width`` wide (never upscaled), even height, aspect kept."""
    w = min(target_width, width)
    h = max(2, int(round(height * w / width / 2)) * 2)
    return w, h


_PLANAR_420 = {"yuv420p", "yuvj420p"}
#: Decimation steps at which a plane's rows, seen as pixels of ``k`` channels, area-average in
#: OpenCV exactly as the sliced plane does (3- and 4-channel resizes round as the 1-channel one;
#: checked on random planes in tests/test_decode.py): the slicing copy is skipped.
_GROUPED_STEPS = (3, 4)


def _plane(frame: VideoFrame, i: int, height: int, width: int) -> np.ndarray:
    p = frame.planes[i]
    return np.frombuffer(p, np.uint8).reshape(height, p.line_size)[:, :width]


def decimated_area(plane: np.ndarray, k: int, size: tuple[int, int]) -> np.ndarray:
    """Every ``k``-th pixel of every ``k``-th row of ``plane``, area-averaged to ``size`` (w, h).

    Where ``k`` is in :data:`_GROUPED_STEPS` and divides the width, each kept row is read as
    pixels of ``k`` channels (a view: no copy) and OpenCV averages them with the GIL released;
    channel 0 is the decimated plane's average. Otherwise NumPy copies the sliced plane first.
    """
    import cv2

    if k in _GROUPED_STEPS and plane.shape[1] % k == 0:
        rows = plane[::k]
        grouped = rows.reshape(rows.shape[0], plane.shape[1] // k, k)
        return cv2.resize(grouped, size, interpolation=cv2.INTER_AREA)[:, :, 0]
    return cv2.resize(plane[::k, ::k], size, interpolation=cv2.INTER_AREA)


def _small_bgr(frame: VideoFrame, w: int, h: int) -> np.ndarray:
    """Scale a decoded frame to ``w x h`` BGR.

    For 8-bit 4:2:0 (almost every H.264/HEVC rough cut) the Y, U and V planes are decimated by
    slicing to about twice the analysis size, area-averaged with OpenCV and converted at the
    small size: far cheaper than swscale's full-size colour conversion. Other pixel
    formats (10-bit, 4:2:2, RGB) go through swscale.
    """
    import cv2

    fw, fh = frame.width, frame.height
    if frame.format.name in _PLANAR_420 and fw % 2 == 0 and fh % 2 == 0 and w % 2 == 0 and h % 2 == 0:
        # Decimate first (every k-th pixel) so that the area average only has to halve the size:
        # 7x cheaper on 1080p than a full 6:1 area average.
        k = max(1, fw // (2 * w))
        y = decimated_area(_plane(frame, 0, fh, fw), k, (w, h))
        u = decimated_area(_plane(frame, 1, fh // 2, fw // 2), k, (w // 2, h // 2))
        v = decimated_area(_plane(frame, 2, fh // 2, fw // 2), k, (w // 2, h // 2))
        i420 = np.concatenate([y.reshape(-1), u.reshape(-1), v.reshape(-1)]).reshape(h * 3 // 2, w)
        return cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420)
    return frame.to_ndarray(format="bgr24", width=w, height=h, interpolation="AREA")


def iter_frames(path: Path, *, target_width: int = 320, threads: int = 0) -> Iterator[DecodedFrame]:
    """Decode every video frame once, scaled to analysis size.

    Parameters
    ----------
    path : Path
        Video file (already probed).
    target_width : int
        Analysis width in pixels; height follows the aspect ratio.
    threads : int
        Decoder threads, 0 = FFmpeg's choice.

    Yields
    ------
    DecodedFrame
        Frames in decode (presentation) order. ``pts_sec`` comes from the stream's timestamps,
        relative to the first frame, so it is exact for variable-frame-rate input too.
    """
    import av

    try:
        container = av.open(ff_path(path))
    except av.error.FFmpegError as exc:
        raise VideoOpenFailure(f"{path}: cannot be decoded ({exc}); the file may be damaged") from exc
    with container:
        vs = container.streams.video[0]
        vs.thread_type = "AUTO"
        if threads:
            vs.codec_context.thread_count = threads
        tb = Fraction(vs.time_base)
        w, h = analysis_size(vs.codec_context.width, vs.codec_context.height, target_width=target_width)
        first_pts: int | None = None
        last_pts_sec = -1.0
        index = 0
        try:
            for frame in container.decode(vs):
                pts = frame.pts if frame.pts is not None else frame.dts
                if pts is None:  # no timestamps at all: fall back to the frame index
                    pts_sec = last_pts_sec + 1.0 / float(vs.average_rate or 25)
                else:
                    if first_pts is None:
                        first_pts = pts
                    pts_sec = float((pts - first_pts) * tb)
                last_pts_sec = pts_sec
                bgr = _small_bgr(frame, w, h)
                yield DecodedFrame(index, pts_sec, bgr)
                index += 1
        except av.error.FFmpegError as exc:
            if index == 0:
                raise VideoOpenFailure(f"{path}: no frame could be decoded ({exc.__class__.__name__}); the file is "
                                       f"damaged: re-export it") from exc
            raise VideoOpenFailure(f"{path}: decoding failed at frame {index} ({exc.__class__.__name__}); the file is "
                                   f"damaged or truncated: re-export or re-copy it") from exc


def iter_frames_ahead(path: Path, *, target_width: int = 320, ahead: int = 8) -> Iterator[DecodedFrame]:
    """:func:`iter_frames` decoded (and scaled) in a thread, up to ``ahead`` frames in advance.

    FFmpeg's decoding and OpenCV's scaling release the GIL, so the caller's per-frame analysis
    runs while the next frames decode. Errors of the decoder are raised here, in order; memory
    holds at most ``ahead`` analysis frames. Leaving the loop early stops the thread.
    """
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=ahead)
    stop = threading.Event()
    done = object()

    def work() -> None:
        try:
            for f in iter_frames(path, target_width=target_width):
                while not stop.is_set():
                    try:
                        q.put(f, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # handed to the consumer
            q.put(exc)

    t = threading.Thread(target=work, name="tempscore-decode", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while t.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                pass
            t.join(timeout=0.05)
