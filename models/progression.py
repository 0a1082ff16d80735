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

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_PATH = HERE / "harmony.safetensors"
MODEL_ID = "harmony-bigram:v1"

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
    # no Picardy third: a minor cue's cadences stay minor (the chorales' major last chords would turn it)
    "minor": {"authentic": ({"0:min"}, {"7:maj", "7:dom7", "11:dim", "11:dim7"}),
              "half": ({"7:maj", "7:dom7"}, None),
              "plagal": ({"0:min"}, {"5:min", "5:maj"}),
              "deceptive": ({"8:maj"}, {"7:maj", "7:dom7"})},
}


#: The cue's closing cadence in major and minor: a perfect authentic cadence, the dominant (V or V7,
#: not vii°: an imperfect cadence, which in a cue of a few bars left its key in doubt) onto the tonic.
FINAL_CADENCE = {"major": ({"0:maj"}, {"7:maj", "7:dom7"}), "minor": ({"0:min"}, {"7:maj", "7:dom7"})}


#: Krumhansl-Kessler key profiles (tonic first).
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def split_of(name: str) -> str:
    """``"val"`` for about one piece in ten (by a hash of its name), else ``"train"``."""
    return "val" if int(hashlib.sha1(name.encode()).hexdigest(), 16) % 10 == 0 else "train"


#: The modal colours' harmony, a documented rule (the chorales are tonal, the corpus has no modal
#: progressions): the mode's diatonic triads, moves between them weighted towards its colour
#: chord (dorian IV, phrygian bII, lydian II, mixolydian bVII), cadences onto the tonic from it.
#: The tonic chord of the major scale a mode shares its notes with (lydian V, phrygian bVI) is a
#: passing chord (weight 1 into it): dwelt on, it makes the cue heard in that major key (a lydian
#: cue with V in 4 of 11 bars was heard in its dominant's key).
MODAL_MOVES = {
    "dorian": {"0:min": {"5:maj": 4, "10:maj": 3, "2:min": 2, "3:maj": 2, "7:min": 1},
               "5:maj": {"0:min": 5, "10:maj": 2, "3:maj": 2, "2:min": 1}, "10:maj": {"5:maj": 4, "0:min": 4, "3:maj": 2},
               "2:min": {"5:maj": 4, "0:min": 3, "10:maj": 3}, "3:maj": {"10:maj": 3, "5:maj": 4, "0:min": 3},
               "7:min": {"0:min": 4, "10:maj": 3, "5:maj": 3}},
    "phrygian": {"0:min": {"1:maj": 5, "3:maj": 2, "5:min": 2, "8:maj": 1, "10:min": 1},
                 "1:maj": {"0:min": 6, "3:maj": 2, "10:min": 1}, "3:maj": {"1:maj": 4, "0:min": 3, "5:min": 2},
                 "5:min": {"1:maj": 3, "0:min": 4, "8:maj": 1}, "8:maj": {"1:maj": 4, "5:min": 2, "0:min": 3},
                 "10:min": {"0:min": 4, "1:maj": 4}},
    "lydian": {"0:maj": {"2:maj": 5, "7:maj": 1, "9:min": 2, "4:min": 1, "11:min": 1},
               "2:maj": {"0:maj": 5, "4:min": 2, "9:min": 2, "11:min": 1}, "7:maj": {"2:maj": 3, "0:maj": 4},
               "9:min": {"2:maj": 4, "0:maj": 3, "7:maj": 1}, "4:min": {"2:maj": 4, "9:min": 2, "0:maj": 3},
               "11:min": {"0:maj": 4, "2:maj": 3}},
    "mixolydian": {"0:maj": {"10:maj": 5, "5:maj": 3, "7:min": 2, "2:min": 1, "9:min": 1},
                   "10:maj": {"0:maj": 4, "5:maj": 4, "7:min": 1}, "5:maj": {"0:maj": 5, "10:maj": 3, "2:min": 1},
                   "7:min": {"10:maj": 3, "0:maj": 3, "5:maj": 3}, "2:min": {"10:maj": 3, "5:maj": 3, "0:maj": 2},
                   "9:min": {"10:maj": 3, "5:maj": 3, "2:min": 2}},
}
#: Each modal colour's colour chords: its half cadence, and the chord before its tonic at a cadence.
COLOUR_CHORDS = {"dorian": {"5:maj", "10:maj"}, "phrygian": {"1:maj"}, "lydian": {"2:maj", "11:min"},
                 "mixolydian": {"10:maj", "5:maj"}}
for _mode, _colour in COLOUR_CHORDS.items():
    _tonic = {"0:min"} if _mode in ("dorian", "phrygian") else {"0:maj"}
    CADENCES[_mode] = {"authentic": (_tonic, _colour), "plagal": (_tonic, _colour), "deceptive": (_tonic, _colour),
                       "half": (_colour, None)}


@dataclass
class RuleModel:
    """A modal colour's harmony (:data:`MODAL_MOVES`) behind the same interface as :class:`ModeModel`."""

    mode: str

    @property
    def vocab(self) -> list[str]:
        return sorted(MODAL_MOVES[self.mode], key=lambda t: int(t.split(":")[0]))

    def dense(self, order: int = 2) -> np.ndarray:  # one order: a move from the last chord
        vocab = self.vocab
        v = len(vocab)
        moves = np.zeros((v + 1, v))
        moves[0, :] = 1.0  # after BOS: any chord
        for j, a in enumerate(vocab):
            for b, wgt in MODAL_MOVES[self.mode][a].items():
                moves[j + 1, vocab.index(b)] = wgt
        moves /= moves.sum(axis=1, keepdims=True)
        return np.broadcast_to(moves[None, None, :, :], (len(POSITIONS), v + 1, v + 1, v)).copy()


#: Chord families each mood leans to (a documented rule, multiplying the model's probabilities).
MOOD_WEIGHTS = {
    "tense": {"dim": 1.8, "dim7": 1.8, "hdim7": 1.6, "dom7": 1.4, "aug": 1.5, "chromatic": 1.4, "tonic": 0.8},
    "sombre": {"min": 1.4, "min7": 1.3, "subdominant": 1.3, "dom7": 0.8, "dim7": 0.8, "aug": 0.5},
    "excited": {"maj": 1.3, "dom7": 1.1, "dim": 0.7, "dim7": 0.7, "hdim7": 0.7, "min7": 0.8, "aug": 0.5},
    "serene": {"maj7": 1.5, "min7": 1.2, "dim": 0.5, "dim7": 0.5, "hdim7": 0.6, "aug": 0.4, "chromatic": 0.6},
}


#: A chromatic chord's weight against a diatonic one, and the tonic chord's, whatever the mood: a
#: temp score keeps its key clearer than a chorale's modulating harmony (the key a listener hears,
#: and the full texture's key the bench measures, is the cue's).
KEY_CLARITY = {"chromatic": 0.5, "tonic": 1.3, "parallel tonic": 0.0}


def mood_weights(vocab: list[str], mood: str, mode: str) -> dict[str, float]:
    """A weight per chord for a mood (:data:`MOOD_WEIGHTS`): by its template, whether it is chromatic
    in the mode, whether it is the tonic or a subdominant chord; times :data:`KEY_CLARITY`."""
    from ..harmony import MODE_FAMILY, SCALES

    table = MOOD_WEIGHTS.get(mood, {})
    scale = SCALES[mode] + ((11,) if mode == "minor" else ())  # minor's raised leading tone is its own
    out = {}
    for tok in vocab:
        root, quality = int(tok.split(":")[0]), tok.split(":")[1]
        w = table.get(quality, 1.0)
        if any((root + i) % 12 not in scale for i in TEMPLATES[quality]):
            w *= table.get("chromatic", 1.0) * KEY_CLARITY["chromatic"]
        if root == 0 and quality in ("maj", "min", "min7", "maj7"):
            # the key's own tonic triad, never the parallel mode's (a major I in a minor cue)
            own = (TEMPLATES[quality][1] == 4) == (MODE_FAMILY[mode] == "major")
            w *= KEY_CLARITY["tonic"] if own else KEY_CLARITY["parallel tonic"]
        if root == 0:
            w *= table.get("tonic", 1.0)
        if root == 5:
            w *= table.get("subdominant", 1.0)
        out[tok] = w
    return out


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

    modes: dict[str, ModeModel | RuleModel]
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

    def learned(self, mode: str) -> bool:
        """Whether a mode's harmony is learned (major, minor) or the modal rule (:data:`MODAL_MOVES`)."""
        return isinstance(self.modes[mode], ModeModel)

    def inversion(self, mode: str, token: str, rng: np.random.Generator) -> int:
        """An inversion for a chord, drawn from how often the chorales voice it so (root position
        for a modal chord and a chord the data has no count of)."""
        counts = (self.meta.get("inversions", {}).get(mode) or {}).get(token)
        if not counts or sum(counts) == 0:
            return 0
        n = len(TEMPLATES[token.split(":")[1]])
        p = np.array(counts[:n], float)
        return int(rng.choice(n, p=p / p.sum()))

    def sample_phrase(self, mode: str, n: int, *, cadence: str | None, rng: np.random.Generator,
                      weights: dict[str, float] | None = None, start: set[str] | None = None,
                      slot_weights: list[dict[str, float]] | None = None, after: list[str] = (),
                      cadence_sets: tuple[set[str], set[str] | None] | None = None) -> list[str]:
        """A phrase of ``n`` chords (tokens), no chord repeated at once, ending on ``cadence``
        (:data:`CADENCES`; None: any last chord; ``cadence_sets``: the (last, before) chords
        allowed instead), its first chord in ``start`` when given; ``weights`` re-weight chords
        (mood), ``slot_weights[t]`` chord ``t`` alone (a melody it must fit); ``after``: the chords
        before the phrase (its first chord's context; none: a phrase start). Exact constrained
        sampling (module docstring)."""
        m = self.modes[mode]
        vocab = m.vocab
        v = len(vocab)
        P = self.table(mode).copy()
        if weights:
            P *= np.array([weights.get(w, 1.0) for w in vocab])[None, None, None, :]
        for j in range(v):  # never the chord that is sounding
            P[:, :, j + 1, j] = 0.0
        P /= np.maximum(P.sum(axis=3, keepdims=True), 1e-300)
        allowed = np.ones((n, v))
        sets = cadence_sets or (CADENCES[mode][cadence] if cadence is not None else None)
        if sets is not None and n >= 1:
            last, before = sets
            allowed[n - 1] = [w in last for w in vocab]
            if before is not None and n >= 2:
                allowed[n - 2] = [w in before for w in vocab]
        if start is not None and n >= 1:
            first = np.array([w in start for w in vocab])
            if (allowed[0] * first).any():
                allowed[0] *= first
        if not all(allowed[t].any() for t in range(n)):
            raise ValueError(f"cadence {cadence!r} has no chord in the {mode} vocabulary")
        for t, sw in enumerate(slot_weights or []):
            if t < n and sw:
                allowed[t] *= np.array([sw.get(w, 1.0) for w in vocab])
        pos = [POSITIONS.index(position_of(t, n)) for t in range(n)]
        # beta[t][p2, p1] (context indices): the probability that from the chords (p2, p1) before
        # chord t the phrase can still be completed under the constraints
        beta: list[np.ndarray | None] = [None] * (n + 1)
        beta[n] = np.ones((v + 1, v + 1))
        for t in range(n - 1, 0, -1):
            beta[t] = np.einsum("ijw,jw->ij", P[pos[t]] * allowed[t], beta[t + 1][:, 1:])
        out: list[str] = []
        ctx = {w: i + 1 for i, w in enumerate(vocab)}
        prior = [ctx.get(w, 0) for w in after][-2:]
        p2, p1 = ([0, 0] + prior)[-2:]  # BOS, BOS (context indices) at a phrase start
        for t in range(n):
            probs = P[pos[t]][p2, p1, :] * allowed[t] * beta[t + 1][p1, 1:]
            s = probs.sum()
            if s <= 0:  # unreachable by the model: the allowed chords, as weighted
                probs = allowed[t] * (np.arange(v) != p1 - 1)
                s = probs.sum()
                if s <= 0:
                    probs, s = allowed[t], allowed[t].sum()
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
    modes.update({mode: RuleModel(mode) for mode in MODAL_MOVES})
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
    inversions: dict[str, dict[str, list[int]]] = {"major": {}, "minor": {}}
    for piece in corpus["pieces"]:
        if split_of(piece["name"]) != "train":
            continue
        for ph in piece["phrases"]:
            for tok, inv in ph["chords"]:
                row = inversions[ph["mode"]].setdefault(tok, [0, 0, 0, 0])
                row[min(max(int(inv), 0), 3)] += 1
    meta = {"id": MODEL_ID, "order": ORDER, "inversions": {m: {t: r for t, r in inversions[m].items() if t in models[m].vocab}
                                                          for m in inversions}, "templates": {k: list(v) for k, v in TEMPLATES.items()}, "positions": list(POSITIONS),
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
