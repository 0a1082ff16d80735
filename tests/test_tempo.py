"""Tempo: cut rate -> tempo is monotone and in range; the hit fit and the beat grid are exact."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tempscore.contracts import TempoEvent
from tempscore.scoring.tempo import TempoMap, fit_constant_tempo, fit_cue_grid, grid_errors_frames, tempo_from_cut_rate


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
    g = fit_cue_grid(dur, hits, target_bpm=target, fps=fps, bpm_min=60, bpm_max=140)
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
    g = fit_cue_grid(dur, hits, target_bpm=(lo + hi) / 2, fps=25.0, bpm_min=lo, bpm_max=hi)
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
    g = fit_cue_grid(5.28, np.array([]), target_bpm=85.0, fps=25.0, bpm_min=80, bpm_max=90)
    assert g.beats == 7 and g.bpm == pytest.approx(7 * 60 / 5.28)  # 79.545: nearer 80 than 8 beats' 90.9
    assert g.outside_range_bpm == pytest.approx(79.545, abs=1e-3)


def test_hits_placed_on_a_grid_are_all_found_without_ramps():
    bpm = 96.0
    beat = 60.0 / bpm
    dur = 32 * beat
    hits = np.array([3, 5.5, 11, 17.5, 24, 29]) * beat
    g = fit_cue_grid(dur, hits, target_bpm=100.0, fps=25.0)
    assert g.bpm == pytest.approx(bpm)
    assert g.beats == 32 and g.ramps == 0
    assert all(f.landed and abs(f.error_frames) < 1e-6 for f in g.hits)


def test_ramp_lands_a_hit_the_constant_grid_misses():
    beat = 0.5  # 120 BPM
    hits = np.array([8 * beat, 16 * beat + 0.1])  # the second is 2.5 frames late at 25 fps
    g = fit_cue_grid(32 * beat, hits, target_bpm=120.0, fps=25.0, bpm_min=100, bpm_max=140, tolerance=0.0001)
    assert all(f.landed for f in g.hits)
    assert g.ramps == 1 and g.hits[1].how == "ramp"
    assert any(abs(e.bpm / 120 - 1) <= 0.06 and e.bpm != 120 for e in g.events)
    none = fit_cue_grid(32 * beat, hits, target_bpm=120.0, fps=25.0, bpm_min=100, bpm_max=140, tolerance=0.0001,
                        max_ramp=0.0)
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
