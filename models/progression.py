"""The learned chord-progression model: a Witten-Bell smoothed n-gram over chords in their key,
conditioned on the mode (major / minor: one model each) and the chord's place in its phrase
(first, inside, the one before last, last), trained on the corpus's harmony
(:mod:`tempscore.models.train_harmony`; numbers in ``models/MODEL_CARD.md``).

A chord is a token ``"<root interval above the tonic>:<template>"`` (``"7:dom7"`` is V7 in any
key, ``"8:maj"`` bVI in major, VI in minor). ``sample_phrase`` draws a phrase of ``n`` chords
that ends on a cadence: the constraint (its last chord, and for an authentic, plagal or deceptive
cadence the one before) is met exactly by sampling backwards-filtered probabilities (the
probability of every continuation that can still reach the cadence), not by retrying. The
mood re-weights chord families (a documented rule: the corpus has no mood labels).

Weights: ``models/harmony.safetensors`` (count tables, int32) + ``models/harmony.json`` (vocabulary,
chord templates, training and held-out numbers). Loaded with ``safetensors`` only.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_PATH = HERE / "harmony.safetensors"
MODEL_ID = "harmony-trigram:v1"

#: Chord templates: intervals above the root (the training data's, :mod:`.train_harmony`).
TEMPLATES = {"maj": (0, 4, 7), "min": (0, 3, 7), "dim": (0, 3, 6), "aug": (0, 4, 8), "dom7": (0, 4, 7, 10),
             "min7": (0, 3, 7, 10), "maj7": (0, 4, 7, 11), "hdim7": (0, 3, 6, 10), "dim7": (0, 3, 6, 9)}
#: Position classes of a chord in its phrase.
POSITIONS = ("first", "inside", "penultimate", "final")
BOS = "<s>"
#: The n-gram order sampled: the bigram with positions measured best on held-out chorales (the
#: trigram over-fits this much data: models/MODEL_CARD.md).
ORDER = 2
#: Chords seen fewer times than this in a mode's training data are left out of its vocabulary.
MIN_COUNT = 3
#: Tokens of each cadence's last chord and, where the cadence defines it, the chord before.
CADENCES = {
    "major": {"authentic": ({"0:maj"}, {"7:maj", "7:dom7", "11:dim", "11:dim7", "11:hdim7"}),
              "half": ({"7:maj", "7:dom7"}, None),
              "plagal": ({"0:maj"}, {"5:maj", "5:min", "2:min7"}),
              "deceptive": ({"9:min"}, {"7:maj", "7:dom7"})},
    "minor": {"authentic": ({"0:min", "0:maj"}, {"7:maj", "7:dom7", "11:dim", "11:dim7"}),
              "half": ({"7:maj", "7:dom7"}, None),
              "plagal": ({"0:min", "0:maj"}, {"5:min", "5:maj"}),
              "deceptive": ({"8:maj"}, {"7:maj", "7:dom7"})},
}


def position_of(i: int, n: int) -> str:
    """The position class of chord ``i`` of a phrase of ``n`` chords."""
    return "final" if i == n - 1 else "penultimate" if i == n - 2 else "first" if i == 0 else "inside"


def _contexts(seq: list[str]) -> list[tuple[str, str, str, str]]:
    """(position, chord two back, chord before, chord) for each chord of a phrase."""
    pad = [BOS, BOS] + seq
    return [(position_of(i, len(seq)), pad[i], pad[i + 1], seq[i]) for i in range(len(seq))]


@dataclass
class ModeModel:
    """Counts of one mode: ``tri[(pos, p2, p1)][w]``, ``bi[(pos, p1)][w]``, ``uni[pos][w]``, ``zero[w]``."""

    vocab: list[str]
    tri: dict[tuple[str, str, str], Counter] = field(default_factory=dict)
    bi: dict[tuple[str, str], Counter] = field(default_factory=dict)
    uni: dict[str, Counter] = field(default_factory=dict)
    zero: Counter = field(default_factory=Counter)

    @classmethod
    def count(cls, phrases: list[list[str]]) -> ModeModel:
        freq = Counter(c for p in phrases for c in p)
        vocab = sorted(c for c, k in freq.items() if k >= MIN_COUNT)
        keep = set(vocab)
        m = cls(vocab)
        for p in phrases:
            seq = [c for c in p if c in keep]
            seq = [c for i, c in enumerate(seq) if i == 0 or c != seq[i - 1]]
            if len(seq) < 2:
                continue
            for pos, p2, p1, w in _contexts(seq):
                m.tri.setdefault((pos, p2, p1), Counter())[w] += 1
                m.bi.setdefault((pos, p1), Counter())[w] += 1
                m.uni.setdefault(pos, Counter())[w] += 1
                m.zero[w] += 1
        return m

    def prob(self, w: str, pos: str, p2: str, p1: str, *, order: int = 3) -> float:
        """Witten-Bell interpolated P(w | position, two chords before) down the chain
        (pos, p2, p1) -> (pos, p1) -> (pos) -> () -> uniform; ``order`` 1..3 stops it earlier."""
        p = 1.0 / (len(self.vocab) + 1)
        for table, key, o in ((self.zero, None, 0), (self.uni, pos, 1), (self.bi, (pos, p1), 2),
                              (self.tri, (pos, p2, p1), 3)):
            if o > order:
                break
            c = table if key is None else table.get(key)
            if not c:
                continue
            total, types = sum(c.values()), len(c)
            p = (c.get(w, 0) + types * p) / (total + types)
        return p

    def dense(self, order: int = 3) -> np.ndarray:
        """P as an array ``[pos, p2, p1, w]`` over ``[BOS] + vocab`` contexts and ``vocab`` chords
        (``order`` 2: the same for every ``p2``)."""
        ctx = [BOS, *self.vocab]
        v = len(self.vocab)
        out = np.zeros((len(POSITIONS), len(ctx), len(ctx), v))
        uniform = 1.0 / (v + 1)
        zero = self._wb(np.full(v, uniform), self.zero)
        for a, pos in enumerate(POSITIONS):
            base1 = self._wb(zero, self.uni.get(pos))
            for j, p1 in enumerate(ctx):
                base2 = self._wb(base1, self.bi.get((pos, p1)))
                out[a, :, j, :] = base2
                for i, p2 in enumerate(ctx if order >= 3 else ()):
                    c = self.tri.get((pos, p2, p1))
                    if c:
                        out[a, i, j, :] = self._wb(base2, c)
        return out

    def _wb(self, lower: np.ndarray, c: Counter | None) -> np.ndarray:
        if not c:
            return lower
        counts = np.array([c.get(w, 0) for w in self.vocab], float)
        total, types = counts.sum(), float(len(c))
        return (counts + types * lower) / (total + types)


@dataclass
class ProgressionModel:
    """Both modes' models, their dense probability tables, and where they came from."""

    modes: dict[str, ModeModel]
    meta: dict
    path: str = ""
    _tables: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def id(self) -> str:
        return MODEL_ID

    @classmethod
    def load(cls, path: str | Path | None = None) -> ProgressionModel:
        return _load(str(path or DEFAULT_PATH))

    def table(self, mode: str) -> np.ndarray:
        """The mode's probabilities as a dense array (:meth:`ModeModel.dense`), made once."""
        if mode not in self._tables:
            self._tables[mode] = self.modes[mode].dense(order=int(self.meta.get("order", ORDER)))
        return self._tables[mode]

    def sample_phrase(self, mode: str, n: int, *, cadence: str | None, rng: np.random.Generator,
                      weights: dict[str, float] | None = None, start: set[str] | None = None) -> list[str]:
        """A phrase of ``n`` chords (tokens), no chord repeated at once, ending on ``cadence``
        (:data:`CADENCES`; None: any last chord), its first chord in ``start`` when given;
        ``weights`` re-weight chords (mood). Exact constrained sampling (module docstring)."""
        m = self.modes[mode]
        vocab = m.vocab
        v = len(vocab)
        P = self.table(mode).copy()
        if weights:
            P *= np.array([weights.get(w, 1.0) for w in vocab])[None, None, None, :]
        for j in range(v):  # never the chord that is sounding
            P[:, :, j + 1, j] = 0.0
        P /= np.maximum(P.sum(axis=3, keepdims=True), 1e-300)
        allowed = np.ones((n, v), bool)
        if cadence is not None and n >= 1:
            last, before = CADENCES[mode][cadence]
            allowed[n - 1] = [w in last for w in vocab]
            if before is not None and n >= 2:
                allowed[n - 2] = [w in before for w in vocab]
        if start is not None and n >= 1:
            first = np.array([w in start for w in vocab])
            if (allowed[0] & first).any():
                allowed[0] &= first
        if not all(allowed[t].any() for t in range(n)):
            raise ValueError(f"cadence {cadence!r} has no chord in the {mode} vocabulary")
        pos = [POSITIONS.index(position_of(t, n)) for t in range(n)]
        # beta[t][p2, p1] (context indices): the probability that from the chords (p2, p1) before
        # chord t the phrase can still be completed under the constraints
        beta: list[np.ndarray | None] = [None] * (n + 1)
        beta[n] = np.ones((v + 1, v + 1))
        for t in range(n - 1, 0, -1):
            beta[t] = np.einsum("ijw,jw->ij", P[pos[t]] * allowed[t], beta[t + 1][:, 1:])
        out: list[str] = []
        p2, p1 = 0, 0  # BOS, BOS (context indices)
        for t in range(n):
            probs = P[pos[t]][p2, p1, :] * allowed[t] * beta[t + 1][p1, 1:]
            s = probs.sum()
            if s <= 0:  # unreachable by the model: the least unlikely allowed chord
                probs = allowed[t].astype(float)
                s = probs.sum()
            w = int(rng.choice(v, p=probs / s))
            out.append(vocab[w])
            p2, p1 = p1, w + 1
        return out

    def log_loss(self, phrases: list[list[str]], mode: str, *, order: int = 3, positional: bool = True) -> tuple[float, int]:
        """Mean negative log-likelihood (nats per chord) of held-out phrases, and the chords counted
        (chords outside the vocabulary are left out, as in training)."""
        m = self.modes[mode]
        keep = set(m.vocab)
        total, n = 0.0, 0
        for p in phrases:
            seq = [c for c in p if c in keep]
            seq = [c for i, c in enumerate(seq) if i == 0 or c != seq[i - 1]]
            if len(seq) < 2:
                continue
            for pos, p2, p1, w in _contexts(seq):
                total -= np.log(m.prob(w, pos if positional else "inside", p2, p1, order=order))
                n += 1
        return total / max(n, 1), n


@lru_cache(maxsize=4)
def _load(path: str) -> ProgressionModel:
    from safetensors.numpy import load_file

    from ..errors import BadStageFile

    p = Path(path)
    meta_path = p.with_suffix(".json")
    if not p.is_file() or not meta_path.is_file():
        raise BadStageFile(f"{p}: harmony model (and its .json) not found; train it with "
                           f"`python -m tempscore.models.train_harmony fit`")
    meta = json.loads(meta_path.read_text())
    state = load_file(str(p))
    modes = {}
    for mode, vocab in meta["vocab"].items():
        ctx = [BOS, *vocab]
        m = ModeModel(list(vocab))
        for row in state[f"{mode}.counts"]:
            order, a, i, j, w, c = (int(x) for x in row)
            pos = POSITIONS[a]
            if order == 3:
                m.tri.setdefault((pos, ctx[i], ctx[j]), Counter())[vocab[w]] += c
            elif order == 2:
                m.bi.setdefault((pos, ctx[j]), Counter())[vocab[w]] += c
            elif order == 1:
                m.uni.setdefault(pos, Counter())[vocab[w]] += c
            else:
                m.zero[vocab[w]] += c
        modes[mode] = m
    return ProgressionModel(modes, meta, path=str(p))


def to_arrays(m: ModeModel) -> np.ndarray:
    """The counts as rows ``(order, position, p2, p1, w, count)`` (context indices into
    ``[BOS] + vocab``), int32."""
    ctx = {c: i for i, c in enumerate([BOS, *m.vocab])}
    widx = {w: i for i, w in enumerate(m.vocab)}
    rows = []
    for (pos, p2, p1), c in m.tri.items():
        rows += [(3, POSITIONS.index(pos), ctx[p2], ctx[p1], widx[w], k) for w, k in c.items()]
    for (pos, p1), c in m.bi.items():
        rows += [(2, POSITIONS.index(pos), 0, ctx[p1], widx[w], k) for w, k in c.items()]
    for pos, c in m.uni.items():
        rows += [(1, POSITIONS.index(pos), 0, 0, widx[w], k) for w, k in c.items()]
    rows += [(0, 0, 0, 0, widx[w], k) for w, k in m.zero.items()]
    return np.array(sorted(rows), np.int32).reshape(-1, 6)


def fit_and_save(corpus: dict, path: Path = DEFAULT_PATH) -> dict:
    """Count the training split of ``corpus`` (:mod:`.train_harmony`), measure the held-out split
    against simpler models, and write the checkpoint; returns the numbers (also in the .json)."""
    from safetensors.numpy import save_file

    from .train_harmony import split_of

    by = {("train", "major"): [], ("train", "minor"): [], ("val", "major"): [], ("val", "minor"): []}
    for piece in corpus["pieces"]:
        for ph in piece["phrases"]:
            by[(split_of(piece["name"]), ph["mode"])].append([c for c, _ in ph["chords"]])
    models = {mode: ModeModel.count(by[("train", mode)]) for mode in ("major", "minor")}
    held = {}
    pm = ProgressionModel(models, {})
    for mode in ("major", "minor"):
        rows = {}
        for name, order, positional in (("unigram", 1, False), ("bigram", 2, False), ("trigram", 3, False),
                                        ("bigram + position", 2, True), ("trigram + position", 3, True)):
            loss, n = pm.log_loss(by[("val", mode)], mode, order=order, positional=positional)
            rows[name] = {"nats_per_chord": round(loss, 4), "perplexity": round(float(np.exp(loss)), 2), "chords": n}
        held[mode] = rows
        held[mode]["cadence"] = _cadence_stats(by[("val", mode)], mode, models[mode])
    meta = {"id": MODEL_ID, "order": ORDER, "templates": {k: list(v) for k, v in TEMPLATES.items()}, "positions": list(POSITIONS),
            "vocab": {mode: models[mode].vocab for mode in models}, "min_count": MIN_COUNT,
            "training": {mode: {"phrases": len(by[("train", mode)]), "chords": sum(map(len, by[("train", mode)]))}
                         for mode in models},
            "held_out": held, "analysis_agreement": corpus.get("analysis_agreement"),
            "pieces": dict(Counter(p["collection"] for p in corpus["pieces"]))}
    save_file({f"{mode}.counts": to_arrays(models[mode]) for mode in models}, str(path))
    path.with_suffix(".json").write_text(json.dumps(meta, indent=1))
    _load.cache_clear()
    return meta


def _cadence_stats(phrases: list[list[str]], mode: str, m: ModeModel) -> dict:
    """How the held-out phrases end (share of final chords on the tonic, on the dominant) and the
    model's probability of a tonic or dominant last chord at the final position."""
    tonic = {"0:maj"} if mode == "major" else {"0:min", "0:maj"}
    dominant = {"7:maj", "7:dom7"}
    finals = [p[-1] for p in phrases if p]
    p_final = m.uni.get("final", Counter())
    tot = sum(p_final.values()) or 1
    return {"held_out_tonic_or_dominant_end": round(sum(f in tonic | dominant for f in finals) / max(len(finals), 1), 3),
            "model_final_tonic_or_dominant": round(sum(p_final.get(w, 0) for w in tonic | dominant) / tot, 3)}
