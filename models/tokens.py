"""The symbolic vocabulary of the generator: REMI-style bars of (position, pitch, duration) with
per-bar conditioning tokens.

Sequence::

    BOS KEY_<pc> METER_<beats>
    BAR MODE_<maj|min|unk> DENS_<0..3|unk> REG_<low|mid|high|unk> CHORD_<I..vii|unk>  (POS_p PITCH_n DUR_d)*
    BAR ...
    EOS

Positions and durations count 16th notes; a bar holds ``4 * beats`` positions (beats of a
quarter note, 2..4). Pitches are MIDI numbers ``PITCH_LO..PITCH_HI``.
"""

from __future__ import annotations

from dataclasses import dataclass

PITCH_LO, PITCH_HI = 48, 88
MAX_POS = 16
DURATIONS = (1, 2, 3, 4, 6, 8, 12, 16)
DENS_BANDS = (0.75, 1.25, 2.25)  # notes per beat: < 0.75 -> 0, < 1.25 -> 1, < 2.25 -> 2, else 3
CHORDS = ("I", "ii", "iii", "IV", "V", "vi", "vii")
REGISTERS = ("low", "mid", "high")
METERS = (2, 3, 4)


def density_band(notes_per_beat: float) -> int:
    for i, edge in enumerate(DENS_BANDS):
        if notes_per_beat < edge:
            return i
    return len(DENS_BANDS)


def register_of(mean_pitch: float) -> str:
    return "low" if mean_pitch < 64 else "mid" if mean_pitch < 74 else "high"


def nearest_duration(d16: int) -> int:
    return min(DURATIONS, key=lambda d: (abs(d - d16), -d))


@dataclass(frozen=True)
class Vocab:
    """Token <-> id tables (fixed order, so checkpoints stay valid)."""

    tokens: tuple[str, ...]

    @classmethod
    def build(cls) -> Vocab:
        t = ["PAD", "BOS", "EOS", "BAR"]
        t += [f"KEY_{k}" for k in range(12)]
        t += [f"METER_{m}" for m in METERS]
        t += ["MODE_maj", "MODE_min", "MODE_unk"]
        t += [f"DENS_{d}" for d in range(len(DENS_BANDS) + 1)] + ["DENS_unk"]
        t += [f"REG_{r}" for r in REGISTERS] + ["REG_unk"]
        t += [f"CHORD_{c}" for c in CHORDS] + ["CHORD_unk"]
        t += [f"POS_{p}" for p in range(MAX_POS)]
        t += [f"PITCH_{p}" for p in range(PITCH_LO, PITCH_HI + 1)]
        t += [f"DUR_{d}" for d in DURATIONS]
        return cls(tuple(t))

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {t: i for i, t in enumerate(self.tokens)})

    def __len__(self) -> int:
        return len(self.tokens)

    def id(self, token: str) -> int:
        return self._index[token]  # type: ignore[attr-defined]

    def ids(self, prefix: str) -> list[int]:
        return [i for i, t in enumerate(self.tokens) if t.startswith(prefix)]


VOCAB = Vocab.build()


@dataclass
class BarData:
    """One bar of melody: notes as (position_16th, midi_pitch, duration_16th), plus its chord degree."""

    notes: list[tuple[int, int, int]]
    chord: int  # 0..6 scale degree of the bar's chord, -1 unknown


def bar_condition(bar: BarData, *, beats: int, mode: str) -> tuple[str, str, str, str]:
    """The conditioning tokens the music itself implies for a bar (training labels)."""
    n = len(bar.notes)
    dens = density_band(n / beats)
    reg = register_of(sum(p for _, p, _ in bar.notes) / n) if n else "mid"
    chord = CHORDS[bar.chord] if 0 <= bar.chord < 7 else "unk"
    return f"MODE_{mode}", f"DENS_{dens}", f"REG_{reg}", f"CHORD_{chord}"


def encode_piece(bars: list[BarData], *, tonic_pc: int, mode: str, beats: int,
                 drop_mask: list[bool] | None = None) -> list[int]:
    """Token ids of a piece. ``drop_mask[i]`` replaces bar i's conditioning by the *_unk tokens
    (conditioning dropout, which also gives the unconditioned baseline)."""
    v = VOCAB
    ids = [v.id("BOS"), v.id(f"KEY_{tonic_pc % 12}"), v.id(f"METER_{beats}")]
    for i, bar in enumerate(bars):
        cond = bar_condition(bar, beats=beats, mode=mode)
        if drop_mask is not None and drop_mask[i]:
            cond = ("MODE_unk", "DENS_unk", "REG_unk", "CHORD_unk")
        ids.append(v.id("BAR"))
        ids += [v.id(c) for c in cond]
        for pos, pitch, dur in bar.notes:
            ids += [v.id(f"POS_{pos}"), v.id(f"PITCH_{pitch}"), v.id(f"DUR_{dur}")]
    ids.append(v.id("EOS"))
    return ids
