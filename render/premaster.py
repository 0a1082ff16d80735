"""Mix again only what changed: the last render's music before its gain, kept in the cache.

A render's music before its loudness gain (the *premaster*: every section's cue segments and the
hall's returns, summed, with the film-end fade) depends only on what each segment plays and where
(the synthesis cache's keys) and on the reverb pieces they feed. A re-render compares those with
the last render's: where nothing that sounds there changed, its samples are the last render's,
bit for bit; only the ranges where something changed (a segment's body and tail, a reverb piece
and its ring) are mixed again, with every segment and piece sounding in them read back from the
cache and added in a whole render's order, so those samples are a whole render's too. A one-cue
edit on a long film then adds up a few seconds of audio instead of every cue of every section
again (a 10-minute film: synthesis and reverb ~2.1 s -> ~0.3 s per re-render). The loudness,
limiter, mix and encoding that follow still see the whole programme.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..cache import StageCache, digest

log = logging.getLogger(__name__)

#: Above this share of the programme changed, the whole programme is mixed (as fast, and simpler).
MAX_REMIX_SHARE = 0.5
#: The premaster is kept in blocks of this length, each named by what sounds in it: a one-cue edit
#: rewrites the block or two it touches (a minute of stereo is 23 MB), not a feature's 1.4 GB an hour.
BLOCK_SEC = 60.0

Range = tuple[int, int]


@dataclass
class Premaster:
    """The last render's premaster in ``cache`` (a :class:`~tempscore.cache.StageCache`) and what
    this render mixes again. Use: :meth:`window` for :func:`~tempscore.render.synth.iter_sections`,
    :meth:`sounding` for the reverb pieces, :meth:`assemble` on the mixed buffer, then
    :meth:`keep`."""

    cache: StageCache
    key: list
    n: int
    sr: int
    rt60_sec: float | None  # None: no reverb
    previous: tuple[dict, list[np.ndarray] | None] | None = None  # (its list, its blocks memory-mapped)
    items: tuple[list, list] | None = None  # (segments, reverb pieces) of this render
    ranges: list[Range] | None = None  # what is mixed again; None: everything
    written_blocks: int = 0  # blocks stored by :meth:`keep` (the others were the last render's)

    @classmethod
    def open(cls, cache: StageCache, *, sr: int, n: int, key: list, rt60_sec: float | None) -> Premaster:
        """The last render's premaster for these settings (``key``: what else it depends on), if kept."""
        full_key = ["premaster", sr, n, rt60_sec, *key]
        pm = cls(cache, full_key, n, sr, rt60_sec)
        meta = cache.get_json("premaster-items", full_key)
        bounds = pm._blocks()
        if isinstance(meta, dict) and isinstance(meta.get("blocks"), list) and len(meta["blocks"]) == len(bounds):
            blocks = [cache.get_array("premaster", [full_key, i, dg], mapped=True)
                      for i, dg in enumerate(meta["blocks"])]
            if all(b is not None and b.shape == (hi - lo, 2) and b.dtype == np.float32
                   for b, (lo, hi) in zip(blocks, bounds)):
                pm.previous = (meta, blocks)
        return pm

    def _blocks(self) -> list[Range]:
        step = max(1, int(BLOCK_SEC * self.sr))
        return [(lo, min(self.n, lo + step)) for lo in range(0, self.n, step)] or [(0, 0)]

    def _block_digests(self, segs: list, pieces: list) -> list[str]:
        """Per block, what sounds in it (its segments, and the reverb pieces ringing into it): the
        block's samples depend on nothing else (the rest is in the key)."""
        return [digest([lo, hi, [x for x in segs if x[1] < hi and x[2] > lo],
                        [x for x in pieces if x[0] < hi and x[2] > lo]]) for lo, hi in self._blocks()]

    def _items(self, spans: list[tuple[str, int, int, str]]) -> tuple[list, list]:
        from .reverb import hall_feeds, hall_pieces, piece_end

        segs = [[sec, int(a), int(b), d] for sec, a, b, d in spans]
        pieces = []
        if self.rt60_sec is not None:  # as the render cuts them (render_audio)
            pieces = [[a, b, piece_end(b, self.n, sr=self.sr, rt60_sec=self.rt60_sec), list(i)]
                      for a, b, i in hall_pieces(hall_feeds(spans), self.n)]
        return segs, pieces

    def window(self, spans: list[tuple[str, int, int, str]]) -> list[Range] | None:
        """The sample ranges to mix again, given every segment that sounds now (``iter_sections``'
        spans); None: all of it (no earlier premaster, too much changed, or a reverb piece sounding
        in a changed range is not in the cache, so its send would have to be whole)."""
        from .reverb import hall_piece_key

        self.items = segs, pieces = self._items(spans)
        self.ranges = None
        if self.previous is None:
            return None
        meta = self.previous[0]
        old_segs = {tuple(s) for s in meta.get("synth", [])}
        old_pieces = {(a, b, e, tuple(i)) for a, b, e, i in meta.get("pieces", [])}
        new_segs = {tuple(s) for s in segs}
        new_pieces = {(a, b, e, tuple(i)) for a, b, e, i in pieces}
        dirty = sorted([(a, b) for _, a, b, _ in old_segs ^ new_segs]
                       + [(a, e) for a, _, e, _ in old_pieces ^ new_pieces])
        ranges: list[Range] = []
        for a, b in dirty:
            a, b = max(0, int(a)), min(self.n, int(b))
            if b <= a:
                continue
            if ranges and a <= ranges[-1][1]:
                ranges[-1] = (ranges[-1][0], max(ranges[-1][1], b))
            else:
                ranges.append((a, b))
        if sum(b - a for a, b in ranges) > MAX_REMIX_SHARE * self.n:
            return None
        for a, b, e, ids in pieces:  # read back, a piece's return needs no send; convolved, a whole one
            if (a, b, e, tuple(ids)) in old_pieces and _overlaps(a, e, ranges) and not self.cache.has(
                    "hall", hall_piece_key(a, b, e, ids, sr=self.sr, rt60_sec=self.rt60_sec)):
                return None
        self.ranges = ranges
        return ranges

    def sounding(self, pieces: list[tuple[int, int, list[str]]]) -> list[tuple[int, int, list[str]]]:
        """The reverb pieces whose return reaches into the ranges mixed again (all of them when
        everything is)."""
        if self.ranges is None or self.rt60_sec is None:
            return pieces
        from .reverb import piece_end

        return [p for p in pieces
                if _overlaps(p[0], piece_end(p[1], self.n, sr=self.sr, rt60_sec=self.rt60_sec), self.ranges)]

    def assemble(self, mixed: np.ndarray) -> np.ndarray:
        """The premaster, in ``mixed`` (returned): as mixed when everything was; else the last
        render's copied in outside the ranges mixed again."""
        if self.ranges is None or self.previous is None:
            return mixed
        meta, blocks = self.previous
        self.previous = (meta, None)  # the mappings go with the last reference: their pages leave this process
        edges = [0, *(x for r in self.ranges for x in r), self.n]
        for a, b in zip(edges[::2], edges[1::2]):  # the stretches between the ranges
            for (lo, hi), block in zip(self._blocks(), blocks or []):
                x0, x1 = max(a, lo), min(b, hi)
                if x1 > x0:
                    mixed[x0:x1] = block[x0 - lo : x1 - lo]
        return mixed

    def keep(self, premaster: np.ndarray) -> None:
        """Store ``premaster`` as the latest, the one it replaces removed. The array is stored as it
        is: with a cache writing behind, the caller changes it only after ``cache.flush()``."""
        if self.items is None:
            return
        segs, pieces = self.items
        digests = self._block_digests(segs, pieces)
        old = list(self.previous[0]["blocks"]) if self.previous is not None else [None] * len(digests)
        if digests == old:
            return
        for i, ((lo, hi), dg) in enumerate(zip(self._blocks(), digests)):
            if dg != old[i]:  # what sounds in it changed: this block is written again
                self.cache.put_array("premaster", [self.key, i, dg], premaster[lo:hi])
        self.cache.put_json("premaster-items", self.key, {"blocks": digests, "synth": segs, "pieces": pieces})
        for i, dg in enumerate(old):
            if dg is not None and dg != digests[i]:
                self.cache.discard("premaster", [self.key, i, dg])
        self.written_blocks = sum(a != b for a, b in zip(digests, old))

    def report(self) -> dict:
        """``{"mode": "whole" | "patched", "remixed_sec": ..., "ranges": ..., "blocks_written": ...,
        "blocks": ...}`` for the summary."""
        blocks = {"blocks_written": self.written_blocks, "blocks": len(self._blocks())}
        if self.ranges is None:
            return {"mode": "whole", "remixed_sec": round(self.n / self.sr, 2), "ranges": 1, **blocks}
        return {"mode": "patched", "remixed_sec": round(sum(b - a for a, b in self.ranges) / self.sr, 2),
                "ranges": len(self.ranges), **blocks}


def _overlaps(a: int, b: int, ranges: list[Range]) -> bool:
    return any(a < hi and b > lo for lo, hi in ranges)
