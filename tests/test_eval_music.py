"""bench/eval_music.py: its measurements on constructed music whose answers are known by construction."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("eval_music", REPO / "bench" / "eval_music.py")
em = importlib.util.module_from_spec(spec)
sys.modules["eval_music"] = em
spec.loader.exec_module(em)


def test_bar_repetition_counts_repeats_up_to_transposition():
    a = [(0, 60), (4, 62), (8, 64), (12, 65)]
    b = [(0, 67), (8, 67)]
    a_up = [(p, q + 5) for p, q in a]  # a sequence: the same bar a fourth higher
    a_other_rhythm = [(0, 60), (2, 62), (8, 64), (12, 65)]
    # 6 eligible bars (the one-note bar is not counted); repeats: a_up, a, b -> 3 of 6
    bars = [a, b, a_up, [(0, 60)], a_other_rhythm, a, b]
    assert em.bar_repetition(bars) == pytest.approx(3 / 6)
    assert em.bar_repetition([a, b, a_other_rhythm]) is None  # fewer than 4 bars to judge


def test_interval_ngram_repeats():
    # a scale up and down twice: intervals (2,2,1,2,2,2,1 ...) then the same again
    up = [60, 62, 64, 65, 67, 69, 71, 72]
    line = up + up
    iv = np.diff(line)
    grams = [tuple(iv[i:i + 4]) for i in range(len(iv) - 3)]
    want = sum(1 for i, g in enumerate(grams) if g in grams[:i]) / len(grams)
    assert em.interval_ngram_repeats(line) == pytest.approx(want)
    assert em.interval_ngram_repeats(list(range(60, 90, 1))) == pytest.approx(25 / 26)  # all steps of 1: all repeat
    assert em.interval_ngram_repeats([60, 62, 64]) is None


def test_strong_beats_and_chord_tones():
    assert em.strong_offsets(4.0) == (0.0, 2.0)
    assert em.strong_offsets(3.0) == (0.0,)
    assert em.strong_offsets(2.0) == (0.0,)
    assert em.strong_offsets(3.0, compound=True) == (0.0, 1.5)
    c_major, g_major = {0, 4, 7}, {7, 11, 2}
    # 2 bars of 4/4: C E | D B ; strong beats: 0 (C: tone), 2 (E: tone), 4 (D over G: tone), 6 (B: tone) ...
    melody = [(0.0, 60), (1.0, 62), (2.0, 64), (3.0, 65), (4.0, 62), (5.0, 64), (6.0, 71), (7.0, 72)]
    chord_at = lambda onset: c_major if onset < 4 else g_major  # noqa: E731
    st_ = em.line_stats(melody, bar_quarters=4, n_bars=2, all_onsets=20, beats=8, chord_at=chord_at, seconds=4.0)
    assert st_.chord_tones == (4, 4)
    off = [(0.0, 62), (2.0, 64), (4.0, 60), (6.0, 71)]  # D over C: no; E: yes; C over G: no; B: yes
    st2 = em.line_stats(off, bar_quarters=4, n_bars=2, all_onsets=4, beats=8, chord_at=chord_at)
    assert st2.chord_tones == (2, 4)
    assert st_.notes_per_sec == pytest.approx(5.0) and st_.notes_per_beat == pytest.approx(2.5)


def test_fit_chord_leaves_a_suspension_out():
    assert em.fit_chord([48, 64, 67, 72]) == {0, 4, 7}  # C E G C
    assert em.fit_chord([43, 59, 65, 74]) == {7, 11, 2, 5}  # G B F D: the dominant seventh
    assert 5 not in em.fit_chord([48, 64, 67, 77])  # F over C-E-G: a suspension, not the chord
    assert em.fit_chord([]) is None


def test_overlaps_and_flams():
    notes = [(0.0, 1.0, 60), (0.5, 1.5, 60), (1.5, 2.0, 60), (0.2, 0.4, 64), (0.21, 0.3, 64), (3.0, 3.5, 67),
             (3.04, 3.5, 67)]
    # (0.5, 60) starts under (0.0-1.0, 60); (0.21, 64) under (0.2-0.4, 64); (3.04, 67) under (3.0-3.5, 67).
    # (1.5, 60) starts exactly as the one before ends: not an overlap
    assert em.same_pitch_overlaps(notes) == 3
    # flams: onsets of one pitch less than 30 ms apart: 0.2/0.21 only (3.0/3.04 is 40 ms)
    assert em.flams(notes) == 1


def test_longest_gap():
    ivs = [(0.0, 1.0), (0.5, 2.0), (5.0, 6.0), (6.5, 10.0)]
    assert em.longest_gap(ivs, [(0.0, 10.0)]) == pytest.approx(3.0)
    assert em.longest_gap(ivs, [(0.0, 12.0)]) == pytest.approx(3.0)  # 10-12 is 2 s
    assert em.longest_gap(ivs, [(0.0, 15.0)]) == pytest.approx(5.0)  # 10-15
    assert em.longest_gap(ivs, [(2.5, 4.0)]) == pytest.approx(1.5)  # a span with no note at all
    assert em.longest_gap([], [(0.0, 4.0), (6.0, 7.0)]) == pytest.approx(4.0)


def test_melody_overlap_finds_a_transposed_copy():
    a = [(0, 60), (4, 62), (8, 64), (12, 65)]
    b = [(o, p + 7) for o, p in a]
    assert em.melody_overlap(a, b) == pytest.approx(1.0)
    c = [(0, 60), (4, 62), (8, 70), (12, 71), (16, 72), (20, 73)]
    assert em.melody_overlap(a, c) == pytest.approx(2 / 4)
    assert em.melody_overlap(a, []) == 0.0


def test_keys():
    scale = {"major": [0, 2, 4, 5, 7, 9, 11], "minor": [0, 2, 3, 5, 7, 8, 10]}
    for tonic in (0, 2, 7, 10):
        for mode in ("major", "minor"):
            w = np.zeros(12)
            for i, s in enumerate(scale[mode]):
                w[(tonic + s) % 12] = 1.0 + (2.0 if i in (0, 4) else 1.0 if i == 2 else 0.0)  # triad weighted
            assert em.key_estimate(w) == (tonic, mode)
            assert em.mode_at(w, tonic) == mode
    assert em.key_parts("F# dorian") == (6, "minor")
    assert em.key_parts("Bb major") == (10, "major")
    assert em.key_parts("Eb mixolydian") == (3, "major")
    assert em.key_estimate(np.zeros(12)) is None


def test_weighted_percentiles_weigh_sets_alike():
    # 100 values of 0 and 1 value of 10, weighted 1/100 each and 1: the median is between them
    vals = [0.0] * 100 + [10.0]
    wts = [0.01] * 100 + [1.0]
    lo, mid, hi = em.weighted_percentiles(vals, wts, (5, 50, 95))
    assert lo == 0.0 and hi == pytest.approx(10.0) and 0.0 <= mid <= 10.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 50), st.floats(0.01, 5)), max_size=12), st.floats(0, 20), st.floats(0.5, 30))
def test_longest_gap_against_sampling(raw, a, length):
    """The longest gap equals a fine sampling's longest run of uncovered points (within the step)."""
    ivs = [(s, s + d) for s, d in raw]
    b = a + length
    got = em.longest_gap(ivs, [(a, b)])
    step = 0.01
    ts = np.arange(a, b, step)
    covered = np.zeros(len(ts), bool)
    for s, e in ivs:
        covered |= (ts >= s) & (ts < e)
    run = best = 0
    for c in covered:
        run = 0 if c else run + 1
        best = max(best, run)
    assert abs(got - best * step) <= 2 * step + 1e-9


def test_repeated_notes_and_longest_run():
    line = [60, 60, 60, 62, 64, 64, 62, 60, 60, 59]  # 9 intervals, 4 unisons; a run of three Cs
    assert em.repeated_notes(line) == pytest.approx(4 / 9)
    assert em.longest_run(line) == 3
    assert em.longest_run([]) == 0 and em.longest_run([67]) == 1
    assert em.repeated_notes([60, 60, 60]) is None  # too few intervals to judge


def _scale_weights(tonic: int, steps: list[int], *, tonic_weight: float) -> np.ndarray:
    w = np.zeros(12)
    for s in steps:
        w[(tonic + s) % 12] = 1.0
    w[tonic % 12] = tonic_weight
    w[(tonic + steps[2]) % 12] += 0.5  # the third
    w[(tonic + 7) % 12] += 0.5  # the fifth
    return w


def test_a_modal_tonic_is_heard_by_its_own_profile():
    lydian = [0, 2, 4, 6, 7, 9, 11]
    for tonic in (0, 7, 10):
        # a lydian scale with its tonic and triad weighted as a pedal and a cadence would weight them
        w = _scale_weights(tonic, lydian, tonic_weight=3.0)
        assert em.modal_key_estimate(w, "lydian") == (tonic, "major")
        # the same pitch classes with the weight on the dominant's triad: that major key, not the mode's tonic
        v = _scale_weights(tonic + 7, [0, 2, 4, 5, 7, 9, 11], tonic_weight=3.0)
        assert em.modal_key_estimate(v, "lydian") == ((tonic + 7) % 12, "major")
    dorian = [0, 2, 3, 5, 7, 9, 10]
    assert em.modal_key_estimate(_scale_weights(2, dorian, tonic_weight=3.0), "dorian") == (2, "minor")
    # a major or minor cue: the 24-key estimate itself
    w = _scale_weights(4, [0, 2, 4, 5, 7, 9, 11], tonic_weight=2.0)
    assert em.modal_key_estimate(w, "major") == em.key_estimate(w)


def test_common_span_cuts_both_to_the_shorter_melody_bars():
    short = [(0, 60), (8, 62), (20, 64)]  # two bars of 4/4 (16ths 0..31)
    long = [(k * 4, 60 + k % 5) for k in range(40)]  # ten bars
    a, b = em.common_span(short, long, bar_16ths=16)
    assert a == short and b == [n for n in long if n[0] < 32]
    a, b = em.common_span(long, long, bar_16ths=16)
    assert max(o for o, _ in a) < 8 * 16  # a theme's length at most


def test_melody_overlap_over_both_lengths_does_not_credit_a_busy_line():
    sparse = [(0, 60), (8, 64), (16, 67)]  # three half notes
    busy = [(k * 2, 60 + (k * 7) % 12) for k in range(12)]  # eighths holding two of them a fifth apart
    busy[0], busy[4] = (0, 65), (8, 69)  # C E -> F A: the sparse line a fourth up, twice
    assert em.melody_overlap(sparse, busy) == pytest.approx(2 / 3)
    assert em.melody_overlap(sparse, busy, over="both") == pytest.approx(2 / ((3 + 12) / 2))
    assert em.melody_overlap(sparse, sparse, over="both") == 1.0
