"""Orchestral sections: which section a General MIDI program belongs to, and where it sits in the mix.

Stems, reverb sends and stereo placement are per section. The placement follows a film-scoring
stage seen from the conductor, kept deliberately simple:

=============  ============================================  ==========  ===========
section        what                                          pan         reverb send
=============  ============================================  ==========  ===========
strings        high notes left, low notes right (seating)    ±0.60       -9 dB
brass          split L/R by register (horns left, low right) ±0.45       -11 dB
woodwinds      just left of centre, narrow                   -0.10±0.20  -11 dB
percussion     centre, drums spread a little by pitch         ±0.20      -14 dB
keys (synth)   pads, piano, synths: centre                   0           -13 dB
=============  ============================================  ==========  ===========

``pan`` is -1 (left) .. +1 (right). A note's pan is ``centre + spread * clip((pitch - 64) / 24, -1, 1)``
(negative ``spread``: high notes left), quantised to ``PAN_SLOTS`` positions per part so that each
position is one synthesiser channel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Section names in stem order. ``keys`` stands for keys and synths (pianos, organs, synth pads).
SECTIONS: tuple[str, ...] = ("strings", "brass", "woodwinds", "percussion", "keys")

#: Pan positions a part's notes are spread over (one synthesiser channel each).
PAN_SLOTS = 3


@dataclass(frozen=True)
class Placement:
    """Where a section sits: stereo centre and spread (-1..1) and its reverb send (dB)."""

    centre: float
    spread: float
    reverb_send_db: float


PLACEMENT: dict[str, Placement] = {
    "strings": Placement(0.0, -0.60, -9.0),
    "brass": Placement(0.0, -0.45, -11.0),
    "woodwinds": Placement(-0.10, -0.20, -11.0),
    "percussion": Placement(0.0, -0.20, -14.0),
    "keys": Placement(0.0, 0.0, -13.0),
}


def section_of(program: int, is_drum: bool = False) -> str:
    """The section of a General MIDI program (0-based).

    Timpani (47) and the percussive families go to ``percussion``; harp (46), the string
    ensembles and the basses to ``strings``; pianos, organs, guitars, choirs and synths to ``keys``.

    Examples
    --------
    >>> section_of(48), section_of(61), section_of(73), section_of(47), section_of(0)
    ('strings', 'brass', 'woodwinds', 'percussion', 'keys')
    """
    if is_drum:
        return "percussion"
    p = int(program)
    if p == 47 or 8 <= p <= 15 or 112 <= p <= 119:  # timpani, chromatic percussion, percussive
        return "percussion"
    if 32 <= p <= 51 or 104 <= p <= 111:  # basses, strings, string ensembles, ethnic strings
        return "strings"
    if 55 <= p <= 63:  # orchestra hit, brass
        return "brass"
    if 64 <= p <= 79:  # reeds, pipes
        return "woodwinds"
    return "keys"  # pianos, organs, guitars, choirs (52-54), synths, effects


def slot_of(pitch: int) -> int:
    """Pan slot (0 .. PAN_SLOTS-1) of a note: high notes slot 0, low notes the last slot."""
    u = max(-1.0, min(1.0, (pitch - 64) / 24.0))  # +1 high .. -1 low
    return int(round((1 - u) / 2 * (PAN_SLOTS - 1)))


def slot_pan(section: str, slot: int) -> float:
    """Pan (-1..1) of a slot in a section: slot 0 holds the high notes."""
    pl = PLACEMENT[section]
    u = 1.0 - 2.0 * slot / (PAN_SLOTS - 1)  # +1 for slot 0 (high) .. -1 for the last (low)
    return max(-1.0, min(1.0, pl.centre + pl.spread * u))


def section_buses(section: str, *, dry: np.ndarray, send: np.ndarray | None,
                  stem: np.ndarray | None = None) -> list[tuple[np.ndarray, float]]:
    """The buses a section's audio is added into, each with its gain: its own ``stem`` (when stems
    are made; its send is then the stem at its level) and the dry mix, else the dry mix and the
    hall's ``send`` at the section's send level."""
    if stem is not None:
        return [(stem, 1.0), (dry, 1.0)]
    g = float(np.float32(10 ** (PLACEMENT[section].reverb_send_db / 20)))
    return [(dry, 1.0)] + ([(send, g)] if send is not None else [])
