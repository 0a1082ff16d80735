"""Timecode for frame numbers at every frame rate a container can hold, via the ``timecode`` library.

Three ways of labelling a frame, chosen by the rate (:func:`timecode_format`):

- **SMPTE timecode** (``HH:MM:SS:FF``) at the rates SMPTE ST 12-1 defines and CMX 3600 EDLs
  take: 23.976, 24, 25, 29.97, 30, 47.952, 48, 50, 59.94, 60. Drop-frame (``;`` before the
  frames) at 29.97 and 59.94, as the library does for those rates; 23.976 counts 24 frames per
  timecode second (non-drop), as editors expect.
- **Frame-count timecode** (``HH:MM:SS:FF``, non-drop) at every other whole rate, or NTSC rate
  (N x 1000/1001), from 1 to :data:`MAX_FRAME_COUNT_FPS` fps: 10, 12, 15, 20, 72, 100, 120, 240
  ... fps count that many frames per timecode second, as editing applications show such
  sequences. Exact; but SMPTE has no such timecode, so an EDL is written at another rate
  (:func:`edl_rate`).
- **Seconds** (``HH:MM:SS.mmm``) at rates with no whole number of frames per second (12.5,
  under 1 fps, 7.3 ...) and above :data:`MAX_FRAME_COUNT_FPS`: the frame's time from the start
  timecode, to the millisecond (the microsecond above 500 fps), which tells every frame apart.

Every label reads back to its frame (:func:`smpte_to_frame`), so reports can always give frames,
seconds and a timecode-like label.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

from timecode import Timecode

#: The rates SMPTE ST 12-1 (and the CMX 3600 EDL) has timecode for.
SMPTE_RATES = (Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30),
               Fraction(48000, 1001), Fraction(48), Fraction(50), Fraction(60000, 1001), Fraction(60))
#: Drop-frame rates (frame numbers 00 and 01, or 00-03, skipped each minute but every tenth).
DROP_FRAME_RATES = (Fraction(30000, 1001), Fraction(60000, 1001))
#: Above this, frames are labelled by their time rather than counted per second.
MAX_FRAME_COUNT_FPS = 960
#: A frame label: ``HH:MM:SS:FF`` (``;`` before FF for drop-frame) or ``HH:MM:SS.fff``.
_LABEL = re.compile(r"(\d{1,2}):([0-5]\d):([0-5]\d)(?:([:;])(\d{1,3})|\.(\d{1,6}))")
_DAY_SEC = 24 * 3600


@dataclass(frozen=True)
class TimecodeFormat:
    """How frames are labelled at one frame rate.

    ``kind``: ``"smpte"``, ``"frames"`` (frame-count timecode at a rate SMPTE has none for) or
    ``"seconds"``; ``nominal``: frames per timecode second (0 for ``"seconds"``).
    """

    fps: Fraction
    kind: str
    nominal: int
    drop_frame: bool = False

    @property
    def counts_frames(self) -> bool:
        return self.kind != "seconds"

    @property
    def decimals(self) -> int:
        """Decimals of a ``"seconds"`` label: enough to tell consecutive frames apart."""
        return 3 if self.fps < 500 else 6

    def describe(self) -> str:
        """In words, for reports: ``"SMPTE 29.97 drop-frame"``, ``"12 fps frame count (not SMPTE)"``."""
        rate = rate_name(self.fps)
        if self.kind == "smpte":
            return f"SMPTE {rate}{' drop-frame' if self.drop_frame else ''}"
        if self.kind == "frames":
            return f"{rate} fps frame count, {self.nominal} frames per second (no SMPTE timecode at this rate)"
        return f"HH:MM:SS.{'f' * self.decimals} time of each frame (no timecode at {rate} fps)"


def rate_name(fps: Fraction) -> str:
    """``"25"``, ``"29.97"``, ``"0.5"``: a rate as people write it."""
    return str(fps.numerator) if fps.denominator == 1 else f"{float(fps):.3f}".rstrip("0").rstrip(".")


def _nominal(fps: Fraction) -> int | None:
    """Frames per timecode second when ``fps`` is whole or an NTSC rate (N x 1000/1001), else None."""
    if fps.denominator == 1:
        return fps.numerator
    n = fps * Fraction(1001, 1000)
    return n.numerator if n.denominator == 1 else None


def timecode_format(fps: Fraction) -> TimecodeFormat:
    """How frames at ``fps`` are labelled (see the module's docstring).

    Raises
    ------
    ValueError
        ``fps`` is not a positive rate.
    """
    fps = Fraction(fps)
    if fps <= 0:
        raise ValueError(f"frame rate {fps} is not positive")
    nominal = _nominal(fps)
    if nominal is None or not 1 <= nominal <= MAX_FRAME_COUNT_FPS:
        return TimecodeFormat(fps, "seconds", 0)
    return TimecodeFormat(fps, "smpte" if fps in SMPTE_RATES else "frames", nominal, fps in DROP_FRAME_RATES)


def timecode_rate(fps: Fraction) -> str:
    """The ``timecode`` library's name for a rate that counts frames (``"29.97"``, ``"24"``, ``"12"``).

    Raises
    ------
    ValueError
        At a rate labelled in seconds (:func:`timecode_format`), which the library cannot count.
    """
    fmt = timecode_format(fps)
    if not fmt.counts_frames:
        raise ValueError(f"no frame-count timecode at {rate_name(fmt.fps)} fps")
    if fmt.drop_frame:
        return {Fraction(30000, 1001): "29.97", Fraction(60000, 1001): "59.94"}[fmt.fps]
    return str(fmt.nominal)


def _library(fmt: TimecodeFormat, **kw: str | int) -> Timecode:
    """The ``timecode`` library's Timecode at ``fmt``'s rate; ``kw``: its own arguments (``frames``, ``start_timecode``)."""
    return Timecode(timecode_rate(fmt.fps), force_non_drop_frame=not fmt.drop_frame, **kw)


def is_drop_frame(fps: Fraction) -> bool:
    return Fraction(fps) in DROP_FRAME_RATES


def _parse(text: str, fmt: TimecodeFormat) -> tuple[int, int, int, str | None, int | None, str | None]:
    m = _LABEL.fullmatch(str(text).strip())
    if m is None:
        raise ValueError(f"{text!r} is not a timecode like 01:00:09:13")
    hh, mm, ss = int(m.group(1)), int(m.group(2)), int(m.group(3))
    ff = int(m.group(5)) if m.group(5) is not None else None
    per_sec = fmt.nominal if fmt.counts_frames else max(1, math.ceil(fmt.fps))
    if ff is not None and ff >= per_sec:
        raise ValueError(f"{text!r}: frame {ff} does not exist at {rate_name(fmt.fps)} fps (00..{per_sec - 1:02d})")
    return hh, mm, ss, m.group(4), ff, m.group(6)


def _position(text: str, fmt: TimecodeFormat) -> Fraction:
    """Frames (at ``fmt.fps``) from 00:00:00:00 to a label; whole at a rate that counts frames."""
    hh, mm, ss, _, ff, frac = _parse(text, fmt)
    if fmt.counts_frames:  # the library's maths (drop-frame; ``.mmm``: a fraction of a timecode second)
        return Fraction(int(_library(fmt, start_timecode=str(text).strip()).frames) - 1)
    part = Fraction(int(frac), 10 ** len(frac)) if frac is not None else Fraction(ff, max(1, math.ceil(fmt.fps)))
    return (3600 * hh + 60 * mm + ss + part) * fmt.fps


def label_seconds(text: str, fps: Fraction) -> Fraction:
    """Seconds of picture from 00:00:00:00 to a label: ``HH:MM:SS:FF`` (frames counted as the rate
    does; at a rate labelled in seconds FF are 1/ceil(fps) s each) or ``HH:MM:SS.mmm``.

    Raises
    ------
    ValueError
        Not a label, or a frame number the rate does not have.
    """
    fmt = timecode_format(fps)
    return _position(text, fmt) / fmt.fps


def start_seconds(start_timecode: str, fps: Fraction) -> Fraction:
    """The video's start timecode as seconds from 00:00:00:00 (see :func:`label_seconds`)."""
    return label_seconds(start_timecode or "00:00:00:00", fps)


def start_offset_frames(start_timecode: str, fps: Fraction) -> int:
    """Frame count of a start timecode such as ``"01:00:00;00"`` (0 for ``"00:00:00:00"``); at a
    rate labelled in seconds, the whole frames of the picture rate in that time."""
    return math.floor(_position(start_timecode or "00:00:00:00", timecode_format(fps)) + Fraction(1, 10**9))


def _seconds_label(sec: Fraction, decimals: int) -> str:
    units = round(sec * 10**decimals) % (_DAY_SEC * 10**decimals)  # rolls over after 24 h, as timecode does
    whole, part = divmod(units, 10**decimals)
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}.{part:0{decimals}d}"


def frame_to_smpte(frame: int, fps: Fraction, *, start_timecode: str = "00:00:00:00") -> str:
    """The label of a 0-based frame number, counted from the video's start timecode: SMPTE
    timecode where the rate has one, else as :func:`timecode_format` says.

    Parameters
    ----------
    frame : int
        0-based frame index from the first frame of the video.
    fps : Fraction
        Exact frame rate.
    start_timecode : str
        The video's own start timecode (``HH:MM:SS:FF``, ``;`` before FF for drop-frame).
    """
    fmt = timecode_format(fps)
    start = _position(start_timecode or "00:00:00:00", fmt)
    if fmt.counts_frames:
        return str(_library(fmt, frames=int(start) + int(frame) + 1))
    return _seconds_label((start + int(frame)) / fmt.fps, fmt.decimals)


def smpte_to_frame(smpte: str, fps: Fraction, *, start_timecode: str = "00:00:00:00") -> int:
    """Inverse of :func:`frame_to_smpte` (a time between frames: the frame showing then; a label
    in seconds, rounded to the millisecond: the nearest frame)."""
    fmt = timecode_format(fps)
    at = _position(smpte, fmt) - _position(start_timecode or "00:00:00:00", fmt)
    return math.floor(at + (Fraction(1, 10**9) if fmt.counts_frames else Fraction(1, 2)))


def parse_smpte(text: str, fps: Fraction, *, start_timecode: str = "00:00:00:00") -> int:
    """0-based frame of a timecode a person typed: ``HH:MM:SS:FF`` (``;`` before FF for drop-frame;
    hours may have one digit) or ``HH:MM:SS.mmm``, counted from the video's start timecode.

    Raises
    ------
    ValueError
        Not a timecode, or a frame number the rate does not have (``:25`` at 25 fps).
    """
    return smpte_to_frame(text, fps, start_timecode=start_timecode)


def frame_to_seconds(frame: int, fps: Fraction) -> Fraction:
    """Exact time of a frame on a constant-rate grid."""
    return Fraction(int(frame)) / Fraction(fps)


def seconds_to_frame(seconds: float | Fraction, fps: Fraction) -> int:
    """Index of the frame showing at ``seconds`` (floor, exact for rationals)."""
    return int(Fraction(seconds) * Fraction(fps) + Fraction(1, 10**9)) // 1


# ----------------------------------------------------------------------------- EDL rate
#: The rates a CMX 3600 EDL (OpenTimelineIO's adapter) is written at.
EDL_RATES = SMPTE_RATES


def edl_rate(fps: Fraction) -> Fraction:
    """The rate an EDL of a picture at ``fps`` is written at: ``fps`` itself where SMPTE has
    timecode for it; else the nearest EDL rate (by ratio) among those that keep every frame exact
    (a whole number of EDL frames per picture frame, or of picture frames per EDL frame), the
    NTSC ones for an NTSC picture; else simply the nearest. 12 fps -> 24, 15 -> 30, 10 -> 30,
    20 -> 60, 0.5 -> 24, 12.5 -> 25, 120 -> 60, 240 -> 60, 100 -> 50, 72 -> 24.
    """
    fps = Fraction(fps)
    if fps in EDL_RATES:
        return fps
    ntsc = fps.denominator != 1 and _nominal(fps) is not None
    family = [r for r in EDL_RATES if (r.denominator != 1) == ntsc]

    def distance(r: Fraction) -> float:
        return abs(math.log(r / fps))

    exact = [r for r in family if (r / fps).denominator == 1 or (fps / r).denominator == 1]
    return min(exact or family, key=lambda r: (distance(r), r))


def edl_frame(frame: int, fps: Fraction, rate: Fraction) -> int:
    """The EDL frame (at ``rate``) showing when picture frame ``frame`` (at ``fps``) starts."""
    return math.floor(Fraction(int(frame)) * Fraction(rate) / Fraction(fps) + Fraction(1, 10**9))
