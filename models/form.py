"""Form and harmony of a cue: phrases of 4 and 8 bars (sentence, period), cadences at phrase ends
and on the strongest hits, chords from the learned progression model, prepared modulations.

A cue's bars are cut into phrases by dynamic programming: 4- and 8-bar phrases cost nothing,
other lengths a little (6 less than 2, 3, 5, 7), and a phrase whose last bar starts on a strong
hit earns that hit's strength: the cadence arrives on the cut. Each phrase gets a design:

* **sentence** (4 bars: 1 + 1 + 2; 8 bars: 2 + 2 + 4): a basic idea, its repetition (the same
  bars of melody and chords), a continuation to the cadence;
* **period** (8 bars: 4 + 4): an antecedent ending on a half cadence, a consequent that starts
  with the antecedent's first two bars again and ends on a full cadence;
* **phrase** (other lengths): one sweep to its cadence.

Cadences: the cue's last phrase closes (a perfect authentic cadence: V or V7 onto I, the tonic in
the melody), or, when the next cue follows at once in another key and earlier bars (a phrase, or
the first half of an 8-bar one) have stated this cue's own key, modulates to it: a pivot chord
(diatonic in both keys) then the new key's dominant, which the next cue's tonic resolves. Inner phrases alternate half and authentic
cadences, the seed turning some authentic ones deceptive (or plagal in calm moods).

Chords come from :class:`~tempscore.models.progression.ProgressionModel` (major and minor:
learned; modal colours: its documented rule), re-weighted by the mood, fitted to a given
melody (a motif the cue opens with) and sampled with the cue's seeded stream. The harmonic rhythm
is a chord a bar, two (on beats 1 and 3 of a 4/4 bar) in slower, livelier cues.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..harmony import MODE_FAMILY, SCALES, TEMPLATES, Chord, chord_of_token

from .progression import FINAL_CADENCE

if TYPE_CHECKING:
    from .progression import ProgressionModel
    from .tokens import BarData

#: Cost of a phrase of each length in bars (4 and 8 are the norm).
PHRASE_COST = {1: 3.0, 2: 1.2, 3: 1.2, 4: 0.0, 5: 1.5, 6: 0.8, 7: 1.5, 8: 0.0}
#: What a strong hit on a phrase's last downbeat is worth against those costs (per unit strength).
HIT_REWARD = 2.0


@dataclass
class Phrase:
    """A phrase of a cue: its first bar (index in the cue), length, design and cadence."""

    first_bar: int
    bars: int
    design: str  # "sentence" | "period" | "phrase"
    cadence: str  # "authentic" | "half" | "plagal" | "deceptive" | "modulating"

    @property
    def last_bar(self) -> int:
        return self.first_bar + self.bars - 1


@dataclass
class CueHarmony:
    """The chords of a cue and the form they follow."""

    slots: list[tuple[int, float, str, int]]  # (bar, beat in the bar, chord token, inversion)
    chords: list[Chord]  # the chord at each bar's start
    changes: dict[int, list[tuple[float, Chord]]]  # chord changes inside bars
    phrases: list[Phrase]
    copies: dict[int, int] = field(default_factory=dict)  # melody bar -> the earlier bar it repeats
    writer: str = ""  # what wrote the chords
    modulation: str = ""  # how the cue leads into the next cue's key ("" when it does not)

    def chord_at(self, bar: int, beat: float) -> Chord:
        chord = self.chords[min(max(bar, 0), len(self.chords) - 1)]
        for b, ch in self.changes.get(bar, []):
            if b <= beat + 1e-9:
                chord = ch
        return chord


def plan_phrases(n_bars: int, *, downbeat_hits: list[float], rng: np.random.Generator) -> list[tuple[int, int]]:
    """Cut ``n_bars`` into phrases (first bar, bars): minimum total :data:`PHRASE_COST` minus
    :data:`HIT_REWARD` times the strength of the hit on each phrase's last downbeat
    (``downbeat_hits[b]``: the strongest hit within the first beat of bar ``b``, 0 for none). Ties
    go to the seeded order of lengths, so the same cue always splits alike."""
    if n_bars <= 0:
        return []
    lengths = sorted(PHRASE_COST, key=lambda k: (PHRASE_COST[k], rng.random()))
    best = [0.0] + [np.inf] * n_bars
    back = [0] * (n_bars + 1)
    for i in range(1, n_bars + 1):
        for L in lengths:
            if L <= i and best[i - L] + PHRASE_COST[L] - HIT_REWARD * downbeat_hits[i - 1] < best[i] - 1e-12:
                best[i] = best[i - L] + PHRASE_COST[L] - HIT_REWARD * downbeat_hits[i - 1]
                back[i] = L
    out, i = [], n_bars
    while i > 0:
        out.append((i - back[i], back[i]))
        i -= back[i]
    return out[::-1]


def chords_per_bar(*, bpm: float, intensity: float, beats_per_bar: int) -> int:
    """The harmonic rhythm: two chords a bar (beats 1 and 3) in a 4/4 (or longer) bar of a slower,
    livelier cue, else one."""
    return 2 if beats_per_bar >= 4 and bpm < 96 and intensity >= 0.25 else 1


def _cadences(phrases: list[tuple[int, int]], designs: list[str], *, mood: str, modulate: bool,
              rng: np.random.Generator) -> list[str]:
    out = []
    for k in range(len(phrases)):
        if k == len(phrases) - 1:
            out.append("modulating" if modulate else "authentic")
            continue
        cad = "half" if k % 2 == 0 else "authentic"
        if cad == "authentic":
            r = rng.random()
            cad = "deceptive" if r < 0.15 else "plagal" if r < 0.3 and mood in ("serene", "sombre") else cad
        out.append(cad)
    return out


def plan_harmony(bars: list[tuple[int, int]], *, tonic_pc: int, mode: str, mood: str, intensity: float, bpm: float,
                 beats_per_bar: int, model: ProgressionModel, rng: np.random.Generator,
                 downbeat_hits: list[float] | None = None, given: dict[int, BarData] | None = None,
                 next_key: tuple[int, str] | None = None) -> CueHarmony:
    """Phrases, cadences and chords of a cue (module docstring).

    Parameters
    ----------
    bars : list of (first beat, beats)
        The cue's bars, beats from the cue start.
    given : dict, optional
        Melody bars already written (the motif or theme the cue opens with): the chords under them
        are chosen to fit their notes.
    next_key : (tonic, mode), optional
        The key of the cue that follows at once, when it differs: the last phrase modulates to it.
    """
    from .progression import mood_weights

    n = len(bars)
    hits = list(downbeat_hits or [0.0] * n)
    if hits:
        hits[0] = 0.0  # the cue's first downbeat starts it (its opening cut): no cadence there
    spans = plan_phrases(n, downbeat_hits=hits, rng=rng)
    designs = [("period" if rng.random() < 0.5 else "sentence") if L == 8 else "sentence" if L == 4 else "phrase"
               for _, L in spans]
    pivot = _modulation_sets(tonic_pc, mode, next_key, model) if next_key is not None else None
    # a modulation needs room: a last phrase of 4 bars or more (in a shorter one the new key's
    # dominant would be half of it), after bars that state the cue's own key: an earlier phrase, or
    # the first half of an 8-bar one (a cue of one short phrase that modulates is heard in the next
    # cue's key from its middle on)
    room = spans[-1][1] >= MODULATION_BARS and (len(spans) >= 2 or spans[-1][1] >= 2 * MODULATION_BARS)
    cads = _cadences(spans, designs, mood=mood, modulate=pivot is not None and room, rng=rng)
    phrases = [Phrase(b0, L, design, cad) for (b0, L), design, cad in zip(spans, designs, cads)]
    draw = _Drawer(bars, phrases, tonic_pc=tonic_pc, mode=mode, model=model, rng=rng, given=given, pivot=pivot,
                   per_bar=chords_per_bar(bpm=bpm, intensity=intensity, beats_per_bar=beats_per_bar),
                   beats_per_bar=beats_per_bar, weights=mood_weights(model.modes[mode].vocab, mood, mode))
    # the first draw whose chords leave no doubt about the key (a modal colour's rule is its own)
    best = None
    for _ in range(KEY_DRAWS if model.learned(mode) else 1):
        slots, copies = draw()
        margin = key_margin(slots, bars, tonic_pc=tonic_pc, mode=mode)
        if best is None or margin > best[0]:
            best = (margin, slots, copies)
        if margin >= KEY_MARGIN:
            break
    _, slots, copies = best
    return _realise(slots, n, tonic_pc=tonic_pc, mode=mode, phrases=phrases, copies=copies,
                    writer=model.id if model.learned(mode) else f"modal rule ({mode})",
                    modulation=_describe(pivot, phrases, slots, tonic_pc, mode, next_key))


#: The shortest last phrase that modulates into the next cue's key (shorter: a cadence in its own).
MODULATION_BARS = 4
#: How many chord draws a cue may take to find one that states its key.
KEY_DRAWS = 8
#: How much better (Krumhansl-Kessler correlation) the cue's key must fit its chords than any other
#: key: its chords alone say the key, before the melody and the arrangement add to it.
KEY_MARGIN = 0.1


def key_margin(slots: list[tuple[int, float, str, int]], bars: list[tuple[int, int]], *, tonic_pc: int,
               mode: str) -> float:
    """How clearly chords state their key: the Krumhansl-Kessler correlation of their pitch classes
    (each chord's tones weighted by how long it sounds, its bass once more) with the key's profile
    (the mode's family) minus the best of the 23 other keys'."""
    from .progression import KK_MAJOR, KK_MINOR

    w = np.zeros(12)
    order = sorted(slots, key=lambda s: (s[0], s[1]))
    for i, (b, t, tok, inv) in enumerate(order):
        end = order[i + 1][1] if i + 1 < len(order) and order[i + 1][0] == b else float(bars[b][1])
        ch = chord_of_token(tok, tonic_pc, mode, inv)
        for pc in ch.pcs:
            w[pc] += end - t
        w[ch.bass_pc] += end - t
    if w.std() == 0:
        return 0.0
    fits = {(k, m): float(np.corrcoef(w, np.roll(prof, k))[0, 1]) for k in range(12)
            for m, prof in (("major", KK_MAJOR), ("minor", KK_MINOR))}
    own = fits.pop((tonic_pc % 12, MODE_FAMILY[mode]))
    return own - max(fits.values())


class _Drawer:
    """Draws a cue's chords phrase by phrase, as its designs say (module docstring)."""

    def __init__(self, bars, phrases, *, tonic_pc, mode, model, rng, given, pivot, per_bar, beats_per_bar,  # noqa: ANN001
                 weights) -> None:
        self.bars, self.phrases, self.tonic_pc, self.mode = bars, phrases, tonic_pc, mode
        self.model, self.rng, self.given, self.pivot = model, rng, given, pivot
        self.per_bar, self.beats_per_bar, self.weights = per_bar, beats_per_bar, weights
        self.tonic = {"0:maj"} if MODE_FAMILY[mode] == "major" else {"0:min"}
        # a later phrase starts on the tonic, subdominant, dominant or the relative (the key stays
        # clear); in a modal colour on its tonic (its V, bVI, bVII or IV may be the tonic of the
        # major scale it shares, and its colour chord opening phrases outweighed the tonic: a
        # phrase opening there is heard in that key)
        self.openings = self.tonic | ({f"{r}:{q}" for r in (5, 7) for q in ("maj", "min")} | (
            {"9:min"} if MODE_FAMILY[mode] == "major" else {"3:maj"}) if model.learned(mode) else set())

    def __call__(self) -> tuple[list[tuple[int, float, str, int]], dict[int, int]]:
        slots: list[tuple[int, float, str, int]] = []
        copies: dict[int, int] = {}
        for k, ph in enumerate(self.phrases):
            # the cue opens on its tonic; a later phrase on another main function than the chord before it
            start = self.tonic if k == 0 else (self.openings - {slots[-1][2]} if slots else self.openings) or self.tonic
            chosen = self._phrase(ph, start, copies)
            last = len(chosen) - 1
            for i, (b, t, tok) in enumerate(chosen):
                slots.append((b, t, tok, self._inversion(tok, first=i == 0, cadence=i >= last - 1)))
        for b in list(copies):  # a repeated bar keeps its model's chords and their inversions
            src = {t: (tok, inv) for bb, t, tok, inv in slots if bb == copies[b]}
            slots = [(bb, t, *src.get(t, (tok, inv))) if bb == b else (bb, t, tok, inv) for bb, t, tok, inv in slots]
        return slots, copies

    def _inversion(self, tok: str, *, first: bool, cadence: bool) -> int:
        """Root position at a phrase's start and its cadence (the bass moves by a fifth onto the
        tonic) and for a modal rule's chords; else as the chorales voice the chord, without the
        second inversion of a triad (a 6/4 wants a context the phrase does not plan)."""
        if first or cadence or not self.model.learned(self.mode):
            return 0
        inv = self.model.inversion(self.mode, tok, self.rng)
        return 0 if inv == 2 and len(TEMPLATES[tok.split(":")[1]]) == 3 else inv

    def _phrase(self, ph: Phrase, start: set[str], copies: dict[int, int]) -> list[tuple[int, float, str]]:
        b0, L = ph.first_bar, ph.bars
        # one chord in a bar that ends a phrase or a period's antecedent, else the harmonic rhythm
        single = {b0 + L - 1} | ({b0 + 3} if ph.design == "period" else set())
        times = {b: _slot_times(self.bars[b][1], 1 if b in single else self.per_bar, self.beats_per_bar)
                 for b in range(b0, b0 + L)}
        if L >= 2 and sum(map(len, times.values())) < 3 and self.bars[b0][1] >= 2:
            # room for the opening chord before a two-chord cadence (a 2-bar cue: I V | I, not V | I)
            times[b0] = [0.0, float(self.bars[b0][1] // 2)]
        sets = self.pivot if ph.cadence == "modulating" else None
        if ph is self.phrases[-1] and ph.cadence == "authentic" and self.mode in FINAL_CADENCE:
            sets = FINAL_CADENCE[self.mode]  # the cue closes on a perfect cadence
        cadence = None if ph.cadence == "modulating" else ph.cadence

        def sample(first: int, count: int, *, cadence_name: str | None, cad_sets=None, start=None, after=()) -> list:  # noqa: ANN001
            places = [(b, t) for b in range(first, first + count) for t in times[b]]
            fit = [_melody_fit(self.given.get(b) if self.given else None, t, _slot_end(times[b], t, self.bars[b][1]),
                               self.model, self.mode, self.tonic_pc) for b, t in places]
            toks = self.model.sample_phrase(self.mode, len(places), cadence=cadence_name, rng=self.rng,
                                            weights=self.weights, start=start, slot_weights=fit, after=list(after),
                                            cadence_sets=cad_sets)
            return [(b, t, tok) for (b, t), tok in zip(places, toks)]

        if ph.design == "sentence":
            unit = 2 if L == 8 else 1
            idea = sample(b0, unit, cadence_name=None, start=start)
            rest = sample(b0 + 2 * unit, L - 2 * unit, cadence_name=cadence, cad_sets=sets,
                          after=[tok for _, _, tok in idea])
            copies.update({b0 + unit + i: b0 + i for i in range(unit)})
            return idea + [(b + unit, t, tok) for b, t, tok in idea] + rest
        if ph.design == "period":
            ante = sample(b0, 4, cadence_name="half", start=start)
            again = [(b + 4, t, tok) for b, t, tok in ante if b < b0 + 2]
            cons = sample(b0 + 6, 2, cadence_name=cadence, cad_sets=sets, after=[tok for _, _, tok in again])
            copies.update({b0 + 4: b0, b0 + 5: b0 + 1})
            return ante + again + cons
        return sample(b0, L, cadence_name=cadence, cad_sets=sets, start=start)


def _slot_times(nb: int, per_bar: int, beats_per_bar: int) -> list[float]:
    """Where a bar's chords change (beats in the bar): its downbeat, and the middle of a full 4/4 bar."""
    if per_bar >= 2 and nb >= 4:
        return [0.0, float(beats_per_bar // 2)]
    return [0.0]


def _slot_end(times: list[float], t: float, nb: int) -> float:
    later = [x for x in times if x > t]
    return later[0] if later else float(nb)


def _melody_fit(bar: BarData | None, t0: float, t1: float, model: ProgressionModel, mode: str,
                tonic_pc: int) -> dict[str, float] | None:
    """Weights of the chords under a given melody's notes from beat ``t0`` to ``t1`` of a bar: the
    share of its sounding time (long notes and notes on the beat count more) in the chord's tones,
    squared, from 0.3 (none) to 3 (all)."""
    if bar is None or not bar.notes:
        return None
    notes = [(pos / 4.0, dur / 4.0, pitch % 12) for pos, pitch, dur in bar.notes if t0 <= pos / 4.0 < t1]
    if not notes:
        return None
    out = {}
    for tok in model.modes[mode].vocab:
        root, quality = int(tok.split(":")[0]), tok.split(":")[1]
        pcs = {(tonic_pc + root + i) % 12 for i in TEMPLATES[quality]}
        w = [d * (2.0 if float(p).is_integer() else 1.0) for p, d, _ in notes]
        share = sum(wi for wi, (_, _, pc) in zip(w, notes) if pc in pcs) / max(sum(w), 1e-9)
        out[tok] = 0.3 + 2.7 * share * share
    return out


def _modulation_sets(tonic_pc: int, mode: str, next_key: tuple[int, str],
                     model: ProgressionModel) -> tuple[set[str], set[str]] | None:
    """The chords that lead into the next key, as tokens of this key: (its dominant, the pivot
    chords: diatonic in both keys, not that dominant); None when this key's chords hold no such
    dominant (a modal cue, a remote key) or it is this key's own tonic (the next key is the
    subdominant's): the cue then closes on its own tonic, a cadence."""
    t2, m2 = next_key
    if (t2 % 12, m2) == (tonic_pc % 12, mode) or not model.learned(mode):
        return None
    vocab = set(model.modes[mode].vocab)
    v_root = (t2 + 7 - tonic_pc) % 12
    if v_root == 0:  # into the subdominant's key: its dominant is this key's tonic (in a minor cue,
        return None  # major): the cue closes on its own tonic, which leads there by itself
    last = {t for t in (f"{v_root}:dom7", f"{v_root}:maj") if t in vocab}
    here = {(tonic_pc + s) % 12 for s in SCALES[mode]}
    there = {(t2 + s) % 12 for s in SCALES[m2]}
    pivots = set()
    for tok in vocab:
        root, quality = int(tok.split(":")[0]), tok.split(":")[1]
        pcs = {(tonic_pc + root + i) % 12 for i in TEMPLATES[quality]}
        if pcs <= here and pcs <= there and tok not in last and len(TEMPLATES[quality]) == 3:
            pivots.add(tok)
    return (last, pivots) if last and pivots else None


def _describe(pivot, phrases: list[Phrase], slots, tonic_pc: int, mode: str,  # noqa: ANN001
              next_key: tuple[int, str] | None) -> str:
    if pivot is None or not phrases or phrases[-1].cadence != "modulating" or len(slots) < 2:
        return ""
    from ..harmony import PITCH_CLASSES

    t2, m2 = next_key
    name = next(k for k, v in PITCH_CLASSES.items() if v == t2 % 12)
    a, b = slots[-2][2], slots[-1][2]
    la, lb = chord_of_token(a, tonic_pc, mode).label, chord_of_token(b, tonic_pc, mode).label
    return f"to {name} {m2}: pivot {la}, then {lb} (the new key's dominant)"


def _realise(slots: list[tuple[int, float, str, int]], n_bars: int, *, tonic_pc: int, mode: str, phrases: list[Phrase],
             copies: dict[int, int], writer: str, modulation: str) -> CueHarmony:
    chords: list[Chord] = []
    changes: dict[int, list[tuple[float, Chord]]] = {}
    by_bar: dict[int, list[tuple[float, str, int]]] = {}
    for b, t, tok, inv in sorted(slots, key=lambda s: (s[0], s[1])):
        by_bar.setdefault(b, []).append((t, tok, inv))
    prev = chord_of_token("0:maj" if MODE_FAMILY[mode] == "major" else "0:min", tonic_pc, mode)
    for b in range(n_bars):
        row = by_bar.get(b) or [(0.0, None, 0)]
        first = row[0]
        prev = chord_of_token(first[1], tonic_pc, mode, first[2]) if first[1] else prev
        chords.append(prev)
        for t, tok, inv in row[1:]:
            changes.setdefault(b, []).append((t, chord_of_token(tok, tonic_pc, mode, inv)))
    return CueHarmony(slots=slots, chords=chords, changes=changes, phrases=phrases, copies=copies, writer=writer,
                      modulation=modulation)


def harmony_to_take(h: CueHarmony) -> dict:
    """The harmony as a cue's take stores it (plain JSON): kept with the melody, so a locked or
    picked cue keeps its chords whatever changes around it."""
    return {"writer": h.writer, "modulation": h.modulation,
            "slots": [[b, t, tok, inv] for b, t, tok, inv in h.slots],
            "phrases": [[p.first_bar, p.bars, p.design, p.cadence] for p in h.phrases],
            "copies": [[b, src] for b, src in sorted(h.copies.items())]}


def harmony_from_take(stored: dict, n_bars: int, *, tonic_pc: int, mode: str) -> CueHarmony:
    """The harmony a take stored (:func:`harmony_to_take`), in the cue's key."""
    slots = [(int(b), float(t), str(tok), int(inv)) for b, t, tok, inv in stored["slots"] if 0 <= int(b) < n_bars]
    for _, t, tok, inv in slots:  # a token the model does not know, a beat outside a bar: not a harmony
        root, quality = tok.split(":")
        if quality not in TEMPLATES or not 0 <= int(root) < 12 or not 0 <= t < 16 or not 0 <= inv < 4:
            raise ValueError(f"chord {tok!r} at beat {t}")
    phrases = [Phrase(int(a), int(n), str(d), str(c)) for a, n, d, c in stored.get("phrases", [])]
    copies = {int(b): int(src) for b, src in stored.get("copies", [])}
    return _realise(slots, n_bars, tonic_pc=tonic_pc, mode=mode, phrases=phrases, copies=copies,
                    writer=str(stored.get("writer", "")), modulation=str(stored.get("modulation", "")))
