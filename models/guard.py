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


@lru_cache(maxsize=2)
def _prefix_hashes(path: str) -> np.ndarray:
    """``P`` (uint64, length N + 1) with ``P[i]`` the hash of the corpus' first ``i`` intervals, so
    that the hash of every window ``[i, i + n)`` is ``P[i + n] - P[i] * BASE**n`` (all modulo 2**64,
    the same values as hashing each window by Horner's rule). Built without a Python loop: ``BASE``
    is odd, hence invertible modulo 2**64, and ``P[i] = BASE**(i-1) * sum(x[k] * BASE**-k, k < i)``."""
    iv, _ = _corpus(path)
    n = len(iv)
    base = np.uint64(int(_BASE))
    inv = np.uint64(pow(int(_BASE), -1, 1 << 64))
    p = np.zeros(n + 1, np.uint64)
    if n:
        with np.errstate(over="ignore"):
            pows = np.ones(n, np.uint64)  # BASE**0 .. BASE**(n-1)
            pows[1:] = np.cumprod(np.full(n - 1, base, np.uint64))
            inv_pows = np.cumprod(np.full(n, inv, np.uint64)) * base  # BASE**0 .. BASE**-(n-1)
            p[1:] = np.cumsum(iv.astype(np.uint64) * inv_pows, dtype=np.uint64) * pows
    return p


def _corpus_window_hashes(path: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashes (int64) of every corpus interval n-gram, and which of them lie inside one piece."""
    iv, piece = _corpus(path)
    if len(iv) < n:
        return np.zeros(0, np.int64), np.zeros(0, bool)
    p = _prefix_hashes(path)
    with np.errstate(over="ignore"):
        h = (p[n:] - p[:-n] * np.uint64(pow(int(_BASE), n, 1 << 64))).view(np.int64)
    m = len(iv) - n + 1
    return h, piece[:m] == piece[n - 1 :]


@lru_cache(maxsize=32)
def _table(path: str, n: int) -> np.ndarray:
    """Sorted hashes of every corpus interval n-gram (none spanning two pieces)."""
    h, inside = _corpus_window_hashes(path, n)
    return np.sort(h[inside])  # duplicates do no harm to searchsorted


def longest_shared_ngram(pitches: list[int], *, path: Path = INDEX_PATH) -> int:
    """Length (in intervals) of the longest interval n-gram of ``pitches`` found in the corpus (0..MAX_N).

    "Shares an n-gram" is monotone in n (every sub-gram of a shared n-gram is shared too), so a
    binary search over n needs about four lengths instead of one per length. It starts at
    :data:`COPY_LIMIT`, whose sorted table the sampler's :class:`NgramBlocker` has built; for the
    other lengths the corpus' window hashes (two vector operations on the prefix hashes) are
    looked up among the melody's few sorted ones, so no further corpus table is sorted (a fresh
    process paid ~15 ms a length).
    """
    if not Path(path).is_file() or len(pitches) < 4:
        return 0
    seq = np.diff(np.asarray(pitches, np.int16)).astype(np.int8)

    def shared(n: int) -> bool:
        q = np.sort(_ngram_hashes(seq, n))
        if n == COPY_LIMIT:  # the sampler's NgramBlocker has this length's sorted table already
            t = _table(str(path), n)
            idx = np.clip(np.searchsorted(t, q), 0, max(0, len(t) - 1))
            return bool(len(t) and len(q) and np.any(t[idx] == q))
        h, inside = _corpus_window_hashes(str(path), n)
        if len(q) == 0 or len(h) == 0:
            return False
        idx = np.clip(np.searchsorted(q, h), 0, len(q) - 1)
        return bool(np.any((q[idx] == h) & inside))

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
