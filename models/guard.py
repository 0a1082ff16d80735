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
def _load(path: str) -> dict[int, np.ndarray]:
    d = np.load(path)
    iv, lengths = d["intervals"], d["lengths"]
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    tables = {}
    for n in range(3, MAX_N + 1):
        parts = [_ngram_hashes(iv[s : s + L], n) for s, L in zip(starts, lengths) if L >= n]
        tables[n] = np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
    return tables


def longest_shared_ngram(pitches: list[int], *, path: Path = INDEX_PATH) -> int:
    """Length (in intervals) of the longest interval n-gram of ``pitches`` found in the corpus (0..MAX_N)."""
    if not Path(path).is_file() or len(pitches) < 4:
        return 0
    tables = _load(str(path))
    seq = np.diff(np.asarray(pitches, np.int16)).astype(np.int8)
    best = 0
    for n in range(3, MAX_N + 1):
        h = _ngram_hashes(seq, n)
        t = tables[n]
        if len(h) == 0 or len(t) == 0:
            break
        idx = np.clip(np.searchsorted(t, h), 0, len(t) - 1)
        if not np.any(t[idx] == h):
            break
        best = n
    return best
