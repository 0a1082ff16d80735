"""Film accompaniment idioms and the instruments that play them.

An idiom is a way of accompanying a melody that film composers reach for again and again; each
function here writes one over a cue's chords through a :class:`Writer` (the arranger's view of the
cue: beats, chords, an ``add`` that places a note):

==============  ========================================================================
``pad``         sustained chords, voice-led (each voice moves to the nearest chord tone)
``chorale``     block chords in four voices on the half bar, bass on the chord's bass note
``drone``       the key's tonic and fifth held low under everything (a pedal point)
``pedal``       the tonic re-struck in the bass every beat or half bar, under changing chords
``tremolo``     the chord in the tremolo-strings patch, voice-led (tension without motion)
``arpeggio``    broken chords (up, up-down, Alberti) over an octave and a half
``ostinato``    a one-bar rhythmic cell on root, fifth and octave, repeated bar after bar
``pulse``       repeated eighths (or quarters) on the root and fifth, accents on the beats
``bass``        the chord's bass note, once a chord or on the beats
==============  ========================================================================

A rising build (:func:`build_levels`) is not an idiom of its own: it brings the layers in one
after another and lifts their dynamics over the cue.

Each instrument has a range and a fastest comfortable note rate (:data:`INSTRUMENTS`): an idiom's
subdivision is the finest its instrument plays at the cue's tempo (:func:`subdivision_for`), so a
horn never gets sixteenths at 140 BPM and a violin line is never doubled above its range.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..harmony import Chord


@dataclass(frozen=True)
class Instrument:
    """A General MIDI instrument as an orchestrator thinks of it.

    ``low``/``high``: comfortable range (MIDI pitches, sounding); ``max_rate``: fastest repeated
    articulation a section plays cleanly (notes per second); ``sustains``: holds a note at an even
    level (a pad or a drone), as a plucked or struck instrument does not.
    """

    name: str
    program: int
    low: int
    high: int
    max_rate: float
    family: str
    sustains: bool = True

    def fit(self, pitch: int) -> int:
        """``pitch`` moved by octaves into the range."""
        while pitch < self.low:
            pitch += 12
        while pitch > self.high:
            pitch -= 12
        return pitch


_I = Instrument
#: Orchestral instruments by name (ranges: practical orchestral writing, not the extreme notes).
INSTRUMENTS: dict[str, Instrument] = {i.name: i for i in (
    _I("piano", 0, 28, 96, 12.0, "keys", sustains=False),
    _I("celesta", 8, 60, 96, 10.0, "keys", sustains=False),
    _I("glockenspiel", 9, 79, 105, 8.0, "percussion", sustains=False),
    _I("harp", 46, 31, 91, 10.0, "strings", sustains=False),
    _I("violins", 40, 55, 91, 10.0, "strings"),
    _I("violas", 41, 48, 81, 8.0, "strings"),
    _I("celli", 42, 36, 69, 8.0, "strings"),
    _I("basses", 43, 28, 52, 5.0, "strings"),
    _I("tremolo strings", 44, 40, 84, 2.0, "strings"),
    _I("pizzicato", 45, 28, 84, 6.0, "strings", sustains=False),
    _I("strings", 48, 36, 88, 8.0, "strings"),
    _I("slow strings", 49, 36, 88, 3.0, "strings"),
    _I("choir", 52, 48, 79, 3.0, "keys"),
    _I("timpani", 47, 38, 57, 8.0, "percussion", sustains=False),
    _I("trumpet", 56, 55, 82, 6.0, "brass"),
    _I("trombones", 57, 40, 70, 4.0, "brass"),
    _I("tuba", 58, 28, 55, 3.0, "brass"),
    _I("horns", 60, 41, 77, 4.0, "brass"),
    _I("brass", 61, 48, 79, 5.0, "brass"),
    _I("oboe", 68, 58, 89, 8.0, "woodwinds"),
    _I("bassoon", 70, 34, 67, 6.0, "woodwinds"),
    _I("clarinet", 71, 50, 89, 10.0, "woodwinds"),
    _I("flute", 73, 60, 93, 10.0, "woodwinds"),
)}
BY_PROGRAM: dict[int, Instrument] = {i.program: i for i in INSTRUMENTS.values()}
#: Steps per beat an idiom may move in, finest first (4 = sixteenths, 3 = triplets, 2 = eighths, ...).
SUBDIVISIONS = (4, 3, 2, 1, 0.5)


def instrument(program: int) -> Instrument:
    """The instrument of a GM program; one not in :data:`INSTRUMENTS` gets a wide range."""
    return BY_PROGRAM.get(program) or Instrument(f"program {program}", program, 24, 108, 8.0, "keys")


def subdivision_for(inst: Instrument, bpm: float, *, finest: float = 4, budget_per_beat: float | None = None,
                    voices: int = 1) -> float | None:
    """The finest subdivision (steps per beat, at most ``finest``) at which ``inst`` plays at ``bpm``
    within its :attr:`~Instrument.max_rate`, and whose notes (``voices`` a step) fit
    ``budget_per_beat``; None when not even half notes fit."""
    for sub in SUBDIVISIONS:
        if sub > finest:
            continue
        if sub * bpm / 60.0 <= inst.max_rate + 1e-9 and (budget_per_beat is None or sub * voices <= budget_per_beat + 1e-9):
            return sub
    return None


class Writer(Protocol):
    """What an idiom needs from the arranger (:class:`tempscore.models.arranger.CueWriter`)."""

    bpm: float
    end_beat: float
    tonic_pc: int

    def add(self, layer: str, inst: Instrument, beat: float, dur: float, pitch: int, velocity: float, *,
            exact: bool = False, writer: str = ...) -> None: ...

    def chord_spans(self) -> list[tuple[float, float, Chord]]: ...

    def chord_at_beat(self, beat: float) -> Chord: ...

    def level(self, beat: float) -> float: ...

    def bar_lines(self) -> list[tuple[float, int]]: ...

    def cadence_rest(self, beat: float) -> bool: ...


# ----------------------------------------------------------------------------- voicing
@lru_cache(maxsize=4096)
def voice_chord(pcs: tuple[int, ...], *, n: int, low: int, high: int, prev: tuple[int, ...] | None,
                center: int, bass_pc: int | None = None) -> tuple[int, ...]:
    """``n`` pitches of the chord ``pcs`` inside ``[low, high]``, lowest first: every chord tone
    when ``n`` allows (the root doubled first), neighbouring upper voices at most an octave apart,
    moving as little as possible from ``prev`` (else centred on ``center``); with ``bass_pc`` the
    lowest voice is that pitch class (an inversion)."""
    cands = [p for p in range(low, high + 1) if p % 12 in pcs]
    if not cands:
        return ()
    need = set(pcs) if n >= len(pcs) else set(pcs[:n])
    best: tuple[float, tuple[int, ...]] | None = None
    for combo in itertools.combinations(cands, min(n, len(cands))):
        if not need <= {p % 12 for p in combo}:
            continue
        if bass_pc is not None and combo[0] % 12 != bass_pc:
            continue
        if any(b - a > 12 for a, b in zip(combo[1:], combo[2:])) or (len(combo) > 1 and combo[1] - combo[0] > 19):
            continue
        if prev and len(prev) == len(combo):
            cost = float(sum(abs(a - b) for a, b in zip(combo, prev)))
        else:
            cost = abs(sum(combo) / len(combo) - center) * 2.0
        cost += 0.1 * sum(1 for a, b in zip(combo, combo[1:]) if b - a < 3)  # seconds: muddy in a pad
        if best is None or cost < best[0] - 1e-9:
            best = (cost, combo)
    if best is None:  # no spacing fits (a narrow range): the nearest chord tones to the centre
        return tuple(sorted(sorted(cands, key=lambda p: abs(p - center))[:n]))
    return best[1]


def nearest_pc(pc: int, around: int) -> int:
    """MIDI pitch with pitch class ``pc`` nearest to ``around``."""
    base = around - ((around - pc) % 12)
    return base if around - base <= 6 else base + 12


# ----------------------------------------------------------------------------- sustained idioms
def pad(w: Writer, inst: Instrument, *, layer: str, voices: int = 3, center: int = 62, velocity: float = 60,
        start: float = 0.0, end: float | None = None) -> None:
    """Sustained voice-led chords, one note per voice and chord (a chord held over a bar line is
    re-struck at the bar)."""
    prev: tuple[int, ...] | None = None
    end = w.end_beat if end is None else end
    for b0, b1, chord in w.chord_spans():
        if b1 <= start or b0 >= end:
            continue
        lo, hi = max(inst.low, center - 12), min(inst.high, center + 12)
        v = voice_chord(tuple(chord.pcs), n=voices, low=lo, high=hi, prev=prev, center=center)
        for p in v:
            w.add(layer, inst, max(b0, start), min(b1, end) - max(b0, start), p, velocity * (0.85 + 0.3 * w.level(b0)))
        prev = v


def chorale(w: Writer, inst: Instrument, *, layer: str, center: int = 57, velocity: float = 62,
            step_beats: float = 2.0) -> None:
    """Four-voice block chords every ``step_beats`` (and at every chord change), the lowest voice on
    the chord's bass note, the upper three voice-led."""
    prev: tuple[int, ...] | None = None
    for b0, b1, chord in w.chord_spans():
        b = b0
        while b < b1 - 1e-9:
            d = min(step_beats - (b - b0) % step_beats, b1 - b)
            v = voice_chord(tuple(chord.pcs), n=4, low=max(inst.low, center - 17), high=min(inst.high, center + 14),
                            prev=prev, center=center, bass_pc=chord.bass_pc)
            for p in v:
                w.add(layer, inst, b, d * 0.98, p, velocity * (0.85 + 0.3 * w.level(b)))
            prev = v
            b += d


def drone(w: Writer, inst: Instrument, *, layer: str, velocity: float = 52, fifth: bool = True,
          restrike_beats: float = 16.0) -> None:
    """The tonic and its fifth (or its octave) held in the low register, re-struck every ``restrike_beats``."""
    root = inst.fit(nearest_pc(w.tonic_pc, inst.low + 7))
    pitches = [root] + ([root + 7] if fifth and root + 7 <= inst.high else [root + 12] if root + 12 <= inst.high else [])
    b = 0.0
    while b < w.end_beat - 1e-9:
        d = min(restrike_beats, w.end_beat - b)
        for p in pitches:
            w.add(layer, inst, b, d, p, velocity * (0.9 + 0.2 * w.level(b)))
        b += d


def tremolo(w: Writer, inst: Instrument, *, layer: str, voices: int = 3, center: int = 55, velocity: float = 58) -> None:
    """The chord in the tremolo patch, voice-led, low and close (tension without motion)."""
    pad(w, inst, layer=layer, voices=voices, center=center, velocity=velocity)


def voiced(w: Writer, inst: Instrument, spans: Sequence[tuple[float, float, tuple[int, ...]]], *, layer: str,
           voices: Sequence[int], velocity: float, writer: str, transpose: int = 0, step_beats: float | None = None,
           legato: float = 1.0) -> int:
    """Play the given voicings (``spans``: first beat, end beat, pitches lowest first; e.g. from the
    learned voicing model): the voices at ``voices`` (indexes) on ``inst``, ``transpose`` semitones
    (the basses an octave under the bass voice), held for the span or re-struck every
    ``step_beats``. Returns the notes written."""
    n = 0
    for b0, b1, pitches in spans:
        b = b0
        while b < b1 - 1e-9:
            d = min(step_beats or (b1 - b0), b1 - b)
            for i in voices:
                if i < len(pitches):
                    w.add(layer, inst, b, d * legato, pitches[i] + transpose, velocity * (0.85 + 0.3 * w.level(b)),
                          writer=writer)
                    n += 1
            b += d
    return n


# ----------------------------------------------------------------------------- moving idioms
ARPEGGIO_PATTERNS = {
    "up": (0, 1, 2, 3),
    "up-down": (0, 1, 2, 3, 2, 1),
    "alberti": (0, 2, 1, 2),
    "wide": (0, 2, 4, 3, 1, 2),
}


def arpeggio(w: Writer, inst: Instrument, *, layer: str, sub: float, pattern: str = "up", center: int = 60,
             velocity: float = 56, start: float = 0.0) -> None:
    """Broken chords: the chord's tones over about an octave and a half from below ``center``,
    played in ``pattern`` order, ``sub`` notes a beat."""
    order = ARPEGGIO_PATTERNS[pattern]
    step = 1.0 / sub
    k = 0
    for b0, b1, chord in w.chord_spans():
        tones = _spread(chord, inst, center, 5 if pattern == "wide" else 4)
        b = max(b0, start)
        b = b0 + step * round((b - b0) / step + 0.4999)
        while b < b1 - 1e-9:
            if w.cadence_rest(b):
                b += step
                continue
            p = tones[order[k % len(order)] % len(tones)]
            accent = 6 if abs(b - round(b)) < 1e-9 else 0
            w.add(layer, inst, b, step * (1.6 if not inst.sustains else 0.95), p,
                  velocity * (0.85 + 0.3 * w.level(b)) + accent)
            k += 1
            b += step
        k = 0


def _spread(chord: Chord, inst: Instrument, center: int, n: int) -> list[int]:
    """``n`` chord tones rising from the root below ``center``, inside the instrument's range."""
    root = inst.fit(nearest_pc(chord.root, center - 7))
    out = [root]
    pcs = list(chord.pcs)
    i = 1
    while len(out) < n:
        pc = pcs[i % len(pcs)]
        p = out[-1] + ((pc - out[-1]) % 12 or 12)
        if p > inst.high:
            break
        out.append(p)
        i += 1
    return out


#: One-bar rhythmic cells for an ostinato, in steps of the chosen subdivision (1 = a note).
OSTINATO_CELLS = (
    (1, 0, 1, 1, 0, 1, 1, 0),
    (1, 1, 0, 1, 1, 0, 1, 0),
    (1, 0, 0, 1, 0, 0, 1, 0),
    (1, 1, 1, 0, 1, 1, 1, 0),
)
#: The cell's pitches: chord root, fifth, octave (indexes into root, fifth, octave, third).
OSTINATO_CONTOURS = ((0, 0, 1, 0, 2, 0, 1, 0), (0, 1, 2, 1, 0, 1, 2, 1), (0, 2, 1, 2, 0, 2, 1, 3))


def ostinato(w: Writer, inst: Instrument, *, layer: str, sub: float, cell: int = 0, contour: int = 0,
             center: int = 50, velocity: float = 64, start: float = 0.0) -> None:
    """A rhythmic cell repeated on the chord's root, fifth and octave (third on the fourth step),
    following the chords; the first step of each beat accented."""
    steps = OSTINATO_CELLS[cell % len(OSTINATO_CELLS)]
    shape = OSTINATO_CONTOURS[contour % len(OSTINATO_CONTOURS)]
    step = 1.0 / sub
    for bar_start, bar_beats in w.bar_lines():
        n = int(round(bar_beats * sub))
        for k in range(n):
            b = bar_start + k * step
            if b < start - 1e-9 or b >= w.end_beat - 1e-9 or not steps[k % len(steps)] or w.cadence_rest(b):
                continue
            chord = w.chord_at_beat(b)
            root = inst.fit(nearest_pc(chord.root, center))
            third = chord.pcs[1] if len(chord.pcs) > 1 else chord.root
            fifth = chord.pcs[2] if len(chord.pcs) > 2 else chord.root
            tones = (root, root + ((fifth - root) % 12), root + 12, root + ((third - root) % 12))
            p = tones[shape[k % len(shape)]]
            p = p if p <= inst.high else p - 12
            accent = 10 if abs(b - round(b)) < 1e-9 else 0
            w.add(layer, inst, b, step * 0.8, p, velocity * (0.85 + 0.3 * w.level(b)) + accent)


def pulse(w: Writer, inst: Instrument, *, layer: str, sub: float, center: int = 45, velocity: float = 62,
          start: float = 0.0, fifths: bool = True) -> None:
    """Repeated notes ``sub`` a beat on the chord's root (and fifth above, every other step)."""
    step = 1.0 / sub
    for bar_start, bar_beats in w.bar_lines():
        n = int(round(bar_beats * sub))
        for k in range(n):
            b = bar_start + k * step
            if b < start - 1e-9 or b >= w.end_beat - 1e-9 or w.cadence_rest(b):
                continue
            chord = w.chord_at_beat(b)
            root = inst.fit(nearest_pc(chord.bass_pc, center))
            on_beat = abs(b - round(b)) < 1e-9
            p = root + 7 if fifths and not on_beat and k % 2 == 1 and root + 7 <= inst.high else root
            w.add(layer, inst, b, step * 0.7, p, velocity * (0.85 + 0.3 * w.level(b)) + (10 if on_beat else 0))


def pedal(w: Writer, inst: Instrument, *, layer: str, step_beats: float, center: int = 40, velocity: float = 58) -> None:
    """The key's tonic re-struck every ``step_beats`` in the bass, whatever the chords do."""
    p = inst.fit(nearest_pc(w.tonic_pc, center))
    b = 0.0
    while b < w.end_beat - 1e-9:
        d = min(step_beats, w.end_beat - b)
        w.add(layer, inst, b, d * 0.95, p, velocity * (0.85 + 0.3 * w.level(b)) + (6 if abs(b % 4) < 1e-9 else 0))
        b += d


def bass(w: Writer, inst: Instrument, *, layer: str, step_beats: float | None = None, center: int = 40,
         velocity: float = 62) -> None:
    """The chord's bass note: held for the chord (``step_beats`` None), or re-struck every ``step_beats``;
    a step to the next chord's bass moves by the smaller interval."""
    prev: int | None = None
    for b0, b1, chord in w.chord_spans():
        p = inst.fit(nearest_pc(chord.bass_pc, prev if prev is not None else center))
        if abs(p - center) > 9:  # keep the line near its register
            p = inst.fit(nearest_pc(chord.bass_pc, center))
        b = b0
        step = (b1 - b0) if step_beats is None else step_beats
        while b < b1 - 1e-9:
            d = min(step, b1 - b)
            w.add(layer, inst, b, d * 0.95, p, velocity * (0.85 + 0.3 * w.level(b)) + (6 if b == b0 else 0))
            b += d
        prev = p


def build_levels(n_bars: int, *, stages: int = 3) -> list[int]:
    """For a rising build over ``n_bars``: per bar, how many layers play (1 .. ``stages``), entering
    in equal parts of the cue."""
    return [min(stages, 1 + (i * stages) // max(n_bars, 1)) for i in range(n_bars)]


def scale_run(pcs_scale: Sequence[int], tonic_pc: int, *, to_pitch: int, notes: int) -> list[int]:
    """``notes`` scale tones rising to ``to_pitch`` (a harp glissando's last notes), lowest first."""
    scale = {(tonic_pc + s) % 12 for s in pcs_scale}
    out = [to_pitch]
    p = to_pitch
    while len(out) < notes:
        p -= 1
        if p % 12 in scale:
            out.append(p)
    return out[::-1]
