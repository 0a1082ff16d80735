"""Issue 24, reliability, second round: one test per case found (each failed before its fix).

1. a video under 1 fps; 2. EDLs at rates SMPTE has no timecode for; 3-6. hand-edited timelines
(negative or huge hit times, huge strengths, huge seeds, deep JSON); 8. the same content at
24-240 fps; 9. ``Origin: null`` on the spotting page; also 100,000 hit points and a cue start
moved over the whole previous cue.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest
from conftest import SAMPLE, run_cli
from support.clips import make_cut_clip
from tempscore.contracts import Timeline
from tempscore.errors import DiskError, disk_error
from tempscore.media import run_ffmpeg
from tempscore.scoring.timecodes import edl_frame, edl_rate, parse_smpte
from tempscore.scoring.validate import SEED_MAX


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
        assert parse_smpte(r["timecode"], fps) == int(r["frame"]) and r["timecode"][-3] == ":"


# ----------------------------------------------------------------------------- 3-6: hand-edited timelines

@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The bundled sample scored (two cues, hit points): the timeline a user edits by hand."""
    tmp = tmp_path_factory.mktemp("project")
    video = tmp / "cut.mp4"
    shutil.copy(SAMPLE, video)
    r = run_cli("score", video, "-o", tmp / "out")
    assert r.returncode == 0, r.stderr
    tl = json.loads((tmp / "out" / "cut.timeline.json").read_text())
    assert len(tl["cues"]) >= 2 and tl["hit_points"], tl
    return tmp


def _copy(project: Path, tmp: Path) -> Path:
    shutil.copytree(project, tmp / "p")
    return tmp / "p"


def _hashes(folder: Path) -> dict[str, str]:
    """Every output and input (the cache folder, with its run lock, is neither)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not any(q.suffix == ".cache" for q in p.parents)}


def _edit(p: Path, fn) -> None:
    path = p / "out" / "cut.timeline.json"
    t = json.loads(path.read_text())
    fn(t)
    path.write_text(json.dumps(t))


def cli(*args: object) -> tuple[int, str]:
    """The CLI's entry point in this process (:func:`conftest.run_cli`): exit status and stderr."""
    r = run_cli(*args)
    return r.returncode, r.stderr


def _refused_everywhere(p: Path, field: str) -> None:
    """compose, score and render all exit 2 with one line naming the file and the field, and write nothing."""
    before = _hashes(p)
    for args in (["compose", p / "out" / "cut.timeline.json"], ["score", p / "cut.mp4", "-o", p / "out"],
                 ["render", p / "out" / "cut.score.mid"]):
        code, err = cli(*args)
        assert code == 2, (args[0], err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in err, err
        assert "cut.timeline.json" in lines[0] and field in lines[0], (args[0], lines[0])
        assert _hashes(p) == before, args[0]


def _a_hit(t: dict) -> dict:
    return t["hit_points"][0]


@pytest.mark.parametrize("edit,field", [
    (lambda t: _a_hit(t).__setitem__("time_sec", -2.0), "hit_points[0].time_sec"),
    (lambda t: t["hit_points"].insert(0, {**_a_hit(t), "frame": 3, "time_sec": -2.0, "how": "user"}), "hit_points[0].time_sec"),
    (lambda t: _a_hit(t).__setitem__("strength", 1e308), "hit_points[0].strength"),
    (lambda t: _a_hit(t).__setitem__("strength", 1.5), "hit_points[0].strength"),
], ids=["negative time", "negative time (added hit)", "strength 1e308", "strength 1.5"])
def test_case3_hits_out_of_range_are_refused_by_every_command(project, tmp_path, edit, field):
    """compose exited 1 (`message time must be non-negative`, OverflowError in the arranger) while
    score accepted the same timeline."""
    p = _copy(project, tmp_path)
    _edit(p, edit)
    _refused_everywhere(p, field)


def test_case4_a_hit_at_1e308_seconds_is_refused(project, tmp_path):
    """Was `OverflowError: cannot convert float infinity to integer` (scoring/edits.py), exit 1, in
    score and compose."""
    p = _copy(project, tmp_path)
    _edit(p, lambda t: _a_hit(t).__setitem__("time_sec", 1e308))
    _refused_everywhere(p, "hit_points[0].time_sec")


@pytest.mark.parametrize("seed", [2**63, 2**32, -2])
def test_case5_a_seed_out_of_range_is_refused_before_anything_is_written(project, tmp_path, seed):
    """A seed of 2**63 composed, wrote its take and a new MIDI, then exited 2; every later run
    failed until the take was deleted by hand."""
    p = _copy(project, tmp_path)
    _edit(p, lambda t: t["cues"][0].__setitem__("seed", seed))
    _refused_everywhere(p, "cues[0].seed")


def test_case5_the_largest_seed_composes_and_its_take_loads_again(project, tmp_path):
    """The bound is the same end to end: a seed the loader accepts is stored in the take, and the
    timeline with that take loads (and composes) again; a re-roll by rating wraps within it."""
    p = _copy(project, tmp_path)
    _edit(p, lambda t: t["cues"][0].__setitem__("seed", SEED_MAX))
    tl = p / "out" / "cut.timeline.json"
    for _ in range(2):
        code, err = cli("compose", tl)
        assert code == 0, err
    cue = json.loads(tl.read_text())["cues"][0]
    assert cue["seed"] == SEED_MAX and cue["take"]["seed"] == SEED_MAX
    code, err = cli("rate", tl, cue["id"], "1")
    assert code == 0, err
    assert 0 <= json.loads(tl.read_text())["cues"][0]["seed"] < SEED_MAX
    assert cli("compose", tl)[0] == 0


@pytest.mark.parametrize("depth", [100_000, 40])
def test_case6_deeply_nested_json_is_refused(project, tmp_path, depth):
    """Was `RecursionError`, exit 1."""
    p = _copy(project, tmp_path)
    path = p / "out" / "cut.timeline.json"
    text = path.read_text()
    path.write_text(text.replace('"edits": {', '"edits": {"deep": ' + "[" * depth + "]" * depth + ", ", 1))
    _refused_everywhere(p, "nested")


def test_also_100000_hit_points_are_refused(project, tmp_path):
    """Were accepted and planned for 88 s."""
    p = _copy(project, tmp_path)
    _edit(p, lambda t: t.__setitem__("hit_points", [dict(_a_hit(t), frame=i % 300) for i in range(100_000)]))
    _refused_everywhere(p, "hit_points: 100000 entries")


def test_also_a_cue_start_moved_over_the_whole_previous_cue_is_refused(project, tmp_path):
    """It silently absorbed the previous cue; now one line says so, with the two ways out."""
    p = _copy(project, tmp_path)
    _edit(p, lambda t: t["cues"][1].__setitem__("start_frame", t["cues"][0]["start_frame"]))
    _refused_everywhere(p, "cues[1].start_frame")
    code, err = cli("plan", p / "out" / "cut.analysis.json")
    assert code == 2 and "delete cue" in err, err


# ----------------------------------------------------------------------------- disk errors

def test_case7_a_file_size_limit_is_a_user_error_naming_the_folder(tmp_path):
    """A write past the file-size limit (standing in for a full disk) was `internal error: OSError:
    [Errno 27] File too large`, exit 1."""
    import resource

    shutil.copy(SAMPLE, tmp_path / "cut.mp4")
    out = tmp_path / "out"

    def limit() -> None:  # 200 kB: the stage files fit, the WAV does not
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    r = subprocess.run([sys.executable, "-m", "tempscore.cli", "score", str(tmp_path / "cut.mp4"), "-o", str(out)],
                       capture_output=True, text=True, preexec_fn=limit, env=dict(os.environ, HF_HUB_OFFLINE="1"),
                       timeout=600, check=False)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tempscore: error: cannot write to ") and str(out) in lines[0], r.stderr
    assert "file-size limit" in lines[0] and "free there" in lines[0]
    assert not [p.name for p in out.iterdir() if ".tmp" in p.name or ".tempscore-" in p.name]


@pytest.mark.parametrize("code,words", [(errno.ENOSPC, "the disk is full"), (errno.EDQUOT, "quota"),
                                        (errno.EFBIG, "file-size limit"), (errno.EROFS, "read-only")])
def test_disk_errors_anywhere_are_one_line_exit_2(tmp_path, monkeypatch, code, words):
    """Wherever the disk refuses a write (here: in the middle of planning, no file name known), the
    CLI says so in one line with the folder it was writing to, exit 2."""
    from tempscore.api import _plan

    def refused(*a, **k):
        try:
            raise OSError(code, os.strerror(code), str(tmp_path / "x.timeline.json"))
        except OSError as exc:
            raise RuntimeError("while writing") from exc  # wrapped: still found

    monkeypatch.setattr(_plan, "plan", refused)
    (tmp_path / "x.analysis.json").write_text("{}")
    r = run_cli("plan", tmp_path / "x.analysis.json")
    err = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(err) == 1 and words in err[0] and f"cannot write to {tmp_path}" in err[0], err


def test_a_disk_error_says_the_space_needed_when_known(tmp_path):
    e = disk_error(OSError(errno.ENOSPC, "No space left on device"), folder=tmp_path, needed_bytes=3_500_000_000)
    assert isinstance(e, DiskError) and str(tmp_path) in str(e) and "about 3.5 GB needed" in str(e)
    assert "GB free there" in str(e) or "MB free there" in str(e)


def test_atomic_outputs_turn_disk_refusals_into_one_line(tmp_path):
    from tempscore.fileio import atomic_path

    target = tmp_path / "cut.score.wav"
    with pytest.raises(DiskError, match=f"cannot write to {tmp_path}: No space left on device: the disk is full"), \
            atomic_path(target):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- 8. per second of picture
RATES = [24, 25, 30, 60, 120, 240]
#: Time-based content (so every rate shows the same picture at the same time): a slow grating,
#: cut at 2 s to a fast diagonal one, cut at 4 s to a middling one, with a 40 ms flash at 5 s.
CONTENT = ("geq=lum='clip(if(lt(T,2),128+60*sin(2*PI*(X/24-T*0.3)),if(lt(T,4),90+80*sin(2*PI*(X/16+Y/40-T*2.5)),"
           "150+50*sin(2*PI*(Y/12-T*1.2))))+if(between(T,5,5.04),100,0),0,255)':cb=128:cr=128")


@pytest.fixture(scope="module")
def plans_by_rate(tmp_path_factory) -> dict[int, object]:
    from tempscore.scoring import PlanSettings, plan
    from tempscore.vision import analyze
    from tempscore.vision.analyze import AnalyzeSettings

    tmp = tmp_path_factory.mktemp("rates")
    out = {}
    for fps in RATES:
        video = tmp / f"same{fps}.mp4"
        run_ffmpeg(["-f", "lavfi", "-i", f"nullsrc=s=96x54:r={fps}:d=7,{CONTENT}", "-c:v", "libx264", "-preset",
                    "ultrafast", "-crf", "18", "-pix_fmt", "yuv420p", str(video)], what="the same content")
        a = analyze(video, settings=AnalyzeSettings(clip="off", dialogue=False))
        out[fps] = (a, plan(a, PlanSettings(min_cue_sec=1.5)))
    return out


def test_case8_the_same_content_at_24_to_240_fps_plans_the_same(plans_by_rate):
    """240 fps footage of a 25 fps clip's content measured 1/7 of the motion (motion was per frame),
    so it was scored as one tacet cue with an all-zero WAV. Now every picture measure is per
    second of picture: the same cues, moods, hits and accents, intensities within 5 %."""
    ref_a, ref = plans_by_rate[25]
    assert len(ref.cues) >= 2 and not all(c.tacet for c in ref.cues)
    frame = 1 / 24  # the coarsest rate's frame
    for fps, (a, tl) in plans_by_rate.items():
        assert [c.mood for c in tl.cues] == [c.mood for c in ref.cues], fps
        assert [c.tacet for c in tl.cues] == [c.tacet for c in ref.cues], fps
        for c, r in zip(tl.cues, ref.cues, strict=True):
            assert abs(c.start_sec - r.start_sec) <= frame and abs(c.end_sec - r.end_sec) <= frame, fps
            assert abs(c.intensity - r.intensity) <= 0.05 * r.intensity, (fps, c.intensity, r.intensity)
        for s, r in zip(a.shots, ref_a.shots, strict=True):
            assert abs(s.motion - r.motion) <= 0.05 * r.motion, (fps, s.motion, r.motion)
        assert [round(h.time_sec / frame) for h in tl.hit_points] == [round(h.time_sec / frame) for h in ref.hit_points]
        assert [(x.kind, round(x.time_sec / frame)) for x in a.accents] == [
            (x.kind, round(x.time_sec / frame)) for x in ref_a.accents] == [("flash", 120)], fps

        def curve(t: Timeline) -> float:  # mean intensity
            return sum(t.curves.intensity) / len(t.curves.intensity)

        assert abs(curve(tl) - curve(ref)) <= 0.05 * curve(ref), fps


def test_a_film_that_plans_as_tacet_throughout_says_so(tmp_path, caplog):
    """A still, dark picture: every cue tacet (no music at all) is said, not silently scored as silence."""
    import logging

    from tempscore.api import analyze, plan

    video = tmp_path / "dark.mp4"
    make_cut_clip(video, [75, 75], fps=25, size=(96, 54), audio=False, looks=["color=c=0x060606", "color=c=0x080808"])
    a = analyze(video)
    with caplog.at_level(logging.WARNING):
        tl = plan(a).timeline
    assert all(c.tacet for c in tl.cues)
    assert any("every cue is tacet" in r.getMessage() for r in caplog.records), caplog.text


def test_an_error_names_an_odd_key_on_one_line(project, tmp_path):
    """A key with a line break in it (found by the fuzz test): the JSON path quotes it, so the
    message stays one line."""
    from tempscore.errors import BadStageFile
    from tempscore.scoring.validate import load_timeline

    p = _copy(project, tmp_path)
    _edit(p, lambda t: t["video"].__setitem__("\r\nx", "x" * 200_000))
    with pytest.raises(BadStageFile) as e:
        load_timeline(p / "out" / "cut.timeline.json")
    assert len(str(e.value).splitlines()) == 1 and 'video["\\r\\nx"]: text of 200000 characters' in str(e.value)


def test_the_api_checks_a_timeline_given_as_a_dict_as_the_file_is_checked(project):
    """``timeline_from_dict`` (for the library API): the same checks, the same one line."""
    from tempscore.errors import BadStageFile
    from tempscore.scoring.validate import timeline_from_dict

    t = json.loads((project / "out" / "cut.timeline.json").read_text())
    assert [c.id for c in timeline_from_dict(json.loads(json.dumps(t))).cues] == [c["id"] for c in t["cues"]]
    t["hit_points"][0]["strength"] = float("nan")
    with pytest.raises(BadStageFile, match=r"^given: hit_points\[0\]\.strength: nan is not a number"):
        timeline_from_dict(t, source="given")
    with pytest.raises(BadStageFile, match="schema"):
        timeline_from_dict({"schema": "x"}, source="given")
