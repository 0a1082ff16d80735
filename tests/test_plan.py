"""plan(): cues tile the film on cuts, tempi in range, cues end on beats, hits reported, JSON round trip."""

from fractions import Fraction

import numpy as np
import pytest
from tempscore.contracts import (
    ANALYSIS_SCHEMA,
    TIMELINE_SCHEMA,
    Analysis,
    Timeline,
    from_dict,
    read_stage,
    to_dict,
    to_json,
)
from tempscore.errors import BadStageFile, InvalidSettings
from tempscore.scoring import PlanSettings, plan
from tempscore.scoring.report import SYNC_COLUMNS, sync_csv
from tempscore.scoring.tempo import TempoMap
from tempscore.vision import analyze


@pytest.fixture(scope="module")
def contrast_analysis(clip_contrast) -> Analysis:
    return analyze(clip_contrast.path)


def test_calm_then_fast_gives_two_cues_with_faster_tempo(contrast_analysis, clip_contrast):
    tl = plan(contrast_analysis)
    assert len(tl.cues) >= 2
    calm, fast = tl.cues[0], tl.cues[-1]
    assert calm.start_sec == 0
    assert fast.tempo_bpm > calm.tempo_bpm
    assert fast.intensity > calm.intensity
    # every cue boundary is a cut
    cut_frames = set(clip_contrast.cuts)
    assert all(c.start_frame in cut_frames for c in tl.cues[1:])


def test_cues_tile_the_film_and_end_on_beats(contrast_analysis):
    s = PlanSettings(bpm_min=70, bpm_max=130)
    tl = plan(contrast_analysis, s)
    assert tl.cues[0].start_sec == 0
    assert tl.cues[-1].end_sec == pytest.approx(contrast_analysis.video.duration_sec)
    tmap = TempoMap(tl.tempo_map)
    for a, b in zip(tl.cues, tl.cues[1:]):
        assert a.end_sec == b.start_sec and a.end_frame == b.start_frame
    for c in tl.cues:
        assert 70 <= c.tempo_bpm <= 130
        assert tmap.time_to_beats(c.end_sec) - tmap.time_to_beats(c.start_sec) == pytest.approx(c.beats, abs=1e-5)
        bar, beat = tmap.bar_beat(c.start_sec)
        assert beat == pytest.approx(1.0) and bar == c.start_bar  # every cue starts on a downbeat


def test_hit_points_land_and_dropped_cuts_are_explained(contrast_analysis):
    tl = plan(contrast_analysis)
    fps = Fraction(tl.video.fps_num, tl.video.fps_den)
    kept = {h.frame for h in tl.hit_points}
    dropped = {d["frame"]: d["reason"] for c in tl.cues for d in c.why["hits_dropped"]}
    assert kept | set(dropped) == {c.frame for c in contrast_analysis.cuts}  # every cut is accounted for
    assert all(reason for reason in dropped.values())
    hard = [c.frame for c in contrast_analysis.cuts if c.kind == "hard"]
    assert len(kept & set(hard)) >= 0.8 * len(hard)  # most cuts become hits
    tmap = TempoMap(tl.tempo_map)
    for h in tl.hit_points:
        assert abs(h.offset_frames) <= 1.0  # >= 95 % required by the issue: here every chosen hit lands
    for h in tl.hit_points:
        grid_t = h.time_sec - h.offset_frames / float(fps)
        assert tmap.bar_beat(grid_t)[0] == h.bar
        assert tmap.bar_beat(grid_t)[1] == pytest.approx(h.beat, abs=1e-3)
        b2 = tmap.time_to_beats(grid_t) * 2
        assert abs(b2 - round(b2)) < 1e-3  # on the half-beat grid


def test_json_round_trip_and_contract_fields(contrast_analysis, tmp_path):
    tl = plan(contrast_analysis)
    p = tmp_path / "x.timeline.json"
    p.write_text(to_json(tl))
    back = read_stage(p, Timeline, TIMELINE_SCHEMA)
    assert to_dict(back) == to_dict(tl)
    d = to_dict(tl)
    for k in ("schema", "cues", "tempo_map", "hit_points"):
        assert k in d
    assert {"id", "start_sec", "end_sec", "mood", "valence", "arousal", "intensity", "key", "locked"} <= set(d["cues"][0])
    assert {"time_sec", "bpm", "beats_per_bar"} <= set(d["tempo_map"][0])
    assert {"frame", "time_sec", "kind", "strength", "bar", "beat", "offset_frames"} <= set(d["hit_points"][0])
    a = to_dict(contrast_analysis)
    assert a["schema"] == ANALYSIS_SCHEMA
    assert {"path", "fps_num", "fps_den", "frame_count", "duration_sec", "width", "height"} <= set(a["video"])
    assert {"frame", "time_sec", "kind"} <= set(a["cuts"][0])
    assert from_dict(Analysis, a) == contrast_analysis
    assert all(-1 <= s["valence"] <= 1 and -1 <= s["arousal"] <= 1 for s in a["shots"])


def test_sync_csv_has_every_cue_and_hit(contrast_analysis):
    tl = plan(contrast_analysis)
    lines = sync_csv(tl).strip().splitlines()
    assert lines[0].split(",") == SYNC_COLUMNS
    events = [ln.split(",")[0] for ln in lines[1:]]
    assert events.count("hit") == len(tl.hit_points)
    assert events.count("cue_start") == len(tl.cues) == events.count("cue_end")


def test_bad_settings_and_stage_files(contrast_analysis, tmp_path):
    with pytest.raises(InvalidSettings):
        plan(contrast_analysis, PlanSettings(bpm_min=150, bpm_max=90))
    bad = tmp_path / "bad.analysis.json"
    bad.write_text("{not json")
    with pytest.raises(BadStageFile):
        read_stage(bad, Analysis, ANALYSIS_SCHEMA)
    bad.write_text('{"schema": "something/9"}')
    with pytest.raises(BadStageFile):
        read_stage(bad, Analysis, ANALYSIS_SCHEMA)


def test_gaussian_smooth_is_scipys_gaussian_filter1d():
    from scipy.ndimage import gaussian_filter1d
    from tempscore.scoring.curves import gaussian_smooth

    rng = np.random.default_rng(4)
    for n in (1, 2, 5, 60, 700):
        for sigma in (0.3, 1.0, 2.5, 15.0, 40.0):
            x = rng.standard_normal(n)
            np.testing.assert_allclose(gaussian_smooth(x, sigma), gaussian_filter1d(x, sigma, mode="nearest"),
                                       atol=1e-12)


def test_timeline_picture_shows_cues_cuts_and_hits(contrast_analysis, tmp_path):
    """The PNG: each cue's span tinted by its mood, a line at every cut, a marker at every hit."""
    from PIL import Image
    from tempscore.scoring import picture as pic

    tl = plan(contrast_analysis, PlanSettings())
    png = pic.write_timeline_png(contrast_analysis, tl, tmp_path / "t.png")
    img = np.asarray(Image.open(png).convert("RGB")).astype(int)
    assert img.shape == (pic.HEIGHT_PX, pic.WIDTH_PX, 3)
    dur = tl.video.duration_sec
    left, right = 72, pic.WIDTH_PX - 62

    def x_of(t: float) -> int:  # pixel column of time t
        return int(round(left + t / dur * (right - left)))

    y_tint = 300  # low in the upper panel: below the curves of this clip, above the axis
    cut_times = [c.time_sec for c in contrast_analysis.cuts]
    for cue in tl.cues:
        # sample the span away from cuts, curves and labels: its tint is the mood colour over white
        xs = [x for x in range(x_of(cue.start_sec) + 4, x_of(cue.end_sec) - 4)
              if all(abs(x - x_of(t)) > 3 for t in cut_times)]
        col = np.median(img[y_tint - 3 : y_tint + 3, xs[len(xs) // 2]], axis=0)
        assert np.abs(col - np.array(pic._tint(pic.MOOD_COLORS[cue.mood]))).max() <= 3, (cue.id, cue.mood, col)
    lum = img.mean(axis=2)
    for t in cut_times:  # a grey line at each cut, over the upper panel's height
        x = x_of(t)
        line = lum[60:310, x - 1 : x + 2].min(axis=1)
        beside = np.median(lum[60:310, x + 5 : x + 9], axis=1)  # the tint just after the cut
        assert np.mean(line < beside - 40) > 0.8, t
    y_hits = 345 + int(0.4 * 85)  # the lower panel's marker row (0.6 of its height from the bottom)
    for h in tl.hit_points:
        patch = img[y_hits - 4 : y_hits + 4, x_of(h.time_sec) - 3 : x_of(h.time_sec) + 4].reshape(-1, 3)
        want = np.array(pic._rgb(pic.HIT_ON if abs(h.offset_frames) <= 1.0 else pic.HIT_OFF))
        assert (np.abs(patch - want).max(axis=1) <= 40).sum() >= 10, h


def test_nice_steps():
    from tempscore.scoring.picture import nice_step

    assert [nice_step(s) for s in (15.3, 600, 1, 0.3, 95)] == [2, 100, 0.2, 0.05, 20]


@pytest.mark.parametrize("duration_sec,n_cuts", [(12.0, 0), (12.0, 3), (600.0, 250), (3000.0, 900)])
def test_cut_rate_counts_only_cuts_within_reach_and_equals_the_whole_sum(duration_sec, n_cuts):
    """The local cutting rate sums a Gaussian over the cuts within ten deviations of each point
    (linear in the film's length: a 60-minute film's plan spent 0.6 s here); against the sum over
    every cut it differs only by rounding, a long stretch without a cut included."""
    import math

    from tempscore.scoring.curves import cut_rate_per_min

    rng = np.random.default_rng(n_cuts)
    t = (np.arange(int(duration_sec * 10)) + 0.5) / 10
    cuts = rng.uniform(0, duration_sec, n_cuts)
    cuts[cuts > duration_sec / 2] *= 0.5 + 0.5 * (cuts[cuts > duration_sec / 2] > 0.9 * duration_sec)  # a gap
    d = t[:, None] - cuts[None, :]
    w = np.exp(-0.5 * (d / 8.0) ** 2).sum(axis=1) / (8.0 * np.sqrt(2 * np.pi))
    erf = np.vectorize(math.erf)
    inside = 0.5 * (erf((t[-1] + 0.1 - t) / (8.0 * np.sqrt(2))) - erf(-t / (8.0 * np.sqrt(2))))
    want = 60.0 * w / np.maximum(inside, 0.2)
    got = cut_rate_per_min(cuts, t)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)  # (in a gap: 1e-47 cuts a minute, or 0)


def test_no_automatic_tacet_a_dark_still_opening_and_a_black_slug_get_music(tmp_path):
    """Silence only where the editor asks and in a leader or tail: a slow, near-black opening and a
    three-second black slug inside the programme are scored (quietly), not left as holes."""
    from support.clips import make_cut_clip

    path = tmp_path / "dark.mp4"
    shots = [250, 200, 40, 35, 45, 75, 40, 50, 45]
    looks = ["color=c=0x121212", "color=c=0x141018", "testsrc2", "mandelbrot", "rgbtestsrc", "color=c=black",
             "testsrc2", "smptehdbars", "mandelbrot"]
    make_cut_clip(path, shots, fps=25, audio=False, size=(160, 90), looks=looks)
    an = analyze(path)
    assert 0.04 < np.mean(an.frames.brightness[:450]) < 0.1 and max(an.frames.brightness[571:644]) < 0.04
    tl = plan(an)
    assert tl.cues and not any(c.tacet for c in tl.cues)
    assert tl.cues[0].start_frame == 0 and tl.cues[-1].end_frame == an.video.frame_count
    assert all("silence only where the editor asks" in c.why["tacet_rule"] for c in tl.cues)
    # the film's own keys, and the tempo said to follow the mood
    assert all(c.auto["key"] == c.key for c in tl.cues)
    assert all(c.mood in c.why["tempo"] for c in tl.cues)


def test_a_prompted_tempo_is_exact_and_labels_stay_in_their_bars(contrast_analysis):
    from tempscore.contracts import TempoEvent

    tl = plan(contrast_analysis)
    # every hit's label is inside its bar of the cue's metre
    for h in tl.hit_points:
        cue = next(c for c in tl.cues if c.id == h.cue_id)
        assert 1 <= h.beat < cue.beats_per_bar + 1
    previous = Timeline(**{**vars(tl)})
    previous.cues[1].tempo_bpm, previous.cues[1].tempo_locked = 70.0, True
    again = plan(contrast_analysis, previous=previous)
    c = again.cues[1]
    events = [e for e in again.tempo_map if c.start_sec - 1e-6 <= e.time_sec < c.end_sec - 1e-6]
    tm = TempoMap([TempoEvent(**vars(e)) for e in again.tempo_map])
    last_beat = tm.beats_to_time(tm.time_to_beats(c.start_sec) + c.beats - 1)
    assert c.tempo_bpm == 70.0 and events[0].bpm == 70.0
    assert all(e.bpm == 70.0 or abs(e.time_sec - last_beat) < 1e-6 for e in events)
