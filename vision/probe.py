"""Probe a video file: exact rational frame rate, time base, duration, start timecode."""

from __future__ import annotations

import hashlib
import logging
import os
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from ..contracts import VideoInfo
from ..errors import InputNotFound, NoVideoStream, VideoOpenFailure, VideoTooShort
from ..media import describe_bed, ff_path, production_audio_streams, production_bed_streams, stream_title

if TYPE_CHECKING:
    from av.container import InputContainer
    from av.video.stream import VideoStream

log = logging.getLogger(__name__)

#: Shortest picture tempscore scores: one second carries at most a two-bar stinger.
MIN_DURATION_SEC = 1.0
#: Codecs of still images that FFmpeg opens as a one-frame "video".
IMAGE_CODECS = {"png", "mjpeg", "bmp", "tiff", "webp", "gif", "jpeg2000", "ppm", "pgm", "qoi", "jpegls"}

#: Broadcast rates a measured average rate is snapped to when it is within 0.05 % of one.
STANDARD_RATES: tuple[Fraction, ...] = (
    Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30),
    Fraction(48000, 1001), Fraction(48), Fraction(50), Fraction(60000, 1001), Fraction(60),
    Fraction(120000, 1001), Fraction(120),
)


def exact_frame_rate(measured: Fraction | None, declared: Fraction | None) -> Fraction:
    """Choose the exact rational frame rate from the stream's average and declared (r_frame_rate).

    The declared rate wins when both agree to 1 % (constant frame rate; the average drifts a little
    when the last frame is held longer); otherwise the average rate is used (variable frame rate). The result is snapped to a standard broadcast rate when it
    lies within 0.05 % of one, so ``29.97`` read as ``2997/100`` becomes ``30000/1001``.
    """
    candidates = [r for r in (declared, measured) if r]
    if not candidates:
        raise ValueError("no frame rate")
    rate = Fraction(candidates[0])
    if declared and measured and abs(float(declared) / float(measured) - 1) > 1e-2:
        rate = Fraction(measured)
    for std in STANDARD_RATES:
        if abs(float(rate) / float(std) - 1) < 5e-4:
            return std
    return rate.limit_denominator(1001 * 1000)


def content_hash(path: Path, *, chunk_bytes: int = 1 << 20) -> str:
    """A fast content fingerprint: sha256 over size + the first, middle and last MiB."""
    size = path.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with path.open("rb") as fh:
        for off in sorted({0, max(0, size // 2 - chunk_bytes // 2), max(0, size - chunk_bytes)}):
            fh.seek(off)
            h.update(fh.read(chunk_bytes))
    return h.hexdigest()[:32]


def _start_timecode(container: InputContainer, stream: VideoStream) -> str:
    for md in (stream.metadata, container.metadata):
        tc = md.get("timecode")
        if tc:
            return str(tc)
    for s in container.streams:
        tc = s.metadata.get("timecode")
        if tc:
            return str(tc)
    return "00:00:00:00"


def probe(path: str | os.PathLike[str], *, note_scored_before: bool = False) -> VideoInfo:
    """Read a video's stream properties without decoding it.

    Parameters
    ----------
    path : path-like
        The video file (any container FFmpeg reads: mp4, mov, mkv, ...).
    note_scored_before : bool
        Warn when it is a video tempscore scored before (its temp-score tracks are left out of
        ``audio_streams``, and so of the analysis, the mix and the copy); the analysis asks, once a run.

    Returns
    -------
    VideoInfo
        ``frame_count`` is the container's count (or an estimate from duration x fps when the
        container does not store one); :func:`tempscore.vision.analyze` replaces it by the number
        of frames actually decoded.

    Raises
    ------
    InputNotFound, VideoOpenFailure, NoVideoStream
    """
    import av

    p = Path(path)
    if not p.exists():
        raise InputNotFound(f"{p}: no such file; check the path")
    if not p.is_file():
        raise VideoOpenFailure(f"{p}: is not a file; give a video file (mp4, mov, mkv)")
    try:
        container = av.open(ff_path(p), mode="r")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise VideoOpenFailure(f"{p}: not a readable video ({exc.__class__.__name__}); give a video file (mp4, mov, mkv)") from exc
    with container:
        own_audio = production_audio_streams(container)
        if note_scored_before and len(own_audio) < len(container.streams.audio):
            kept = {s.index for s in own_audio}
            ours = [stream_title(s) for s in container.streams.audio if s.index not in kept]
            log.warning("%s is a video tempscore scored before: its old temp-score tracks (%s) are left out; its "
                        "own audio is what is analysed, mixed and copied", p.name, ", ".join(ours))
        streams = [s for s in container.streams.video if not (s.disposition & av.stream.Disposition.attached_pic)]
        if not streams:
            raise NoVideoStream(f"{p}: has no video stream (audio-only or data file); give a video file")
        vs = streams[0]
        cc = vs.codec_context
        if not cc.width or not cc.height:
            raise VideoOpenFailure(f"{p}: video stream has no picture size; the file may be damaged")
        try:
            fps = exact_frame_rate(vs.average_rate, vs.base_rate or vs.guessed_rate)
        except ValueError as exc:
            raise VideoOpenFailure(f"{p}: video stream has no frame rate; the file may be damaged") from exc
        tb = Fraction(vs.time_base) if vs.time_base else Fraction(1, 1_000_000)
        if vs.duration:
            duration = float(vs.duration * tb)
        elif container.duration:
            duration = container.duration / 1_000_000
        else:
            duration = 0.0
        frames = int(vs.frames) if vs.frames else int(round(duration * fps))
        exact = bool(vs.frames)
        if vs.frames and duration > 0 and vs.frames > 1.03 * duration * float(fps) + 2:
            # the container counts frames an edit list leaves out (a trim made by stream copy, e.g.
            # `ffmpeg -ss 3 -c copy`): the stream's duration is what plays and what decodes
            log.debug("%s: %d frames stored, %.3f s shown (edit list)", p, vs.frames, duration)
            frames = int(round(duration * fps))
        info = VideoInfo(
            path=str(p.resolve()),
            fps_num=fps.numerator,
            fps_den=fps.denominator,
            frame_count=frames,
            duration_sec=duration,
            width=int(cc.width),
            height=int(cc.height),
            time_base_num=tb.numerator,
            time_base_den=tb.denominator,
            start_timecode=_start_timecode(container, vs),
            codec=str(cc.name),
            audio_streams=len(own_audio),
            production_audio=describe_bed(production_bed_streams(container)),
            size_bytes=p.stat().st_size,
            content_hash=content_hash(p),
            frame_count_exact=exact,
        )
    if info.codec in IMAGE_CODECS and info.frame_count <= 1:
        raise VideoTooShort(f"{p}: is a still image ({info.codec}), not a video; give the rough cut itself")
    check_duration(p, info.frame_count, info.duration_sec)
    log.debug("probe %s: %s", p, info)
    return info


def check_duration(path: Path, frames: int, duration_sec: float) -> None:
    """Refuse pictures shorter than :data:`MIN_DURATION_SEC` (counted when the container says)."""
    if (frames and frames < 2) or (0 < duration_sec < MIN_DURATION_SEC):
        raise VideoTooShort(f"{path}: only {frames} frame(s), {duration_sec:.2f} s of picture; tempscore needs at "
                            f"least {MIN_DURATION_SEC:g} s of video")
