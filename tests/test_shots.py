"""Shot detection against ground truth: generated clips and the shared real media."""

from fractions import Fraction
from pathlib import Path

import pytest

from conftest import SHARED_DATA
from tempscore.media import make_cut_clip
from tempscore.vision import analyze


def gt_cuts(csv: Path) -> list[int]:
    rows = [ln for ln in csv.read_text().splitlines() if ln and not ln.startswith("#")]
    return [int(r.split(",")[0]) for r in rows[1:]]


def test_generated_cuts_found_exactly(clip25, clip2997):
    for clip in (clip25, clip2997):
        a = analyze(clip.path)
        assert [c.frame for c in a.cuts] == clip.cuts
        assert all(c.kind == "hard" for c in a.cuts)
        assert a.video.frame_count == clip.frames
        # shots tile the video
        assert a.shots[0].start_frame == 0 and a.shots[-1].end_frame == clip.frames
        assert all(s.end_frame == t.start_frame for s, t in zip(a.shots, a.shots[1:]))


def test_cut_times_come_from_timestamps(clip2997):
    a = analyze(clip2997.path)
    for c in a.cuts:
        assert c.time_sec == pytest.approx(float(Fraction(c.frame) / clip2997.fps), abs=1e-6)


@pytest.mark.parametrize("fps", [Fraction(24000, 1001), Fraction(50)])
def test_short_shots(tmp_path, fps):
    """Shots of 0.3-0.4 s (just over the 0.25 s minimum shot) are all kept."""
    q = int(0.3 * fps) + 1
    path = tmp_path / "quick.mp4"
    cuts = make_cut_clip(path, [3 * q, q, q + 1, 4 * q, q + 2, 3 * q], fps=fps, audio=False)
    assert [c.frame for c in analyze(path).cuts] == cuts


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data not present")
def test_bikes_ground_truth():
    a = analyze(SHARED_DATA / "bikes.mp4")
    assert [c.frame for c in a.cuts] == gt_cuts(SHARED_DATA / "bikes.cuts.csv")


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data not present")
def test_single_shot_has_no_cuts():
    a = analyze(SHARED_DATA / "bigbuckbunny.mp4")
    assert a.cuts == []
    assert len(a.shots) == 1
    assert a.audio.present and a.audio.integrated_lufs is not None


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data not present")
def test_testvideo_hard_cuts_and_fades():
    a = analyze(SHARED_DATA / "testvideo.mp4")
    hard = [c.frame for c in a.cuts if c.kind == "hard"]
    assert hard == gt_cuts(SHARED_DATA / "testvideo.cuts.csv")  # 30, 180
    fades = [c for c in a.cuts if c.kind == "gradual"]
    # fade-ins at 210-240 and 393-423 (testvideo.transitions.csv)
    assert [c.frame for c in fades] == pytest.approx([210, 393], abs=2)
    assert all(c.end_frame is not None and c.end_frame - c.frame >= 20 for c in fades)
