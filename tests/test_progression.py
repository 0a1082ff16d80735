"""The learned chord-progression model: its checkpoint, exact cadences, seeded sampling, and the
chorale analysis it was trained on."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tempscore.models.progression import (
    CADENCES,
    DEFAULT_PATH,
    POSITIONS,
    ModeModel,
    ProgressionModel,
    fit_and_save,
)
from tempscore.models.train_harmony import chord_token, recognise


@pytest.fixture(scope="module")
def model() -> ProgressionModel:
    return ProgressionModel.load()


@settings(max_examples=60, deadline=None)
@given(mode=st.sampled_from(["major", "minor"]), cadence=st.sampled_from([None, *CADENCES["major"]]),
       n=st.integers(1, 12), seed=st.integers(0, 2**32 - 1))
def test_a_phrase_ends_on_its_cadence_never_repeats_a_chord_and_repeats_with_its_seed(model, mode, cadence, n, seed):
    a = model.sample_phrase(mode, n, cadence=cadence, rng=np.random.default_rng(seed))
    assert a == model.sample_phrase(mode, n, cadence=cadence, rng=np.random.default_rng(seed))
    assert len(a) == n and all(c in model.modes[mode].vocab for c in a)
    assert all(x != y for x, y in zip(a, a[1:]))
    if cadence is not None:
        last, before = CADENCES[mode][cadence]
        assert a[-1] in last and (before is None or n < 2 or a[-2] in before)


def test_seeds_change_the_chords(model):
    phrases = {tuple(model.sample_phrase("major", 8, cadence="authentic", rng=np.random.default_rng(s)))
               for s in range(20)}
    assert len(phrases) >= 15


def test_the_checkpoint_is_safetensors_and_holds_the_held_out_measure(model):
    meta = json.loads(DEFAULT_PATH.with_suffix(".json").read_text())
    assert meta["id"] == model.id and set(meta["vocab"]) == {"major", "minor"}
    for mode in ("major", "minor"):
        held = meta["held_out"][mode]
        # the sampled model (bigram + position) beats a unigram, and the position (cadences) helps
        assert held["bigram + position"]["perplexity"] < held["bigram"]["perplexity"] < held["unigram"]["perplexity"]
        assert held["bigram + position"]["chords"] > 500
    # phrases end on the tonic or the dominant most of the time, in the model as in the chorales
    assert meta["held_out"]["major"]["cadence"]["model_final_tonic_or_dominant"] > 0.7


def test_counts_round_trip_through_the_checkpoint(tmp_path):
    corpus = {"pieces": [{"name": f"p{i}", "collection": "test", "phrases": [
        {"mode": "major", "tonic": 0, "chords": [[c, 0] for c in ("0:maj", "5:maj", "7:dom7", "0:maj")]},
        {"mode": "minor", "tonic": 9, "chords": [[c, 0] for c in ("0:min", "8:maj", "7:maj", "0:min")]}]}
        for i in range(12)]}
    path = tmp_path / "h.safetensors"
    fit_and_save(corpus, path)
    m = ProgressionModel.load(path)
    from tempscore.models.train_harmony import split_of

    train = sum(split_of(f"p{i}") == "train" for i in range(12))
    direct = ModeModel.count([["0:maj", "5:maj", "7:dom7", "0:maj"]] * train)
    for pos in POSITIONS:
        for w in direct.vocab:
            assert m.modes["major"].prob(w, pos, "<s>", "0:maj") == pytest.approx(direct.prob(w, pos, "<s>", "0:maj"))


def test_chord_recognition_and_tokens():
    w = np.zeros(12)
    w[[0, 4, 7]] = 1.0
    w[2] = 0.2  # a passing D
    assert recognise(w, 4) == (0, "maj")
    assert chord_token(0, "maj", 4, tonic=0) == ("0:maj", 1)  # I6
    w = np.zeros(12)
    w[[7, 11, 2, 5]] = 1.0
    assert recognise(w, 7) == (7, "dom7") and chord_token(7, "dom7", 5, tonic=0) == ("7:dom7", 3)  # V4/2
    w = np.zeros(12)
    w[[0, 7]] = 1.0
    assert recognise(w, 0) is None  # an open fifth names no chord
