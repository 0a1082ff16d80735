"""Streamers and punches: a reference copy of the picture for conducting and recording to picture.

``<stem>.streamers.mp4`` is the picture (scaled to at most :data:`MAX_WIDTH` px, H.264 at a low
bitrate, the score as its sound) with, drawn by ffmpeg's filters in one pass:

- a **streamer** before each event: a vertical bar crossing the frame from the left edge to the
  right over :data:`STREAMER_SEC` s, reaching the right edge on the event's frame; green before a
  cue start, yellow before a cue end (a warning), red before a hit;
- a **punch** on each hit's frame: a white flash circle in the middle of the frame;
- a burnt-in **timecode** (the video's own, drop-frame where it is) and a **bar | beat** window.

The original file is only read (its video stream is decoded here, never changed).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from ..scoring.tempo import TempoMap

if TYPE_CHECKING:
    from ..contracts import Timeline

log = logging.getLogger(__name__)

__all__ = ["COLOURS", "STREAMER_SEC", "Streamer", "streamer_events", "streamer_x", "write_streamers"]

#: How long a streamer crosses the frame (s).
STREAMER_SEC = 2.0
#: Widest reference picture (px); smaller pictures keep their size.
MAX_WIDTH = 640
#: Streamer colours (RGB hex) per event kind.
COLOURS = {"cue_start": "00FF00", "cue_end": "FFFF00", "hit": "FF0000"}
#: The punch's colour and its radius as a share of the picture's height.
PUNCH_COLOUR, PUNCH_RADIUS = "FFFFFF", 0.12
#: Fonts tried for the burnt-in text (the first that exists).
FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
         "/usr/share/fonts/TTF/DejaVuSansMono-Bold.ttf", "/Library/Fonts/Arial.ttf", "C:/Windows/Fonts/arial.ttf")


@dataclass(frozen=True)
class Streamer:
    """A streamer ending on ``frame`` (the event), starting ``frames`` frames before it."""

    frame: int
    frames: int
    kind: str  # "cue_start" | "cue_end" | "hit"

    @property
    def start(self) -> int:
        return self.frame - self.frames


def streamer_events(timeline: Timeline) -> list[Streamer]:
    """A streamer per cue start and end (of cues with music) and per hit point, each as long as
    :data:`STREAMER_SEC` or as the picture before it allows; one frame carries one streamer (a hit
    wins over a cue edge on the same frame)."""
    fps = Fraction(timeline.video.fps_num, timeline.video.fps_den)
    length = max(2, round(STREAMER_SEC * fps))
    by_frame: dict[int, str] = {}
    for cue in timeline.cues:
        if cue.tacet:
            continue
        by_frame.setdefault(cue.start_frame, "cue_start")
        if cue.end_frame < timeline.video.frame_count:
            by_frame.setdefault(cue.end_frame, "cue_end")
    for h in timeline.hit_points:
        by_frame[h.frame] = "hit"
    return [Streamer(f, min(length, f), kind) for f, kind in sorted(by_frame.items()) if f >= 2]


def streamer_x(s: Streamer, n: int, width: int, bar_w: int) -> int:
    """Left edge (px) of streamer ``s``'s bar on frame ``n`` (``s.start <= n <= s.frame``): from 0
    at the start to ``width - bar_w`` on the event's frame (as ffmpeg's expression computes it)."""
    return math.floor((n - s.start) * (width - bar_w) / s.frames)


def _size(width: int, height: int) -> tuple[int, int]:
    if width <= MAX_WIDTH:
        return width - width % 2, height - height % 2
    h = round(height * MAX_WIDTH / width)
    return MAX_WIDTH, h - h % 2


def _font() -> str | None:
    return next((f for f in FONTS if Path(f).is_file()), None)


def _esc(text: str) -> str:
    """Text for an ffmpeg filter option value (``:`` and ``'`` and ``\\`` escaped)."""
    return text.replace("\\", "\\\\").replace(":", "\\:").replace("'", "\\'")


def _beats_ass(timeline: Timeline, path: Path, size: tuple[int, int]) -> None:
    """An ASS subtitle file with the bar | beat of every beat of every cue with music (the window)."""
    tmap = TempoMap(timeline.tempo_map)
    w, h = size
    lines = ["[Script Info]", "ScriptType: v4.00+", f"PlayResX: {w}", f"PlayResY: {h}", "",
             "[V4+ Styles]", "Format: Name, Fontname, Fontsize, PrimaryColour, OutlineColour, BackColour, Bold, "
             "BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV",
             f"Style: Beat,DejaVu Sans Mono,{max(10, h // 14)},&H00FFFFFF,&H00000000,&H80000000,1,3,1,0,9,8,8,8", "",
             "[Events]", "Format: Layer, Start, End, Style, Text"]

    def ts(sec: float) -> str:
        cs = max(0, int(round(sec * 100)))
        return f"{cs // 360000}:{cs // 6000 % 60:02d}:{cs // 100 % 60:02d}.{cs % 100:02d}"

    for cue in timeline.cues:
        if cue.tacet:
            continue
        b0, b1 = tmap.time_to_beats(cue.start_sec), tmap.time_to_beats(cue.end_sec)
        for i in range(int(math.floor(b1 - b0 + 1e-6))):
            t0, t1 = tmap.beats_to_time(b0 + i), min(tmap.beats_to_time(b0 + i + 1), cue.end_sec)
            bar, beat = tmap.bar_beat_of_beats(b0 + i, grid=1)
            lines.append(f"Dialogue: 0,{ts(t0)},{ts(t1)},Beat,{cue.id}  {bar:>3d} | {beat:g}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _punch_png(path: Path, size: tuple[int, int]) -> int:
    """A white disc on transparency, the punch; returns its diameter."""
    from PIL import Image, ImageDraw

    d = max(8, int(2 * PUNCH_RADIUS * size[1]))
    img = Image.new("RGBA", (d, d), (0, 0, 0, 0))
    ImageDraw.Draw(img).ellipse((0, 0, d - 1, d - 1), fill=(255, 255, 255, 255))
    img.save(path)
    return d


def _filter_graph(timeline: Timeline, events: list[Streamer], size: tuple[int, int], ass: Path | None,
                  font: str | None, punch_d: int) -> str:
    """The one-pass graph: each streamer a bar of its colour overlaid at a position computed per frame
    (``overlay``'s ``n``), the windows drawn, the punch overlaid on the hits' frames."""
    w, h = size
    bar_w = max(4, w // 60)
    fps = Fraction(timeline.video.fps_num, timeline.video.fps_den)
    rate = f"{fps.numerator}/{fps.denominator}"
    graph = [f"[0:v]setpts=PTS-STARTPTS,scale={w}:{h},setsar=1[s0]"]
    for kind, colour in COLOURS.items():  # one bar source per colour, split for its streamers
        mine = [i for i, e in enumerate(events) if e.kind == kind]
        if mine:
            graph.append(f"color=c=0x{colour}:s={bar_w}x{h}:r={rate}," + (
                f"split={len(mine)}" if len(mine) > 1 else "null") + "".join(f"[b{i}]" for i in mine))
    last = "s0"
    for i, e in enumerate(events):
        # the frame number from the time (overlay's own n counts its inputs' frames, one ahead here)
        graph.append(f"[{last}][b{i}]overlay=x='floor((round(t*{rate})-{e.start})*{w - bar_w}/{e.frames})':y=0:eval=frame:"
                     f"shortest=0:repeatlast=0:enable='between(n,{e.start},{e.frame})'[s{i + 1}]")
        last = f"s{i + 1}"
    windows = []
    if ass is not None:
        windows.append(f"subtitles='{_esc(str(ass))}'")
    if font is not None:
        from ..scoring.timecodes import timecode_format

        tc = timeline.video.start_timecode or "00:00:00:00"
        if timecode_format(fps).kind == "smpte":
            windows.append(f"drawtext=fontfile='{_esc(font)}':timecode='{_esc(tc)}':rate={rate}"
                           f":fontsize={max(10, h // 14)}:fontcolor=white:box=1:boxcolor=black@0.6:x=8:y=h-th-8")
    graph.append(f"[{last}]" + (",".join(windows) if windows else "null") + "[w]")
    hits = [e.frame for e in events if e.kind == "hit"]
    if hits:
        enable = "+".join(f"eq(n,{f})" for f in hits)
        graph.append(f"[w][1:v]overlay=x=(W-w)/2:y=(H-h)/2:shortest=0:enable='{enable}'[v]")
    else:
        graph.append("[w]null[v]")
    return ";".join(graph)


def write_streamers(timeline: Timeline, video: Path, audio: Path | None, path: Path, *,
                    protect: tuple[Path, ...] = ()) -> dict:
    """Write ``<stem>.streamers.mp4`` (see the module's docstring), atomically; returns what was drawn
    (``{"streamers": n, "punches": n, "size": [w, h], "timecode": bool}``)."""
    import tempfile

    from ..fileio import atomic_path
    from ..media import run_ffmpeg

    info = timeline.video
    size = _size(info.width, info.height)
    events = streamer_events(timeline)
    font = _font()
    fps = Fraction(info.fps_num, info.fps_den)
    with tempfile.TemporaryDirectory(prefix="tempscore-streamers-") as tmp:
        ass = Path(tmp) / "beats.ass"
        _beats_ass(timeline, ass, size)
        punch = Path(tmp) / "punch.png"
        d = _punch_png(punch, size)
        script = Path(tmp) / "graph.txt"
        script.write_text(_filter_graph(timeline, events, size, ass if font else None, font, d), encoding="utf-8")
        with atomic_path(path, protect=protect) as out:
            args = ["-i", str(video), "-loop", "1", "-framerate", f"{fps.numerator}/{fps.denominator}", "-i", str(punch)]
            if audio is not None:
                args += ["-i", str(audio)]
            args += ["-/filter_complex", str(script), "-map", "[v]"]  # (the graph from a file: ffmpeg 7+)
            if audio is not None:
                args += ["-map", "2:a", "-c:a", "aac", "-b:a", "96k"]
            args += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "30", "-pix_fmt", "yuv420p",
                     "-frames:v", str(info.frame_count), "-fps_mode", "passthrough", "-shortest", "-f", "mp4", str(out)]
            run_ffmpeg(args, what="drawing the streamers")
    if font is None:
        log.warning("streamers: no font found (DejaVu); the timecode and bar|beat windows are left out")
    return {"streamers": len(events), "punches": sum(1 for s in events if s.kind == "hit"), "size": list(size),
            "timecode": font is not None}
