"""Training data from the public-domain works bundled with the music21 package.

Collections used (see models/MODEL_CARD.md): Bach chorales (``bach``), Ryan's Mammoth Collection
(``ryansMammoth``, 1883) and O'Neill's Music of Ireland (``oneills1850``). Each piece gives a melody
(the top part), its key (music21's Krumhansl-Schmuckler analysis), meter, and a chord per bar (the
diatonic triad that best covers the bar's pitch classes over all parts).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from .tokens import MAX_POS, PITCH_HI, PITCH_LO, BarData, nearest_duration

log = logging.getLogger(__name__)

COLLECTIONS = ("bach", "ryansMammoth", "oneills1850")
MAJOR_MODES = {"major", "ionian", "lydian", "mixolydian"}
SCALE = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}


@dataclass
class Piece:
    name: str
    collection: str
    tonic_pc: int
    mode: str  # "major" | "minor"
    beats: int  # quarter-note beats per bar (2, 3, 4)
    bars: list[BarData] = field(default_factory=list)

    @property
    def fingerprint(self) -> str:
        """Identity of the melody (for de-duplication): its interval and rhythm sequence."""
        notes = [n for b in self.bars for n in b.notes]
        iv = [b[1] - a[1] for a, b in zip(notes, notes[1:])]
        return hashlib.sha1(repr((iv, [n[2] for n in notes])).encode()).hexdigest()


def chord_degree(pc_weights: dict[int, float], tonic_pc: int, mode: str) -> int:
    """The diatonic triad (scale degree 0..6) covering most of the weighted pitch classes."""
    if not pc_weights:
        return -1
    scale = SCALE[mode]
    best, best_score = -1, 0.0
    for d in range(7):
        tri = {(tonic_pc + scale[(d + k) % 7]) % 12 for k in (0, 2, 4)}
        if mode == "minor" and d == 4:
            tri = {(tonic_pc + 7) % 12, (tonic_pc + 11) % 12, (tonic_pc + 2) % 12}
        score = sum(w for pc, w in pc_weights.items() if pc in tri)
        score += sum(w for pc, w in pc_weights.items() if pc == (tonic_pc + scale[d]) % 12) * 0.25  # root bonus
        score += {0: 0.02, 4: 0.015, 3: 0.01}.get(d, 0.0)  # prefer I, V, IV on ties
        if score > best_score:
            best, best_score = d, score
    return best


def _melody_part(parts):  # noqa: ANN001, ANN202 - music21 Parts
    """The tune: a part named soprano/melody, else the highest-sounding part with notes in most bars."""
    for p in parts:
        name = (p.partName or "").lower()
        if "soprano" in name or "melody" in name:
            return p
    best, best_mean = parts[0], -1.0
    for p in parts:
        ns = [n.pitch.midi for n in p.recurse().notes if hasattr(n, "pitch")]
        measures = list(p.getElementsByClass("Measure"))
        filled = sum(1 for m in measures if m.recurse().notes) / max(len(measures), 1)
        if ns and filled >= 0.5 and sum(ns) / len(ns) > best_mean:
            best, best_mean = p, sum(ns) / len(ns)
    return best


def piece_from_score(score, name: str, collection: str) -> Piece | None:  # noqa: ANN001 - music21 Score
    """Extract melody bars (16th grid), key, meter and chords; None when the piece does not fit."""
    from music21 import chord as m21chord
    from music21 import meter, note

    parts = list(score.parts)
    if not parts:
        return None
    ts = score.recurse().getElementsByClass(meter.TimeSignature)
    bar_ql = float(ts[0].barDuration.quarterLength) if ts else 4.0
    if bar_ql not in (2.0, 3.0, 4.0):
        return None
    beats = int(bar_ql)
    try:
        k = score.analyze("key")
    except Exception:  # music21 raises many kinds on odd files
        return None
    mode = "major" if k.mode in MAJOR_MODES else "minor"
    tonic = k.tonic.pitchClass
    melody = _melody_part(parts)
    measures = list(melody.getElementsByClass("Measure"))
    if len(measures) < 4:
        return None
    others = [list(p.getElementsByClass("Measure")) for p in parts]
    bars: list[BarData] = []
    off_grid = 0
    total = 0
    for mi, m in enumerate(measures):
        pad = float(m.paddingLeft or 0.0)
        notes: list[tuple[int, int, int]] = []
        weights: dict[int, float] = {}
        for el in m.recurse().notes:
            off = float(el.getOffsetInHierarchy(m)) + pad
            dur = float(el.duration.quarterLength)
            if isinstance(el, m21chord.Chord):
                pitch = max(p.midi for p in el.pitches)
            elif isinstance(el, note.Note):
                pitch = el.pitch.midi
            else:
                continue
            if dur <= 0:  # grace notes
                continue
            total += 1
            pos16, dur16 = off * 4, dur * 4
            if abs(pos16 - round(pos16)) > 1e-3 or abs(dur16 - round(dur16)) > 1e-3:
                off_grid += 1
            pos, d = int(round(pos16)), max(1, int(round(dur16)))
            if not 0 <= pos < min(MAX_POS, beats * 4):
                continue
            d = nearest_duration(min(d, beats * 4 - pos))
            notes.append((pos, pitch, d))
        for part_measures in others:
            if mi < len(part_measures):
                for el in part_measures[mi].recurse().notes:
                    for p in el.pitches:
                        weights[p.pitchClass] = weights.get(p.pitchClass, 0.0) + float(el.duration.quarterLength)
        notes.sort()
        dedup: list[tuple[int, int, int]] = []
        for n in notes:  # one note per position (monophonic melody)
            if dedup and dedup[-1][0] == n[0]:
                continue
            dedup.append(n)
        bars.append(BarData(notes=dedup, chord=chord_degree(weights, tonic, mode)))
    if total == 0 or off_grid / total > 0.05:
        return None
    pitches = [p for b in bars for _, p, _ in b.notes]
    if not pitches or max(pitches) - min(pitches) > PITCH_HI - PITCH_LO:
        return None
    return Piece(name=name, collection=collection, tonic_pc=tonic, mode=mode, beats=beats, bars=bars)


def load_corpus(collections: tuple[str, ...] = COLLECTIONS, *, limit: int | None = None) -> list[Piece]:
    """Parse the music21 corpus collections into :class:`Piece` s, dropping broken files and duplicates."""
    from music21 import converter, corpus, stream

    pieces: list[Piece] = []
    seen: set[str] = set()
    dropped = {"broken": 0, "unfit": 0, "duplicate": 0}
    for coll in collections:
        paths = sorted(p for p in corpus.getPaths() if f"/corpus/{coll}/" in str(p))
        for path in paths[:limit]:
            try:
                parsed = converter.parse(path)
            except Exception:  # a broken file is skipped and counted
                dropped["broken"] += 1
                continue
            scores = list(parsed.scores) if isinstance(parsed, stream.Opus) else [parsed]
            for i, sc in enumerate(scores):
                try:
                    pc = piece_from_score(sc, f"{Path(path).stem}#{i}", coll)
                except Exception:
                    dropped["broken"] += 1
                    continue
                if pc is None:
                    dropped["unfit"] += 1
                    continue
                fp = pc.fingerprint
                if fp in seen:
                    dropped["duplicate"] += 1
                    continue
                seen.add(fp)
                pieces.append(pc)
    log.info("corpus: %d pieces, dropped %s", len(pieces), dropped)
    load_corpus.last_dropped = dropped  # type: ignore[attr-defined]
    return pieces


def split_by_piece(pieces: list[Piece], *, val_share: float = 0.05) -> tuple[list[Piece], list[Piece]]:
    """Deterministic train/validation split by piece name hash (no piece in both)."""
    train, val = [], []
    for p in pieces:
        h = int(hashlib.sha1(f"{p.collection}/{p.name}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        (val if h < val_share else train).append(p)
    return train, val
