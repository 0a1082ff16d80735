"""SMPTE timecode: exact round trips over 24 h, drop-frame rules, start-timecode offsets."""

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from timecode import Timecode

from tempscore.scoring.timecodes import (frame_to_seconds, frame_to_smpte, is_drop_frame, seconds_to_frame,
                                          smpte_to_frame, timecode_rate)

RATES = [Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30), Fraction(60000, 1001)]


def frames_per_day(fps: Fraction) -> int:
    """Frames in 24 h of timecode (drop-frame drops 2 or 4 numbers per minute except every 10th)."""
    nominal = round(fps)
    n = 24 * 3600 * nominal
    if is_drop_frame(fps):
        drop = 2 * nominal // 30
        n -= drop * (24 * 60 - 24 * 6)
    return n


@pytest.mark.parametrize("fps", RATES)
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_roundtrip_frames_smpte_seconds(fps, data):
    frame = data.draw(st.integers(0, frames_per_day(fps) - 1))
    tc = frame_to_smpte(frame, fps)
    assert smpte_to_frame(tc, fps) == frame
    # independent check against the timecode library (1-based frame counter)
    assert str(Timecode(timecode_rate(fps), frames=frame + 1)) == tc
    sec = frame_to_seconds(frame, fps)
    assert sec == Fraction(frame) / fps  # exact rational
    assert seconds_to_frame(sec, fps) == frame


def test_drop_frame_known_values():
    fps = Fraction(30000, 1001)
    assert frame_to_smpte(1799, fps) == "00:00:59;29"
    assert frame_to_smpte(1800, fps) == "00:01:00;02"  # frames ;00 and ;01 are skipped
    assert frame_to_smpte(17982, fps) == "00:10:00;00"  # every 10th minute keeps them
    assert frame_to_smpte(107892, fps) == "01:00:00;00"
    assert frame_to_smpte(3600, Fraction(60000, 1001)) == "00:01:00;04"
    assert ";" not in frame_to_smpte(1800, Fraction(24000, 1001))


@pytest.mark.parametrize("fps,start", [(Fraction(25), "10:00:00:00"), (Fraction(30000, 1001), "01:00:00;00"),
                                       (Fraction(24000, 1001), "00:59:59:12")])
@settings(max_examples=100, deadline=None)
@given(frame=st.integers(0, 200_000))
def test_start_timecode_offset(fps, start, frame):
    tc = frame_to_smpte(frame, fps, start_timecode=start)
    assert smpte_to_frame(tc, fps, start_timecode=start) == frame
    if frame == 0:
        assert tc == start


def test_25fps_is_plain_arithmetic():
    assert frame_to_smpte(25 * 3600 + 25 * 61 + 7, Fraction(25)) == "01:01:01:07"
