"""The arranger on constructed cues: idiomatic ranges and rates, texture, no holes, hits ranked and
coloured by mood, one instrument never doubling a sounding pitch, who wrote what."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tempscore.contracts import Cue, HitPoint, TempoEvent
from tempscore.harmony import Chord
from tempscore.models.arranger import FLAM_SEC, MAX_NOTES_PER_SEC, CueContext, Orchestra, arrange_cue, layer_of
from tempscore.models.idioms import INSTRUMENTS, instrument, subdivision_for, voice_chord
from tempscore.models.tokens import BarData
from tempscore.scoring.tempo import TempoMap

MOODS = ("excited", "tense", "serene", "sombre")
FPS = 25.0


def make_cue(*, bpm: float, bars: int, intensity: float, mood: str, key: str = "D minor", seed: int = 0,
             film: str = "film-a", start_frame: int = 0, melody: str = "eighths", hits: list[tuple[float, float]] = (),
             bar_intensity: list[float] | None = None) -> tuple[CueContext, list[BarData], list[HitPoint]]:
    """A cue of ``bars`` bars of 4/4 at ``bpm`` from 0 s, a melody on the chord tones (``"eighths"``,
    ``"sixteenths"`` or ``"none"``), and hits at ``(beat, strength)``."""
    tonic = {"D minor": 2, "F major": 5, "A minor": 9, "E major": 4}[key]
    mode = key.split()[1]
    beats = 4 * bars
    dur = beats * 60.0 / bpm
    v = 0.5 if mood in ("excited", "serene") else -0.5
    a = 0.5 if mood in ("excited", "tense") else -0.5
    cue = Cue(id="1M1", start_sec=0.0, end_sec=dur, start_frame=start_frame, end_frame=start_frame + int(dur * FPS),
              mood=mood, valence=v, arousal=a, intensity=intensity, key=key, tempo_bpm=bpm, beats=beats)
    tmap = TempoMap([TempoEvent(0.0, bpm, 4)])
    degrees = [0, 5, 3, 4]
    chords = [Chord.of_degree(tonic, mode, degrees[i % 4]) for i in range(bars)]
    step = {"eighths": 2, "sixteenths": 1, "none": 0}[melody]
    mel = []
    for i in range(bars):
        notes = []
        if step:
            for k, pos in enumerate(range(0, 16, step)):
                pc = chords[i].pcs[k % 3]
                notes.append((pos, 60 + (pc - 60) % 12 + 12 * (k % 2), step))
        mel.append(BarData(notes, degrees[i % 4]))
    cx = CueContext(cue=cue, tmap=tmap, beat0=0.0, tonic_pc=tonic, mode=mode,
                    bars=[(4 * i, 4) for i in range(bars)], chords=chords, fps=FPS,
                    rng=np.random.default_rng([seed, start_frame, 99]), seed=seed, film=film,
                    melody_writer="transformer:v1", bar_intensity=bar_intensity)
    hp = [HitPoint(frame=int(round(b * 60 / bpm * FPS)), time_sec=b * 60 / bpm, kind="cut", strength=s, cue_id="1M1")
          for b, s in hits]
    return cx, mel, hp


def arranged(**kw) -> tuple[Orchestra, dict, CueContext]:
    cx, mel, hp = make_cue(**kw)
    orch = Orchestra()
    rep = arrange_cue(orch, cx, mel, hp)
    return orch, rep, cx


# ----------------------------------------------------------------------------- Orchestra
def test_a_sounding_pitch_is_ended_by_its_next_strike_on_the_same_instrument():
    orch = Orchestra()
    orch.add("Pad", 48, 0.0, 4.0, 60, 50)
    orch.add("Chorale", 48, 1.0, 2.0, 60, 70)  # another layer, same instrument (strings) and pitch
    orch.add("Pad", 49, 0.5, 3.0, 60, 50)  # slow strings: another instrument, untouched
    notes = sorted((n.start_sec, n.end_sec, p.program) for p in orch.parts.values() for n in p.notes)
    assert notes == [(0.0, 1.0, 48), (0.5, 3.0, 49), (1.0, 2.0, 48)]
    orch.add("Pad", 48, 1.5, 1.8, 62, 50)
    orch.add("Pad", 48, 0.2, 1.7, 62, 50)  # added later but earlier: it ends where the next strike starts
    d = sorted((n.start_sec, n.end_sec) for p in orch.parts.values() for n in p.notes if n.pitch == 62)
    assert d == [(0.2, 1.5), (1.5, 1.8)]


def test_a_flam_keeps_the_louder_strike():
    orch = Orchestra()
    assert orch.add("Timpani", 47, 1.000, 1.5, 45, 60)
    assert orch.add("Timpani", 47, 1.010, 1.5, 45, 100)  # louder: replaces it
    assert not orch.add("Timpani", 47, 0.985, 1.2, 45, 80)  # softer, 15 ms before: dropped
    assert orch.add("Timpani", 47, 1.01 + FLAM_SEC + 0.001, 1.6, 45, 70)  # far enough: a second stroke
    notes = sorted((n.start_sec, n.velocity) for p in orch.parts.values() for n in p.notes)
    assert notes == [(1.01, 100), (1.041, 70)]
    orch.add("Percussion", 0, 2.0, 2.5, 49, 90, drum=True)
    assert not orch.add("Percussion", 0, 2.02, 2.5, 49, 80, drum=True)  # a second crash 20 ms later


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3), st.floats(0, 4), st.floats(0.01, 2),
                          st.integers(58, 61), st.integers(1, 127)), max_size=40))
def test_no_instrument_ever_overlaps_or_flams_a_pitch(adds):
    orch = Orchestra()
    programs = (48, 49, 46)
    for layer, prog_i, start, dur, pitch, vel in adds:
        orch.add(f"L{layer}", programs[prog_i % 3], start, start + dur, pitch, vel)
    by_inst: dict[tuple[int, int], list] = {}
    for p in orch.parts.values():
        for n in p.notes:
            assert n.end_sec > n.start_sec
            by_inst.setdefault((p.program, n.pitch), []).append((n.start_sec, n.end_sec))
    for notes in by_inst.values():
        notes.sort()
        for (s0, e0), (s1, _) in zip(notes, notes[1:]):
            assert e0 <= s1 + 1e-9 and s1 - s0 >= FLAM_SEC - 1e-9


# ----------------------------------------------------------------------------- idioms, instruments
def test_voicing_moves_little_and_keeps_the_chord():
    c = voice_chord((0, 4, 7), n=3, low=48, high=72, prev=None, center=60)
    assert {p % 12 for p in c} == {0, 4, 7} and c == tuple(sorted(c))
    f = voice_chord((5, 9, 0), n=3, low=48, high=72, prev=c, center=60)
    assert {p % 12 for p in f} == {5, 9, 0}
    assert sum(abs(a - b) for a, b in zip(c, f)) <= 4  # C-E-G to C-F-A (or similar): common tone kept
    inv = voice_chord((0, 4, 7), n=4, low=40, high=76, prev=None, center=58, bass_pc=4)
    assert inv[0] % 12 == 4


def test_subdivision_respects_the_instrument_and_the_budget():
    horns, violins = INSTRUMENTS["horns"], INSTRUMENTS["violins"]
    assert subdivision_for(horns, 140) == 1  # no horn sixteenths (or eighths: 4.7/s) at 140 BPM
    assert subdivision_for(violins, 140) == 4 or subdivision_for(violins, 140) * 140 / 60 <= violins.max_rate
    assert subdivision_for(violins, 140, budget_per_beat=2.0) == 2
    assert subdivision_for(horns, 140, budget_per_beat=0.2) is None


@pytest.mark.parametrize("mood", MOODS)
@pytest.mark.parametrize("intensity", [0.05, 0.4, 0.9])
def test_every_note_in_range_and_no_instrument_faster_than_it_plays(mood, intensity):
    for seed in range(3):
        orch, rep, cx = arranged(bpm=140, bars=8, intensity=intensity, mood=mood, seed=seed, melody="sixteenths")
        for part in orch.parts.values():
            if part.is_drum:
                continue
            inst = instrument(part.program)
            assert all(inst.low <= n.pitch <= inst.high for n in part.notes), (part.name, inst)
            if layer_of(part.name).startswith("Melody") or layer_of(part.name) == "Accents":
                continue  # the melody's rate is checked below; accents are single strokes and runs
            strokes = []  # a chord's voices (humanised a few ms apart) are one stroke
            for t in sorted(n.start_sec for n in part.notes):
                if not strokes or t - strokes[-1] > 0.05:
                    strokes.append(t)
            gaps = np.diff(strokes)
            if len(gaps):  # the median time between strokes is within the instrument's rate
                assert 1.0 / np.median(gaps) <= inst.max_rate + 0.5, (part.name, 1.0 / np.median(gaps))
        melody = [p for p in orch.parts.values() if layer_of(p.name) == "Melody"]
        for p in melody:  # sixteenths at 140 BPM (9.3 a second): never horns or trombones
            assert instrument(p.program).max_rate >= 9.3, p.name


@pytest.mark.parametrize("mood", MOODS)
def test_texture_stays_under_the_ceiling(mood):
    for bpm in (60, 100, 150):
        for seed in range(3):
            orch, rep, cx = arranged(bpm=bpm, bars=8, intensity=0.95, mood=mood, seed=seed, melody="sixteenths",
                                     hits=[(4.0 * k + 2, 0.9) for k in range(8)])
            dur = cx.cue.end_sec
            assert orch.onsets(0, dur) / dur <= MAX_NOTES_PER_SEC, (bpm, seed, rep["layers"])


def _longest_gap(orch: Orchestra, end: float) -> float:
    ivs = sorted((n.start_sec, n.end_sec) for p in orch.parts.values() for n in p.notes)
    cursor, worst = 0.0, 0.0
    for s, e in ivs:
        worst = max(worst, s - cursor)
        cursor = max(cursor, e)
    return max(worst, end - cursor)


@pytest.mark.parametrize("mood", MOODS)
def test_a_quiet_cue_without_a_melody_still_sounds(mood):
    for seed in range(4):
        orch, rep, cx = arranged(bpm=60, bars=10, intensity=0.03, mood=mood, seed=seed, melody="none")
        assert _longest_gap(orch, cx.cue.end_sec) <= 1.0, rep["layers"]
        assert any(layer_of(n) in ("Pad", "Chorale", "Drone", "Tremolo") for n in orch.parts)


def test_hits_ranked_one_a_bar_strongest_preferring_the_downbeat():
    # bar 0: 0.6 on the downbeat vs 0.7 on beat 2.5 -> the downbeat (0.6 + 0.15 > 0.7);
    # bar 1: 0.5 on beat 1 (off) vs 0.9 on 2.5 -> 0.9; bar 2: one hit -> it; bar 3: none
    hits = [(0.0, 0.6), (1.5, 0.7), (5.0, 0.5), (6.5, 0.9), (10.0, 0.3)]
    orch, rep, cx = arranged(bpm=120, bars=4, intensity=0.8, mood="excited", hits=hits)
    frames = {round(b * 60 / 120 * FPS): b for b, _ in hits}
    assert sorted(frames[f] for f in rep["accented_hits"]) == [0.0, 6.5, 10.0]
    assert sorted(frames[f] for f in rep["hits_not_accented"]) == [1.5, 5.0]
    # each accented hit has a note exactly on it
    onsets = np.array(sorted(n.start_sec for p in orch.parts.values() for n in p.notes))
    for b in (0.0, 6.5, 10.0):
        assert np.min(np.abs(onsets - b * 0.5)) < 1e-6


def test_user_hits_are_always_accented():
    """A hit the editor added is accented, however weak; it is its bar's accent."""
    cx, mel, hp = make_cue(bpm=120, bars=2, intensity=0.5, mood="tense", hits=[(0.0, 1.0), (1.0, 0.2), (4.0, 0.5)])
    hp[1].how = "user"
    rep = arrange_cue(Orchestra(), cx, mel, hp)
    assert rep["accented_hits"] == [hp[1].frame, hp[2].frame] and rep["hits_not_accented"] == [hp[0].frame]


@pytest.mark.parametrize("mood", MOODS)
def test_crashes_only_in_loud_excited_or_tense_cues_and_sparse(mood):
    for seed in range(3):
        orch, rep, cx = arranged(bpm=120, bars=16, intensity=0.9, mood=mood, seed=seed,
                                 hits=[(4.0 * k, 1.0) for k in range(16)])
        crashes = [n.start_sec for p in orch.parts.values() if p.is_drum for n in p.notes if n.pitch in (49, 57)]
        if mood in ("serene", "sombre"):
            assert not crashes
        else:
            assert np.all(np.diff(crashes) >= 10.0 - 1e-6) and len(crashes) <= 1 + cx.cue.end_sec / 10


def test_seeds_and_films_change_the_accompaniment_and_the_same_inputs_repeat():
    def accomp(**kw):
        orch, rep, _ = arranged(bpm=100, bars=8, intensity=0.55, mood="tense", **kw)
        return sorted((layer_of(p.name), p.program, round(n.start_sec, 1), n.pitch) for p in orch.parts.values()
                      if not layer_of(p.name).startswith("Melody") for n in p.notes)

    a = accomp(seed=0)
    assert a == accomp(seed=0)
    assert len({repr(accomp(seed=s)) for s in range(4)}) >= 3
    assert len({repr(accomp(film=f)) for f in ("film-a", "film-b", "film-c", "film-d")}) >= 3


def test_writers_share_the_notes_and_the_melody_is_the_model_s():
    orch, rep, cx = arranged(bpm=100, bars=4, intensity=0.5, mood="serene")
    shares = rep["writers"]
    assert "transformer:v1" in shares and set(shares) <= {"transformer:v1", "rules:arranger", "voicing:v1"}
    assert sum(v["notes"] for v in shares.values()) == pytest.approx(1.0, abs=1e-3)
    melody = sum(len(p.notes) for p in orch.parts.values() if layer_of(p.name) in ("Melody", "Melody double"))
    total = sum(len(p.notes) for p in orch.parts.values())
    assert shares["transformer:v1"]["notes"] == pytest.approx(melody / total, abs=1e-3)
    assert "transformer:v1" in rep["written"]


def test_a_rising_build_brings_its_motion_in_later_and_swells():
    rise = [0.2 + 0.6 * i / 11 for i in range(12)]
    orch, rep, cx = arranged(bpm=110, bars=12, intensity=0.5, mood="tense", bar_intensity=rise, seed=1)
    assert "rising build" in rep["layers"]
    moving = [n for p in orch.parts.values() if layer_of(p.name) in ("Arpeggio", "Ostinato", "Pulse") for n in p.notes]
    assert moving and min(n.start_sec for n in moving) >= 4 * 4 * 60 / 110 - 0.02  # from the fifth bar
    pads = sorted((n.start_sec, n.velocity) for p in orch.parts.values()
                   if layer_of(p.name) in ("Pad", "Tremolo", "Drone", "Chorale", "Bass") for n in p.notes)
    first, last = np.mean([v for _, v in pads[:4]]), np.mean([v for _, v in pads[-4:]])
    assert last > first


def test_the_learned_voicing_writes_the_bed_and_the_bass():
    """Where the bed is a pad, chorale or tremolo and the bass follows the chords, their notes are the
    voicing model's (credited to it), chord tones of the chord sounding."""
    seen = 0
    for seed in range(6):
        orch, rep, cx = arranged(bpm=90, bars=6, intensity=0.5, mood="serene", seed=seed)
        if not any(x.startswith(("pad", "chorale")) for x in rep["layers"]):
            continue
        seen += 1
        assert rep["writers"]["voicing:v1"]["notes"] > 0.1
        for part in orch.parts.values():
            if layer_of(part.name) in ("Pad", "Chorale"):
                for n in part.notes:
                    assert orch._writer[id(n)] == "voicing:v1"
                    beat = n.start_sec * 90 / 60 + 0.05
                    chord = cx.chord_at(int(beat // 4), beat % 4)
                    assert n.pitch % 12 in chord.pcs
    assert seen


def test_the_moving_layer_breathes_at_phrase_ends():
    """In the second half of a bar that closes a phrase the arpeggio, ostinato or pulse rests."""
    for seed in range(6):
        cx, mel, hp = make_cue(bpm=100, bars=8, intensity=0.8, mood="excited", seed=seed)
        cx.phrase_ends = (3, 7)
        orch = Orchestra()
        arrange_cue(orch, cx, mel, hp)
        moving = [n.start_sec for p in orch.parts.values() if layer_of(p.name) in ("Arpeggio", "Ostinato", "Pulse")
                  for n in p.notes]
        if not moving:
            continue
        beat = 60 / 100
        assert not [t for t in moving if 14 * beat - 0.02 <= t < 16 * beat - 0.02]  # bar 4's second half
        assert [t for t in moving if 12 * beat - 0.02 <= t < 14 * beat - 0.02]  # its first half plays
        assert [t for t in moving if 30 * beat - 0.02 <= t]  # the cue's last bar plays on
