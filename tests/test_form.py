"""Form and harmony of a cue: phrases tile the bars, cadences close them (on strong hits where
they can), repeated bars repeat, modulations are prepared, kept takes keep their chords; and the
film itself (content hash) and the seed change the music."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tempscore.contracts import Score
from tempscore.harmony import SCALES, parse_key
from tempscore.models.form import (
    harmony_from_take,
    harmony_to_take,
    plan_harmony,
    plan_phrases,
)
from tempscore.models.progression import CADENCES, MODAL_MOVES, ProgressionModel


@pytest.fixture(scope="module")
def model() -> ProgressionModel:
    return ProgressionModel.load()


@given(n=st.integers(1, 40), seed=st.integers(0, 2**32 - 1), hits=st.lists(st.floats(0, 1), max_size=40))
def test_phrases_tile_the_bars(n, seed, hits):
    strengths = (hits + [0.0] * n)[:n]
    ph = plan_phrases(n, downbeat_hits=strengths, rng=np.random.default_rng(seed))
    assert [a for a, _ in ph] == list(np.cumsum([0] + [L for _, L in ph])[:-1])
    assert sum(L for _, L in ph) == n and all(1 <= L <= 8 for _, L in ph)
    if not any(strengths) and n % 4 == 0:
        assert all(L in (4, 8) for _, L in ph)


def test_a_strong_hit_gets_a_cadence_on_its_downbeat():
    hits = [0.0] * 12
    hits[5] = 1.0  # the downbeat of the sixth bar
    ph = plan_phrases(12, downbeat_hits=hits, rng=np.random.default_rng(0))
    assert 5 in [a + L - 1 for a, L in ph]


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 24), seed=st.integers(0, 2**32 - 1), mode=st.sampled_from(sorted(SCALES)),
       mood=st.sampled_from(["excited", "serene", "tense", "sombre"]), bpm=st.floats(50, 150), bpb=st.sampled_from([2, 3, 4]))
def test_every_bar_has_chords_phrases_close_and_repeats_repeat(model, n, seed, mode, mood, bpm, bpb):
    bars = [(i * bpb, bpb) for i in range(n)]
    h = plan_harmony(bars, tonic_pc=2, mode=mode, mood=mood, intensity=0.5, bpm=bpm, beats_per_bar=bpb, model=model,
                     rng=np.random.default_rng(seed))
    assert len(h.chords) == n and sum(p.bars for p in h.phrases) == n
    assert all(t < bpb for b, t, _, _ in h.slots)
    vocab = set(model.modes[mode].vocab)
    assert all(tok in vocab for _, _, tok, _ in h.slots)
    last = max(h.slots, key=lambda s: (s[0], s[1]))
    assert last[2] in CADENCES[mode]["authentic"][0]  # the cue closes on its tonic
    for b, src in h.copies.items():  # a repeated bar has the chords of the bar it repeats
        assert src < b and [(t, tok) for bb, t, tok, _ in h.slots if bb == b] == [
            (t, tok) for bb, t, tok, _ in h.slots if bb == src]
    if mode not in ("major", "minor"):
        assert h.writer == f"modal rule ({mode})" and vocab == set(MODAL_MOVES[mode])
    # a take stores it and gives it back
    back = harmony_from_take(harmony_to_take(h), n, tonic_pc=2, mode=mode)
    assert back.chords == h.chords and back.changes == h.changes and back.phrases == h.phrases


def test_a_change_of_key_is_prepared_by_a_pivot_and_the_new_dominant(model):
    bars = [(i * 4, 4) for i in range(8)]
    for tonic, mode, nxt in ((0, "major", (7, "major")), (9, "minor", (0, "major")), (0, "major", (9, "minor")),
                             (2, "minor", (9, "minor"))):
        h = plan_harmony(bars, tonic_pc=tonic, mode=mode, mood="tense", intensity=0.5, bpm=100, beats_per_bar=4,
                         model=model, rng=np.random.default_rng(1), next_key=nxt)
        end = [s for s in sorted(h.slots, key=lambda s: (s[0], s[1]))][-2:]
        pivot, dominant = (h.chord_at(b, t) for b, t, _, _ in end)
        assert dominant.root == (nxt[0] + 7) % 12 and 4 in {(pc - dominant.root) % 12 for pc in dominant.pcs}
        there = {(nxt[0] + s) % 12 for s in SCALES[nxt[1]]}
        here = {(tonic + s) % 12 for s in SCALES[mode]}
        assert set(pivot.pcs) <= there & here
        assert h.phrases[-1].cadence == "modulating" and "pivot" in h.modulation


def _melody(score):
    from tempscore.models.arranger import layer_of

    return sorted((round(n.start_sec, 3), n.pitch) for p in score.parts if layer_of(p.name) == "Melody" for n in p.notes)


@pytest.fixture(scope="module")
def timeline(clip_contrast):
    from tempscore.scoring import plan
    from tempscore.vision import analyze

    return plan(analyze(clip_contrast.path))


def test_another_film_gets_another_score_and_seeds_change_the_chords(timeline):
    from tempscore.models import compose

    a = compose(timeline, seed=0)
    assert _melody(compose(timeline, seed=0)) == _melody(a)
    other = dataclasses.replace(timeline, video=dataclasses.replace(timeline.video, content_hash="another film"))
    b = compose(other, seed=0)
    first = timeline.cues[0].id
    ma = [p for t, p in _melody(a) if t < timeline.cues[0].end_sec]
    mb = [p for t, p in _melody(b) if t < timeline.cues[0].end_sec]
    same = sum(1 for x, y in zip(ma, mb) if x == y)
    assert same <= 0.25 * min(len(ma), len(mb))
    chords = [[s.takes[c.id]["harmony"]["slots"] for c in timeline.cues if not c.tacet]
              for s in (a, compose(timeline, seed=1), compose(timeline, seed=2))]
    changed = sum(len({repr(ch[i]) for ch in chords}) > 1 for i in range(len(chords[0])))
    assert changed >= 0.8 * len(chords[0]) and a.report[first]["harmony"]


def test_a_kept_take_keeps_its_chords_when_the_next_cue_changes_key(timeline):
    from tempscore.models import compose

    score = compose(timeline, seed=0)
    first, second = timeline.cues[0], timeline.cues[1]
    kept = dataclasses.replace(first, locked=True, seed=0, take=score.takes[first.id])
    tonic, mode = parse_key(second.key)
    moved = dataclasses.replace(second, key=f"{'C' if tonic != 0 else 'G'} {'major' if mode == 'minor' else 'minor'}")
    again = compose(dataclasses.replace(timeline, cues=[kept, moved, *timeline.cues[2:]]), seed=0)
    assert again.takes[first.id]["harmony"] == score.takes[first.id]["harmony"]

    def notes(s: Score) -> list[tuple[str, float, int]]:  # the first cue's
        return sorted((p.name, n.start_sec, n.pitch) for p in s.parts for n in p.notes if n.start_sec < first.end_sec - 1e-6)

    assert notes(again) == notes(score)


def test_no_modulation_into_the_subdominant_or_in_a_short_last_phrase(model):
    """Into the subdominant's key the new dominant is this key's tonic (a minor cue would end major);
    in a last phrase of 2 bars the new key's dominant would be half the cue: a cadence instead."""
    for n, nxt in ((8, (5, "major")), (2, (7, "major"))):
        bars = [(i * 4, 4) for i in range(n)]
        h = plan_harmony(bars, tonic_pc=0, mode="minor", mood="sombre", intensity=0.5, bpm=100, beats_per_bar=4,
                         model=model, rng=np.random.default_rng(3), next_key=nxt)
        assert h.phrases[-1].cadence == "authentic" and not h.modulation
        assert h.chords[-1].pcs == (0, 3, 7)  # closes on its own minor tonic


def test_a_take_whose_harmony_was_edited_into_nonsense_is_planned_again(timeline):
    from tempscore.models import compose

    score = compose(timeline, seed=0)
    first = timeline.cues[0]
    take = dict(score.takes[first.id])
    take["harmony"] = {"slots": [[0, 0.0, "ninth:of", 0]], "phrases": "x"}
    take["bar_intensity"] = ["loud"]
    kept = dataclasses.replace(first, locked=True, seed=0, take=take)
    again = compose(dataclasses.replace(timeline, cues=[kept, *timeline.cues[1:]]), seed=0)
    assert again.takes[first.id]["harmony"]["slots"] and again.report[first.id]["harmony"]
