"""The spotting page's edits, made to ``<stem>.timeline.json`` exactly as a user would make them by hand.

Each function changes a :class:`~tempscore.contracts.Timeline` in place and raises
:class:`~tempscore.errors.InvalidSettings` (one line, what to do) for an edit that cannot be made.
``tempscore plan`` then keeps the edit like any hand edit (see :mod:`tempscore.scoring.edits`):
a mood, key or intensity different from the cue's ``auto`` value, ``locked`` cues verbatim, hit
points added (frames not in ``auto_hit_frames``) or deleted, and the cue's own ``seed``.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from ..contracts import HitPoint, Timeline, to_json
from ..errors import InvalidSettings
from ..fileio import write_text_atomic
from ..scoring.edits import MOODS, find_cue
from ..scoring.validate import SEED_MAX, validate_timeline

#: The shortest cue a dragged edge may leave on either side, in seconds.
MIN_CUE_SEC = 1.0


def _frame_sec(tl: Timeline, frame: int) -> float:
    return round(float(Fraction(frame) * Fraction(tl.video.fps_den, tl.video.fps_num)), 6)


def cue_index(tl: Timeline, cue_id: str) -> int:
    """Index of the cue with id ``cue_id`` (exact id only: the page always sends ids)."""
    for i, c in enumerate(tl.cues):
        if c.id == cue_id:
            return i
    return find_cue(tl, cue_id)  # raises InvalidSettings naming the cues


def set_cue_fields(tl: Timeline, cue_id: str, *, mood: str | None = None, key: str | None = None,
                   intensity: float | None = None, locked: bool | None = None, tacet: bool | None = None,
                   edges_locked: bool | None = None, tempo_bpm: float | None = None,
                   beats_per_bar: int | None = None, recalls: str | None = None,
                   orchestration: str | None = None, title: str | None = None) -> list[str]:
    """Change a cue's mood, key, intensity, lock, edge lock, tacet (no music), base tempo and/or
    metre. Returns the fields that changed.

    ``tempo_bpm`` (20..300) is kept on re-plans (``tempo_locked``), as a tempo typed into the
    timeline is; the planner's own tempo (``cue.auto``) hands the choice back to the planner.
    ``beats_per_bar`` (2..12 quarter-note beats: 3 for 3/4) is the cue's metre; ``recalls`` the
    earlier cue whose theme it opens with (``""``: none); ``orchestration`` its lead instrument
    (``"solo cello"``, ``"horn"``; ``""``: as the intensity asks); ``title`` its name ("The Chase")."""
    from ..harmony import normalize_key

    cue = tl.cues[cue_index(tl, cue_id)]
    stays_locked = cue.locked and locked is not False

    def unlocked() -> None:  # a locked cue keeps its music (as `--mood` on the CLI); values are checked first
        if stays_locked:
            raise InvalidSettings(f"cue {cue.id} is locked; unlock it to change its mood, key, intensity, tempo, "
                                  f"metre, theme, lead instrument or tacet")

    changed: list[str] = []

    def assign(name: str, value: object) -> None:  # a checked value: set, when it is a change, on an unlocked cue
        if value != getattr(cue, name):
            unlocked()
            setattr(cue, name, value)
            changed.append(name)

    if mood is not None:
        if mood not in MOODS:
            raise InvalidSettings(f"mood {mood!r} is not one of {', '.join(MOODS)}")
        assign("mood", mood)
    if key is not None:
        try:
            key = normalize_key(key)
        except (ValueError, AttributeError, TypeError):
            raise InvalidSettings(f"key {key!r} is not a key; use e.g. 'D minor' or 'F major'") from None
        assign("key", key)
    if intensity is not None:
        if isinstance(intensity, bool) or not isinstance(intensity, (int, float)) or not 0 <= intensity <= 1:
            raise InvalidSettings(f"intensity {intensity!r} must be a number from 0 to 1")
        assign("intensity", round(float(intensity), 3))
    if tempo_bpm is not None:
        if isinstance(tempo_bpm, bool) or not isinstance(tempo_bpm, (int, float)) or not 20 <= tempo_bpm <= 300:
            raise InvalidSettings(f"tempo {tempo_bpm!r} must be a number of BPM from 20 to 300")
        value = round(float(tempo_bpm), 3)
        planned = (cue.auto or {}).get("tempo_bpm")
        back_to_auto = planned is not None and abs(value - float(planned)) < 5e-4
        if value != cue.tempo_bpm or cue.tempo_locked == back_to_auto:
            unlocked()
            cue.tempo_bpm, cue.tempo_locked = value, not back_to_auto
            changed.append("tempo_bpm")
    if beats_per_bar is not None:
        if isinstance(beats_per_bar, bool) or not isinstance(beats_per_bar, int) or not 2 <= beats_per_bar <= 12:
            raise InvalidSettings(f"beats per bar {beats_per_bar!r} must be a whole number from 2 to 12 (3 for 3/4)")
        assign("beats_per_bar", beats_per_bar)
    if recalls is not None:
        earlier = [c.id for c in tl.cues[: cue_index(tl, cue_id)]]
        if not isinstance(recalls, str) or (recalls and recalls not in earlier):
            raise InvalidSettings(f"recalls {recalls!r}: name an earlier cue ({', '.join(earlier) or 'none before it'}) "
                                  f"or \"\" for none")
        assign("recalls", recalls)
    if orchestration is not None:
        from ..scoring.edits import orchestration_problem

        if not isinstance(orchestration, str) or (problem := orchestration_problem(orchestration)) is not None:
            raise InvalidSettings(f"orchestration {orchestration!r}: "
                                  f"{problem if isinstance(orchestration, str) else 'must be text'}")
        assign("orchestration", orchestration.strip())
    if title is not None:  # a name only: allowed on a locked cue too (its music is untouched)
        from ..scoring.edits import title_problem

        if (problem := title_problem(title)) is not None:
            raise InvalidSettings(f"title {problem}")
        if title.strip() != cue.title:
            cue.title = title.strip()
            changed.append("title")
    for name, value in (("locked", locked), ("tacet", tacet), ("edges_locked", edges_locked)):
        if value is None:
            continue
        if not isinstance(value, bool):
            raise InvalidSettings(f"{name} {value!r} must be true or false")
        if value != getattr(cue, name):
            if name == "tacet":
                unlocked()
            setattr(cue, name, value)
            changed.append(name)
    return changed


def move_cue_edge(tl: Timeline, cue_id: str, edge: str, frame: int) -> tuple[str, str]:
    """Move the boundary at a cue's ``edge`` ("start" or "end") to ``frame`` (a rolling edit).

    The cue on the other side of the boundary gives or takes the same frames, and both cues get
    ``edges_locked`` so the planner keeps the new boundary (their tempo, hits and music are still
    planned afresh). The film's first and last frame cannot move.

    Returns the ids of the two cues (earlier, later).
    """
    i = cue_index(tl, cue_id)
    if edge not in ("start", "end"):
        raise InvalidSettings(f"edge {edge!r} must be 'start' or 'end'")
    j = i - 1 if edge == "start" else i + 1
    if not 0 <= j < len(tl.cues):
        where = "first cue's start" if edge == "start" else "last cue's end"
        raise InvalidSettings(f"the {where} is the edge of the picture and cannot move")
    a, b = (tl.cues[j], tl.cues[i]) if edge == "start" else (tl.cues[i], tl.cues[j])
    if isinstance(frame, bool) or not isinstance(frame, int):
        raise InvalidSettings(f"frame {frame!r} must be a whole frame number")
    fps = tl.video.fps_num / tl.video.fps_den
    min_frames = max(1, int(round(MIN_CUE_SEC * fps)))
    lo, hi = a.start_frame + min_frames, b.end_frame - min_frames
    if not lo <= frame <= hi:
        raise InvalidSettings(f"a cue edge between {a.id} and {b.id} must stay within frames {lo}..{hi} "
                              f"(each cue at least {MIN_CUE_SEC:g} s)")
    a.end_frame = b.start_frame = frame
    a.end_sec = b.start_sec = _frame_sec(tl, frame)
    a.edges_locked = b.edges_locked = True
    return a.id, b.id


def add_hit(tl: Timeline, frame: int) -> HitPoint:
    """Add a user hit point at ``frame`` (inside a cue, not on its first frame)."""
    if isinstance(frame, bool) or not isinstance(frame, int) or not 0 <= frame < tl.video.frame_count:
        raise InvalidSettings(f"frame {frame!r} must be a whole frame number in 0..{tl.video.frame_count - 1}")
    if any(h.frame == frame for h in tl.hit_points):
        raise InvalidSettings(f"frame {frame} already has a hit point")
    cue = next((c for c in tl.cues if c.start_frame < frame < c.end_frame), None)
    if cue is None:
        raise InvalidSettings(f"frame {frame} starts a cue (its downbeat is already there); add hits inside a cue")
    hit = HitPoint(frame=frame, time_sec=_frame_sec(tl, frame), kind="user", strength=1.0, cue_id=cue.id, how="user")
    tl.hit_points.append(hit)
    tl.hit_points.sort(key=lambda h: h.frame)
    return hit


def remove_hit(tl: Timeline, frame: int) -> HitPoint:
    """Delete the hit point at ``frame``; the planner will not put it back."""
    for k, h in enumerate(tl.hit_points):
        if h.frame == frame:
            return tl.hit_points.pop(k)
    raise InvalidSettings(f"there is no hit point at frame {frame}")


def next_seed(tl: Timeline, cue_id: str, *, run_seed: int) -> int:
    """Give a cue new notes: its seed becomes the next one after its current seed (or the run's)."""
    cue = tl.cues[cue_index(tl, cue_id)]
    if cue.tacet:
        raise InvalidSettings(f"cue {cue.id} is tacet (no music); change its mood or intensity first")
    if cue.locked:  # its notes are kept as they are (its take): a new seed would change nothing
        raise InvalidSettings(f"cue {cue.id} is locked; unlock it to give it new notes")
    cue.seed = ((cue.seed if cue.seed >= 0 else run_seed) + 1) % (SEED_MAX + 1)  # seeds are 32-bit
    return cue.seed


def save_timeline(tl: Timeline, path: Path) -> None:
    """Check the edited timeline as ``tempscore plan`` would and write it atomically."""
    validate_timeline(tl, path)
    write_text_atomic(Path(path), to_json(tl), protect=(Path(tl.video.path),))
