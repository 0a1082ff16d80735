"""A recut: the picture at the project's path is replaced by a new version of the cut. The edits in
timeline.json follow their picture (conform); edits whose picture is gone are dropped and named."""

import json
import shutil
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
from conftest import run_cli
from support.clips import make_cut_clip, run_ffmpeg
from tempscore.scoring.conform import FrameMap, PictureRun, conform_edits, match_pictures
from tempscore.vision.analyze import analyze

FPS = 25
#: Moving pictures (a counter, a zoom, drifting gradients), so that every frame is its own.
LOOKS = ("testsrc2", "mandelbrot", "gradients=speed=0.05:c0=#ff8000:c1=#400020:seed=1", "testsrc",
         "gradients=speed=0.03:c0=#00a0ff:c1=#003000:type=radial:seed=2", "mandelbrot=start_scale=2")
SHOTS = [90, 120, 60, 150, 110, 140]  # cuts at 90, 210, 270, 420, 530; 670 frames
#: The recut, as (old start, old end) pieces of the first cut and ("new", frames) of new picture:
#: shot 3 (210-270) removed, shot 4 trimmed by 40 frames at its tail, 50 frames of a new shot put
#: in after it, and the last shot's head trimmed by 20.
RECUT = [(0, 210), (270, 380), ("new", 50), (420, 530), (550, 670)]
#: Where the old frames are in the recut: (old start, new start, length).
TRUTH = [(0, 0, 210), (270, 210, 110), (420, 370, 110), (550, 480, 120)]


def _recut(first: Path, insert: Path, out: Path, pieces=RECUT) -> None:
    """Cut ``first`` as ``pieces`` say (picture and sound, re-encoded as an editor's new export)."""
    chains, labels, k = [], [], 0
    for piece in pieces:
        src, (a, b) = (1, (0, piece[1])) if piece[0] == "new" else (0, piece)
        chains.append(f"[{src}:v]trim=start_frame={a}:end_frame={b},setpts=PTS-STARTPTS[v{k}];"
                      f"[{src}:a]atrim=start={a / FPS}:end={b / FPS},asetpts=PTS-STARTPTS[a{k}]")
        labels.append(f"[v{k}][a{k}]")
        k += 1
    graph = ";".join(chains) + ";" + "".join(labels) + f"concat=n={k}:v=1:a=1[v][a]"
    run_ffmpeg(["-i", str(first), "-i", str(insert), "-filter_complex", graph, "-map", "[v]", "-map", "[a]",
                "-c:v", "libx264", "-preset", "ultrafast", "-crf", "28", "-c:a", "aac", str(out)], what="recutting")


def _first_and_recut(d: Path, shots: list[int], looks, insert_frames: int, pieces) -> tuple[Path, Path]:
    """A cut of ``shots`` and its recut by ``pieces`` (new picture: ``insert_frames`` of colour bars)."""
    first, insert, second = d / "first.mp4", d / "insert.mp4", d / "second.mp4"
    make_cut_clip(first, shots, fps=FPS, size=(320, 180), looks=looks)
    make_cut_clip(insert, [insert_frames], fps=FPS, size=(320, 180), looks=("smptehdbars",))
    _recut(first, insert, second, pieces)
    return first, second


@pytest.fixture(scope="module")
def cuts(tmp_path_factory) -> tuple[Path, Path]:
    return _first_and_recut(tmp_path_factory.mktemp("recut"), SHOTS, LOOKS, 50, RECUT)


#: A calm opening (three slow gradients) and a busy ending (12-frame shots): planned as two cues,
#: split at frame 300.
TWO_CUES = [100, 100, 100] + [12] * 20
TWO_CUES_LOOKS = (["gradients=speed=0.02:c0=#203040:c1=#101820:seed=3", "gradients=speed=0.02:c0=#302010:c1=#181008:seed=4",
                   "gradients=speed=0.02:c0=#203020:c1=#102010:seed=5"] + ["testsrc2", "mandelbrot", "testsrc", "rgbtestsrc"] * 5)
#: Its recut: the second shot removed, the third trimmed by 20 at its tail, 40 new frames after it;
#: the busy ending (old 300-540) moves by -80.
TWO_CUES_RECUT = [(0, 100), (200, 280), ("new", 40), (300, 540)]


@pytest.fixture(scope="module")
def two_cues(tmp_path_factory) -> tuple[Path, Path]:
    return _first_and_recut(tmp_path_factory.mktemp("recut2"), TWO_CUES, TWO_CUES_LOOKS, 40, TWO_CUES_RECUT)


def test_match_pictures_finds_every_kept_frame_of_the_old_cut(cuts):
    first, second = cuts
    fa, fb = [], []
    old, new = analyze(first, fingerprint_out=fa), analyze(second, fingerprint_out=fb)
    assert old.video.frame_count == sum(SHOTS) and new.video.frame_count == 600
    fmap = match_pictures(old, new, old_fingerprint=fa[0], new_fingerprint=fb[0])
    assert fmap.by == "fingerprint"
    got = [(r.old_start, r.new_start, r.length) for r in fmap.runs]
    assert len(got) == len(TRUTH), got
    for (o, n, ln), (to, tn, tl) in zip(got, TRUTH):
        assert n - o == tn - to  # the exact frame: a recut moves pictures by whole frames
        assert abs(o - to) <= 1 and abs(ln - tl) <= 2  # ends: within a frame of the cut
    # the inserted shot is in no run; the removed and trimmed frames map nowhere
    assert fmap.new_frame(240) is None and fmap.new_frame(400) is None and fmap.new_frame(540) is None
    assert fmap.new_frame(300) == 240 and fmap.new_frame(600) == 530
    assert not [r for r in fmap.runs if r.new_start < 370 and r.new_start + r.length > 320]  # the new shot
    # without fingerprints (an analysis from before they were kept), the coarser per-frame means place
    # the picture to within a couple of frames
    coarse = match_pictures(old, new)
    assert coarse.by == "features"
    assert abs(coarse.new_frame(300) - 240) <= 2 and abs(coarse.new_frame(100) - 100) <= 2 and coarse.new_frame(240) is None


def test_conform_edits_moves_splits_and_drops():
    fmap = FrameMap(old_frames=670, new_frames=600, runs=[PictureRun(*t) for t in TRUTH])
    edits = {
        "locked_cues": [{"id": "3M1", "start_frame": 270, "end_frame": 380, "start_sec": 10.8, "end_sec": 15.2,
                         "grid": {"duration_sec": 4.4, "events": [[0.0, 100.0, 4, True]],
                                  "hits": [{"frame": 300, "how": "tempo", "offset_frames": 0.2}]}},
                        {"id": "2M1", "start_frame": 210, "end_frame": 270}],  # its picture was removed
        "pinned_cues": [{"id": "4M1", "start_frame": 380, "end_frame": 530}],  # trimmed inside
        "cue_overrides": {"5M1": {"mood": "tense", "start_frame": 550, "end_frame": 670},
                          "9M1": {"mood": "serene", "start_frame": 380, "end_frame": 420}},  # the trimmed-off tail
        "deleted_hit_frames": [420, 240],
        "added_hits": [{"frame": 600, "kind": "user"}, {"frame": 230, "kind": "user"}],
        "removed_spans": [[380, 560]],
    }
    pts = [f / FPS for f in range(600)]
    out, notes = conform_edits(edits, fmap, new_pts_sec=pts, new_duration_sec=600 / FPS)
    (locked,) = out["locked_cues"]
    assert (locked["start_frame"], locked["end_frame"], locked["start_sec"]) == (210, 320, 8.4)
    assert locked["grid"]["hits"][0]["frame"] == 240 and locked["grid"]["events"] == [[0.0, 100.0, 4, True]]
    assert out["pinned_cues"] == [{"id": "4M1", "start_frame": 370, "end_frame": 480}]
    assert out["cue_overrides"] == {"5M1@recut": {"mood": "tense", "start_frame": 480, "end_frame": 600}}
    assert out["deleted_hit_frames"] == [370]
    assert out["added_hits"] == [{"frame": 530, "kind": "user", "time_sec": 21.2}]
    assert out["removed_spans"] == [[370, 480], [480, 490]]
    said = "\n".join(notes)
    for what in ("cue 3M1 (locked) moved -60 frames", "cue 2M1 (locked): its picture is no longer in the cut",
                 "cue 9M1: your edit (mood)", "old frame 230"):
        assert what in said, said


def _cue_notes(midi: Path, cue: dict) -> list[tuple]:
    pm = pretty_midi.PrettyMIDI(str(midi))
    length = cue["end_sec"] - cue["start_sec"]
    return sorted((i.name, round(n.start - cue["start_sec"], 3), n.pitch, n.velocity) for i in pm.instruments
                  for n in i.notes if -1e-3 <= n.start - cue["start_sec"] < length - 1e-3)


def _same_music(a: list[tuple], b: list[tuple]) -> bool:
    """The same notes (part, pitch, velocity) at the same times from the cue start, to MIDI tick rounding
    (a tick's length depends on where in the file the cue now sits)."""
    def key(x: tuple) -> tuple:
        return x[0], x[2], x[3], x[1]

    a, b = sorted(a, key=key), sorted(b, key=key)
    return (len(a) == len(b) and [key(x)[:3] for x in a] == [key(x)[:3] for x in b]
            and all(abs(x[1] - y[1]) <= 0.005 for x, y in zip(a, b)))


def test_a_recut_at_the_same_path_conforms_the_edits(two_cues, tmp_path):
    """The editor's loop: score v1, lock the second cue, change the first cue's mood and add a hit,
    export v2 over v1, score again: the locked cue moves with its picture, note for note; the mood
    and the hit follow theirs."""
    first, second = two_cues
    video = tmp_path / "reel 1.mp4"
    shutil.copy(first, video)
    out = tmp_path / "out"
    assert run_cli("score", video, "-o", out).returncode == 0
    tl_path = out / "reel 1.timeline.json"
    tl = json.loads(tl_path.read_text())
    assert [(c["start_frame"], c["end_frame"]) for c in tl["cues"]] == [(0, 300), (300, 540)]
    tl["cues"][1]["locked"] = True
    calm = tl["cues"][0]
    calm["mood"] = next(m for m in ("tense", "sombre", "excited", "serene") if m != calm["mood"])
    tl["hit_points"].append({"frame": 250, "time_sec": 10.0, "kind": "user", "strength": 1.0})
    tl_path.write_text(json.dumps(tl))
    assert run_cli("score", video, "-o", out).returncode == 0
    before = json.loads(tl_path.read_text())
    locked = before["cues"][1]
    heard = _cue_notes(out / "reel 1.score.mid", locked)
    hits = [(h["frame"] - 300, h["how"]) for h in before["hit_points"] if h["cue_id"] == locked["id"]]
    assert len(heard) > 20 and len(hits) > 2
    shutil.copy(second, video)  # the new export, over the old one
    r = run_cli("score", video, "-o", out, "--json")
    assert r.returncode == 0, r.stderr
    after = json.loads(tl_path.read_text())
    conformed = after["edits"]["conformed"]
    assert conformed["matched_by"] == "fingerprint" and conformed["from_content_hash"] == before["video"]["content_hash"]
    plan = json.loads(r.stdout)["plan"]
    assert "conformed" in plan["edits_kept"] and plan["conformed"] == conformed
    moved = next(c for c in after["cues"] if c["id"] == locked["id"])
    assert moved["locked"] and (moved["start_frame"], moved["end_frame"]) == (220, 460)
    assert [(h["frame"] - 220, h["how"]) for h in after["hit_points"] if h["cue_id"] == moved["id"]] == hits
    assert _same_music(_cue_notes(out / "reel 1.score.mid", moved), heard)  # the same music, on the same picture
    said = " ".join(r.stderr.split())
    assert f"recut: cue {locked['id']} (locked) moved -80 frames with its picture" in said
    opening = next(c for c in after["cues"] if c["start_frame"] == 0)
    assert opening["mood"] == calm["mood"]  # the mood edit followed the calm picture
    assert any(h["frame"] == 150 and h["kind"] == "user" for h in after["hit_points"])  # old 250 -> 150
    # scoring again without a change: nothing more to conform, the same music
    r = run_cli("score", video, "-o", out)
    assert r.returncode == 0 and "conformed" not in json.loads(tl_path.read_text())["edits"]
    assert _same_music(_cue_notes(out / "reel 1.score.mid", moved), heard)


def _scored(src: Path, tmp_path: Path, *, lock: int, name: str = "cut.mp4", rescore: bool = False) -> tuple:
    """``src`` copied to ``tmp_path/name``, scored into ``tmp_path/out``, cue ``lock`` locked in its
    timeline (and scored again with the lock, if ``rescore``): (video, out, timeline path, timeline
    as it was before the lock)."""
    video = tmp_path / name
    shutil.copy(src, video)
    out = tmp_path / "out"
    assert run_cli("score", video, "-o", out).returncode == 0
    tl_path = out / f"{video.stem}.timeline.json"
    tl = json.loads(tl_path.read_text())
    locked = json.loads(json.dumps(tl))
    locked["cues"][lock]["locked"] = True
    tl_path.write_text(json.dumps(locked))
    if rescore:
        assert run_cli("score", video, "-o", out).returncode == 0
    return video, out, tl_path, tl


def test_a_recut_without_the_old_picture_says_so(two_cues, tmp_path):
    """The cache (where the old cut's picture is kept) was deleted: the edits stay on their frames, and
    the user is told to check them."""
    first, second = two_cues
    video, out, tl_path, tl = _scored(first, tmp_path, lock=0)
    shutil.copy(second, video)
    assert run_cli("analyze", video, "-o", out).returncode == 0
    shutil.rmtree(out / "cut.cache")
    r = run_cli("plan", out / "cut.analysis.json")
    assert r.returncode == 0, r.stderr
    said = " ".join(r.stderr.split())
    assert "planned on another version of the cut" in said and "--fresh" in said
    after = json.loads(tl_path.read_text())
    assert after["cues"][0]["locked"] and "conformed" not in after["edits"]
    assert np.isclose(after["cues"][0]["start_frame"], tl["cues"][0]["start_frame"])


def test_conform_from_an_earlier_version_saved_under_another_name(two_cues, tmp_path):
    """cut_v1.mp4 scored and edited, the new export saved as cut_v2.mp4: --conform-from carries the
    edits over, each following its picture; v1's project is left as it was. Bad uses are one line."""
    first, second = two_cues
    v1, v2 = tmp_path / "cut_v1.mp4", tmp_path / "cut_v2.mp4"
    shutil.copy(first, v1)
    shutil.copy(second, v2)
    out = tmp_path / "out"
    assert run_cli("score", v1, "-o", out).returncode == 0
    tl1 = out / "cut_v1.timeline.json"
    tl = json.loads(tl1.read_text())
    tl["cues"][1]["locked"] = True
    tl1.write_text(json.dumps(tl))
    assert run_cli("score", v1, "-o", out).returncode == 0
    v1_plan = tl1.read_bytes()
    locked = json.loads(v1_plan)["cues"][1]
    heard = _cue_notes(out / "cut_v1.score.mid", locked)
    r = run_cli("score", v2, "-o", out, "--conform-from", tl1, "--json")
    assert r.returncode == 0, r.stderr
    after = json.loads((out / "cut_v2.timeline.json").read_text())
    moved = next(c for c in after["cues"] if c["id"] == locked["id"])
    assert moved["locked"] and (moved["start_frame"], moved["end_frame"]) == (220, 460)
    assert _same_music(_cue_notes(out / "cut_v2.score.mid", moved), heard)
    assert after["edits"]["conformed"]["from_content_hash"] == json.loads(v1_plan)["video"]["content_hash"]
    assert tl1.read_bytes() == v1_plan  # the earlier version's project is untouched
    for args, says in ((("--conform-from", tl1, "--fresh"), "give one of them"),
                       (("--conform-from", tmp_path / "nope.timeline.json"), "file not found"),
                       (("--conform-from", v1), "is not a tempscore timeline file")):
        r = run_cli("score", v2, "-o", out, *args)
        assert r.returncode == 2 and says in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_a_locked_cue_trimmed_inside_keeps_its_bars_at_a_gently_changed_tempo(two_cues, tmp_path):
    """The calm cue (0-300) is locked, then 10 frames inside it are cut (3.4 % shorter): it keeps its
    beats and its melody, at the tempo that fills the new length; the busy cue after it moves -10."""
    first, _ = two_cues
    second = tmp_path / "trimmed.mp4"
    _recut(first, first, second, [(0, 290), (300, 540)])
    video, out, tl_path, _ = _scored(first, tmp_path, lock=0, rescore=True)
    before = json.loads(tl_path.read_text())["cues"][0]
    shutil.copy(second, video)
    r = run_cli("score", video, "-o", out, "--json")
    assert r.returncode == 0, r.stderr
    after = json.loads(tl_path.read_text())
    cue = after["cues"][0]
    assert cue["locked"] and (cue["start_frame"], cue["end_frame"]) == (0, 290)
    assert cue["beats"] == before["beats"] and cue["take"] == before["take"]
    want_bpm = before["beats"] * 60.0 / (290 / FPS)
    assert abs(cue["tempo_bpm"] - want_bpm) < 0.01 and abs(want_bpm / before["tempo_bpm"] - 1) < 0.06
    assert json.loads(r.stdout)["compose"]["cue_report"][cue["id"]]["take"].startswith("kept")
    said = " ".join(r.stderr.split())
    assert f"the same {before['beats']} beats at {want_bpm:.2f} BPM" in said
    assert after["cues"][1]["start_frame"] == 290


def test_watch_scores_a_new_export_of_the_picture(two_cues, tmp_path):
    """`score --watch`: exporting the new version over the picture file is a change like a save of the
    timeline: once the file is left alone, it is scored again, the edits conformed."""
    import os
    import signal
    import subprocess
    import sys

    from test_watch import _Lines, _save

    first, second = two_cues
    video = tmp_path / "cut.mp4"
    shutil.copy(first, video)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "tempscore.cli", "score", str(video), "-o", str(out), "--watch",
                             "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, HF_HUB_OFFLINE="1"))
    lines = _Lines(proc)
    try:
        lines.wait_for("and cut.mp4")  # watched with the timeline
        tl_path = out / "cut.timeline.json"
        tl = json.loads(tl_path.read_text())
        tl["cues"][1]["locked"] = True
        _save(tl_path, tl)
        assert lines.result()["watch_run"] == 1
        tmp = video.with_name("cut.export.mp4")
        shutil.copy(second, tmp)
        os.replace(tmp, video)  # the editing application's export lands
        lines.wait_for("cut.mp4 changed")
        r = lines.result()
        assert r["watch_run"] == 2 and "conformed" in r["plan"]["edits_kept"]
        after = json.loads(tl_path.read_text())
        moved = next(c for c in after["cues"] if c["id"] == tl["cues"][1]["id"])
        assert moved["locked"] and (moved["start_frame"], moved["end_frame"]) == (220, 460)
    finally:
        proc.send_signal(signal.SIGTERM)  # handled as Ctrl+C is (SIGINT may be ignored in a background CI job)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:  # never left running after the test, whatever went wrong
            proc.kill()
            proc.wait()
            raise


def test_a_new_version_at_another_frame_rate_is_not_conformed_by_frames(two_cues, tmp_path):
    first, _ = two_cues
    video, out, tl_path, _ = _scored(first, tmp_path, lock=1)
    other = tmp_path / "cut24.mp4"
    run_ffmpeg(["-i", str(first), "-vf", "fps=24", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "copy", str(other)],
               what="changing the frame rate")
    shutil.copy(other, video)
    r = run_cli("score", video, "-o", out)
    assert r.returncode == 0, r.stderr
    said = " ".join(r.stderr.split())
    assert "another frame rate (25 -> 24 fps)" in said and "--fresh" in said
    assert "conformed" not in json.loads(tl_path.read_text())["edits"]


def test_scenes_put_in_another_order_are_found_whole(two_cues, tmp_path):
    """The busy scene moved before the calm one. Its shots recur (the same four pictures every 48
    frames), so each alone matches five old places: the one whose picture goes on agreeing longest
    is taken, and the scene maps back in one piece."""
    first, _ = two_cues
    swapped = tmp_path / "swapped.mp4"
    _recut(first, first, swapped, [(300, 540), (0, 300)])
    fa, fb = [], []
    old, new = analyze(first, fingerprint_out=fa), analyze(swapped, fingerprint_out=fb)
    fmap = match_pictures(old, new, old_fingerprint=fa[0], new_fingerprint=fb[0])
    assert [(r.old_start, r.new_start, r.length) for r in fmap.runs] == [(300, 0, 240), (0, 240, 300)]
    assert fmap.pieces(300, 540) == [(0, 240)] and fmap.pieces(0, 300) == [(240, 540)]


def test_a_graded_version_is_found_by_its_normalised_fingerprint(two_cues, tmp_path):
    """The new version came back from a grade (brighter, more contrast, gamma): every cell moved by
    more than the tolerance, so the frames are compared with each frame's cells normalised."""
    first, second = two_cues
    graded = tmp_path / "graded.mp4"
    run_ffmpeg(["-i", str(second), "-vf", "eq=brightness=0.06:contrast=1.15:saturation=1.2:gamma=1.1", "-c:v",
                "libx264", "-preset", "ultrafast", "-crf", "30", "-c:a", "copy", str(graded)], what="grading")
    fa, fb = [], []
    old, new = analyze(first, fingerprint_out=fa), analyze(graded, fingerprint_out=fb)
    fmap = match_pictures(old, new, old_fingerprint=fa[0], new_fingerprint=fb[0])
    assert fmap.by == "fingerprint, levels normalised"
    runs = [(r.old_start, r.new_start, r.length) for r in fmap.runs]
    assert runs[0] == (0, 0, 100) and runs[-1] == (300, 220, 240)  # the busy scene whole, at its exact frames
    assert len(runs) == 3 and abs((runs[1][1] - runs[1][0]) - (100 - 200)) <= 1  # a slow gradient: to a frame
    assert fmap.new_frame(150) is None  # the removed shot is still not found


def test_a_reframed_version_is_not_read_as_everything_cut(two_cues, tmp_path):
    """Letterboxed (another framing): no frame matches. That is not a recut that cut everything, so
    the edits are left on their frames with one warning, not dropped one by one."""
    first, second = two_cues
    boxed = tmp_path / "boxed.mp4"
    run_ffmpeg(["-i", str(second), "-vf", "scale=320:136,pad=320:180:0:22", "-c:v", "libx264", "-preset", "ultrafast",
                "-c:a", "copy", str(boxed)], what="letterboxing")
    video, out, tl_path, _ = _scored(first, tmp_path, lock=0)
    shutil.copy(boxed, video)
    r = run_cli("score", video, "-o", out)
    assert r.returncode == 0, r.stderr
    said = " ".join(r.stderr.split())
    assert "whose picture is not found in this one (0 of 460 frames" in said and "--fresh" in said
    after = json.loads(tl_path.read_text())
    assert "conformed" not in after["edits"] and after["cues"][0]["locked"] and after["cues"][0]["end_frame"] == 300
