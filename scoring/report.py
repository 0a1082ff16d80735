"""Sync-point reports: CSV (and JSON) of cues and hit points with SMPTE, seconds, frames, bar|beat."""

from __future__ import annotations

import csv
import io
import math
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from ..contracts import Timeline
from .leader import LEADER_CUE_ID, TAIL_CUE_ID
from .tempo import TempoMap
from .timecodes import frame_to_smpte

if TYPE_CHECKING:
    from opentimelineio import opentime, schema

    from ..contracts import Cue

SYNC_COLUMNS = ["event", "id", "cue", "frame", "timecode", "time_sec", "bar", "beat", "offset_frames",
                "kind", "strength", "tempo_bpm", "mood", "key", "note", "title"]


def cue_name(cue: Cue) -> str:
    """A cue as a music editor names it: ``2M1 "The Chase"`` (its number and, when set, its title)."""
    return f'{cue.id} "{cue.title}"' if getattr(cue, "title", "") else cue.id


def sync_rows(timeline: Timeline) -> list[dict[str, object]]:
    """One row per cue start, hit point and cue end, in time order."""
    info = timeline.video
    fps = Fraction(info.fps_num, info.fps_den)
    tmap = TempoMap(timeline.tempo_map)

    def tc(f: int) -> str:
        return frame_to_smpte(f, fps, start_timecode=info.start_timecode)

    rows: list[dict[str, object]] = []
    for cue in timeline.cues:
        bar, beat = tmap.bar_beat(cue.start_sec)
        rows.append({"event": "cue_start", "id": cue.id, "cue": cue.id, "frame": cue.start_frame,
                     "timecode": tc(cue.start_frame), "time_sec": f"{cue.start_sec:.6f}", "bar": bar,
                     "beat": f"{beat:g}", "offset_frames": "0", "kind": "cue", "strength": "",
                     "tempo_bpm": f"{cue.tempo_bpm:.3f}", "mood": cue.mood, "key": cue.key,
                     "note": ("LEADER (before the picture start) " if cue.id == LEADER_CUE_ID else
                              "TAIL (after the picture end) " if cue.id == TAIL_CUE_ID else "")
                             + ("TACET (no music) " if cue.tacet else "") + f"{cue.beats} beats in {cue.beats_per_bar}/4"
                             + (" (locked)" if cue.locked else ""), "title": cue.title})
        rows.append({"event": "cue_end", "id": cue.id, "cue": cue.id, "frame": cue.end_frame,
                     "timecode": tc(cue.end_frame), "time_sec": f"{cue.end_sec:.6f}",
                     "bar": tmap.bar_beat(cue.end_sec - 1e-6)[0] + 1 if cue.end_sec > cue.start_sec else bar,
                     "beat": "1", "offset_frames": "0", "kind": "cue", "strength": "", "tempo_bpm": "",
                     "mood": "", "key": "", "note": "", "title": cue.title})
    for i, h in enumerate(timeline.hit_points, 1):
        rows.append({"event": "hit", "id": f"H{i}", "cue": h.cue_id, "frame": h.frame, "timecode": tc(h.frame),
                     "time_sec": f"{h.time_sec:.6f}", "bar": h.bar, "beat": f"{h.beat:g}",
                     "offset_frames": f"{h.offset_frames:+.2f}", "kind": h.kind, "strength": f"{h.strength:.2f}",
                     "tempo_bpm": "", "mood": "", "key": "",
                     "note": "on the grid" if abs(h.offset_frames) <= 1.0 else "off the grid", "title": ""})
    # the leader's 2-pop (where a DAW session lines up with the picture) and the tail pop (whether it
    # is still in sync at the end of the reel)
    ends = [(timeline.cues[0], "2-pop", "two_pop"), (timeline.cues[-1], "tail pop", "tail_pop")] if timeline.cues else []
    for cue, name, field in ends:
        pop = cue.why.get(field)
        if not pop:
            continue
        rows.append({"event": "sync_pop", "id": name, "cue": cue.id, "frame": pop["frame"],
                     "timecode": tc(pop["frame"]), "time_sec": f"{float(Fraction(pop['frame']) / fps):.6f}",
                     "bar": "", "beat": "", "offset_frames": "" if pop["sound_offset_frames"] is None
                     else f"{pop['sound_offset_frames']:+.2f}", "kind": "pop", "strength": "", "tempo_bpm": "",
                     "mood": "", "key": "", "note": pop["note"]})
    for i, m in enumerate(timeline.markers, 1):  # the editor's markers, with how each fared (DP's hit report)
        rows.append({"event": "marker", "id": f"M{i}", "cue": m.get("cue", ""), "frame": m["frame"],
                     "timecode": tc(m["frame"]), "time_sec": f"{float(m.get('time_sec', 0.0)):.6f}",
                     "bar": m.get("bar", ""), "beat": f"{m['beat']:g}" if "beat" in m else "",
                     "offset_frames": f"{m['offset_frames']:+.2f}" if "offset_frames" in m else "",
                     "kind": f"marker ({m['weight']})", "strength": "", "tempo_bpm": "", "mood": "", "key": "",
                     "note": f"{m.get('status', '')}: {m.get('reason', '')}", "title": m.get("name", "")})
    order = {"cue_end": 0, "cue_start": 1, "sync_pop": 2, "hit": 3, "marker": 4}
    rows.sort(key=lambda r: (float(r["time_sec"]), order[str(r["event"])]))
    return rows


def sync_csv(timeline: Timeline) -> str:
    """The sync report as CSV text (header + rows, see :data:`SYNC_COLUMNS`)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=SYNC_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(sync_rows(timeline))
    return buf.getvalue()


def sync_json(timeline: Timeline) -> str:
    """The sync report as JSON: the same rows as the CSV, plus the trim suggestions."""
    import json

    from .timecodes import timecode_format

    fps = Fraction(timeline.video.fps_num, timeline.video.fps_den)
    return json.dumps({"schema": "tempscore.sync/1", "video": timeline.video.path,
                       "fps": f"{timeline.video.fps_num}/{timeline.video.fps_den}",
                       "start_timecode": timeline.video.start_timecode,
                       "timecode_format": timecode_format(fps).describe(), "rows": sync_rows(timeline),
                       "suggestions": timeline.suggestions}, indent=1, default=str)


#: Marker colours (OTIO / EDL locator colours) per hit kind.
MARKER_COLORS = {"cut": "RED", "gradual": "YELLOW", "user": "GREEN", "cue": "BLUE", "suggestion": "MAGENTA"}


def otio_timeline(timeline: Timeline, *, rate: Fraction | None = None) -> schema.Timeline:
    """An OpenTimelineIO timeline of the spotting: one clip per cue (the rough cut as source), with a
    marker per cue start, hit point and trim suggestion, all in the video's own timecode.

    Record times start at the video's start timecode (a leading gap), so an EDL made from it lines up
    with the editor's sequence. ``rate``: count times at this rate instead of the picture's (an EDL
    at a rate SMPTE has timecode for, :func:`~tempscore.scoring.timecodes.edl_rate`); each frame
    then lands on the frame of that rate showing when it starts.
    """
    import opentimelineio as otio

    from .timecodes import edl_frame, start_offset_frames, start_seconds

    info = timeline.video
    fps = Fraction(info.fps_num, info.fps_den)
    at = Fraction(rate) if rate is not None else fps
    if at == fps:
        tc0 = start_offset_frames(info.start_timecode, fps)
    else:  # whole frames of that rate (a picture labelled in seconds may start between two)
        tc0 = math.floor(start_seconds(info.start_timecode, fps) * at + Fraction(1, 10**9))

    def to_rate(f: int) -> int:
        return int(f) if at == fps else edl_frame(f, fps, at)

    def rt(frames: int) -> opentime.RationalTime:
        return otio.opentime.RationalTime(frames, float(at))

    def mark(clip: schema.Clip, frame: int, name: str, kind: str, meta: dict) -> None:
        m = otio.schema.Marker(name=name, marked_range=otio.opentime.TimeRange(rt(tc0 + to_rate(frame)), rt(0)),
                               color=MARKER_COLORS.get(kind, "RED"))
        m.metadata["tempscore"] = meta
        clip.markers.append(m)

    tl = otio.schema.Timeline(name=f"{info.path.rsplit('/', 1)[-1]} temp score spotting")
    track = otio.schema.Track(name="tempscore cues", kind=otio.schema.TrackKind.Video)
    tl.tracks.append(track)
    ref = otio.schema.ExternalReference(target_url=f"file://{info.path}",
                                        available_range=otio.opentime.TimeRange(rt(tc0), rt(to_rate(info.frame_count))))
    if tc0:
        track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(rt(0), rt(tc0))))
    for cue in timeline.cues:
        start, end = to_rate(cue.start_frame), to_rate(cue.end_frame)
        clip = otio.schema.Clip(name=cue.id, media_reference=ref.clone(),
                                source_range=otio.opentime.TimeRange(rt(tc0 + start), rt(max(end - start, 1))))
        clip.metadata["tempscore"] = {"mood": cue.mood, "key": cue.key, "tempo_bpm": cue.tempo_bpm,
                                      "intensity": cue.intensity, "locked": cue.locked, "tacet": cue.tacet}

        # a tacet cue has no music: its mood, key and tempo would only mislead (as in the MIDI's markers)
        mark(clip, cue.start_frame, f"{cue_name(cue)} tacet" if cue.tacet else
             f"{cue_name(cue)} {cue.mood} {cue.key} {cue.tempo_bpm:.2f} BPM", "cue",
             {"event": "cue_start", "cue": cue.id, **({"title": cue.title} if cue.title else {})})
        for i, h in enumerate(timeline.hit_points, 1):
            if h.cue_id == cue.id and h.frame != cue.start_frame:
                mark(clip, h.frame, f"H{i} {h.kind} bar {h.bar} beat {h.beat:g}", h.kind if h.how != "user" else "user",
                     {"event": "hit", "frame": h.frame, "bar": h.bar, "beat": h.beat, "offset_frames": h.offset_frames})
        for sgg in timeline.suggestions:
            if sgg["cue"] == cue.id:
                mark(clip, sgg["frame"], f"trim {sgg['trim_frames']:+d} fr to bar {sgg['bar']} beat {sgg['beat']:g}",
                     "suggestion", {"event": "suggestion", **sgg})
        track.append(clip)
    return tl


def write_otio(timeline: Timeline, path: Path, *, protect: tuple[Path, ...] = ()) -> None:
    """Write the spotting timeline as OTIO JSON (``.otio``), atomically."""
    import opentimelineio as otio

    from ..fileio import write_text_atomic

    write_text_atomic(path, otio.adapters.write_to_string(otio_timeline(timeline), "otio_json"), protect=protect)


def edl_text(timeline: Timeline) -> str:
    """A CMX 3600 EDL (one event per cue, ``* LOC:`` locators for cue starts, hits and trims), made
    with OpenTimelineIO's cmx_3600 adapter.

    At a picture rate SMPTE has no timecode for (10, 12, 15, 20, 120 fps, under 1 fps ...), the
    EDL is written at :func:`~tempscore.scoring.timecodes.edl_rate` (12 fps -> 24) and a comment
    after the title says so: every time is then that rate's frame showing when the picture frame
    starts.
    """
    import opentimelineio as otio

    from .timecodes import edl_rate, rate_name

    info = timeline.video
    fps = Fraction(info.fps_num, info.fps_den)
    rate = edl_rate(fps)
    text = otio.adapters.write_to_string(otio_timeline(timeline, rate=None if rate == fps else rate), "cmx_3600",
                                         rate=float(rate))
    if rate == fps:
        return text
    per = rate / fps
    how = (f"each picture frame is {per} EDL frames" if per.denominator == 1 else
           f"each EDL frame is {1 / per} picture frames, " if (1 / per).denominator == 1 else "")
    how += "" if per.denominator == 1 else "each time is the EDL frame showing when the picture frame starts"
    note = (f"* TEMPSCORE: THE PICTURE IS {rate_name(fps)} FPS, WHICH CMX 3600 HAS NO TIMECODE FOR; THIS EDL COUNTS "
            f"{rate_name(rate)} FPS, THE NEAREST EDL RATE ({how})").upper()
    # after the first event line: a comment before any event stops some readers (OTIO's among them)
    lines = text.split("\n")
    first = next((i for i, ln in enumerate(lines) if ln[:3].isdigit()), len(lines) - 1)
    return "\n".join([*lines[:first + 1], note, *lines[first + 1:]])


def write_edl(timeline: Timeline, path: Path, *, protect: tuple[Path, ...] = ()) -> None:
    """Write the CMX 3600 EDL (:func:`edl_text`) atomically."""
    from ..fileio import write_text_atomic

    write_text_atomic(path, edl_text(timeline), protect=protect)


# ----------------------------------------------------------------------------- cue sheet and spotting notes
#: The cue sheet's columns, in the shape music supervisors file with collecting societies.
CUESHEET_COLUMNS = ["cue", "title", "in", "out", "duration", "usage", "composer", "publisher", "notes"]
#: Usage of a temp score cue: background instrumental (BI).
CUE_USAGE = "BI"


def cuesheet_csv(timeline: Timeline, *, composer: str = "", publisher: str = "") -> str:
    """The cue sheet: one row per cue with music (number, title, in and out timecode, duration
    ``MM:SS``, usage ``BI`` (background instrumental), composer and publisher as given)."""
    info = timeline.video
    fps = Fraction(info.fps_num, info.fps_den)

    def tc(f: int) -> str:
        return frame_to_smpte(f, fps, start_timecode=info.start_timecode)

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CUESHEET_COLUMNS, lineterminator="\n")
    w.writeheader()
    for cue in timeline.cues:
        if cue.tacet:
            continue
        secs = round(float(Fraction(cue.end_frame - cue.start_frame) / fps))
        w.writerow({"cue": cue.id, "title": cue.title or f"{cue.mood.title()} ({cue.id})", "in": tc(cue.start_frame),
                    "out": tc(cue.end_frame), "duration": f"{secs // 60:02d}:{secs % 60:02d}", "usage": CUE_USAGE,
                    "composer": composer, "publisher": publisher,
                    "notes": f"temp score (tempscore), {cue.key}, {cue.tempo_bpm:.1f} BPM"})
    return buf.getvalue()


def spotting_html(timeline: Timeline, *, thumbnails: dict[str, str] | None = None, title: str = "") -> str:
    """Spotting notes as one HTML page: per cue its timecodes, mood, key, tempo, why, its hits (and
    the editor's markers) with frames off, and a thumbnail of its first frame (``thumbnails``: cue id ->
    a ``data:`` URI)."""
    import html

    info = timeline.video
    fps = Fraction(info.fps_num, info.fps_den)

    def tc(f: int) -> str:
        return frame_to_smpte(f, fps, start_timecode=info.start_timecode)

    e = html.escape
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title or 'Spotting notes')}</title>",
           "<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:60em}section{border-top:1px solid #ccc;"
           "padding:1em 0;display:flex;gap:1.5em}img{width:240px;height:auto;background:#000}table{border-collapse:"
           "collapse}td,th{padding:2px 8px;text-align:left;font-variant-numeric:tabular-nums}.miss{color:#b00}"
           ".near{color:#a60}</style></head><body>", f"<h1>{e(title or 'Spotting notes')}</h1>",
           f"<p>{e(Path(info.path).name)}, {e(str(round(float(fps), 3)))} fps, starts {e(info.start_timecode)}</p>"]
    for cue in timeline.cues:
        thumb = (thumbnails or {}).get(cue.id)
        hits = [h for h in timeline.hit_points if h.cue_id == cue.id]
        marks = [m for m in timeline.markers if m.get("cue") == cue.id]
        out.append("<section>" + (f"<img alt='{e(cue.id)}' src='{thumb}'>" if thumb else "") + "<div>")
        out.append(f"<h2>{e(cue_name(cue))}{' (tacet)' if cue.tacet else ''}</h2>")
        out.append(f"<p><b>{e(tc(cue.start_frame))} – {e(tc(cue.end_frame))}</b> ({cue.end_sec - cue.start_sec:.1f} s)"
                   f" · {e(cue.mood)} · {e(cue.key)} · {cue.tempo_bpm:.2f} BPM in {cue.beats_per_bar}/4</p>")
        out.append(f"<p>{e(str(cue.why.get('tempo', '')))}</p>")
        rows = [(tc(h.frame), f"hit ({h.kind})", f"bar {h.bar} beat {h.beat:g}", f"{h.offset_frames:+.2f}", "")
                for h in hits]
        rows += [(m.get("timecode", tc(m["frame"])), f"marker {m.get('name', '')} ({m['weight']})",
                  f"bar {m.get('bar', '')} beat {m.get('beat', '')}", f"{m.get('offset_frames', 0):+.2f}",
                  m.get("status", "")) for m in marks]
        if rows:
            out.append("<table><tr><th>timecode</th><th>what</th><th>where</th><th>frames off</th><th></th></tr>")
            out += [f"<tr class='{e(st)}'><td>{e(a)}</td><td>{e(b)}</td><td>{e(c)}</td><td>{e(d)}</td><td>{e(st)}</td></tr>"
                    for a, b, c, d, st in sorted(rows)]
            out.append("</table>")
        out.append("</div></section>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
