"""Copyright guard: the longest run of melodic intervals a generated melody shares with the corpus.

The training corpus's melodies are stored as interval sequences (``models/corpus_intervals.npz``);
all their n-grams for n = 3..MAX_N are hashed (a polynomial rolling hash over int64) and
kept sorted, so a query is a vectorised ``searchsorted``. Transposition does not matter
(intervals), and rhythm is ignored (the stricter test).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

INDEX_PATH = Path(__file__).resolve().parent / "corpus_intervals.npz"
MAX_N = 16
COPY_LIMIT = 12  # a shared 12-gram of intervals counts as copying
_BASE = np.int64(1_000_003)


def _ngram_hashes(seq: np.ndarray, n: int) -> np.ndarray:
    """Hashes of all n-grams of an int sequence (values shifted to be positive), shape (len-n+1,)."""
    if len(seq) < n:
        return np.zeros(0, np.int64)
    x = seq.astype(np.int64) + 128
    h = np.zeros(len(seq) - n + 1, np.int64)
    with np.errstate(over="ignore"):
        for k in range(n):
            h = h * _BASE + x[k : len(seq) - n + 1 + k]
    return h


def build_index(melodies: list[list[int]], path: Path = INDEX_PATH) -> Path:
    """Store the interval sequences of the corpus melodies (MIDI pitch lists)."""
    seqs = [np.diff(np.asarray(m, np.int16)).astype(np.int8) for m in melodies if len(m) > 1]
    lengths = np.array([len(s) for s in seqs], np.int32)
    np.savez_compressed(path, intervals=np.concatenate(seqs) if seqs else np.zeros(0, np.int8), lengths=lengths)
    return path


@lru_cache(maxsize=2)
def _corpus(path: str) -> tuple[np.ndarray, np.ndarray]:
    d = np.load(path)
    iv, lengths = d["intervals"].astype(np.int64) + 128, d["lengths"]
    piece = np.repeat(np.arange(len(lengths)), lengths)
    return iv, piece


@lru_cache(maxsize=32)
def _table(path: str, n: int) -> np.ndarray:
    """Sorted hashes of every corpus interval n-gram (none spanning two pieces)."""
    iv, piece = _corpus(path)
    if len(iv) < n:
        return np.zeros(0, np.int64)
    m = len(iv) - n + 1
    h = np.zeros(m, np.int64)
    with np.errstate(over="ignore"):
        for k in range(n):
            h = h * _BASE + iv[k : k + m]
    return np.sort(h[piece[:m] == piece[n - 1 :]])  # duplicates do no harm to searchsorted


def longest_shared_ngram(pitches: list[int], *, path: Path = INDEX_PATH) -> int:
    """Length (in intervals) of the longest interval n-gram of ``pitches`` found in the corpus (0..MAX_N).

    "Shares an n-gram" is monotone in n (every sub-gram of a shared n-gram is shared too), so a
    binary search over n needs about four hash tables instead of one per length; it starts at
    :data:`COPY_LIMIT`, whose table the sampler's :class:`NgramBlocker` has already built.
    """
    if not Path(path).is_file() or len(pitches) < 4:
        return 0
    seq = np.diff(np.asarray(pitches, np.int16)).astype(np.int8)

    def shared(n: int) -> bool:
        h = _ngram_hashes(seq, n)
        t = _table(str(path), n)
        if len(h) == 0 or len(t) == 0:
            return False
        idx = np.clip(np.searchsorted(t, h), 0, len(t) - 1)
        return bool(np.any(t[idx] == h))

    lo, hi = 2, min(MAX_N, len(seq))  # invariant: best is in [lo, hi]; n-grams shorter than 3 do not count
    n = min(COPY_LIMIT, hi)
    while lo < hi:
        if shared(n):
            lo = n
        else:
            hi = n - 1
        n = (lo + hi + 1) // 2
    return lo if lo >= 3 else 0


class NgramBlocker:
    """Blocks, during sampling, any pitch that would complete an interval n-gram of the corpus.

    ``allowed(history, candidates)`` returns a mask over candidate pitches: False where the last
    ``n - 1`` intervals of ``history`` plus the candidate's interval form a corpus n-gram.
    """

    def __init__(self, n: int = COPY_LIMIT, path: Path = INDEX_PATH) -> None:
        self.n = n
        self.table = _table(str(path), n) if Path(path).is_file() else np.zeros(0, np.int64)

    def allowed(self, history: list[int], candidates: np.ndarray) -> np.ndarray:
        if len(history) < self.n or len(self.table) == 0:
            return np.ones(len(candidates), bool)
        iv = np.diff(np.asarray(history[-self.n:], np.int64))  # the last n - 1 intervals
        prefix = np.int64(0)
        with np.errstate(over="ignore"):
            for x in iv + 128:
                prefix = prefix * _BASE + np.int64(x)
            h = prefix * _BASE + (np.asarray(candidates, np.int64) - history[-1] + 128)
        idx = np.clip(np.searchsorted(self.table, h), 0, len(self.table) - 1)
        return self.table[idx] != h
