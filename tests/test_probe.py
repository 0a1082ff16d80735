from fractions import Fraction

import pytest
from support.clips import make_cut_clip
from tempscore.errors import InputNotFound, NoVideoStream, TempscoreError, VideoOpenFailure
from tempscore.vision.probe import exact_frame_rate, probe


@pytest.mark.parametrize("fps", [Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001),
                                 Fraction(50), Fraction(60000, 1001)])
def test_exact_rational_frame_rate(tmp_path, fps):
    path = tmp_path / "c.mp4"
    make_cut_clip(path, [40, 41], fps=fps, size=(160, 90), audio=False)
    info = probe(path)
    assert info.fps == fps
    assert info.frame_count == 81
    assert info.width == 160 and info.height == 90


def test_start_timecode_and_audio(clip2997, clip25):
    info = probe(clip2997.path)
    assert info.start_timecode == "01:00:00;00"
    assert info.audio_streams == 0
    assert probe(clip25.path).audio_streams == 1


def test_frame_rate_snaps_to_broadcast_rates():
    assert exact_frame_rate(Fraction(2997, 100), Fraction(2997, 100)) == Fraction(30000, 1001)
    assert exact_frame_rate(Fraction(9550, 383), Fraction(25)) == Fraction(25)  # held last frame
    assert exact_frame_rate(Fraction(15), Fraction(30)) == Fraction(15)  # VFR: the average wins


def test_errors_are_domain_errors(tmp_path, not_a_video, audio_only):
    with pytest.raises(InputNotFound):
        probe(tmp_path / "missing.mp4")
    with pytest.raises(VideoOpenFailure):
        probe(not_a_video)
    with pytest.raises(NoVideoStream):
        probe(audio_only)
    with pytest.raises(VideoOpenFailure):
        probe(tmp_path)  # a directory
    assert issubclass(NoVideoStream, TempscoreError)
