"""Sync-point reports: CSV (and JSON) of cues and hit points with SMPTE, seconds, frames, bar|beat."""

from __future__ import annotations

import csv
import io
from fractions import Fraction

from ..contracts import Timeline
from .tempo import TempoMap
from .timecodes import frame_to_smpte

SYNC_COLUMNS = ["event", "id", "cue", "frame", "timecode", "time_sec", "bar", "beat", "offset_frames",
                "kind", "strength", "tempo_bpm", "mood", "key", "note"]


def sync_rows(timeline: Timeline) -> list[dict[str, object]]:
    """One row per cue start, hit point and cue end, in time order."""
    info = timeline.video
    fps = Fraction(info.fps_num, info.fps_den)
    tmap = TempoMap(timeline.tempo_map)
    tc = lambda f: frame_to_smpte(f, fps, start_timecode=info.start_timecode)  # noqa: E731
    rows: list[dict[str, object]] = []
    for cue in timeline.cues:
        bar, beat = tmap.bar_beat(cue.start_sec)
        rows.append({"event": "cue_start", "id": cue.id, "cue": cue.id, "frame": cue.start_frame,
                     "timecode": tc(cue.start_frame), "time_sec": f"{cue.start_sec:.6f}", "bar": bar,
                     "beat": f"{beat:g}", "offset_frames": "0", "kind": "cue", "strength": "",
                     "tempo_bpm": f"{cue.tempo_bpm:.3f}", "mood": cue.mood, "key": cue.key,
                     "note": f"{cue.beats} beats in {cue.beats_per_bar}/4" + (" (locked)" if cue.locked else "")})
        rows.append({"event": "cue_end", "id": cue.id, "cue": cue.id, "frame": cue.end_frame,
                     "timecode": tc(cue.end_frame), "time_sec": f"{cue.end_sec:.6f}",
                     "bar": tmap.bar_beat(cue.end_sec - 1e-6)[0] + 1 if cue.end_sec > cue.start_sec else bar,
                     "beat": "1", "offset_frames": "0", "kind": "cue", "strength": "", "tempo_bpm": "",
                     "mood": "", "key": "", "note": ""})
    for i, h in enumerate(timeline.hit_points, 1):
        rows.append({"event": "hit", "id": f"H{i}", "cue": h.cue_id, "frame": h.frame, "timecode": tc(h.frame),
                     "time_sec": f"{h.time_sec:.6f}", "bar": h.bar, "beat": f"{h.beat:g}",
                     "offset_frames": f"{h.offset_frames:+.2f}", "kind": h.kind, "strength": f"{h.strength:.2f}",
                     "tempo_bpm": "", "mood": "", "key": "",
                     "note": "on the grid" if abs(h.offset_frames) <= 1.0 else "off the grid"})
    order = {"cue_end": 0, "cue_start": 1, "hit": 2}
    rows.sort(key=lambda r: (float(r["time_sec"]), order[str(r["event"])]))
    return rows


def sync_csv(timeline: Timeline) -> str:
    """The sync report as CSV text (header + rows, see :data:`SYNC_COLUMNS`)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=SYNC_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(sync_rows(timeline))
    return buf.getvalue()
