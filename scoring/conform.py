"""Conform the user's edits to a recut: where did each frame of the old cut go in the new one?

When the picture at a project's path is replaced by a new version of the cut (shots removed,
trimmed, extended, moved or added), the edits in ``timeline.json`` (locked cues, changed moods,
added or deleted hit points, deleted cues) are stored in frame numbers of the *old* cut. Applied
as they are, a locked cue would play over other picture and a mood would land on another
scene. A music editor conforms them: each edit follows its picture to where it now is, and an
edit whose picture was cut is dropped and named.

:func:`match_pictures` finds the old cut's picture in the new one from the per-frame features
both analyses hold (brightness, saturation, warmth, motion: means over the frame, so a re-encode
barely moves them): every new shot is slid along the old shots that look like it and kept where
the frames agree, as runs ``(old_start, new_start, length)``. :func:`conform_edits` moves the
edits through those runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..contracts import Analysis

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger(__name__)

#: Mean absolute difference (0..1) of two frames' fingerprints (grey thumbnails in 6 x 8 cells,
#: :data:`~tempscore.vision.features.FINGERPRINT_CELLS`) under which they are the same picture.
#: A re-encode moves a cell by well under 0.01; the next frame of a moving shot, or another shot,
#: by more.
MAX_FINGERPRINT_DIFFERENCE = 0.03
#: When less than this share of the new cut is found, the fingerprints are compared again with
#: each frame's cells normalised (mean 0, spread 1), which a change of levels leaves alone; that
#: result is taken when it finds 1.5 times as much. The tolerance there (in spreads): a grade
#: (brightness +0.06, contrast x1.15, gamma 1.1, re-encoded) moves a frame by at most 0.06 on the
#: shared footage (0.14 on flat synthetic pictures), while frames 50 or more apart differ by 0.69
#: at the first percentile. MIN_SPREAD keeps a flat frame's noise from being blown up.
LEVELS_CHANGED_SHARE = 0.5
MAX_NORMALISED_DIFFERENCE = 0.2
MIN_SPREAD = 0.02
#: The same for the four per-frame features every analysis holds (brightness, saturation,
#: warmth, motion), used when a fingerprint is missing (an analysis from before they were kept).
MAX_FEATURE_DIFFERENCE = 0.02
#: Old shots (closest in mean look) a stretch of new picture is compared with, besides the one
#: that follows the previous match.
CANDIDATE_SHOTS = 8
#: Differences (0..1) this close to the best count as equally good (re-encoding noise): a still
#: shot agrees at many offsets, and the one continuing the previous match is taken.
TIE_DIFFERENCE = 0.003
#: Offsets compared on many frames (:data:`DENSE_FRAMES`) per candidate old shot, and how many.
DENSE_OFFSETS = 64
DENSE_FRAMES = 256
#: Mean differences this close count as the same (a still shot): the offset continuing the
#: previous match is taken.
STILL_DIFFERENCE = 0.0005
#: Offsets with at least this share of the most votes are compared by their difference: a slowly
#: changing shot agrees a few frames off too, and a trimmed one at fewer samples.
VOTE_SHARE = 0.8
#: Frames of a stretch that vote for its offset (evenly spread): bounds the work on long takes.
SAMPLE_FRAMES = 24
#: New frames looked ahead to tell apart two old places that match a shot alike.
LOOKAHEAD_FRAMES = 3000
#: A run whose shift is this close to the run before it takes that shift when it fits as well.
SNAP_FRAMES = 3
#: Stretches shorter than this are not matched (a frame or two at a dissolve or a flash).
MIN_RUN_FRAMES = 3


@dataclass
class PictureRun:
    """``length`` frames of the old cut from ``old_start`` are the new cut's from ``new_start``."""

    old_start: int
    new_start: int
    length: int


@dataclass
class FrameMap:
    """Where the old cut's frames are in the new cut (:func:`match_pictures`)."""

    old_frames: int
    new_frames: int
    runs: list[PictureRun] = field(default_factory=list)
    by: str = "fingerprint"  # or "features" (the coarser per-frame means)

    def new_frame(self, old_frame: int) -> int | None:
        """The new cut's frame showing old frame ``old_frame``; None when it was cut out."""
        for r in self.runs:
            if r.old_start <= old_frame < r.old_start + r.length:
                return r.new_start + old_frame - r.old_start
        return None

    def pieces(self, old_start: int, old_end: int) -> list[tuple[int, int]]:
        """The new cut's frame ranges ``[start, end)`` showing old frames ``[old_start, old_end)``,
        in new-cut order."""
        out = []
        for r in self.runs:
            a, b = max(old_start, r.old_start), min(old_end, r.old_start + r.length)
            if a < b:
                out.append((r.new_start + a - r.old_start, r.new_start + b - r.old_start))
        return sorted(out)

    @property
    def kept_frames(self) -> int:
        return sum(r.length for r in self.runs)


def _features(a: Analysis) -> np.ndarray:
    fr = a.frames
    n = min(len(fr.brightness), len(fr.saturation), len(fr.warmth), len(fr.motion))
    return np.stack([np.asarray(fr.brightness[:n]), np.asarray(fr.saturation[:n]),
                     0.5 + 0.5 * np.asarray(fr.warmth[:n]), np.asarray(fr.motion[:n])], axis=1).astype(np.float64)


def match_pictures(old: Analysis, new: Analysis, *, old_fingerprint: np.ndarray | None = None,
                   new_fingerprint: np.ndarray | None = None) -> FrameMap:
    """Find the old cut's frames in the new cut.

    Every shot of the new cut is slid along the old shots that look most like it (and the one
    after the previous match); at the offset where most of its frames agree, the longest stretch
    of agreeing frames is a match, and what is left of the shot on either side is matched the
    same way (a shot trimmed, extended, or joined to another without a cut the detector saw).

    Parameters
    ----------
    old, new : Analysis
        The analyses of the two versions of the cut (their shots and per-frame features).
    old_fingerprint, new_fingerprint : np.ndarray, optional
        Shape (n_frames, cells), uint8: the cuts' picture fingerprints (:func:`~tempscore.vision.analyze.analyze`,
        ``fingerprint_out``). Without both, the coarser per-frame features are compared.

    Returns
    -------
    FrameMap
        Runs of frames common to both cuts. Picture only in the new cut (added, or a shot
        extended) is in no run; picture only in the old cut (removed, trimmed) is in no run.
    """
    fo, fn = _features(old), _features(new)
    by, tol = "features", MAX_FEATURE_DIFFERENCE
    if (old_fingerprint is not None and new_fingerprint is not None and old_fingerprint.shape[1:] == new_fingerprint.shape[1:]
            and len(old_fingerprint) == len(fo) and len(new_fingerprint) == len(fn)):
        fo, fn = old_fingerprint.astype(np.float64) / 255.0, new_fingerprint.astype(np.float64) / 255.0
        by, tol = "fingerprint", MAX_FINGERPRINT_DIFFERENCE
    fmap = FrameMap(old_frames=len(fo), new_frames=len(fn), by=by)
    o_spans = [(max(0, s.start_frame), min(len(fo), s.end_frame)) for s in old.shots]
    o_spans = [(a, b) for a, b in o_spans if b > a]
    if not o_spans or not len(fn):
        return fmap
    fmap.runs = _match_runs(fo, fn, o_spans, new, tol)
    if by == "fingerprint" and fmap.kept_frames < LEVELS_CHANGED_SHARE * len(fn):
        # little of the new cut found: a version whose levels changed (a grade, full/limited range)
        # moves every cell; compared with each frame's cells normalised (mean 0, spread 1) it is found
        zo, zn = _normalised(fo), _normalised(fn)
        runs = _match_runs(zo, zn, o_spans, new, MAX_NORMALISED_DIFFERENCE)
        if sum(r.length for r in runs) > 1.5 * fmap.kept_frames:
            fmap.runs, fmap.by = runs, "fingerprint, levels normalised"
    return fmap


def _normalised(f: np.ndarray) -> np.ndarray:
    """Each frame's cells less their mean, over their spread (at least :data:`MIN_SPREAD`)."""
    return (f - f.mean(axis=1, keepdims=True)) / np.maximum(f.std(axis=1, keepdims=True), MIN_SPREAD)


def _match_runs(fo: np.ndarray, fn: np.ndarray, o_spans: list[tuple[int, int]], new: Analysis, tol: float
                ) -> list[PictureRun]:
    """The runs of :func:`match_pictures` for per-frame features ``fo`` (old) and ``fn`` (new)."""
    o_means = np.array([fo[a:b].mean(axis=0) for a, b in o_spans])
    runs: list[PictureRun] = []
    follow = -1  # the old frame right after the previous match
    for shot in new.shots:
        todo = [(max(0, shot.start_frame), min(len(fn), shot.end_frame))]
        found: list[PictureRun] = []
        while todo:
            b0, b1 = todo.pop()
            if b1 - b0 < MIN_RUN_FRAMES:
                continue
            run = _match_stretch(fo, fn[b0:b1], o_spans, o_means, follow, tol, at_cut=b0 == shot.start_frame,
                                 ahead=fn[b0 : b0 + LOOKAHEAD_FRAMES])
            if run is None:
                continue
            run.new_start += b0
            found.append(run)
            todo += [(b0, run.new_start), (run.new_start + run.length, b1)]
        found.sort(key=lambda r: r.new_start)
        runs += found
        if found:
            follow = found[-1].old_start + found[-1].length
    return _merge(_snap(sorted(runs, key=lambda r: r.new_start), fo, fn, tol))


def _snap(runs: list[PictureRun], fo: np.ndarray, fn: np.ndarray, tol: float) -> list[PictureRun]:
    """A run right after another whose shift differs by a frame or two (a slowly changing picture
    agrees a little off, too) takes the neighbour's shift when its frames agree there as well: one
    piece of picture, not a stutter."""
    out: list[PictureRun] = []
    for r in runs:
        if out:
            p = out[-1]
            d_prev, d = p.new_start - p.old_start, r.new_start - r.old_start
            old_at = r.new_start - d_prev
            if (d != d_prev and abs(d - d_prev) <= SNAP_FRAMES and p.new_start + p.length == r.new_start
                    and 0 <= old_at and old_at + r.length <= len(fo)
                    and np.all(np.abs(fo[old_at : old_at + r.length] - fn[r.new_start : r.new_start + r.length]).mean(axis=1) <= tol)):
                r = PictureRun(old_at, r.new_start, r.length)
        out.append(r)
    return out


def _match_stretch(fo: np.ndarray, seg: np.ndarray, o_spans: list[tuple[int, int]], o_means: np.ndarray,
                   follow: int, tol: float, *, at_cut: bool = False, ahead: np.ndarray | None = None) -> PictureRun | None:
    """The best match of new frames ``seg`` in the old cut ``fo``: a run with ``new_start``
    relative to ``seg``, or None. ``at_cut``: ``seg`` starts at a cut of the new cut. ``ahead``:
    the new cut from ``seg``'s start on (a few thousand frames): of two old places that match
    ``seg`` alike (a shot that recurs), the one whose picture goes on agreeing longer wins.

    A few frames of ``seg`` (:data:`SAMPLE_FRAMES`, evenly spread) are compared with every frame
    of each candidate old shot; each agreeing pair votes for an offset. The offsets with (nearly)
    the most votes are compared on many frames, and the closest wins (a still shot: the one
    continuing the previous match, else, for a stretch starting at a cut, the one starting at an
    old cut too). The longest stretch of ``seg`` that agrees frame by frame at
    that offset is the run.
    """
    scale = tol / MAX_FINGERPRINT_DIFFERENCE  # the noise-sized margins in this comparison's units
    tie, still = TIE_DIFFERENCE * scale, STILL_DIFFERENCE * scale
    near = list(np.argsort(np.abs(o_means - seg.mean(axis=0)).mean(axis=1))[:CANDIDATE_SHOTS])
    near += [k for k, (a, b) in enumerate(o_spans) if a <= follow < b and k not in near]
    n_new = len(seg)
    ii = np.unique(np.linspace(0, n_new - 1, min(n_new, SAMPLE_FRAMES)).round().astype(int))
    probe = seg[ii].astype(np.float32)
    cands: list[tuple] = []  # (rank, tie-break by order, old shot start, offset)
    for k in near:
        a0, a1 = o_spans[k]
        d = np.abs(fo[a0:a1].astype(np.float32)[None, :, :] - probe[:, None, :]).mean(axis=2)  # (samples, old frames)
        si, oj = np.nonzero(d <= tol)
        if not len(si):
            continue
        offs = oj - ii[si]  # new frame i is old frame a0 + i + offset
        votes = np.bincount(offs - offs.min())
        top = np.flatnonzero(votes >= max(1, VOTE_SHARE * votes.max())) + offs.min()
        if len(top) > DENSE_OFFSETS:  # a still shot agrees everywhere: the offsets nearest the previous match
            ref = follow - a0 if follow >= 0 else 0
            top = np.sort(top[np.argsort(np.abs(top - ref), kind="stable")[:DENSE_OFFSETS]])
        # the offsets (nearly) most samples agree at, compared on many frames: the closest picture,
        # or, within the noise of it (a still shot), the one continuing the previous match
        fine = _mean_difference(fo[a0:a1], seg, top)
        k = int(np.argmin(fine))
        alike = [j for j in range(len(top)) if fine[j] <= fine[k] + still]
        cont = [j for j in alike if follow >= 0 and a0 + top[j] == follow]
        if cont:
            k = cont[0]
        elif at_cut and 0 in top[alike]:  # a shot that starts at a cut in both versions: head to head
            k = alike[list(top[alike]).index(0)]
        old_at = a0 + int(top[k])
        gap = old_at - follow if follow >= 0 else 0
        # across old shots: most votes, continuing the previous match, the closer picture (to the
        # noise), then the next old picture after the previous match (a cut keeps its order: of two
        # shots that look the same, a shot-reverse-shot, the one that comes next)
        first = (int(votes[top[k] - offs.min()]), bool(cont), -round(float(fine[k]) / tie))
        cands.append((first, (gap >= 0, -abs(gap)), a0, int(top[k])))
    if not cands:
        return None
    top_rank = max(c[0] for c in cands)
    tied = [c for c in cands if c[0] == top_rank]
    if len(tied) > 1:  # alike here (a recurring shot): the place whose picture goes on agreeing longest
        tied.sort(key=lambda c: (_reach(fo, ahead if ahead is not None else seg, c[2] + c[3], tol), c[1]), reverse=True)
    _, _, a0, off = tied[0]
    lo, hi = max(0, -(a0 + off)), min(n_new, len(fo) - a0 - off)
    if hi - lo < MIN_RUN_FRAMES:
        return None
    ok = np.abs(fo[a0 + off + lo : a0 + off + hi] - seg[lo:hi]).mean(axis=1) <= tol
    r0, r1 = _longest_true(ok)
    if r1 - r0 < MIN_RUN_FRAMES:
        return None
    return PictureRun(old_start=a0 + off + lo + r0, new_start=lo + r0, length=r1 - r0)


def _reach(fo: np.ndarray, ahead: np.ndarray, old_at: int, tol: float) -> int:
    """How many frames of ``ahead`` agree with the old cut from ``old_at`` on, before the first that
    does not (frames before the old cut's start are skipped)."""
    lo = max(0, -old_at)
    hi = min(len(ahead), len(fo) - old_at)
    if hi <= lo:
        return 0
    bad = np.flatnonzero(np.abs(fo[old_at + lo : old_at + hi] - ahead[lo:hi]).mean(axis=1) > tol)
    return int(bad[0]) if len(bad) else hi - lo


def _mean_difference(old_seg: np.ndarray, seg: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Mean feature difference of ``seg`` against ``old_seg`` at each offset (new frame i is old
    frame i + offset), over up to :data:`DENSE_FRAMES` frames where they overlap; inf where none."""
    jj = np.unique(np.linspace(0, len(seg) - 1, min(len(seg), DENSE_FRAMES)).round().astype(int))
    at = jj[None, :] + offsets[:, None]
    valid = (at >= 0) & (at < len(old_seg))
    d = np.abs(old_seg[np.clip(at, 0, len(old_seg) - 1)] - seg[jj][None]).mean(axis=2)
    n = valid.sum(axis=1)
    return np.where(n > 0, (d * valid).sum(axis=1) / np.maximum(n, 1), np.inf)


def _longest_true(ok: np.ndarray) -> tuple[int, int]:
    """``[start, stop)`` of the longest run of True in ``ok`` ((0, 0) when none)."""
    best, start = (0, 0), None
    for i, v in enumerate(np.append(ok, False)):
        if v and start is None:
            start = i
        elif not v and start is not None:
            if i - start > best[1] - best[0]:
                best = (start, i)
            start = None
    return best


def _merge(runs: list[PictureRun]) -> list[PictureRun]:
    """Join runs that continue each other in both cuts (a shot split by a cut one cut found), across
    a gap of up to :data:`SNAP_FRAMES` frames at the same shift (frames a compression artefact kept
    from agreeing, between two stretches of the same picture)."""
    out: list[PictureRun] = []
    for r in sorted(runs, key=lambda r: r.new_start):
        gap = r.new_start - (out[-1].new_start + out[-1].length) if out else -1
        if out and 0 <= gap <= SNAP_FRAMES and out[-1].old_start + out[-1].length + gap == r.old_start:
            out[-1].length += gap + r.length
        else:
            out.append(PictureRun(r.old_start, r.new_start, r.length))
    return out


# ----------------------------------------------------------------------------- the edits
def conform_edits(edits: dict[str, Any], fmap: FrameMap, *, new_pts_sec: list[float], new_duration_sec: float,
                  timecode: Callable[[int], str] | None = None) -> tuple[dict[str, Any], list[str]]:
    """Move the edits collected from the old cut's timeline (:func:`~tempscore.scoring.edits.collect_edits`)
    to the new cut's frames.

    A locked cue whose picture is all there, in one piece, moves with it (its music as it was); one
    whose picture changed inside is kept over the new span of that picture (its music is fitted
    again); one whose picture is gone is dropped. Mood/key/tempo edits, added hits, deleted hits and
    deleted cues follow their picture the same way. Returns the conformed edits and one line per
    change for the user (``timecode(frame)`` names new-cut frames).

    Parameters
    ----------
    new_pts_sec : list of float
        The new cut's frame times (for the moved cues' ``start_sec``/``end_sec``).
    new_duration_sec : float
        The new cut's length (a cue ending on its last frame).
    """
    tc = timecode or (lambda f: f"frame {f}")

    def t_of(f: int) -> float:
        return float(new_pts_sec[f]) if f < len(new_pts_sec) else float(new_duration_sec)

    notes: list[str] = []
    out: dict[str, Any] = dict(edits)

    def span_of(f0: int, f1: int) -> tuple[int, int, bool] | None:
        """New span of old frames [f0, f1) and whether it is the same picture in one piece."""
        pieces = fmap.pieces(f0, f1)
        if not pieces:
            return None
        a, b = pieces[0][0], pieces[-1][1]
        return a, b, len(pieces) == 1 and b - a == f1 - f0

    locked = []
    for c in edits.get("locked_cues", []):
        got = span_of(int(c["start_frame"]), int(c["end_frame"]))
        if got is None:
            notes.append(f"cue {c['id']} (locked): its picture is no longer in the cut; its lock is dropped")
            continue
        a, b, whole = got
        moved = {**c, "start_frame": a, "end_frame": b, "start_sec": round(t_of(a), 6), "end_sec": round(t_of(b), 6)}
        if whole:
            shift = a - int(c["start_frame"])
            if c.get("grid"):  # its hits move with it
                moved["grid"] = {**c["grid"], "hits": [{**h, "frame": int(h["frame"]) + shift} for h in c["grid"]["hits"]]}
            if shift:
                notes.append(f"cue {c['id']} (locked) moved {shift:+d} frames with its picture, "
                             f"now from {tc(a)}")
        else:
            # its grid no longer fits: fitted again (at the tempo that keeps its bars); its old length is kept
            moved["grid"] = {"duration_sec": c["grid"]["duration_sec"]} if c.get("grid") else {}
            notes.append(f"cue {c['id']} (locked): its picture was recut inside ({c['end_frame'] - c['start_frame']} -> "
                         f"{b - a} frames); it now runs {tc(a)}-{tc(b)} and its music is fitted again")
        locked.append(moved)
    out["locked_cues"] = locked
    pinned = []
    for c in edits.get("pinned_cues", []):
        got = span_of(int(c["start_frame"]), int(c["end_frame"]))
        if got is None:
            notes.append(f"cue {c['id']}: the edges you placed are on picture no longer in the cut; dropped")
            continue
        pinned.append({**c, "start_frame": got[0], "end_frame": got[1]})
    out["pinned_cues"] = pinned
    overrides = {}
    for cid, ov in (edits.get("cue_overrides") or {}).items():
        got = span_of(int(ov["start_frame"]), int(ov["end_frame"]))
        changed = ", ".join(sorted(k for k in ov if k not in ("start_frame", "end_frame", "take")))
        if got is None:
            notes.append(f"cue {cid}: your edit ({changed}) was on picture no longer in the cut; dropped")
            continue
        # keyed apart from the new plan's ids, which count cues anew: matched by the picture it covers
        overrides[f"{cid}@recut"] = {**ov, "start_frame": got[0], "end_frame": got[1]}
    out["cue_overrides"] = overrides
    deleted = []
    for f in edits.get("deleted_hit_frames", []):
        g = fmap.new_frame(int(f))
        if g is not None:
            deleted.append(g)
    out["deleted_hit_frames"] = sorted(deleted)
    added = []
    for h in edits.get("added_hits", []):
        g = fmap.new_frame(int(h["frame"]))
        if g is None:
            notes.append(f"your hit point at old frame {h['frame']} was on picture no longer in the cut; dropped")
            continue
        added.append({**h, "frame": g, "time_sec": round(t_of(g), 6)})
    out["added_hits"] = added
    removed = []
    for a, b in edits.get("removed_spans", []):
        removed += [list(p) for p in fmap.pieces(int(a), int(b))]
    out["removed_spans"] = removed
    return out, notes
