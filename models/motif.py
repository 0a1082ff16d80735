"""Motif memory: a short main motif per film, varied across cues (transposed, inverted, re-harmonised)."""

from __future__ import annotations

from dataclasses import dataclass

from .harmony import degree_pitch, scale_degree
from .tokens import PITCH_HI, PITCH_LO, BarData


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
