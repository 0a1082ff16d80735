"""Issue 24, reliability, second round: one test per case found (each failed before its fix).

1. a video under 1 fps; 2. EDLs at rates SMPTE has no timecode for; 3-6. hand-edited timelines
(negative or huge hit times, huge strengths, huge seeds, deep JSON); 8. the same content at
24-240 fps; 9. ``Origin: null`` on the spotting page; also 100,000 hit points and a cue start
moved over the whole previous cue.
"""

from __future__ import annotations

import csv
import json
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest

from conftest import run_cli
from tempscore.media import make_cut_clip
from tempscore.scoring.timecodes import edl_frame, edl_rate, parse_smpte


def _score(tmp: Path, fps: Fraction, shots: list[int], *extra: str) -> Path:
    video = tmp / "cut.mp4"
    make_cut_clip(video, shots, fps=fps, size=(96, 54), audio=False)
    out = tmp / "out"
    r = run_cli("score", video, "-o", out, *extra)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    return out


def _sync_rows(out: Path) -> list[dict[str, str]]:
    with (out / "cut.sync.csv").open() as f:
        return list(csv.DictReader(f))


# ----------------------------------------------------------------------------- 1. under 1 fps
@pytest.mark.parametrize("fps", [Fraction(1, 2), Fraction(9, 10)], ids=["0.5fps", "0.9fps"])
def test_case1_a_video_under_one_fps_is_scored_with_time_labels(tmp_path, fps):
    """Was `internal error: ZeroDivisionError` in scoring/timecodes.py after the timeline was written."""
    out = _score(tmp_path, fps, [8, 6, 10], "--edl")
    rows = _sync_rows(out)
    assert rows and all(r["timecode"].count(".") == 1 for r in rows)  # HH:MM:SS.mmm: SMPTE has none here
    for r in rows:
        assert parse_smpte(r["timecode"], fps) == int(r["frame"])
        assert abs(float(r["time_sec"]) - int(r["frame"]) / fps) < 1e-5
    assert "HH:MM:SS.fff" in json.loads((out / "cut.sync.json").read_text())["timecode_format"]
    assert (out / "cut.scored.mp4").is_file() and (out / "cut.edl").is_file()


# ----------------------------------------------------------------------------- 2. EDL at 10-20 fps
@pytest.mark.parametrize("fps", [10, 12, 15, 20])
def test_case2_an_edl_at_a_rate_smpte_lacks_is_written_at_the_nearest_edl_rate(tmp_path, fps):
    """Was `ValueError: SMPTE timecode does not support this rate` (exit 1); the spotting page
    always writes an EDL, so every 10 fps upload failed."""
    fps = Fraction(fps)
    out = _score(tmp_path, fps, [30, 25, 40], "--edl")
    rate = edl_rate(fps)
    text = (out / "cut.edl").read_text()
    assert f"THE PICTURE IS {fps} FPS" in text and f"THIS EDL COUNTS {rate} FPS" in text
    tl = json.loads((out / "cut.timeline.json").read_text())
    back = otio.adapters.read_from_string(text, "cmx_3600", rate=float(rate))  # the format's reader
    clips = list(back.find_clips())
    assert [c.name for c in clips] == [c["id"] for c in tl["cues"]]
    assert [round(c.range_in_parent().start_time.value) for c in clips] == [
        edl_frame(c["start_frame"], fps, rate) for c in tl["cues"]]
    want = sorted({edl_frame(h["frame"], fps, rate) for h in tl["hit_points"]}
                  | {edl_frame(c["start_frame"], fps, rate) for c in tl["cues"]}
                  | {edl_frame(s["frame"], fps, rate) for s in tl["suggestions"]})
    assert sorted({round(m.marked_range.start_time.value) for c in clips for m in c.markers}) == want
    for r in _sync_rows(out):  # frame-count timecode at the picture's own rate
        assert parse_smpte(r["timecode"], fps) == int(r["frame"]) and ":" == r["timecode"][-3]
