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
