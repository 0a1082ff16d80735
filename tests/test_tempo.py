"""Tempo: cut rate -> tempo is monotone and in range; the hit fit and the beat grid are exact."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from tempscore.contracts import TempoEvent
from tempscore.scoring.tempo import (
    GridSearch,
    TempoMap,
    fit_constant_tempo,
    fit_cue_grid,
    grid_errors_frames,
    tempo_from_cut_rate,
)


@given(a=st.floats(0, 200), b=st.floats(0, 200), lo=st.floats(40, 100), width=st.floats(5, 100))
def test_tempo_monotone_in_cut_rate_and_in_range(a, b, lo, width):
    hi = lo + width
    ta = tempo_from_cut_rate(a, bpm_min=lo, bpm_max=hi)
    tb = tempo_from_cut_rate(b, bpm_min=lo, bpm_max=hi)
    assert lo <= ta <= hi and lo <= tb <= hi
    if a <= b:
        assert ta <= tb


def brute_force_landed(hits, fps, lo, hi, *, anchored, tol=1.0, sub=2, offset_step_sec=0.0005):
    """Independent exhaustive search: tempo in 0.01 BPM steps x offset on a fine grid."""
    best = 0
    for k in range(int(np.ceil(lo * 100 - 1e-9)), int(np.floor(hi * 100 + 1e-9)) + 1):
        bpm = k / 100
        step = 60.0 / bpm / sub
        offs = np.zeros(1) if anchored else np.arange(0, step, offset_step_sec)
        pos = (hits[None, :] - offs[:, None]) / step
        err = np.abs(pos - np.round(pos)) * step * fps
        best = max(best, int((err <= tol + 1e-9).sum(axis=1).max()))
    return best


@settings(max_examples=60, deadline=None)
@given(target=st.floats(70, 130), seed=st.integers(0, 2**31), anchored=st.booleans())
def test_solver_never_worse_than_brute_force(target, seed, anchored):
    rng = np.random.default_rng(seed)
    fps = 24.0
    hits = np.sort(rng.uniform(0.3, 20, size=rng.integers(1, 9)))
    tol = 0.03
    bpm, off, landed = fit_constant_tempo(hits, target_bpm=target, fps=fps, bpm_min=60, bpm_max=140,
                                          tolerance=tol, anchored=anchored)
    lo, hi = max(60, target * (1 - tol)), min(140, target * (1 + tol))
    assert lo - 0.01 <= bpm <= hi + 0.01
    assert landed >= brute_force_landed(hits, fps, lo, hi, anchored=anchored)
    # the reported count is true for the returned tempo and offset
    err = grid_errors_frames(hits, bpm, fps=fps, subdivision=2, offset_sec=off)[0]
    assert int((err <= 1.0 + 1e-9).sum()) == landed


@settings(max_examples=150, deadline=None)
@given(dur=st.floats(3, 90), target=st.floats(60, 140), seed=st.integers(0, 2**31), fps=st.sampled_from([24.0, 25.0, 30000 / 1001]))
def test_cue_grid_hits_land_and_cue_ends_on_a_beat(dur, target, seed, fps):
    rng = np.random.default_rng(seed)
    hits = np.sort(rng.uniform(0.2, dur - 0.05, size=rng.integers(0, 15)))
    g = fit_cue_grid(dur, hits, GridSearch(target_bpm=target, fps=fps, bpm_min=60, bpm_max=140))
    tm = TempoMap(g.events)
    assert tm.beats_to_time(g.beats) == pytest.approx(dur, abs=1e-6)  # the next cue starts on a beat
    assert 60 - 1e-6 <= g.bpm <= 140 + 1e-6
    if len({round(e.bpm, 6) for e in g.events}) == 1:  # one tempo throughout: the one reported is the one that plays
        assert g.events[0].bpm == pytest.approx(g.bpm, abs=1e-5)
    assert all(60 - 1e-6 <= e.bpm <= 140 + 1e-6 for e in g.events)  # the user's range holds for every event
    base = [e.bpm for e in g.events]
    for e in g.events[1:]:
        assert abs(e.bpm / g.bpm - 1) <= max(0.125, 0.5 / max(g.beats, 1)) + 1e-6
    assert all(b > 0 for b in base)
    landed = 0
    for f in g.hits:
        # independent check against the final tempo map
        b = tm.time_to_beats(f.time_sec) * 2
        err = abs(b - round(b)) / 2 * 60 / tm.bpm_at(f.time_sec) * fps
        if f.landed:
            landed += 1
            assert err <= 1.0 + 1e-3
    assert landed >= min(g.constant_landed, landed)  # never worse than the constant tempo alone
    assert landed + 1e-9 >= g.constant_landed - sum(1 for f in g.hits if "end-of-cue" in f.reason)


@settings(max_examples=200, deadline=None)
@given(dur=st.floats(1.0, 20.0), lo=st.floats(50, 150), width=st.floats(0.5, 20), seed=st.integers(0, 2**31))
def test_a_narrow_tempo_range_holds_or_the_grid_says_how_far_out(dur, lo, width, seed):
    """A cue too short for a whole number of beats inside a narrow range ends on a beat at the
    tempo nearest the range and says so (the planner warns); otherwise every tempo is in range."""
    hi = lo + width
    rng = np.random.default_rng(seed)
    hits = np.sort(rng.uniform(0.2, max(0.3, dur - 0.05), size=rng.integers(0, 6)))
    hits = hits[hits < dur]
    g = fit_cue_grid(dur, hits, GridSearch(target_bpm=(lo + hi) / 2, fps=25.0, bpm_min=lo, bpm_max=hi))
    assert TempoMap(g.events).beats_to_time(g.beats) == pytest.approx(dur, abs=1e-6)
    out = [e.bpm for e in g.events if not lo - 1e-6 <= e.bpm <= hi + 1e-6]
    fits_whole = any(lo - 1e-9 <= n * 60.0 / dur <= hi + 1e-9 for n in range(1, int(hi * dur / 60) + 2))
    if fits_whole:
        assert not out and g.outside_range_bpm is None
    if out:
        assert g.outside_range_bpm is not None and g.outside_range_bpm in out
        # the nearest whole-beat tempo to the range: no whole number of beats comes closer
        dist = max(0.0, lo - g.outside_range_bpm, g.outside_range_bpm - hi)
        best = min(max(0.0, lo - n * 60.0 / dur, n * 60.0 / dur - hi) for n in range(1, int(hi * dur / 60) + 3))
        assert dist <= best + 1e-6


def test_the_samples_first_cue_in_80_to_90_bpm_is_79_55_and_said():
    g = fit_cue_grid(5.28, np.array([]), GridSearch(target_bpm=85.0, fps=25.0, bpm_min=80, bpm_max=90))
    assert g.beats == 7 and g.bpm == pytest.approx(7 * 60 / 5.28)  # 79.545: nearer 80 than 8 beats' 90.9
    assert g.outside_range_bpm == pytest.approx(79.545, abs=1e-3)


def test_hits_placed_on_a_grid_are_all_found_without_ramps():
    bpm = 96.0
    beat = 60.0 / bpm
    dur = 32 * beat
    hits = np.array([3, 5.5, 11, 17.5, 24, 29]) * beat
    g = fit_cue_grid(dur, hits, GridSearch(target_bpm=100.0, fps=25.0))
    assert g.bpm == pytest.approx(bpm)
    assert g.beats == 32 and g.ramps == 0
    assert all(f.landed and abs(f.error_frames) < 1e-6 for f in g.hits)


def test_ramp_lands_a_hit_the_constant_grid_misses():
    beat = 0.5  # 120 BPM
    hits = np.array([8 * beat, 16 * beat + 0.1])  # the second is 2.5 frames late at 25 fps
    g = fit_cue_grid(32 * beat, hits, GridSearch(target_bpm=120.0, fps=25.0, bpm_min=100, bpm_max=140, tolerance=0.0001))
    assert all(f.landed for f in g.hits)
    assert g.ramps == 1 and g.hits[1].how == "ramp"
    assert any(abs(e.bpm / 120 - 1) <= 0.06 and e.bpm != 120 for e in g.events)
    none = fit_cue_grid(32 * beat, hits, GridSearch(target_bpm=120.0, fps=25.0, bpm_min=100, bpm_max=140,
                                                  tolerance=0.0001, max_ramp=0.0))
    assert [f.landed for f in none.hits] == [True, False] and "off the grid" in none.hits[1].reason


def _map() -> TempoMap:
    return TempoMap([TempoEvent(0.0, 120.0, 4), TempoEvent(6.0, 120.0, 2),  # 3 bars of 4 + 1 bar of 2
                     TempoEvent(7.0, 90.0, 4)])


def test_bar_numbers_across_partial_bars():
    m = _map()
    assert [e.bar for e in m.events] == [1, 4, 5]
    assert m.bar_beat(0.0) == (1, 1.0)
    assert m.bar_beat(6.5) == (4, 2.0)
    assert m.bar_beat(7.0) == (5, 1.0)
    bar, beat = m.bar_beat(7.0 + 60 / 90 * 5)
    assert (bar, beat) == (6, pytest.approx(2.0))


@given(t=st.floats(0, 600))
def test_time_beats_inverse(t):
    m = _map()
    assert m.beats_to_time(m.time_to_beats(t)) == pytest.approx(t, abs=1e-9)


@given(t=st.floats(0, 60), sub=st.sampled_from([1, 2, 4]))
def test_nearest_grid_is_on_grid(t, sub):
    m = _map()
    g = m.nearest_grid(t, subdivision=sub)
    b = m.time_to_beats(g) * sub
    assume(abs(g - t) < 5)
    assert abs(b - round(b)) < 1e-6


@settings(max_examples=80, deadline=None)
@given(dur=st.floats(3, 60), bpm=st.floats(40, 200), seed=st.integers(0, 2**31), bpb=st.sampled_from([2, 3, 4, 6]))
def test_a_tempo_the_user_set_plays_as_set_with_the_last_beat_held(dur, bpm, seed, bpb):
    """A locked tempo ("70 BPM" in a prompt) is that tempo exactly, with no ramp over the cue; only
    the last beat is held so that the cue ends on its own end (the next cue's downbeat)."""
    rng = np.random.default_rng(seed)
    hits = np.sort(rng.uniform(0.2, dur - 0.1, size=rng.integers(0, 8)))
    bpm = round(bpm, 2)
    g = fit_cue_grid(dur, hits, GridSearch(target_bpm=100, fps=25.0, fixed_bpm=bpm, beats_per_bar=bpb))
    assert g.bpm == bpm and g.ramps == 0
    tm = TempoMap(g.events)
    held = [e for e in g.events if e.bpm != bpm]
    last_beat_sec = tm.beats_to_time(g.beats - 1)
    assert all(abs(e.time_sec - last_beat_sec) < 1e-6 or g.beats == 1 for e in held)
    assert tm.time_to_beats(dur) == pytest.approx(g.beats, abs=1e-5)  # ends on a beat
    for e in held:  # held longer, never hurried
        assert bpm / 2 - 1e-6 <= e.bpm <= bpm


@settings(max_examples=150, deadline=None)
@given(bpms=st.lists(st.floats(40, 200), min_size=1, max_size=6), beats=st.lists(st.integers(1, 40), min_size=6,
       max_size=6), bpb=st.sampled_from([2, 3, 4, 5]), sub=st.sampled_from([1, 2, 3, 4]), k=st.integers(0, 400))
def test_a_grid_point_is_never_labelled_past_its_bar(bpms, beats, bpb, sub, k):
    """Cue after cue of whole beats at tempi stored rounded (as the plan stores them): every point
    of the hit grid gets a beat inside its bar (never "beat 5" in 4/4), the bar a bar line starts
    is beat 1 of the next bar, and the labels count 1/sub beats without a gap."""
    events, t, total = [], 0.0, 0
    for bpm, n in zip(bpms, beats):
        events.append(TempoEvent(round(t, 9), round(bpm, 6), bpb, bar_line=True))
        t += n * 60.0 / bpm
        total += ((n + bpb - 1) // bpb) * bpb  # each cue starts a new bar
    tm = TempoMap(events)
    starts = [tm.time_to_beats(e.time_sec) for e in tm.events]
    for e, b0 in zip(tm.events, starts):
        assert tm.bar_beat_of_beats(b0, grid=sub) == (e.bar, 1.0)
    j = min(k, int(tm.time_to_beats(t) * sub) - 1) if t else 0
    bar, beat = tm.bar_beat_of_beats(j / sub, grid=sub)
    assert 1.0 <= beat < bpb + 1 - 1e-9


def test_mood_sets_the_range_and_the_cutting_places_the_tempo_in_it():
    from tempscore.scoring.tempo import MOOD_TEMPO_BPM, tempo_for_mood

    for mood, (lo, hi) in MOOD_TEMPO_BPM.items():
        slow, fast = (tempo_for_mood(c, mood, bpm_min=40, bpm_max=200) for c in (2, 60))
        assert (slow.bpm, fast.bpm) == (pytest.approx(lo), pytest.approx(hi)) and mood in slow.why
    # a calm mood under fast cutting keeps its tempo and reaches the cuts on a finer grid
    t = tempo_for_mood(40, "sombre", bpm_min=60, bpm_max=140, subdivision=2)
    assert t.bpm <= 80 and t.subdivision == 4 and "double time" in t.why
    assert tempo_for_mood(40, "excited", bpm_min=60, bpm_max=140).subdivision == 2
    # inside the user's range, whatever the mood; the whole range when the mood's is outside it
    assert 140 <= tempo_for_mood(10, "sombre", bpm_min=140, bpm_max=180).bpm <= 180
    assert tempo_for_mood(10, "sombre", bpm_min=140, bpm_max=180).bpm_min == 140
    t = tempo_for_mood(10, "excited", bpm_min=60, bpm_max=110)
    assert 60 <= t.bpm_min < t.bpm_max <= 110 and t.bpm_max - t.bpm_min >= 12 - 1e-9


@given(cpm=st.floats(0, 100), a=st.floats(-1, 1), b=st.floats(-1, 1), mood=st.sampled_from(["sombre", "serene", "tense", "excited"]))
def test_a_livelier_picture_plays_faster_in_the_same_mood(cpm, a, b, mood):
    from tempscore.scoring.tempo import tempo_for_mood

    ta, tb = (tempo_for_mood(cpm, mood, bpm_min=40, bpm_max=200, arousal=x) for x in (a, b))
    assert ta.bpm_min - 1e-9 <= ta.bpm <= ta.bpm_max + 1e-9
    if a <= b:
        assert ta.bpm <= tb.bpm + 1e-9
