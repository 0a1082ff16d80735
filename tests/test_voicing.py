"""The learned voicing model (models/voicing.py): its candidates, its tables, its choices."""

from __future__ import annotations

import numpy as np
import pytest
from tempscore.models.voicing import SHAPES, VoicingModel, _parallels, count, fit_chord, quality_of


def test_fit_chord_and_quality():
    assert fit_chord([48, 64, 67, 72]) == (0, 0)  # C major
    assert fit_chord([45, 64, 69, 72]) == (9, 1)  # A minor (A E A C)
    assert fit_chord([43, 59, 65, 74]) == (7, 4)  # G7 (G B F D)
    assert fit_chord([48, 64, 67, 74]) is None  # C E G D: the D is no chord tone
    assert quality_of((7, 11, 2, 5)) == (4, (7, 11, 2, 5))
    assert quality_of((2, 5, 9)) == (1, (2, 5, 9))


def test_parallel_fifths_and_octaves_are_found():
    prev = np.array([[48, 55, 64]])  # C G E
    assert _parallels(prev, np.array([[50, 57, 65]]))[0]  # C-G to D-A: parallel fifths
    assert not _parallels(prev, np.array([[47, 55, 62]]))[0]  # the G holds: no parallel
    assert _parallels(np.array([[48, 60]]), np.array([[50, 62]]))[0]  # octaves


def test_counts_by_construction():
    # two beats of C major then G major (changed), voiced B T A S; the second moves B -5, T -1, A -1
    rows = {"x": [[48, 55, 64, 72, 0, 0, 0], [43, 55, 62, 71, 7, 0, 1]]}
    c = count(rows)
    assert c["bass_member"][0] == [2, 0, 0, 0]  # root position twice
    assert c["doubling"][0][0] == 2  # root doubled twice (C C / G G)
    assert c["gap_sa"][8] == 1 and c["gap_sa"][9] == 1
    assert c["motion_bass"][1][12 - 5] == 1 and c["motion_tenor"][1][12] == 1 and c["motion_alto"][1][12 - 2] == 1
    assert sum(c["parallel"]) == 1


@pytest.fixture(scope="module")
def model() -> VoicingModel:
    return VoicingModel.load()


def test_candidates_are_chord_tones_in_range_under_the_soprano(model):
    cands = model.candidates((0, 4, 7), 72)
    assert len(cands)
    assert np.all(cands[:, 0] < cands[:, 1]) and np.all(cands[:, 1] < cands[:, 2]) and np.all(cands[:, 2] <= 72)
    assert np.all(np.isin(cands % 12, [0, 4, 7]))


def test_voicing_is_seeded_and_bachlike(model):
    chords = [(0, 4, 7), (5, 9, 0), (7, 11, 2, 5), (0, 4, 7)]  # I IV V7 I in C
    sop = [76, 77, 74, 72]
    a = model.voice(chords, sop, np.random.default_rng(1))
    assert a == model.voice(chords, sop, np.random.default_rng(1))
    assert len({tuple(model.voice(chords, sop, np.random.default_rng(s))) for s in range(12)}) > 1
    for (b, t, al), pcs, s in zip(a, chords, sop):
        assert {b % 12, t % 12, al % 12} <= set(pcs) and b < t < al <= s
    # the most likely (temperature ~0) final tonic under a C soprano is in root position
    last = model.voice(chords, sop, np.random.default_rng(0), temperature=1e-6)[-1]
    assert last[0] % 12 == 0
    # an inversion asked for is kept
    inv = model.voice([(0, 4, 7)], [72], np.random.default_rng(0), bass_pcs=[4])
    assert inv[0][0] % 12 == 4


def test_shipped_tables_have_the_shapes(model):
    t = model.tables
    assert t["bass_member"].shape == (len(SHAPES) + 1, 4)
    assert t["motion_bass"].shape == (2, 25)
    assert model.meta["chorales"] > 300 and model.meta["held_out_chorales"] > 10


@pytest.mark.slow
def test_held_out_chorales_beat_the_rule_voicing(model):
    """On the held-out chorales (parsed from the music21 corpus: about a minute), the model's top
    voicing is Bach's far more often than the nearest-motion rule's."""
    from tempscore.models.voicing import evaluate, load_data

    res = evaluate(model, load_data()["held_out"])
    assert res["exact_top1"] >= 1.5 * res["rule_exact"]
    assert res["log_likelihood_per_voicing"] > res["chance_log_likelihood"] + 1.0
