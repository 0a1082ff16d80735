"""The single decode pass: every frame once, at analysis resolution, with its exact timestamp."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import VideoOpenFailure

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
        container = av.open(str(path))
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
                bgr = frame.to_ndarray(format="bgr24", width=w, height=h, interpolation="FAST_BILINEAR")
                yield DecodedFrame(index, pts_sec, bgr)
                index += 1
        except av.error.FFmpegError as exc:
            if index == 0:
                raise VideoOpenFailure(f"{path}: no frame could be decoded ({exc}); the file may be damaged") from exc
            log.warning("%s: decoding stopped at frame %d (%s); analysing what was decoded", path, index, exc)
