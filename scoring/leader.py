"""The picture start (first frame of action) and end of a video delivered with leaders.

A reference video for a composer or a mix usually starts before the programme: bars and tone, a
countdown, a 2-pop two seconds before the first frame of action, then black, with the programme
starting on a whole hour of timecode (``00:59:52:00`` ... ``01:00:00:00``). No music belongs
there, its countdown numbers are not cuts to hit, and the first cue starts on the picture start.

The same reel often ends with a tail: black after the last frame of action, a tail pop two
seconds after it (one frame of picture and tone), then the tail leader; a rough cut without
leaders often ends in a few seconds of black. The last cue ends where the action does (its last
downbeat on the cut to black), and the tail gets no music and no hits.
"""

from __future__ import annotations

import re
from fractions import Fraction

import numpy as np

from ..contracts import Analysis
from ..errors import InvalidSettings
from .timecodes import frame_to_smpte, is_drop_frame, smpte_to_frame

#: The longest leader looked for: bars and tone from 00:58:30:00 is the longest common layout.
MAX_LEADER_SEC = 120.0
#: The last stretch before the picture start that must be black in a leader (a 2-pop's leader is
#: black for the ~2 s between the pop and the first frame of action).
BLACK_BEFORE_START_SEC = 0.5
#: Cue id of the stretch before the picture start.
LEADER_CUE_ID = "leader"
#: Cue id of the stretch after the picture end.
TAIL_CUE_ID = "tail"
#: How far before the end of the video a tail pop is looked for (tail leaders run ~10-20 s).
MAX_TAIL_SEC = 60.0
#: Black at the very end of the video at least this long is a tail (no music there); shorter black
#: is the end of the last shot (a fade's last frames, a slug of a few frames) and is scored.
TAIL_BLACK_SEC = 1.0
#: The black before a tail pop may start up to this long before the pop's two seconds (the action
#: fades out into it); the last frame of action is still two seconds before the pop.
FADE_OUT_SEC = 1.0

_TIMECODE = re.compile(r"\d{1,2}:\d{2}:\d{2}[:;.]\d{2}")


def check_picture_start(value: str, *, end: bool = False) -> None:
    """Raise :class:`InvalidSettings` unless ``value`` is ``auto``, ``none`` or a timecode
    (``end``: of ``--picture-end``)."""
    if value not in ("auto", "none") and not _TIMECODE.fullmatch(value.strip()):
        what, example = (("picture end", "01:00:20:00 (the first frame after the last frame of action")
                          if end else ("picture start", "01:00:00:00 (the first frame of action"))
        raise InvalidSettings(f"{what} {value!r} is not auto, none or a timecode like 01:00:00:00; "
                              f"use --{what.replace(' ', '-')} {example}, in the video's timecode)")


def _frame_of(setting: str, analysis: Analysis, what: str) -> int:
    """The frame of a timecode given in the video's own timecode (``--picture-start/-end``)."""
    info = analysis.video
    fps = Fraction(info.fps_num, info.fps_den)
    tc = setting.strip().replace(".", ":")
    if is_drop_frame(fps) and tc[-3] == ":":
        tc = tc[:-3] + ";" + tc[-2:]
    try:
        return smpte_to_frame(tc, fps, start_timecode=info.start_timecode)
    except (ValueError, TypeError, IndexError) as exc:
        raise InvalidSettings(f"{what} {setting!r} is not a timecode at {fps} fps ({exc})") from None


def picture_start(analysis: Analysis, setting: str = "auto", *, black_below: float = 0.04) -> tuple[int, str]:
    """The first frame of action and how it was found.

    Parameters
    ----------
    analysis : Analysis
        The analysed video (start timecode, frame rate, per-frame brightness).
    setting : str
        ``"auto"``: a leader is recognised when the video starts less than
        :data:`MAX_LEADER_SEC` before a whole hour of its timecode and the last
        :data:`BLACK_BEFORE_START_SEC` before that hour are black. ``"none"``: the programme starts
        on frame 0. A timecode (``"01:00:00:00"``, in the video's own timecode): that frame.
    black_below : float
        Mean brightness (0..1) under which a frame counts as black.

    Returns
    -------
    (frame, how)
        ``frame`` is a 0-based frame index (0: no leader); ``how`` says why, for the timeline
        (``""`` when there is no leader).
    """
    check_picture_start(setting)
    info = analysis.video
    fps = Fraction(info.fps_num, info.fps_den)
    n = info.frame_count
    if setting == "none":
        return 0, ""
    if setting != "auto":
        frame = _frame_of(setting, analysis, "picture start")
        if not 0 <= frame < n:
            raise InvalidSettings(
                f"picture start {setting} is outside the video ({info.start_timecode} to "
                f"{frame_to_smpte(n - 1, fps, start_timecode=info.start_timecode)}); give a timecode inside it")
        return frame, f"--picture-start {setting}" if frame else ""
    start = info.start_timecode or "00:00:00:00"
    hours, minutes = int(start.split(":")[0]), int(start.split(":")[1])
    if minutes != 59 or hours >= 23:
        return _black_head(analysis, black_below=black_below)
    sep = ";" if is_drop_frame(fps) else ":"
    hour_tc = f"{hours + 1:02d}:00:00{sep}00"
    frame = smpte_to_frame(hour_tc, fps, start_timecode=start)
    if not 0 < frame < n - 1 or frame / fps > MAX_LEADER_SEC:
        return _black_head(analysis, black_below=black_below)
    bright = analysis.frames.brightness
    k = max(1, round(BLACK_BEFORE_START_SEC * fps))
    if len(bright) < frame or any(b >= black_below for b in bright[frame - k: frame]):
        return _black_head(analysis, black_below=black_below)
    return frame, (f"a leader: the video starts at {start}, {float(frame / fps):.2f} s before the hour, "
                   f"and is black just before {hour_tc} (set --picture-start none to score it)")


def _black_head(analysis: Analysis, *, black_below: float) -> tuple[int, str]:
    """Black at the very start of a video without a leader, lasting at least :data:`TAIL_BLACK_SEC`
    (and less than :data:`MAX_LEADER_SEC`), as a tail's black at its end: the head of the
    sequence, before the action; the picture starts on the first frame that is not black."""
    info = analysis.video
    fps = Fraction(info.fps_num, info.fps_den)
    bright = np.asarray(analysis.frames.brightness, float)
    lit = np.flatnonzero(bright >= black_below)
    first = int(lit[0]) if len(lit) else 0
    if first < TAIL_BLACK_SEC * fps or first / fps > MAX_LEADER_SEC:
        return 0, ""
    tc = frame_to_smpte(first, fps, start_timecode=info.start_timecode)
    return first, (f"the video starts with {float(first / fps):.2f} s of black, up to {tc} "
                   f"(set --picture-start none to score it)")


#: The 2-pop: one frame of tone (and of picture) two seconds before the first frame of action.
POP_BEFORE_START_SEC = 2.0
#: How far from the pop's frame a sound is looked for, seconds.
POP_SEARCH_SEC = 0.5
#: A pop whose sound is this many frames or more off its picture is reported as out of sync.
POP_OUT_OF_SYNC_FRAMES = 1.0


def two_pop(analysis: Analysis, start_frame: int, *, black_below: float = 0.04) -> dict | None:
    """Check the 2-pop of a leader: its frame, and where its sound is against it.

    Parameters
    ----------
    analysis : Analysis
        The analysed video (per-frame brightness and timestamps, production-audio onsets).
    start_frame : int
        The picture start (:func:`picture_start`).

    Returns
    -------
    dict or None
        ``None`` when the leader is shorter than the pop's 2 s. Else ``frame`` and ``timecode`` of
        the pop, ``picture`` (a lit frame there, black after it), ``sound_offset_frames`` (the
        strongest production-audio onset within ±0.5 s, minus the pop's time, in frames; positive:
        the sound is late; ``None``: no pop heard) and ``in_sync``.
    """
    fps = Fraction(analysis.video.fps_num, analysis.video.fps_den)
    frame = start_frame - round(POP_BEFORE_START_SEC * fps)
    return _pop_at(analysis, frame, black_below=black_below) if frame >= 0 else None


def tail_pop(analysis: Analysis, end_frame: int, *, black_below: float = 0.04) -> dict | None:
    """Check the tail pop: two seconds after the last frame of action (``end_frame``, the first
    frame after it, as :func:`picture_end` gives it), as :func:`two_pop` does. Together the two
    pops show whether the reference drifts out of sync over the reel. ``None`` when the video ends
    before the pop's frame."""
    fps = Fraction(analysis.video.fps_num, analysis.video.fps_den)
    frame = end_frame + round(POP_BEFORE_START_SEC * fps)
    if frame >= analysis.video.frame_count:
        return None
    return _pop_at(analysis, frame, black_below=black_below)


def _pop_at(analysis: Analysis, frame: int, *, black_below: float) -> dict:
    """A pop's frame (lit, black after it) and its sound against it (:func:`two_pop`)."""
    info = analysis.video
    fps = Fraction(info.fps_num, info.fps_den)
    pts = analysis.frames.pts_sec
    bright = analysis.frames.brightness
    t_pop = float(pts[frame]) if frame < len(pts) else float(frame / fps)
    lit = (frame < len(bright) and bright[frame] >= black_below
           and (frame + 1 == info.frame_count or frame + 1 < len(bright) and bright[frame + 1] < black_below))
    near = [o for o in analysis.audio.onsets if abs(o["time_sec"] - t_pop) <= POP_SEARCH_SEC]
    offset = None
    if near:
        best = max(near, key=lambda o: (o["strength"], -abs(o["time_sec"] - t_pop)))
        offset = round((best["time_sec"] - t_pop) * float(fps), 2)
    return {"frame": frame, "timecode": frame_to_smpte(frame, fps, start_timecode=info.start_timecode),
            "picture": bool(lit), "sound_offset_frames": offset,
            "in_sync": None if offset is None else abs(offset) < POP_OUT_OF_SYNC_FRAMES}


def picture_end(analysis: Analysis, setting: str = "auto", *, start_frame: int = 0,
                black_below: float = 0.04) -> tuple[int, str]:
    """Where the programme ends: the first frame after the last frame of action, and how it was found.

    Parameters
    ----------
    analysis : Analysis
        The analysed video (start timecode, frame rate, per-frame brightness).
    setting : str
        ``"auto"``: a tail is recognised (a) by its pop: one lit frame, black after it, within the
        last :data:`MAX_TAIL_SEC` of the video, with the two seconds before it black (and no more
        than :data:`FADE_OUT_SEC` before those): the action ends two seconds before the pop
        (whatever follows it, e.g. a tail leader); else (b) by
        black at the very end of the video lasting at least :data:`TAIL_BLACK_SEC`: the action
        ends where that black starts. ``"none"``: the programme runs to the last frame. A timecode
        (``"01:00:20:00"``, in the video's own timecode): the first frame of the tail.
    start_frame : int
        The picture start (:func:`picture_start`): the programme ends after it.
    black_below : float
        Mean brightness (0..1) under which a frame counts as black.

    Returns
    -------
    (frame, how)
        ``frame`` is a 0-based, exclusive end frame (``frame_count``: no tail); ``how`` says why,
        for the timeline (``""`` when there is no tail).
    """
    check_picture_start(setting, end=True)
    info = analysis.video
    fps = Fraction(info.fps_num, info.fps_den)
    n = info.frame_count
    if setting == "none":
        return n, ""

    def tc(f: int) -> str:
        return frame_to_smpte(f, fps, start_timecode=info.start_timecode)

    if setting != "auto":
        frame = _frame_of(setting, analysis, "picture end")
        if not start_frame < frame <= n:
            raise InvalidSettings(
                f"picture end {setting} is outside the programme ({tc(start_frame + 1)} to {tc(n)}, the video's "
                f"end); give the first frame after the last frame of action")
        return frame, f"--picture-end {setting}" if frame < n else ""
    bright = np.asarray(analysis.frames.brightness, dtype=float)
    if len(bright) < n or n < 2:
        return n, ""
    black = bright < black_below
    pop_frames = round(POP_BEFORE_START_SEC * fps)
    lo = max(start_frame + 1, n - round(MAX_TAIL_SEC * fps))
    for pop in range(n - 1, lo + pop_frames, -1):  # the last pop-like frame wins (a tail leader may flash)
        if black[pop] or (pop + 1 < n and not black[pop + 1]):
            continue
        end = pop - pop_frames
        # black for the two seconds before the pop, starting there (or up to a second earlier: the
        # action faded out)
        if not black[end:pop].all():
            continue
        first_black = end
        while first_black > lo and black[first_black - 1]:
            first_black -= 1
        if lo < first_black and end - first_black <= FADE_OUT_SEC * fps:
            return end, (f"a tail: the action ends at {tc(end)}, two seconds before a tail pop at {tc(pop)}, with "
                         f"black between (set --picture-end none to score it)")
    lit = np.flatnonzero(~black[start_frame:])
    end = start_frame + int(lit[-1]) + 1 if len(lit) else start_frame
    if end <= start_frame or (n - end) < TAIL_BLACK_SEC * fps:
        return n, ""
    return end, (f"the video ends in {float((n - end) / fps):.2f} s of black from {tc(end)} "
                 f"(set --picture-end none to score it)")


def describe_two_pop(pop: dict, *, name: str = "2-pop") -> str:
    """One line for the summary and the timeline (``"2-pop 00:59:58:00: sound in sync (+0.1 frames)"``;
    ``name``: ``"tail pop"`` for :func:`tail_pop`)."""
    head = f"{name} {pop['timecode']}: "
    if pop["sound_offset_frames"] is None:
        return head + ("no pop heard within 0.5 s (no production audio there)" if pop["picture"] else
                       "neither a pop frame nor its sound found")
    off = pop["sound_offset_frames"]
    if pop["in_sync"]:
        return head + f"sound in sync ({off:+.1f} frames)"
    return head + (f"sound {abs(off):.1f} frames {'late' if off > 0 else 'early'}: the reference's sound is out of "
                   f"sync with its picture; ask for a new export (the score follows the picture)")
