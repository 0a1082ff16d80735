"""SMPTE timecode for frame numbers, via the ``timecode`` library.

Drop-frame is used for 29.97 and 59.94 (as the library does by default for those rates);
23.976 counts 24 frames per timecode second (non-drop), as editors expect.
"""

from __future__ import annotations

from fractions import Fraction

from timecode import Timecode

_NAMED = {
    Fraction(24000, 1001): "23.976",
    Fraction(30000, 1001): "29.97",
    Fraction(60000, 1001): "59.94",
    Fraction(48000, 1001): "47.952",
    Fraction(120000, 1001): "119.88",
}


def timecode_rate(fps: Fraction) -> str:
    """The ``timecode`` library's name for an exact frame rate."""
    fps = Fraction(fps)
    if fps in _NAMED:
        return _NAMED[fps]
    if fps.denominator == 1:
        return str(fps.numerator)
    return f"{float(fps):.3f}"


def is_drop_frame(fps: Fraction) -> bool:
    return Fraction(fps) in (Fraction(30000, 1001), Fraction(60000, 1001))


def start_offset_frames(start_timecode: str, fps: Fraction) -> int:
    """Frame count of a start timecode such as ``"01:00:00;00"`` (0 for ``"00:00:00:00"``)."""
    tc = Timecode(timecode_rate(fps), start_timecode or "00:00:00:00")
    return int(tc.frames) - 1  # the library counts frames from 1


def frame_to_smpte(frame: int, fps: Fraction, *, start_timecode: str = "00:00:00:00") -> str:
    """SMPTE timecode of a 0-based frame number, counted from the video's start timecode.

    Parameters
    ----------
    frame : int
        0-based frame index from the first frame of the video.
    fps : Fraction
        Exact frame rate.
    start_timecode : str
        The video's own start timecode (``HH:MM:SS:FF``, ``;`` before FF for drop-frame).
    """
    total = start_offset_frames(start_timecode, fps) + int(frame)
    return str(Timecode(timecode_rate(fps), frames=total + 1))


def smpte_to_frame(smpte: str, fps: Fraction, *, start_timecode: str = "00:00:00:00") -> int:
    """Inverse of :func:`frame_to_smpte`."""
    return int(Timecode(timecode_rate(fps), smpte).frames) - 1 - start_offset_frames(start_timecode, fps)


def parse_smpte(text: str, fps: Fraction, *, start_timecode: str = "00:00:00:00") -> int:
    """0-based frame of a timecode a person typed: ``HH:MM:SS:FF`` (``;`` before FF for drop-frame;
    hours may have one digit) or ``HH:MM:SS.mmm``, counted from the video's start timecode.

    Raises
    ------
    ValueError
        Not a timecode, or a frame number the rate does not have (``:25`` at 25 fps).
    """
    import math
    import re

    t = str(text).strip()
    m = re.fullmatch(r"(\d{1,2}):([0-5]\d):([0-5]\d)(?:([:;])(\d{1,3})|\.(\d{1,3}))", t)
    if m is None:
        raise ValueError(f"{text!r} is not a timecode like 01:00:09:13")
    if m.group(5) is not None and int(m.group(5)) >= math.ceil(float(fps)):
        raise ValueError(f"{text!r}: frame {m.group(5)} does not exist at {float(fps):g} fps (00..{math.ceil(float(fps)) - 1})")
    return smpte_to_frame(t, fps, start_timecode=start_timecode)


def frame_to_seconds(frame: int, fps: Fraction) -> Fraction:
    """Exact time of a frame on a constant-rate grid."""
    return Fraction(int(frame)) / Fraction(fps)


def seconds_to_frame(seconds: float | Fraction, fps: Fraction) -> int:
    """Index of the frame showing at ``seconds`` (floor, exact for rationals)."""
    return int(Fraction(seconds) * Fraction(fps) + Fraction(1, 10**9)) // 1
