"""The picture start (first frame of action) of a video delivered with a leader.

A reference video for a composer or a mix usually starts before the programme: bars and tone, a
countdown, a 2-pop two seconds before the first frame of action, then black, with the programme
starting on a whole hour of timecode (``00:59:52:00`` ... ``01:00:00:00``). No music belongs
there, its countdown numbers are not cuts to hit, and the first cue starts on the picture start.
"""

from __future__ import annotations

import re
from fractions import Fraction

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

_TIMECODE = re.compile(r"\d{1,2}:\d{2}:\d{2}[:;.]\d{2}")


def check_picture_start(value: str) -> None:
    """Raise :class:`InvalidSettings` unless ``value`` is ``auto``, ``none`` or a timecode."""
    if value not in ("auto", "none") and not _TIMECODE.fullmatch(value.strip()):
        raise InvalidSettings(f"picture start {value!r} is not auto, none or a timecode like 01:00:00:00; "
                              "use --picture-start 01:00:00:00 (the first frame of action, in the video's timecode)")


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
        tc = setting.strip().replace(".", ":")
        if is_drop_frame(fps) and tc[-3] == ":":
            tc = tc[:-3] + ";" + tc[-2:]
        try:
            frame = smpte_to_frame(tc, fps, start_timecode=info.start_timecode)
        except (ValueError, TypeError, IndexError) as exc:
            raise InvalidSettings(f"picture start {setting!r} is not a timecode at {fps} fps ({exc})") from None
        if not 0 <= frame < n:
            raise InvalidSettings(
                f"picture start {setting} is outside the video ({info.start_timecode} to "
                f"{frame_to_smpte(n - 1, fps, start_timecode=info.start_timecode)}); give a timecode inside it")
        return frame, f"--picture-start {setting}" if frame else ""
    start = info.start_timecode or "00:00:00:00"
    hours, minutes = int(start.split(":")[0]), int(start.split(":")[1])
    if minutes != 59 or hours >= 23:
        return 0, ""
    sep = ";" if is_drop_frame(fps) else ":"
    hour_tc = f"{hours + 1:02d}:00:00{sep}00"
    frame = smpte_to_frame(hour_tc, fps, start_timecode=start)
    if not 0 < frame < n - 1 or frame / fps > MAX_LEADER_SEC:
        return 0, ""
    bright = analysis.frames.brightness
    k = max(1, round(BLACK_BEFORE_START_SEC * fps))
    if len(bright) < frame or any(b >= black_below for b in bright[frame - k: frame]):
        return 0, ""
    return frame, (f"a leader: the video starts at {start}, {float(frame / fps):.2f} s before the hour, "
                   f"and is black just before {hour_tc} (set --picture-start none to score it)")


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
    info = analysis.video
    fps = Fraction(info.fps_num, info.fps_den)
    frame = start_frame - round(POP_BEFORE_START_SEC * fps)
    if frame < 0:
        return None
    pts = analysis.frames.pts_sec
    bright = analysis.frames.brightness
    t_pop = float(pts[frame]) if frame < len(pts) else float(frame / fps)
    lit = (frame + 1 < len(bright) and bright[frame] >= black_below and bright[frame + 1] < black_below)
    near = [o for o in analysis.audio.onsets if abs(o["time_sec"] - t_pop) <= POP_SEARCH_SEC]
    offset = None
    if near:
        best = max(near, key=lambda o: (o["strength"], -abs(o["time_sec"] - t_pop)))
        offset = round((best["time_sec"] - t_pop) * float(fps), 2)
    return {"frame": frame, "timecode": frame_to_smpte(frame, fps, start_timecode=info.start_timecode),
            "picture": bool(lit), "sound_offset_frames": offset,
            "in_sync": None if offset is None else abs(offset) < POP_OUT_OF_SYNC_FRAMES}


def describe_two_pop(pop: dict) -> str:
    """One line for the summary and the timeline (``"2-pop 00:59:58:00: sound in sync (+0.1 frames)"``)."""
    head = f"2-pop {pop['timecode']}: "
    if pop["sound_offset_frames"] is None:
        return head + ("no pop heard within 0.5 s (no production audio there)" if pop["picture"] else
                       "neither a pop frame nor its sound found")
    off = pop["sound_offset_frames"]
    if pop["in_sync"]:
        return head + f"sound in sync ({off:+.1f} frames)"
    return head + (f"sound {abs(off):.1f} frames {'late' if off > 0 else 'early'}: the reference's sound is out of "
                   f"sync with its picture; ask for a new export (the score follows the picture)")
