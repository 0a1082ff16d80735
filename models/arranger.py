"""Adaptive orchestration: a cue's melody and chords spread over General MIDI instruments by intensity.

=============  ==============================================  ==========================
layer          what                                            when (cue intensity I)
=============  ==============================================  ==========================
melody         the generated line: piano -> violins -> horns    always (instrument by I)
melody double  violins an octave up / flute                     I >= 0.7
counter-line   cello: chord tones a 10th under the melody       I >= 0.45
pad            sustained triads (slow strings -> strings)       always
bass           chord roots, whole -> quarter -> 8th notes       I >= 0.2
ostinato       8th-note arpeggio (harp, or pizzicato in minor)  I >= 0.5
timpani        root on downbeats                                I >= 0.6
accents        brass stab + timpani/crash on every hit point    every hit (exact grid time)
risers         snare roll crescendo into strong hits            strength >= 0.8 and I >= 0.5
=============  ==============================================  ==========================

Voice ranges are respected by octave moves (:data:`RANGES`). Humanisation: seeded micro-timing
(sd 5 ms, at most 12 ms) and velocity (sd 4) on every layer except accents and risers, which
stay exactly on the grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..contracts import Cue, HitPoint, Note, Part
from ..scoring.tempo import TempoMap
from .harmony import DRUM, GM, Chord, fit_range, nearest
from .tokens import BarData


@dataclass
class CueContext:
    cue: Cue
    tmap: TempoMap
    beat0: float
    tonic_pc: int
    mode: str
    bars: list[tuple[int, int]]  # (first beat from the cue start, beats in the bar)
    chords: list[Chord]  # the chord at the start of each bar
    fps: float
    rng: np.random.Generator
    #: chord changes inside bars: ``changes[i]`` lists ``(beat in bar, chord)`` after the bar's first
    changes: dict[int, list[tuple[float, Chord]]] | None = None
    #: the cue's phrases, ``(first bar, bars, cadence)``: where the music breathes and closes
    #: (cadence: "authentic", "half", "plagal", "deceptive" or "modulating" into the next cue's key)
    phrases: list[tuple[int, int, str]] = field(default_factory=list)
    #: the pitch classes of the key's scale (a modal key's own: D dorian has B, not Bb)
    scale: tuple[int, ...] = ()

    def chord_at(self, bar: int, beat_in_bar: float = 0.0) -> Chord:
        """The chord sounding at ``beat_in_bar`` of bar ``bar`` (clamped to the cue's bars)."""
        bar = min(max(bar, 0), len(self.chords) - 1)
        chord = self.chords[bar]
        for b, ch in (self.changes or {}).get(bar, []):
            if b <= beat_in_bar + 1e-9:
                chord = ch
        return chord


def layer_of(track_name: str, *, is_drum: bool = False) -> str:
    """The layer of a track named by :attr:`Orchestra.parts`: ``"Strings (pad) (String Ensemble 1)"``
    -> ``"Strings (pad)"``, ``"Melody (Flute)"`` -> ``"Melody"``, ``"Contrabass"`` -> itself."""
    if is_drum or not track_name.endswith(")"):
        return track_name
    return track_name.rsplit(" (", 1)[0]


class Orchestra:
    """Collects notes per named part."""

    def __init__(self) -> None:
        self._parts: dict[tuple[str, int, bool], Part] = {}

    @property
    def parts(self) -> dict[str, Part]:
        """Parts by track name: the layer and its instrument (``"Melody (Flute)"``; a drum layer, or
        one named after its instrument, by its name alone), one track per instrument a layer plays.
        The names depend only on the layer and the instrument, so an edit elsewhere never renames a
        cue's track (a DAW re-import finds its tracks again)."""
        import pretty_midi

        out: dict[str, Part] = {}
        for (name, program, drum), p in self._parts.items():
            instrument = pretty_midi.program_to_instrument_name(program)
            label = name if drum or instrument.lower() == name.lower() else f"{name} ({instrument})"
            out[label] = Part(name=label, program=p.program, is_drum=p.is_drum, notes=p.notes)
        return out

    def add(self, name: str, program: int, start_sec: float, end_sec: float, pitch: int, velocity: float,
            *, drum: bool = False) -> None:
        """Add a note to the part ``name`` played by ``program`` (see :attr:`parts` for the tracks a
        layer that changes instrument between cues gets)."""
        if end_sec <= start_sec:
            return
        key = (name, 0 if drum else program, drum)
        if key not in self._parts:
            self._parts[key] = Part(name=name, program=program, is_drum=drum)
        p = self._parts[key]
        p.notes.append(Note(start_sec=round(float(start_sec), 6), end_sec=round(float(end_sec), 6),
                            pitch=int(np.clip(pitch, 0, 127)), velocity=int(np.clip(round(velocity), 1, 127))))


def arrange_cue(orch: Orchestra, cx: CueContext, melody: list[BarData], hits: list[HitPoint], *,
                humanize: bool = True) -> None:
    """Write every layer of one cue into ``orch``."""
    cue = cx.cue
    I = float(np.clip(cue.intensity, 0, 1))
    end_beat = float(cue.beats)
    vel = 48 + 62 * I

    def t(beat: float) -> float:
        return cx.tmap.beats_to_time(cx.beat0 + min(beat, end_beat))

    def jitter() -> float:
        return float(np.clip(cx.rng.normal(0, 0.005), -0.012, 0.012)) if humanize else 0.0

    def vj() -> float:
        return float(cx.rng.normal(0, 4)) if humanize else 0.0

    def add(name: str, program: int, b0: float, dur: float, pitch: int, v: float, *, drum: bool = False,
            exact: bool = False) -> None:
        b1 = min(b0 + dur, end_beat)
        if b1 <= b0:
            return
        j = 0.0 if exact else jitter()
        s = max(cue.start_sec, t(b0) + j)
        orch.add(name, program, s, t(b1) - (0.0 if exact else 0.01), pitch if drum else fit_range(pitch, program),
                 v + (0.0 if exact else vj()), drum=drum)

    mel_prog = GM["piano"] if I < 0.35 else GM["violin"] if I < 0.7 else GM["french_horn"]
    pad_prog = GM["slow_strings"] if I < 0.35 else GM["strings"]
    solo = False
    if cue.orchestration:  # "solo cello", "strings", ... from a prompt
        from ..scoring.edits import INSTRUMENT_WORDS, instrument_of, orchestration_words

        words = orchestration_words(cue.orchestration)
        named = [INSTRUMENT_WORDS[i] for w in words if (i := instrument_of(w)) is not None]
        if named:
            mel_prog = named[0]
        solo = "solo" in words
    # melody (+ doubling), counter-line
    for (b0, nb), bar in zip(cx.bars, melody):
        for pos, pitch, dur in bar.notes:
            sb, db = b0 + pos / 4.0, dur / 4.0 * 0.95
            add("Melody", mel_prog, sb, db, pitch, vel + 8)
            if I >= 0.7 and not solo:
                add("Melody double", GM["violin"], sb, db, pitch + 12, vel - 4)
    if solo:  # the soloist alone; hit accents on the soloist too
        for h in hits:
            beat = round(cx.tmap.time_to_beats(h.time_sec - h.offset_frames / cx.fps) - cx.beat0, 6)  # on a bar line: that bar
            if -1e-6 <= beat < end_beat:
                bar_i = int(beat // max(1, cue.beats_per_bar))
                chord = cx.chord_at(bar_i, beat - bar_i * max(1, cue.beats_per_bar)).pcs
                add("Melody accents", mel_prog, beat, 0.5, nearest(chord[0], 60), 100, exact=True)
        return
    if I >= 0.45:
        for i, ((b0, nb), bar) in enumerate(zip(cx.bars, melody)):
            for pos, pitch, dur in bar.notes:
                chord = cx.chord_at(i, pos / 4.0).pcs
                if pos % 4 == 0:  # on the beat
                    target = pitch - 16
                    cp = min((nearest(pc, target) for pc in chord), key=lambda p: abs(p - target))
                    add("Counter-line", GM["cello"], b0 + pos / 4.0, max(dur / 4.0, 1.0) * 0.95, cp, vel - 10)
    # pad, bass, ostinato, timpani
    for i, (b0, nb) in enumerate(cx.bars):
        chord = cx.chord_at(i).pcs
        for k, pc in enumerate(chord):
            add("Strings (pad)", pad_prog, b0, nb, nearest(pc, 57 + 4 * k), vel - 12)
        if I >= 0.2:
            step = float(nb) if I < 0.5 else 1.0 if I < 0.75 else 0.5
            b = 0.0
            while b < nb - 1e-9:
                add("Contrabass", GM["contrabass"], b0 + b, step * 0.9, nearest(chord[0], 40), vel - 6 + (8 if b == 0 else 0))
                b += step
        if I >= 0.5 and i < len(cx.bars) - 1:
            prog = GM["harp"] if cx.mode == "major" else GM["pizzicato"]
            arp = [nearest(pc, 62) for pc in chord] + [nearest(chord[0], 74)]
            for k in range(int(nb * 2)):
                add("Ostinato", prog, b0 + k * 0.5, 0.45, arp[k % len(arp)], vel - 18 + (8 if k % 2 == 0 else 0))
        if I >= 0.6:
            add("Timpani", GM["timpani"], b0, 1.0, nearest(chord[0], 45), vel - 4)
    # accents and risers on the hit points: exactly on the grid time of each hit
    for h in hits:
        grid_sec = h.time_sec - h.offset_frames / cx.fps
        beat = round(cx.tmap.time_to_beats(grid_sec) - cx.beat0, 6)  # a hit on a bar line is in that bar, wherever the cue is
        if not -1e-6 <= beat < end_beat:
            continue
        bar_i = min(int(beat // max(1, cue.beats_per_bar)), len(cx.bars) - 1)
        chord = cx.chord_at(bar_i, beat - bar_i * max(1, cue.beats_per_bar)).pcs
        sv = 72 + 50 * max(I, 0.8 * h.strength)
        for pc in chord:
            add("Brass (accents)", GM["brass"], beat, 0.5, nearest(pc, 62), sv, exact=True)
        add("Timpani", GM["timpani"], beat, 0.5, nearest(chord[0], 45), sv, exact=True)
        if I >= 0.3:
            add("Percussion", 0, beat, 0.5, DRUM["crash"], sv - 12, drum=True, exact=True)
            add("Percussion", 0, beat, 0.25, DRUM["bass_drum"], sv, drum=True, exact=True)
        if h.strength >= 0.8 and I >= 0.5 and beat >= 2.0:
            for k in range(8):  # two-beat snare roll crescendo into the hit
                rb = beat - 2.0 + k * 0.25
                add("Percussion", 0, rb, 0.2, DRUM["snare"], 40 + 9 * k, drum=True, exact=True)
