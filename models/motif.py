"""Motif memory: a short main motif per film, varied across cues (transposed, inverted, re-harmonised)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..harmony import degree_pitch, scale_degree
from .tokens import DURATIONS, MAX_POS, PITCH_HI, PITCH_LO, BarData


@dataclass
class Motif:
    """Notes as (bar, position_16th, octave, scale degree, duration_16th), key-independent."""

    notes: list[tuple[int, int, int, int, int]]
    bars: int

    @classmethod
    def from_bars(cls, bars: list[BarData], *, tonic_pc: int, mode: str) -> Motif:
        out = []
        for i, b in enumerate(bars):
            for pos, pitch, dur in b.notes:
                octv, deg = scale_degree(pitch, tonic_pc, mode)
                out.append((i, pos, octv, deg, dur))
        return cls(out, len(bars))

    def realise(self, *, tonic_pc: int, mode: str, variant: str = "transposed") -> list[BarData]:
        """The motif in another key/mode as bars. ``variant``: "transposed" (same degrees),
        "inverted" (degree contour mirrored around the first note) or "re-harmonised" (same as
        transposed: the cue's own chords are conditioned under it)."""
        if not self.notes:
            return [BarData([], -1) for _ in range(self.bars)]
        o0, d0 = self.notes[0][2], self.notes[0][3]
        first = o0 * 7 + d0
        bars = [BarData([], -1) for _ in range(self.bars)]
        for bar, pos, octv, deg, dur in self.notes:
            step = octv * 7 + deg
            if variant == "inverted":
                step = 2 * first - step
            pitch = degree_pitch(0, step, tonic_pc, mode)
            while pitch < PITCH_LO + 7:
                pitch += 12
            while pitch > PITCH_HI - 7:
                pitch -= 12
            bars[bar].notes.append((pos, pitch, dur))
        return bars


#: Notes per beat in the middle of each density band (``tokens.DENS_BANDS``: < 0.75, < 1.25, < 2.25, more).
BAND_NOTES_PER_BEAT = (0.5, 1.0, 1.75, 2.75)


def _strength(pos16: int) -> int:
    """Metrical weight of a 16th position: downbeat 3, half bar 2, beat 1, off the beat 0."""
    return 3 if pos16 % 16 == 0 else 2 if pos16 % 8 == 0 else 1 if pos16 % 4 == 0 else 0


def _fit(d16: int) -> int:
    """The longest duration the vocabulary has that is no longer than ``d16``."""
    return max((d for d in DURATIONS if d <= d16), default=DURATIONS[0])


def adapt_rhythm(bars: list[BarData], *, density_band: int, beats: list[int], scale_pcs: frozenset[int] = frozenset()
                 ) -> list[BarData]:
    """A motif's rhythm fitted to a cue's density band: a motif more than 1.5 times busier than the
    band's middle keeps its metrically strongest notes (each held to the next one kept), one more
    than 1.5 times sparser has its longest notes divided (quarters and longer, until it is within
    1.5 times of the band), so the theme is heard at the cue's own pace instead of pasted into it.

    A divided note keeps its pitch on its first half; the second half is an embellishment in the
    cue's scale (``scale_pcs``, pitch classes), as a player ornaments a slow theme played fast: a
    passing note towards the next note when that is a third or more away, else a neighbour note
    (:func:`_embellishment`). Repeating the pitch instead made a half-note motif a row of the same
    eighths, and the generator, continuing its prompt, wrote rows of one pitch for the whole cue.
    The motif's notes keep their pitches and places; bar lines stay."""
    n = sum(len(b.notes) for b in bars)
    total = sum(beats[: len(bars)])
    if n == 0 or total == 0:
        return bars
    target = BAND_NOTES_PER_BEAT[min(max(density_band, 0), len(BAND_NOTES_PER_BEAT) - 1)] * total
    if n > 1.5 * target:
        return _thin(bars, keep=max(1, round(target)), beats=beats)
    if n < target / 1.5:  # busy enough to belong, still the theme's shape
        return _split(bars, to=int(np.ceil(target / 1.5)), scale_pcs=scale_pcs)
    return bars


def _thin(bars: list[BarData], *, keep: int, beats: list[int]) -> list[BarData]:
    ranked = sorted(((i, k) for i, b in enumerate(bars) for k in range(len(b.notes))),
                    key=lambda ik: (-_strength(bars[ik[0]].notes[ik[1]][0]), -bars[ik[0]].notes[ik[1]][2], ik))
    chosen = set(ranked[:keep]) | {(i, 0) for i, b in enumerate(bars) if b.notes}  # every bar keeps its first note
    out = []
    for i, b in enumerate(bars):
        kept = [b.notes[k] for k in range(len(b.notes)) if (i, k) in chosen]
        slots = 4 * beats[i] if i < len(beats) else MAX_POS
        notes = []
        for j, (pos, pitch, _) in enumerate(kept):
            nxt = kept[j + 1][0] if j + 1 < len(kept) else slots
            notes.append((pos, pitch, _fit(max(1, nxt - pos))))
        out.append(BarData(notes, b.chord))
    return out


def _split(bars: list[BarData], *, to: int, scale_pcs: frozenset[int]) -> list[BarData]:
    """Divide the longest notes (the earliest first among equals) until the bars hold ``to`` notes:
    each into its first half and an embellishment leading to the note after it."""
    out = [BarData(list(b.notes), b.chord) for b in bars]
    while sum(len(b.notes) for b in out) < to:
        longest = max(((i, k) for i, b in enumerate(out) for k in range(len(b.notes))),
                      key=lambda ik: (out[ik[0]].notes[ik[1]][2], -ik[0], -ik[1]))
        i, k = longest
        pos, pitch, d = out[i].notes[k]
        if d < 4:  # eighths and shorter stay whole
            break
        a = _fit(d // 2)
        second = _embellishment(pitch, _next_pitch(out, i, k), scale_pcs)
        out[i].notes[k: k + 1] = [(pos, pitch, a), (pos + a, second, _fit(d - a))]
    return out


def _next_pitch(bars: list[BarData], i: int, k: int) -> int | None:
    """The pitch of the note after note ``k`` of bar ``i`` (in a later bar if it is the bar's last)."""
    if k + 1 < len(bars[i].notes):
        return bars[i].notes[k + 1][1]
    return next((b.notes[0][1] for b in bars[i + 1:] if b.notes), None)


def _embellishment(pitch: int, following: int | None, scale_pcs: frozenset[int]) -> int:
    """The note that fills the second half of a divided ``pitch`` on its way to ``following``: the
    scale step towards it when it is a third or more away (a passing note), else the step away from
    it (a neighbour note; the upper one before a repeated note or the end). Without a scale, the
    pitch itself."""
    if not scale_pcs:
        return pitch
    gap = 0 if following is None else following - pitch
    direction = (1 if gap > 0 else -1) if abs(gap) >= 3 else (-1 if gap > 0 else 1)
    step = pitch + direction
    while step % 12 not in scale_pcs:
        step += direction
    return int(np.clip(step, PITCH_LO, PITCH_HI))
