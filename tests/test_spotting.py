"""Spotting: edits that survive a re-plan, EDL/OTIO markers, hits checked through the MIDI file, suggestions."""

import json
import re
import shutil
from fractions import Fraction

import numpy as np
import opentimelineio as otio
import pretty_midi
import pytest
from conftest import run_cli
from tempscore.scoring import PlanSettings, plan
from tempscore.scoring.report import otio_timeline
from tempscore.scoring.tempo import TempoMap, fit_constant_tempo
from tempscore.scoring.timecodes import smpte_to_frame, start_offset_frames
from tempscore.vision import analyze


@pytest.fixture(scope="module")
def planned(clip_contrast, tmp_path_factory):
    out = tmp_path_factory.mktemp("spot")
    r = run_cli("score", clip_contrast.path, "-o", out, "--edl", "--otio", "--json")
    assert r.returncode == 0, r.stderr
    return out, clip_contrast.path.stem


def test_chosen_hits_land_on_the_midi_grid(planned, clip_contrast):
    """Independent check: beat times from the MIDI file (pretty_midi) vs the cut frames."""
    out, stem = planned
    tl = json.loads((out / f"{stem}.timeline.json").read_text())
    pm = pretty_midi.PrettyMIDI(str(out / f"{stem}.score.mid"))
    half = pm.resolution // 2  # half-beat grid in ticks, timed by the MIDI file's own tempo map
    grid = np.array([pm.tick_to_time(k * half) for k in range(int(pm.time_to_tick(pm.get_end_time() + 1)) // half + 2)])
    fps = float(clip_contrast.fps)
    hard = [c for c in clip_contrast.cuts]
    kept = [h for h in tl["hit_points"] if h["kind"] == "cut"]
    assert len(kept) >= 0.8 * len(hard)
    landed = [h for h in kept if np.min(np.abs(grid - h["frame"] / fps)) * fps <= 1.0 + 1e-3]
    assert len(landed) >= 0.95 * len(kept)


def test_edl_and_otio_markers_round_trip(planned, clip_contrast):
    out, stem = planned
    tl = json.loads((out / f"{stem}.timeline.json").read_text())
    fps = float(clip_contrast.fps)
    want = sorted({h["frame"] for h in tl["hit_points"]} | {c["start_frame"] for c in tl["cues"]}
                  | {s["frame"] for s in tl["suggestions"]})
    for path, kw in ((out / f"{stem}.otio", {}), (out / f"{stem}.edl", {"rate": fps})):
        t = otio.adapters.read_from_file(str(path), **kw)
        frames = sorted({round(m.marked_range.start_time.rescaled_to(fps).value) for c in t.find_clips() for m in c.markers})
        assert frames == want, path.suffix
        clips = list(t.find_clips())
        assert [c.name for c in clips] == [c["id"] for c in tl["cues"]]
        assert [round(c.range_in_parent().start_time.value) for c in clips] == [c["start_frame"] for c in tl["cues"]]


def test_drop_frame_edl_keeps_the_videos_timecode(clip2997):
    tl = plan(analyze(clip2997.path))
    fps = Fraction(30000, 1001)
    text = otio.adapters.write_to_string(otio_timeline(tl), "cmx_3600", rate=float(fps))
    events = [ln for ln in text.splitlines() if re.match(r"^\d{3}\s", ln)]
    assert events[0].split()[-2] == "01:00:00;00"  # record in: the video's own start timecode
    tc0 = start_offset_frames("01:00:00;00", fps)
    # OTIO's reader skips ';' locators (its regex wants ':'), so read them with the timecode library
    locs = [ln.split()[2] for ln in text.splitlines() if ln.startswith("* LOC:")]
    got = sorted({smpte_to_frame(tc, fps, start_timecode="01:00:00;00") for tc in locs})
    want = sorted({h.frame for h in tl.hit_points} | {c.start_frame for c in tl.cues} | {s["frame"] for s in tl.suggestions})
    assert got == want and tc0 == 107892
    # the native OTIO file keeps them exactly
    back = otio.adapters.read_from_string(otio.adapters.write_to_string(otio_timeline(tl), "otio_json"), "otio_json")
    frames = sorted({round(m.marked_range.start_time.value) - tc0 for c in back.find_clips() for m in c.markers})
    assert frames == want


def test_edits_survive_a_replan(clip_contrast, tmp_path):
    assert run_cli("analyze", clip_contrast.path, "-o", tmp_path).returncode == 0
    stem = clip_contrast.path.stem
    an = tmp_path / f"{stem}.analysis.json"
    assert run_cli("plan", an).returncode == 0
    tl_path = tmp_path / f"{stem}.timeline.json"
    tl = json.loads(tl_path.read_text())
    assert len(tl["cues"]) >= 2
    first, last = tl["cues"][0], tl["cues"][-1]
    first["key"], first["mood"] = "A minor", "tense"  # re-mood the first cue
    last["locked"] = True  # lock the last cue as it is
    locked_before = dict(last)
    deleted = tl["hit_points"][-1]["frame"]
    tl["hit_points"] = tl["hit_points"][:-1]  # delete a hit
    user_frame = (first["start_frame"] + first["end_frame"]) // 2 + 3
    tl["hit_points"].append({"frame": user_frame, "time_sec": 0, "kind": "user", "strength": 1.0})  # add one
    tl_path.write_text(json.dumps(tl))
    for _ in range(2):  # survives one and then another re-plan
        r = run_cli("plan", an, "--json")
        assert r.returncode == 0, r.stderr
        new = json.loads(tl_path.read_text())
        c0 = new["cues"][0]
        assert (c0["key"], c0["mood"]) == ("A minor", "tense")
        lk = next(c for c in new["cues"] if c["id"] == locked_before["id"])
        assert lk["locked"] and (lk["start_frame"], lk["end_frame"], lk["key"], lk["mood"], lk["tempo_bpm"]) == (
            locked_before["start_frame"], locked_before["end_frame"], locked_before["key"], locked_before["mood"],
            locked_before["tempo_bpm"])
        frames = {h["frame"]: h for h in new["hit_points"]}
        assert deleted not in frames
        assert frames[user_frame]["how"] == "user" and abs(frames[user_frame]["offset_frames"]) <= 1.0
    # compose follows the edited key
    assert run_cli("compose", tl_path).returncode == 0
    pm = pretty_midi.PrettyMIDI(str(tmp_path / f"{stem}.score.mid"))
    a_minor = {9, 11, 0, 2, 4, 5, 7, 8, 6}  # with the raised 6th and 7th
    notes = [n for i in pm.instruments if not i.is_drum for n in i.notes
             if first["start_sec"] <= n.start < first["end_sec"] - 0.01]
    # all but the colour of a chromatic chord (secondary dominants: the learned harmony's)
    assert notes and sum(n.pitch % 12 in a_minor for n in notes) >= 0.9 * len(notes)
    # --fresh drops the edits
    assert run_cli("plan", an, "--fresh").returncode == 0
    fresh = json.loads(tl_path.read_text())
    assert fresh["edits"] == {} and not any(c["locked"] for c in fresh["cues"])


def test_a_cue_deleted_from_the_file_becomes_tacet_and_stays_so(planned, tmp_path):
    """Deleting a cue from timeline.json means no music there: the re-plan makes the cue it plans
    over that stretch tacet (said in its why), keeps it tacet on later re-plans, and the MIDI has
    no notes there; setting tacet back to false brings the music back."""
    out, stem = planned
    shutil.copy(out / f"{stem}.analysis.json", tmp_path)
    tl_path = tmp_path / f"{stem}.timeline.json"
    tl = json.loads((out / f"{stem}.timeline.json").read_text())
    assert len(tl["cues"]) >= 2 and not any(c["tacet"] for c in tl["cues"])
    gone = tl["cues"].pop(1)
    tl_path.write_text(json.dumps(tl))
    an = tmp_path / f"{stem}.analysis.json"
    for k in range(2):
        r = run_cli("plan", an, "--json")
        assert r.returncode == 0, r.stderr
        new = json.loads(tl_path.read_text())
        there = [c for c in new["cues"] if c["start_frame"] < gone["end_frame"] and c["end_frame"] > gone["start_frame"]]
        assert len(there) == 1 and there[0]["tacet"], there
        assert ("removed" in there[0]["why"]) == (k == 0)  # said when it happens, then an ordinary tacet edit
        assert sum(c["tacet"] for c in new["cues"]) == 1
    assert run_cli("compose", tl_path).returncode == 0
    pm = pretty_midi.PrettyMIDI(str(tmp_path / f"{stem}.score.mid"))
    starts = [n.start for i in pm.instruments for n in i.notes]
    assert starts and not any(gone["start_sec"] + 0.01 < t < gone["end_sec"] - 0.01 for t in starts)
    new["cues"][[c["id"] for c in new["cues"]].index(there[0]["id"])]["tacet"] = False
    tl_path.write_text(json.dumps(new))
    assert run_cli("plan", an).returncode == 0
    assert not any(c["tacet"] for c in json.loads(tl_path.read_text())["cues"])


@pytest.mark.parametrize("field,value,needle", [("key", "H major", "cues[0].key"), ("tempo_bpm", "fast", "cues[0].tempo_bpm"),
                                                ("mood", "jolly", "cues[0].mood"), ("end_sec", -1, "cues[0].end_sec")])
def test_invalid_edits_name_the_field(clip25, tmp_path, field, value, needle):
    assert run_cli("analyze", clip25.path, "-o", tmp_path).returncode == 0
    an = tmp_path / f"{clip25.path.stem}.analysis.json"
    assert run_cli("plan", an).returncode == 0
    tl_path = tmp_path / f"{clip25.path.stem}.timeline.json"
    tl = json.loads(tl_path.read_text())
    tl["cues"][0][field] = value
    tl_path.write_text(json.dumps(tl))
    for args in (("plan", an), ("compose", tl_path)):
        r = run_cli(*args)
        assert r.returncode == 2, r.stderr
        assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_suggestions_trim_onto_a_beat(tmp_path):
    from support.clips import make_cut_clip

    path = tmp_path / "irregular.mp4"
    make_cut_clip(path, [40, 37, 29, 51, 33, 45, 27, 38, 61, 23, 44], fps=25, audio=False, size=(160, 90))
    tl = plan(analyze(path), PlanSettings(max_ramp=0.0, suggest_within_frames=6))
    tmap = TempoMap(tl.tempo_map)
    fps = 25.0
    assert tl.suggestions  # irregular cutting at a constant tempo leaves cuts near, not on, beats
    for s in tl.suggestions:
        t_new = (s["frame"] + s["trim_frames"]) / fps
        b = tmap.time_to_beats(t_new)
        beat_err = abs(b - round(b)) * 60 / tmap.bpm_at(t_new) * fps
        assert beat_err <= 0.5 + 1e-6
        assert 1.0 - 0.01 <= abs(s["offset_frames"]) <= 6 and s["trim_frames"] != 0
        assert "frame" in s["action"] and f"bar {s['bar']}" in s["action"]


def test_related_tempo_preferred_when_hits_allow():
    # no hits: every tempo ties on landed hits, so a 3:2 relation to the previous cue wins over
    # the tempo nearest the target
    bpm, _, _ = fit_constant_tempo(np.array([]), target_bpm=100.0, fps=25.0, prefer_bpm=(80 * 1.5, 80 * 4 / 3))
    assert abs(bpm / 106.667 - 1) <= 0.005 or abs(bpm / 120 - 1) <= 0.005
    bpm2, _, _ = fit_constant_tempo(np.array([]), target_bpm=100.0, fps=25.0)
    assert bpm2 == pytest.approx(100.0)


def test_black_leader_is_tacet_and_gets_no_notes(tmp_path):
    from support.clips import make_cut_clip
    from tempscore.models import compose

    path = tmp_path / "leader.mp4"
    make_cut_clip(path, [150, 60, 45, 70, 50], fps=25, audio=False, size=(160, 90),
                  looks=["color=c=black", "testsrc2", "mandelbrot", "smptehdbars", "rgbtestsrc"])
    tl = plan(analyze(path))
    assert tl.cues[0].tacet and tl.cues[0].end_frame == 150
    assert not tl.cues[-1].tacet
    score = compose(tl)
    notes = [n for p in score.parts for n in p.notes]
    assert notes and all(n.start_sec >= tl.cues[0].end_sec - 1e-6 for n in notes)


def test_recurring_picture_recalls_the_earlier_cue(tmp_path):
    from support.clips import make_cut_clip
    from tempscore.models import compose

    calm = ["color=c=0x705030", "color=c=0x6a5232"]
    fast = ["testsrc2", "mandelbrot", "smptehdbars", "rgbtestsrc"] * 4
    path = tmp_path / "abca.mp4"
    make_cut_clip(path, [150, 150] + [12] * 16 + [150, 150], fps=25, audio=False, size=(160, 90),
                  looks=calm + fast + calm)
    tl = plan(analyze(path))
    assert len(tl.cues) >= 3
    first, last = tl.cues[0], tl.cues[-1]
    assert last.recalls == first.id and "recall" in last.why
    assert all(not c.recalls for c in tl.cues[1:-1])  # the fast middle looks like neither
    score = compose(tl, seed=0)
    assert score.report[last.id]["motif"] == f"recalls {first.id}"
