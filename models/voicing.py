"""A learned four-part voicing model: the bass line and inner voices under a melody, from Bach's chorales.

Given a cue's chords and the melody note sounding at each (the soprano), the model writes the
alto, tenor and bass as Bach's chorales voice them; the arranger then orchestrates those voices
(the bass to the basses an octave below and the celli, the inner voices to the pad or chorale
instruments).

The model is a product of categorical distributions counted on the chorales (add-one smoothed),
a scorer over every voicing of the chord inside the voices' ranges:

* which chord member is in the bass, per chord quality (root position, first inversion, ...);
* which member is doubled (or none, in a seventh chord);
* the spacing soprano-alto, alto-tenor and tenor-bass (semitones);
* each voice's motion from its previous note (semitones), when the chord changes and when it
  is repeated;
* each voice's register (absolute pitch);
* parallel perfect fifths or octaves between any two voices (how rare Bach keeps them).

One hard rule: the chord's third is in the voicing (Bach leaves it out of 0.3 % of the training
voicings; a pad of bare fifths no longer says major or minor).

Voicings are drawn one chord after another from the softmax of their log-probabilities at
temperature :data:`TEMPERATURE` over the :data:`TOP_K` best, with the cue's seeded stream: the
same inputs give the same voices, another seed other voices.

Training data: the Bach chorales of the music21 corpus (public domain), every one with four
voices except the held-out split (the generator's validation split by name hash, see
models/corpus.py), on every quarter-note beat where all four voices sound chord tones of the
triad or seventh chord they spell. ``python -m tempscore.models.voicing fit`` counts the tables
(a minute or two) into ``models/voicing.json``; ``evaluate`` measures it on the held-out
chorales against the rule voicing (nearest motion) and chance (bench/results/voicing.json).
"""

from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
MODEL_PATH = Path(__file__).with_name("voicing.json")
DATA_PATH = REPO / "build" / "voicing_data.json.gz"
MODEL_ID = "voicing:v1"
#: Chord shapes (semitones above the root, chord members in order): index = chord quality.
SHAPES = ((0, 4, 7), (0, 3, 7), (0, 3, 6), (0, 4, 8), (0, 4, 7, 10), (0, 3, 7, 10), (0, 3, 6, 10), (0, 4, 7, 11),
          (0, 3, 6, 9))
OTHER = len(SHAPES)  # a chord of none of these shapes
#: Voice ranges (MIDI) the candidates are drawn from: Bach's bass, tenor and alto.
RANGES = {"bass": (36, 62), "tenor": (47, 69), "alto": (53, 76)}
GAPS = {"sa": 25, "at": 25, "tb": 32}  # bins of the spacing tables (the last holds everything wider)
MOTION = 12  # motion tables hold -12..12 semitones (wider leaps fall in the end bins)
REG_LO, REG_HI = 24, 96
TEMPERATURE = 0.7
TOP_K = 8


def quality_of(pcs: Sequence[int]) -> tuple[int, tuple[int, ...]]:
    """(quality index into :data:`SHAPES`, the chord's pitch classes in member order) of a chord
    given root first; :data:`OTHER` and the pitch classes as given for another shape."""
    root = pcs[0]
    rel = tuple(sorted({(p - root) % 12 for p in pcs}))
    for q, shape in enumerate(SHAPES):
        if rel == tuple(sorted(shape)):
            return q, tuple((root + i) % 12 for i in shape)
    return OTHER, tuple(pcs)


def fit_chord(voices: Sequence[int]) -> tuple[int, int] | None:
    """(root pitch class, quality) of the triad or seventh chord the sounding ``voices`` spell, when
    every voice is one of its tones (else None: a passing or suspended note is sounding)."""
    pcs = {p % 12 for p in voices}
    bass = min(voices) % 12
    best = None
    for q, shape in enumerate(SHAPES):
        for root in range(12):
            chord = {(root + i) % 12 for i in shape}
            if pcs <= chord and len(chord - pcs) <= 1:
                score = len(pcs & chord) - 0.5 * len(chord - pcs) + 0.25 * (bass == root) - 0.01 * q
                if best is None or score > best[0]:
                    best = (score, root, q)
    return None if best is None else (best[1], best[2])


# ============================================================================ features
def _gap_bin(d: np.ndarray, n: int) -> np.ndarray:
    return np.clip(d, 0, n - 1)


def _motion_bin(d: np.ndarray) -> np.ndarray:
    return np.clip(d, -MOTION, MOTION) + MOTION


def _reg_bin(p: np.ndarray) -> np.ndarray:
    return np.clip(p, REG_LO, REG_HI) - REG_LO


def _doubling(members: np.ndarray, n_members: int) -> np.ndarray:
    """Per voicing (rows of 4 member indexes): which member is doubled (0..3), 4 none, 5 other."""
    counts = np.stack([(members == m).sum(axis=1) for m in range(4)], axis=1)
    out = np.full(len(members), 5)
    distinct = (counts <= 1).all(axis=1) & ((counts > 0).sum(axis=1) == 4)
    out[distinct] = 4
    one = ((counts == 2).sum(axis=1) == 1) & ((counts > 0).sum(axis=1) >= min(3, n_members))
    out[one] = np.argmax(counts == 2, axis=1)[one]
    return out


def _parallels(prev: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """Per row: whether any pair of voices moves in parallel perfect fifths or octaves
    (prev, cur: (n, v) pitches, lowest voice first)."""
    i, j = np.triu_indices(cur.shape[1], 1)
    a0, a1 = (prev[:, j] - prev[:, i]) % 12, (cur[:, j] - cur[:, i]) % 12
    moved = (cur[:, i] != prev[:, i]) & (cur[:, j] != prev[:, j])
    perfect = (a0 == a1) & ((a0 == 7) | (a0 == 0))
    return (moved & perfect).any(axis=1)


@dataclass
class VoicingModel:
    """Log-probability tables (see the module docstring) and what they were trained on."""

    tables: dict[str, np.ndarray]
    meta: dict[str, Any]

    @classmethod
    def from_counts(cls, counts: dict[str, list], meta: dict[str, Any]) -> VoicingModel:
        tables = {}
        for k, c in counts.items():
            a = np.asarray(c, float) + 1.0  # add-one smoothing
            tables[k] = np.log(a / a.sum(axis=-1, keepdims=True))
        return cls(tables, meta)

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> VoicingModel:
        return _load(str(path))

    # ------------------------------------------------------------------ scoring
    def candidates(self, pcs: tuple[int, ...], soprano: int | None) -> np.ndarray:
        """Every (bass, tenor, alto) of the chord's tones inside the voices' ranges, lowest first,
        strictly rising, the alto at or under the soprano; shape (n, 3)."""
        return _candidates(tuple(pcs), soprano)

    def static_scores(self, cands: np.ndarray, pcs: tuple[int, ...], soprano: int | None) -> np.ndarray:
        """Log-probability of each candidate on its own: bass member, doubling, spacing, register."""
        t = self.tables
        q, members = quality_of(pcs)
        member_of = np.full(12, 3)  # pitch class -> chord member (a tone outside the chord counts as a seventh)
        for i, pc in enumerate(members[:4]):
            member_of[pc] = i
        voices = cands if soprano is None else np.column_stack([cands, np.full(len(cands), soprano)])
        mem = member_of[voices % 12]
        s = t["bass_member"][q][mem[:, 0]]
        if soprano is not None:
            s = s + t["doubling"][q][_doubling(mem, len(members))]
            s = s + t["gap_sa"][_gap_bin(soprano - cands[:, 2], GAPS["sa"])]
        s = s + t["gap_at"][_gap_bin(cands[:, 2] - cands[:, 1], GAPS["at"])]
        s = s + t["gap_tb"][_gap_bin(cands[:, 1] - cands[:, 0], GAPS["tb"])]
        for i, v in enumerate(("bass", "tenor", "alto")):
            s = s + t[f"reg_{v}"][_reg_bin(cands[:, i])]
        return s

    def transition_scores(self, cands: np.ndarray, prev: np.ndarray, *, changed: bool, soprano: int | None,
                          prev_soprano: int | None) -> np.ndarray:
        """Log-probability of moving from ``prev`` (bass, tenor, alto) to each candidate."""
        t = self.tables
        c = int(changed)
        s = np.zeros(len(cands))
        for i, v in enumerate(("bass", "tenor", "alto")):
            s = s + t[f"motion_{v}"][c][_motion_bin(cands[:, i] - prev[i])]
        if soprano is not None and prev_soprano is not None:
            cur = np.column_stack([cands, np.full(len(cands), soprano)])
            pv = np.tile(np.append(prev, prev_soprano), (len(cands), 1))
        else:
            cur, pv = cands, np.tile(prev, (len(cands), 1))
        s = s + t["parallel"][_parallels(pv, cur).astype(int)]
        return s

    # ------------------------------------------------------------------ writing
    def _static(self, pcs: tuple[int, ...], soprano: int | None, want_bass: int | None
                ) -> tuple[np.ndarray, np.ndarray, int | None]:
        """(candidates, their static scores, the soprano used) for a chord, memoised: a cue's chords
        come back again and again under the same melody notes."""
        memo = self.__dict__.setdefault("_memo", {})
        key = (pcs, soprano, want_bass)
        if key not in memo:
            cands, sop = self.candidates(pcs, soprano), soprano
            if want_bass is not None and len(cands):
                keep = cands[:, 0] % 12 == want_bass
                if keep.any():
                    cands = cands[keep]
            if not len(cands):  # a soprano too low for any voicing: voice without it
                sop = None
                cands = self.candidates(pcs, None)
            if len(memo) > 20000:
                memo.clear()
            memo[key] = (cands, self.static_scores(cands, pcs, sop), sop)
        return memo[key]

    def voice(self, chords: Sequence[tuple[int, ...]], sopranos: Sequence[int | None], rng: np.random.Generator, *,
              temperature: float = TEMPERATURE, top_k: int = TOP_K,
              bass_pcs: Sequence[int | None] | None = None) -> list[tuple[int, int, int]]:
        """(bass, tenor, alto) for each chord (pitch classes, root first) under its soprano (the
        melody note sounding then, or None), drawn chord after chord; ``bass_pcs`` asks for a bass
        note (an inversion, or the root) where it is not None."""
        out: list[tuple[int, int, int]] = []
        prev: np.ndarray | None = None
        prev_pcs: tuple[int, ...] | None = None
        prev_s: int | None = None
        for k, (pcs, sop) in enumerate(zip(chords, sopranos)):
            want_bass = bass_pcs[k] if bass_pcs is not None else None
            cands, score, sop = self._static(tuple(pcs), sop, want_bass)
            if prev is not None:
                score = score + self.transition_scores(cands, prev, changed=tuple(pcs) != prev_pcs, soprano=sop,
                                                       prev_soprano=prev_s)
            order = np.argsort(-score, kind="stable")[:top_k]
            z = score[order] / max(temperature, 1e-6)
            p = np.exp(z - z.max())
            pick = order[int(rng.choice(len(order), p=p / p.sum()))]
            prev = cands[pick]
            prev_pcs, prev_s = tuple(pcs), sop
            out.append((int(prev[0]), int(prev[1]), int(prev[2])))
        return out


@functools.lru_cache(maxsize=4)
def _load(path: str) -> VoicingModel:
    data = json.loads(Path(path).read_text())
    return VoicingModel.from_counts(data["counts"], data["meta"])


@functools.lru_cache(maxsize=8192)
def _candidates(pcs: tuple[int, ...], soprano: int | None) -> np.ndarray:
    tones = set(pcs)
    lo_b, hi_b = RANGES["bass"]
    lo_t, hi_t = RANGES["tenor"]
    lo_a, hi_a = RANGES["alto"]
    if soprano is not None:
        hi_a = min(hi_a, soprano)
    bs = [p for p in range(lo_b, hi_b + 1) if p % 12 in tones]
    ts = [p for p in range(lo_t, hi_t + 1) if p % 12 in tones]
    as_ = [p for p in range(lo_a, hi_a + 1) if p % 12 in tones]
    # the third is never left out (Bach leaves it out of 0.3 % of the training voicings): without it
    # a pad of fifths no longer says major or minor
    _, members = quality_of(pcs)
    third = members[1] if len(members) > 1 and soprano is not None and soprano % 12 != members[1] else None
    third = members[1] if soprano is None and len(members) > 1 else third
    rows = [(b, t, a) for b in bs for t in ts if t > b for a in as_ if a > t and a - t <= 12 and t - b <= 24
            and (third is None or third in (b % 12, t % 12, a % 12))]
    return np.array(rows, int).reshape(-1, 3)


# ============================================================================ training data
def held_out(name: str) -> bool:
    """The chorales the generator validates on (models/corpus.py split_by_piece: 5 % by name hash)."""
    h = int(hashlib.sha1(f"bach/{name}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return h < 0.05


def chorale_rows(score) -> list[list[int]]:  # noqa: ANN001 - music21 Score
    """(bass, tenor, alto, soprano, root, quality, beat) on each quarter-note beat where the four voices
    sound chord tones of one chord."""
    parts = list(score.parts)
    if len(parts) != 4:
        return []
    voices = []
    for part in parts:
        notes = []
        for el in part.flatten().notes:
            if not hasattr(el, "pitch") or float(el.duration.quarterLength) <= 0:
                continue
            s = float(el.getOffsetInHierarchy(part))
            notes.append((s, s + float(el.duration.quarterLength), el.pitch.midi))
        voices.append(sorted(notes))
    end = min(v[-1][1] for v in voices if v) if all(voices) else 0.0
    rows = []
    for beat in np.arange(0.0, end, 1.0):
        sounding = []
        for v in voices:
            p = next((n[2] for n in v if n[0] <= beat + 1e-9 < n[1]), None)
            sounding.append(p)
        if None in sounding:
            continue
        s, a, t, b = sounding
        if not b < t <= a <= s:
            continue
        fit = fit_chord([b, t, a, s])
        if fit is None:
            continue
        rows.append([b, t, a, s, fit[0], fit[1], int(beat)])
    return rows


def prepare(out: Path = DATA_PATH) -> dict[str, Any]:
    """Parse the Bach chorales into voicing rows (train and held-out), cached in ``out``."""
    from music21 import converter, corpus

    t0 = time.time()
    paths = sorted(p for p in corpus.getPaths() if "/corpus/bach/" in str(p) and p.suffix in (".mxl", ".xml", ".krn"))
    data: dict[str, Any] = {"train": {}, "held_out": {}}
    seen: set[str] = set()
    for path in paths:
        try:
            sc = converter.parse(str(path))
        except Exception:  # a broken file is skipped
            continue
        rows = chorale_rows(sc)
        if len(rows) < 8:
            continue
        digest = hashlib.sha1(repr([r[:4] for r in rows]).encode()).hexdigest()
        if digest in seen:  # the same chorale twice (several files harmonise one tune alike)
            continue
        seen.add(digest)
        data["held_out" if held_out(f"{Path(path).stem}#0") else "train"][Path(path).stem] = rows
    data["seconds"] = round(time.time() - t0, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(out, "wt") as fh:
        json.dump(data, fh)
    return data


def load_data(path: Path = DATA_PATH) -> dict[str, Any]:
    if not path.is_file():
        return prepare(path)
    with gzip.open(path, "rt") as fh:
        return json.load(fh)


def count(pieces: dict[str, list[list[int]]]) -> dict[str, list]:
    """The model's tables as counts over the chorales' rows."""
    nq = len(SHAPES) + 1
    c = {"bass_member": np.zeros((nq, 4)), "doubling": np.zeros((nq, 6)), "gap_sa": np.zeros(GAPS["sa"]),
         "gap_at": np.zeros(GAPS["at"]), "gap_tb": np.zeros(GAPS["tb"]), "parallel": np.zeros(2)}
    for v in ("bass", "tenor", "alto"):
        c[f"motion_{v}"] = np.zeros((2, 2 * MOTION + 1))
        c[f"reg_{v}"] = np.zeros(REG_HI - REG_LO + 1)
    for rows in pieces.values():
        prev = None
        for b, t, a, s, root, q, beat in rows:
            members = tuple((root + i) % 12 for i in SHAPES[q])
            mem = np.array([[members.index(p % 12) for p in (b, t, a, s)]])
            c["bass_member"][q][mem[0, 0]] += 1
            c["doubling"][q][_doubling(mem, len(members))[0]] += 1
            c["gap_sa"][_gap_bin(np.array(s - a), GAPS["sa"])] += 1
            c["gap_at"][_gap_bin(np.array(a - t), GAPS["at"])] += 1
            c["gap_tb"][_gap_bin(np.array(t - b), GAPS["tb"])] += 1
            for v, p in (("bass", b), ("tenor", t), ("alto", a)):
                c[f"reg_{v}"][_reg_bin(np.array(p))] += 1
            if prev is not None and beat - prev[-1] == 1:
                changed = int((root, q) != (prev[4], prev[5]))
                for i, v in enumerate(("bass", "tenor", "alto")):
                    c[f"motion_{v}"][changed][_motion_bin(np.array((b, t, a)[i] - prev[i]))] += 1
                par = _parallels(np.array([prev[:4]]), np.array([[b, t, a, s]]))[0]
                c["parallel"][int(par)] += 1
            prev = (b, t, a, s, root, q, beat)
    return {k: v.tolist() for k, v in c.items()}


def fit(out: Path = MODEL_PATH) -> dict[str, Any]:
    data = load_data()
    counts = count(data["train"])
    meta = {"id": MODEL_ID, "trained_on": "Bach chorales (music21 corpus), four voices, held-out split excluded",
            "chorales": len(data["train"]), "voicings": int(sum(len(r) for r in data["train"].values())),
            "held_out_chorales": len(data["held_out"]), "temperature": TEMPERATURE, "top_k": TOP_K}
    out.write_text(json.dumps({"meta": meta, "counts": counts}, separators=(",", ":")) + "\n")
    return meta


# ============================================================================ evaluation
def rule_voicing(cands: np.ndarray, prev: np.ndarray | None, soprano: int | None) -> int:
    """The rule the arranger had: the candidate moving least from ``prev`` (else nearest the middle of
    the ranges), root in the bass preferred."""
    mid = np.array([48, 57, 64])
    move = np.abs(cands - (prev if prev is not None else mid)).sum(axis=1)
    return int(np.argmin(move))


def evaluate(model: VoicingModel, pieces: dict[str, list[list[int]]]) -> dict[str, Any]:
    """On held-out chorales, with the true previous voicing given (teacher forcing): how often the
    model's most likely voicing is Bach's, its rank, the log-likelihood of Bach's voicing against
    chance over the same candidates, and the same for the rule voicing."""
    hits = rule_hits = bass_hits = rule_bass = total = 0
    ll = chance = 0.0
    ranks = []
    for rows in pieces.values():
        prev = None
        for b, t, a, s, root, q, beat in rows:
            pcs = tuple((root + i) % 12 for i in SHAPES[q])
            cands = model.candidates(pcs, s)
            truth = np.where((cands == np.array([b, t, a])).all(axis=1))[0]
            if not len(truth):
                prev = (b, t, a, s, root, q, beat)
                continue
            score = model.static_scores(cands, pcs, s)
            pv = None
            if prev is not None and beat - prev[-1] == 1:
                pv = np.array(prev[:3])
                score = score + model.transition_scores(cands, pv, changed=(root, q) != (prev[4], prev[5]), soprano=s,
                                                        prev_soprano=prev[3])
            logp = score - np.logaddexp.reduce(score)
            best = int(np.argmax(score))
            r = rule_voicing(cands, pv, s)
            total += 1
            hits += best == truth[0]
            rule_hits += r == truth[0]
            bass_hits += cands[best, 0] == b
            rule_bass += cands[r, 0] == b
            ll += float(logp[truth[0]])
            chance += -np.log(len(cands))
            ranks.append(int((score > score[truth[0]]).sum()) + 1)
            prev = (b, t, a, s, root, q, beat)
    return {"voicings": total, "exact_top1": round(hits / total, 4), "rule_exact": round(rule_hits / total, 4),
            "bass_note_top1": round(bass_hits / total, 4), "rule_bass_note": round(rule_bass / total, 4),
            "median_rank_of_bachs": float(np.median(ranks)),
            "log_likelihood_per_voicing": round(ll / total, 3), "chance_log_likelihood": round(chance / total, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("prepare", "fit", "evaluate"))
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "voicing.json")
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if a.what == "prepare":
        d = prepare()
        print(f"{len(d['train'])} chorales to train on, {len(d['held_out'])} held out ({d['seconds']} s)")
    elif a.what == "fit":
        print(json.dumps(fit(), indent=1))
    else:
        data = load_data()
        model = VoicingModel.load()
        res = {"model": model.meta, "held_out": evaluate(model, data["held_out"]),
               "train": evaluate(model, dict(list(data["train"].items())[:40]))}
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(res, indent=1) + "\n")
        print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
