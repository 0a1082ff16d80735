"""Shot detection against ground truth: generated clips and the shared real media."""

from fractions import Fraction
from pathlib import Path

import pytest
from conftest import SHARED_DATA
from support.clips import make_cut_clip
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
    # fade-in, fade-out, fade-in, dissolve, fade-out (testvideo.transitions.csv; ends checked in test_gradual.py)
    assert [c.frame for c in fades] == pytest.approx([211, 331, 394, 529, 664], abs=2)
    assert all(c.end_frame is not None and c.end_frame - c.frame >= 20 for c in fades)


def test_variable_frame_rate_cut_times_follow_timestamps(tmp_path):
    """A 0.5 s gap in the timestamps after frame 50: cut times come from PTS, frames from decode order."""
    from tempscore.media import run_ffmpeg

    cfr = tmp_path / "cfr.mp4"
    cuts = make_cut_clip(cfr, [40, 30, 50], fps=25, audio=False)
    vfr = tmp_path / "vfr.mkv"
    run_ffmpeg(["-i", str(cfr), "-vf", "setpts='PTS+gte(N,50)*0.5/TB'", "-fps_mode", "passthrough",
                "-c:v", "libx264", "-preset", "ultrafast", str(vfr)], what="making a VFR clip")
    a = analyze(vfr)
    assert [c.frame for c in a.cuts] == cuts == [40, 70]
    # independent reading of the timestamps: the ffmpeg CLI's framemd5 (pts per frame, stream time base)
    import subprocess

    from tempscore.media import ffmpeg_exe

    md5 = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(vfr), "-map", "0:v", "-f", "framemd5", "-"],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    tb = next(ln for ln in md5 if ln.startswith("#tb 0:")).split(":")[1].strip()
    num, den = (int(x) for x in tb.split("/"))
    pts = sorted(int(ln.split(",")[2]) for ln in md5 if not ln.startswith("#"))
    truth = [(p - pts[0]) * num / den for p in pts]
    assert truth[50] - truth[49] > 0.5  # the gap is really there
    for c in a.cuts:
        assert c.time_sec == pytest.approx(truth[c.frame], abs=1e-6)
    assert a.cuts[1].time_sec - a.cuts[0].time_sec > 30 / 25 + 0.49
