"""A reference video with a leader (bars, countdown, 2-pop, black, then the programme on the hour):
no music and no hits before the first frame of action; cues numbered from it. And its tail (black,
a tail pop two seconds after the last frame of action, a tail leader), or plain black at the end:
no music and no hits after the action."""

from __future__ import annotations

import copy
import json
import wave

import numpy as np
import pytest
from support.clips import make_cut_clip
from tempscore.errors import InvalidSettings
from tempscore.scoring import PlanSettings, plan
from tempscore.scoring.edits import find_cue
from tempscore.scoring.leader import LEADER_CUE_ID, TAIL_CUE_ID, picture_end, picture_start
from tempscore.scoring.report import sync_rows
from tempscore.vision import analyze
from tempscore.vision.analyze import AnalyzeSettings

from tests.conftest import run_cli

FPS = 24
#: 00:59:52:00 bars (2 s), countdown 8..3 (1 s each: 4 shots), the 2-pop frame, black to 01:00:00:00,
#: then four programme shots.
LEADER_LOOKS = ["smptehdbars", "testsrc2", "rgbtestsrc", "testsrc2", "rgbtestsrc", "color=c=white", "color=c=black",
                "mandelbrot", "testsrc2", "smptebars", "rgbtestsrc"]
LEADER_SHOTS = [48, 24, 24, 24, 24, 1, 47, 100, 80, 130, 90]
FFOA = 192  # 8 s at 24 fps: 01:00:00:00


def _leader_video(folder, name: str, *, pop_late_frames: int = 0):
    """The leader clip with a leader's sound: 1 kHz tone under the bars, silence, a one-frame 1 kHz
    pop with the "2" (``pop_late_frames`` late: an export out of sync), silence, then the programme."""
    from tempscore.media import run_ffmpeg

    picture = folder / f"{name}.picture.mov"
    cuts = make_cut_clip(picture, LEADER_SHOTS, fps=FPS, looks=LEADER_LOOKS, audio=False, timecode="00:59:52:00")
    assert FFOA in cuts
    pop = (144 + pop_late_frames) / FPS
    expr = (f"0.1*sin(2*PI*1000*t)*(lt(t,2)+between(t,{pop:.6f},{pop + 1 / FPS - 1e-4:.6f}))"
            f"+0.2*sin(2*PI*300*t)*gte(t,{FFOA / FPS})")
    path = folder / f"{name}.mov"
    run_ffmpeg(["-i", str(picture), "-f", "lavfi", "-i", f"aevalsrc=exprs='{expr}|{expr}':sample_rate=48000:"
                f"duration={sum(LEADER_SHOTS) / FPS}", "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "pcm_s16le",
                "-timecode", "00:59:52:00", str(path)], what="adding the leader's sound")
    return path


@pytest.fixture(scope="module")
def leader_clip(tmp_path_factory):
    return _leader_video(tmp_path_factory.mktemp("leader"), "reel 1 with leader")


@pytest.fixture(scope="module")
def leader_analysis(leader_clip):
    return analyze(leader_clip, settings=AnalyzeSettings(clip="off", dialogue=False))


def test_the_leader_is_one_silent_cue_and_the_first_cue_starts_on_the_hour(leader_analysis):
    a = leader_analysis
    assert [c.frame for c in a.cuts if c.frame < FFOA]  # the countdown's numbers are cuts in the picture ...
    assert picture_start(a)[0] == FFOA
    tl = plan(a)
    leader, first = tl.cues[0], tl.cues[1]
    assert (leader.id, leader.start_frame, leader.end_frame, leader.tacet) == (LEADER_CUE_ID, 0, FFOA, True)
    assert "before the picture start" in leader.why["leader"]
    assert (first.id, first.start_frame, first.tacet) == ("1M1", FFOA, False)
    assert [c.id for c in tl.cues[1:]] == [f"{i}M1" for i in range(1, len(tl.cues))]
    assert tl.hit_points and min(h.frame for h in tl.hit_points) == FFOA  # ... but not hits; FFOA is the first
    rows = {(r["event"], r["id"]): r for r in sync_rows(tl)}
    assert rows[("cue_start", "1M1")]["timecode"] == "01:00:00:00"
    assert rows[("cue_start", LEADER_CUE_ID)]["note"].startswith("LEADER")
    assert find_cue(tl, "cue 1") == 1 and find_cue(tl, "1") == 1 and find_cue(tl, "leader") == 0
    pop = leader.why["two_pop"]  # the 2-pop: 2 s before the picture start, its sound on its frame
    assert (pop["frame"], pop["timecode"], pop["picture"], pop["in_sync"]) == (144, "00:59:58:00", True, True)
    assert abs(pop["sound_offset_frames"]) < 0.5
    assert rows[("sync_pop", "2-pop")]["note"].startswith("2-pop 00:59:58:00: sound in sync")


def test_a_2_pop_out_of_sync_is_reported(tmp_path):
    """An export whose sound is 2 frames late: said once, in frames, with the fix."""
    late = analyze(_leader_video(tmp_path, "late", pop_late_frames=2), settings=AnalyzeSettings(clip="off", dialogue=False))
    pop = plan(late).cues[0].why["two_pop"]
    assert pop["in_sync"] is False and pop["sound_offset_frames"] == pytest.approx(2.0, abs=0.3)
    assert "frames late" in pop["note"] and "out of sync" in pop["note"] and "new export" in pop["note"]


def test_picture_start_can_be_given_or_turned_off(leader_analysis):
    a = leader_analysis
    off = plan(a, PlanSettings(picture_start="none"))
    assert off.cues[0].id == "1M1" and off.cues[0].start_frame == 0
    assert min(h.frame for h in off.hit_points) < FFOA  # the countdown's cuts are spotted again
    given = plan(a, PlanSettings(picture_start="00:59:54:00"))  # after the bars only
    assert (given.cues[0].id, given.cues[0].end_frame) == (LEADER_CUE_ID, 48)
    assert given.cues[1].start_frame == 48
    with pytest.raises(InvalidSettings, match="outside the video"):
        plan(a, PlanSettings(picture_start="02:00:00:00"))
    with pytest.raises(InvalidSettings, match="not auto, none or a timecode"):
        plan(a, PlanSettings(picture_start="soon"))


def test_no_leader_without_its_signature(leader_analysis):
    """auto needs both: a start under 2 minutes before a whole hour, and black just before it."""
    a = copy.deepcopy(leader_analysis)
    a.frames.brightness[FFOA - 3] = 0.5  # picture (not black) right before the hour
    assert picture_start(a) == (0, "")
    b = copy.deepcopy(leader_analysis)
    b.video.start_timecode = "01:00:00:00"  # the programme from the first frame
    assert picture_start(b) == (0, "")
    c = copy.deepcopy(leader_analysis)
    c.video.start_timecode = "00:57:52:00"  # the hour is 128 s away: not a leader
    assert picture_start(c) == (0, "")
    assert plan(a).cues[0].id == "1M1"


def test_scored_leader_is_silent_and_the_music_starts_on_the_hour(leader_clip, tmp_path):
    r = run_cli("score", leader_clip, "-o", tmp_path, "--json")
    assert r.returncode == 0, r.stderr
    with wave.open(str(tmp_path / "reel 1 with leader.score.wav")) as w:
        sr, ch = w.getframerate(), w.getnchannels()
        raw = np.frombuffer(w.readframes(w.getnframes()), np.uint8).reshape(-1, 3)
    x = (raw[:, 0].astype(np.int32) | raw[:, 1].astype(np.int32) << 8 | raw[:, 2].astype(np.int32) << 16)
    x = np.where(x >= 1 << 23, x - (1 << 24), x).reshape(-1, ch) / float(1 << 23)
    ffoa = FFOA * sr // FPS
    assert np.abs(x[:ffoa]).max() < 1e-4  # nothing under bars, countdown and 2-pop
    assert np.sqrt(np.mean(x[ffoa: ffoa + sr] ** 2)) > 1e-3  # the score from the first frame of action
    tl = json.loads((tmp_path / "reel 1 with leader.timeline.json").read_text())
    assert tl["settings"]["picture_start"] == "auto" and tl["cues"][0]["id"] == LEADER_CUE_ID
    bad = run_cli("plan", tmp_path / "reel 1 with leader.analysis.json", "--picture-start", "1 hour")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "--picture-start" in bad.stderr


#: A reel with a tail, 24 fps from 01:00:00:00: four programme shots (the action ends at frame 400,
#: 01:00:16:16), black, the tail pop at 448 (two seconds later: 01:00:18:16), black, a tail leader.
TAIL_LOOKS = ["mandelbrot", "testsrc2", "smptebars", "rgbtestsrc", "color=c=black", "color=c=white", "color=c=black",
              "testsrc2"]
TAIL_SHOTS = [100, 80, 130, 90, 48, 1, 47, 72]
LFOA_END = 400  # the first frame after the last frame of action
TAIL_POP = 448


def _tail_video(folder, name: str, *, leader: bool = False, tail_pop_late_frames: int = 0):
    """The reel above (after the leader of :func:`_leader_video` when ``leader``), with a 300 Hz
    programme sound, a one-frame 1 kHz pop with each pop frame (the tail's ``tail_pop_late_frames``
    late) and silence elsewhere."""
    from tempscore.media import run_ffmpeg

    looks = (LEADER_LOOKS[:7] if leader else []) + TAIL_LOOKS
    shots = (LEADER_SHOTS[:7] if leader else []) + TAIL_SHOTS
    head = FFOA if leader else 0
    picture = folder / f"{name}.picture.mov"
    start_tc = "00:59:52:00" if leader else "01:00:00:00"
    make_cut_clip(picture, shots, fps=FPS, looks=looks, audio=False, timecode=start_tc)

    def beep(f: int) -> str:  # ffmpeg's expression: true during frame f
        return f"between(t,{f / FPS:.6f},{(f + 1) / FPS - 1e-4:.6f})"

    pops = [beep(head + TAIL_POP + tail_pop_late_frames)] + ([beep(144)] if leader else [])
    expr = (f"0.1*sin(2*PI*1000*t)*({'+'.join(pops)})"
            f"+0.2*sin(2*PI*300*t)*gte(t,{head / FPS})*lt(t,{(head + LFOA_END) / FPS})")
    path = folder / f"{name}.mov"
    run_ffmpeg(["-i", str(picture), "-f", "lavfi", "-i", f"aevalsrc=exprs='{expr}|{expr}':sample_rate=48000:"
                f"duration={sum(shots) / FPS}", "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "pcm_s16le",
                "-timecode", start_tc, str(path)], what="adding the reel's sound")
    return path


@pytest.fixture(scope="module")
def tail_analysis(tmp_path_factory):
    clip = _tail_video(tmp_path_factory.mktemp("tail"), "reel 2 with tail")
    return analyze(clip, settings=AnalyzeSettings(clip="off", dialogue=False))


def test_the_tail_is_one_silent_cue_and_the_last_cue_ends_with_the_action(tail_analysis):
    a = tail_analysis
    n = a.video.frame_count
    assert n == sum(TAIL_SHOTS) and [c.frame for c in a.cuts if c.frame > LFOA_END]  # the tail leader's cuts
    end, how = picture_end(a)
    assert end == LFOA_END and "tail pop at 01:00:18:16" in how
    tl = plan(a)
    last, tail = tl.cues[-2], tl.cues[-1]
    assert (tail.id, tail.start_frame, tail.end_frame, tail.tacet) == (TAIL_CUE_ID, LFOA_END, n, True)
    assert "after the picture end" in tail.why["tail"]
    assert (last.end_frame, last.tacet) == (LFOA_END, False)  # the music ends on the cut to black
    assert [c.id for c in tl.cues[:-1]] == [f"{i}M1" for i in range(1, len(tl.cues))]
    assert tl.hit_points and max(h.frame for h in tl.hit_points) < LFOA_END  # no hits on the tail leader
    pop = tail.why["tail_pop"]
    assert (pop["frame"], pop["timecode"], pop["picture"], pop["in_sync"]) == (TAIL_POP, "01:00:18:16", True, True)
    rows = {(r["event"], r["id"]): r for r in sync_rows(tl)}
    assert rows[("cue_end", last.id)]["timecode"] == "01:00:16:16"
    assert rows[("cue_start", TAIL_CUE_ID)]["note"].startswith("TAIL (after the picture end) TACET")
    assert rows[("sync_pop", "tail pop")]["note"].startswith("tail pop 01:00:18:16: sound in sync")
    from tempscore.scoring.report import otio_timeline

    spotting = otio_timeline(tl)  # kept alive while its tracks are read
    names = [m.name for clip in spotting.tracks[0].find_clips() for m in clip.markers]
    assert "tail tacet" in names and not any(name.startswith("tail ") and "BPM" in name for name in names)
    assert find_cue(tl, "tail") == len(tl.cues) - 1
    assert find_cue(tl, f"cue {len(tl.cues) - 1}") == len(tl.cues) - 2  # numbers stop at the last numbered cue
    with pytest.raises(InvalidSettings):
        find_cue(tl, f"cue {len(tl.cues)}")


def test_a_tail_pop_out_of_sync_is_reported(tmp_path):
    late = analyze(_tail_video(tmp_path, "late tail", tail_pop_late_frames=2),
                   settings=AnalyzeSettings(clip="off", dialogue=False))
    pop = plan(late).cues[-1].why["tail_pop"]
    assert pop["in_sync"] is False and pop["sound_offset_frames"] == pytest.approx(2.0, abs=0.3)
    assert pop["note"].startswith("tail pop 01:00:18:16: sound 2.0 frames late") and "new export" in pop["note"]


def test_picture_end_can_be_given_or_turned_off(tail_analysis):
    a = tail_analysis
    n = a.video.frame_count
    off = plan(a, PlanSettings(picture_end="none"))
    assert off.cues[-1].id != TAIL_CUE_ID and off.cues[-1].end_frame == n
    assert max(h.frame for h in off.hit_points) > LFOA_END  # the tail leader's cuts are spotted again
    given = plan(a, PlanSettings(picture_end="01:00:15:00"))  # 360: inside the last programme shot
    assert (given.cues[-1].id, given.cues[-1].start_frame) == (TAIL_CUE_ID, 360)
    assert "--picture-end 01:00:15:00" in given.cues[-1].why["tail"]
    assert plan(a, PlanSettings(picture_end="01:00:23:16")).cues[-1].id != TAIL_CUE_ID  # the video's end: no tail
    with pytest.raises(InvalidSettings, match="outside the programme"):
        plan(a, PlanSettings(picture_end="02:00:00:00"))
    with pytest.raises(InvalidSettings, match="outside the programme"):
        plan(a, PlanSettings(picture_end="01:00:00:00"))  # before the first frame of action
    with pytest.raises(InvalidSettings, match="not auto, none or a timecode.*--picture-end"):
        plan(a, PlanSettings(picture_end="later"))


def test_black_at_the_end_is_a_tail_only_when_it_lasts_and_a_flash_in_the_dark_is_no_pop(tail_analysis):
    n = tail_analysis.video.frame_count
    black = copy.deepcopy(tail_analysis)  # no tail leader: the video ends in 168 frames (7 s) of black
    black.frames.brightness[LFOA_END:] = [0.0] * (n - LFOA_END)
    assert picture_end(black)[0] == LFOA_END and "ends in 7.00 s of black" in picture_end(black)[1]
    short = copy.deepcopy(black)  # under a second of black at the end: the last shot's, scored
    short.frames.brightness[LFOA_END:n - 23] = [0.5] * (n - 23 - LFOA_END)
    assert picture_end(short) == (n, "")
    dark = copy.deepcopy(tail_analysis)  # the last shot is night: the black before the "pop" lasts 6 s
    dark.frames.brightness[260:LFOA_END] = [0.01] * (LFOA_END - 260)
    assert picture_end(dark) == (n, "")  # a flash in the dark, then picture to the end: not a tail
    assert plan(dark).cues[-1].id != TAIL_CUE_ID


def test_a_reel_with_leader_and_tail_is_scored_between_them(tmp_path):
    """Both pops in sync.csv, music only from the first to the last frame of action (plus the hall's
    ring into the black), and only the programme's cuts counted as hits to make."""
    clip = _tail_video(tmp_path, "reel 3", leader=True)
    r = run_cli("score", clip, "-o", tmp_path, "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["plan"]["two_pop"].startswith("2-pop 00:59:58:00: sound in sync")
    assert summary["plan"]["tail_pop"].startswith("tail pop 01:00:18:16: sound in sync")
    assert summary["plan"]["hard_cuts_hit"].endswith("/4")  # 01:00:00:00 and the three programme cuts
    with wave.open(str(tmp_path / "reel 3.score.wav")) as w:
        sr, ch = w.getframerate(), w.getnchannels()
        raw = np.frombuffer(w.readframes(w.getnframes()), np.uint8).reshape(-1, 3)
    x = (raw[:, 0].astype(np.int32) | raw[:, 1].astype(np.int32) << 8 | raw[:, 2].astype(np.int32) << 16)
    x = np.where(x >= 1 << 23, x - (1 << 24), x).reshape(-1, ch) / float(1 << 23)
    ffoa, lfoa = FFOA * sr // FPS, (FFOA + LFOA_END) * sr // FPS

    def rms(y: np.ndarray) -> float:
        return float(np.sqrt(np.mean(y ** 2)))

    assert np.abs(x[:ffoa]).max() < 1e-4
    assert rms(x[lfoa - sr: lfoa]) > 1e-3  # the score up to the last frame of action
    assert np.abs(x[lfoa + 4 * sr:]).max() < 1e-3  # over the tail leader: nothing (-60 dBFS) left of it
    rows = (tmp_path / "reel 3.sync.csv").read_text().splitlines()
    assert sum(row.startswith("sync_pop,") for row in rows) == 2
    assert rows[-1].startswith(f"cue_end,{TAIL_CUE_ID},")
