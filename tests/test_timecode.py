"""SMPTE timecode: exact round trips over 24 h, drop-frame rules, start-timecode offsets."""

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tempscore.scoring.timecodes import (
    SMPTE_RATES,
    edl_rate,
    frame_to_seconds,
    frame_to_smpte,
    is_drop_frame,
    parse_smpte,
    seconds_to_frame,
    smpte_to_frame,
    start_seconds,
    timecode_format,
    timecode_rate,
)
from tempscore.scoring.timecodes import frame_to_smpte as label
from timecode import Timecode

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


# ----------------------------------------------------------------------------- every frame rate

#: Rates a container can hold that SMPTE has no timecode for (issue 24: under 1 fps crashed, 10-20 fps EDLs failed).
ODD_RATES = [Fraction(1, 2), Fraction(9, 10), Fraction(1), Fraction(10), Fraction(12), Fraction(25, 2), Fraction(15),
             Fraction(15000, 1001), Fraction(20), Fraction(72), Fraction(100), Fraction(120000, 1001), Fraction(120),
             Fraction(240), Fraction(1000), Fraction(73, 10)]

any_rate = st.builds(Fraction, st.integers(1, 480_000), st.sampled_from([1, 2, 3, 7, 10, 100, 1001, 1000])).filter(
    lambda f: Fraction(1, 100) <= f <= 2000)


@settings(max_examples=400, deadline=None)
@given(fps=st.one_of(st.sampled_from(ODD_RATES + list(SMPTE_RATES)), any_rate), data=st.data())
def test_every_rate_labels_every_frame_and_reads_it_back(fps, data):
    """Any rate: a label per frame that reads back to that frame, in time order, from any start."""
    start = data.draw(st.sampled_from(["00:00:00:00", "01:00:00:00", "00:59:58:00"]))
    if timecode_format(fps).drop_frame:
        start = start[:-3] + ";" + start[-2:]
    day = int(Fraction(86400) * fps * Fraction(999, 1000)) - int(start_seconds(start, fps) * fps) - 2
    f = data.draw(st.integers(0, max(0, day)))
    g = data.draw(st.integers(f, max(f, day)))
    a, b = label(f, fps, start_timecode=start), label(g, fps, start_timecode=start)
    assert parse_smpte(a, fps, start_timecode=start) == f and parse_smpte(b, fps, start_timecode=start) == g
    if f < g:
        assert a != b


@pytest.mark.parametrize("fps", [Fraction(10), Fraction(12), Fraction(15), Fraction(20), Fraction(120), Fraction(240)])
@given(frame=st.integers(0, 10**6))
def test_whole_rates_count_frames_exactly(fps, frame):
    n = int(fps)
    s, ff = divmod(frame, n)
    assert label(frame, fps) == f"{s // 3600 % 24:02d}:{s // 60 % 60:02d}:{s % 60:02d}:{ff:02d}"


@pytest.mark.parametrize("fps", [Fraction(1, 2), Fraction(9, 10), Fraction(25, 2), Fraction(73, 10)])
@given(frame=st.integers(0, 30_000))
def test_rates_without_whole_frames_per_second_label_the_frame_time(fps, frame):
    """12.5 or 0.9 fps: HH:MM:SS.mmm, the frame's exact time rounded to the millisecond."""
    ms = round(Fraction(frame) / fps * 1000)
    s = ms // 1000
    assert label(frame, fps) == f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.{ms % 1000:03d}"


@pytest.mark.parametrize("fps", SMPTE_RATES)
@settings(max_examples=100, deadline=None)
@given(frame=st.integers(0, 2_000_000))
def test_smpte_rates_agree_with_opentimelineio(fps, frame):
    """An independent implementation of SMPTE timecode (OTIO's), drop-frame included."""
    import opentimelineio as otio

    want = otio.opentime.to_timecode(otio.opentime.RationalTime(frame, float(fps)), float(fps))
    assert label(frame, fps) == want


def test_a_start_timecode_at_a_rate_without_timecode():
    """The container's start timecode still counts: HH:MM:SS:FF with FF in 1/ceil(fps) s."""
    assert label(0, Fraction(25, 2), start_timecode="01:00:00:06") == "01:00:00.462"
    assert label(3, Fraction(1, 2), start_timecode="10:00:00:00") == "10:00:06.000"
    with pytest.raises(ValueError, match="frame 1 does not exist"):
        parse_smpte("00:00:01:01", Fraction(1, 2))


@pytest.mark.parametrize("fps,want", [(Fraction(10), 30), (Fraction(12), 24), (Fraction(15), 30), (Fraction(20), 60),
                                      (Fraction(1, 2), 24), (Fraction(25, 2), 25), (Fraction(120), 60),
                                      (Fraction(240), 60), (Fraction(100), 50), (Fraction(72), 24),
                                      (Fraction(15000, 1001), Fraction(30000, 1001)), (Fraction(25), 25),
                                      (Fraction(24000, 1001), Fraction(24000, 1001))])
def test_edl_rate_is_the_nearest_that_keeps_frames_exact(fps, want):
    assert edl_rate(fps) == want
