"""Tempo: cut rate -> tempo is monotone and in range; the hit fit and the beat grid are exact."""

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tempscore.contracts import TempoEvent
from tempscore.scoring.tempo import TempoMap, fit_cue_tempo, grid_errors_frames, tempo_from_cut_rate


@given(a=st.floats(0, 200), b=st.floats(0, 200), lo=st.floats(40, 100), width=st.floats(5, 100))
def test_tempo_monotone_in_cut_rate_and_in_range(a, b, lo, width):
    hi = lo + width
    ta = tempo_from_cut_rate(a, bpm_min=lo, bpm_max=hi)
    tb = tempo_from_cut_rate(b, bpm_min=lo, bpm_max=hi)
    assert lo <= ta <= hi and lo <= tb <= hi
    if a <= b:
        assert ta <= tb


@settings(max_examples=200, deadline=None)
@given(dur=st.floats(4, 120), target=st.floats(60, 140), seed=st.integers(0, 2**31))
def test_fit_fills_the_cue_with_whole_beats_and_beats_brute_force(dur, target, seed):
    rng = np.random.default_rng(seed)
    hits = np.sort(rng.uniform(0.2, dur - 0.2, size=rng.integers(0, 12)))
    fps = 24.0
    fit = fit_cue_tempo(dur, target, hits, fps=fps, bpm_min=60, bpm_max=140)
    assert fit.beats * 60.0 / fit.bpm == pytest.approx(dur, rel=1e-9)  # the cue ends on a beat
    assert 60 - 1e-9 <= fit.bpm <= 140 + 1e-9 or fit.beats == 1
    # brute force over every admissible whole-beat tempo: none puts more hits on the grid
    lo, hi = max(60, target * 0.88), min(140, target * 1.12)
    best = 0
    for n in range(max(1, math.ceil(dur * lo / 60 - 1e-9)), math.floor(dur * hi / 60 + 1e-9) + 1):
        if len(hits):
            best = max(best, int((grid_errors_frames(hits, 60.0 * n / dur, fps=fps, subdivision=2) <= 1.0 + 1e-9).sum()))
    assert fit.hits_on_grid >= best


def test_fit_finds_hits_placed_on_a_grid():
    bpm = 96.0
    beat = 60.0 / bpm
    dur = 32 * beat
    hits = np.array([3, 5.5, 11, 17.5, 24, 29]) * beat
    fit = fit_cue_tempo(dur, 100.0, hits, fps=25.0)
    assert fit.bpm == pytest.approx(bpm)
    assert fit.hits_on_grid == len(hits)
    assert np.all(fit.errors_frames < 1e-6)


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
