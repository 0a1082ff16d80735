"""The batch's report at the top of OUT: ``batch.csv`` (a row per video), ``batch.json`` (the same
and the totals; schema ``tempscore.batch/1``, docs/BATCH.md) and ``index.html`` (every video with
its timeline picture and links to its scored video and files). Links are relative, so the folder can
be moved or served as it is; every name is escaped."""

from __future__ import annotations

import csv
import html
import io
import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from ..fileio import write_text_atomic
from .results import FAILED, SCORED, STAGES, UP_TO_DATE, VideoResult

__all__ = ["BATCH_SCHEMA", "REPORT_FILES", "BatchTotals", "totals_of", "write_reports", "report_json"]

BATCH_SCHEMA = "tempscore.batch/1"
REPORT_FILES = {"csv": "batch.csv", "json": "batch.json", "html": "index.html"}
#: The columns of batch.csv.
CSV_COLUMNS = ("video", "folder", "status", "duration_sec", "cues", "hit_points", "hits_within_1_frame", "music_lufs",
               "true_peak_dbtp", *(f"{s}_sec" for s in STAGES), "wall_sec", "attempts", "error", "scored_video",
               "midi", "wav")
#: Files linked from the page, in order, with their labels.
_LINKS = (("video", "scored video"), ("midi", "MIDI"), ("wav", "WAV"), ("sync_csv", "sync CSV"),
          ("timeline", "timeline"), ("edl", "EDL"), ("otio", "OTIO"))


@dataclass
class BatchTotals:
    videos: int = 0
    scored: int = 0
    up_to_date: int = 0
    failed: int = 0
    pending: int = 0
    picture_sec: float = 0.0  # scored by this run
    wall_sec: float = 0.0
    picture_min_per_min: float | None = None
    failed_videos: list[str] = field(default_factory=list)


def totals_of(results: list[VideoResult], *, wall_sec: float) -> BatchTotals:
    t = BatchTotals(videos=len(results), wall_sec=round(wall_sec, 3))
    for r in results:
        if r.status == SCORED:
            t.scored += 1
            t.picture_sec += r.duration_sec or 0.0
        elif r.status == UP_TO_DATE:
            t.up_to_date += 1
        elif r.status == FAILED:
            t.failed += 1
            t.failed_videos.append(r.label)
        else:
            t.pending += 1
    t.picture_sec = round(t.picture_sec, 3)
    if wall_sec > 0 and t.picture_sec > 0:
        t.picture_min_per_min = round(t.picture_sec / wall_sec, 3)
    return t


def report_json(results: list[VideoResult], *, meta: dict[str, Any], totals: BatchTotals) -> dict[str, Any]:
    from dataclasses import asdict

    return {"schema": BATCH_SCHEMA, **meta, "totals": asdict(totals), "videos": [r.to_dict() for r in results]}


def write_reports(out_dir: Path, results: list[VideoResult], *, meta: dict[str, Any], totals: BatchTotals) -> dict[str, Path]:
    """Write the three reports atomically; their paths by kind."""
    paths = {k: out_dir / name for k, name in REPORT_FILES.items()}
    write_text_atomic(paths["json"], json.dumps(report_json(results, meta=meta, totals=totals), indent=1,
                                                default=str) + "\n")
    write_text_atomic(paths["csv"], _csv(results))
    write_text_atomic(paths["html"], _html(results, meta=meta, totals=totals))
    return paths


def _file(r: VideoResult, key: str) -> str:
    """``key``'s file relative to OUT (POSIX), or ``""``."""
    name = r.outputs.get(key)
    return str(PurePosixPath(r.folder) / name) if name else ""


def _csv(results: list[VideoResult]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in results:
        w.writerow([r.label, r.folder, r.status, _num(r.duration_sec), _num(r.cues), _num(r.hit_points),
                    _num(r.hits_within_1_frame), _num(r.music_lufs), _num(r.true_peak_dbtp),
                    *(_num(r.timings_sec.get(s)) for s in STAGES), _num(r.wall_sec), r.attempts, r.error,
                    _file(r, "video"), _file(r, "midi"), _file(r, "wav")])
    return buf.getvalue()


def _num(v: float | None) -> str:
    if v is None:
        return ""
    return str(v) if isinstance(v, int) else f"{v:.3f}".rstrip("0").rstrip(".")


def _href(rel: str) -> str:
    """A relative link to ``rel`` (a POSIX path under OUT), escaped for an attribute."""
    return html.escape(quote(rel, safe="/"), quote=True)


_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: 6px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; position: sticky; top: 0; }
td.num { text-align: right; white-space: nowrap; }
img { width: 360px; max-width: 40vw; display: block; }
.failed { color: #b00020; } .pending { color: #777; } .scored { color: #116611; } .up-to-date { color: #115588; }
.links a { margin-right: .6em; white-space: nowrap; }
"""


def _html(results: list[VideoResult], *, meta: dict[str, Any], totals: BatchTotals) -> str:
    e = html.escape
    head = (f"{totals.videos} videos: {totals.scored} scored, {totals.up_to_date} up to date, {totals.failed} failed"
            + (f", {totals.pending} not run" if totals.pending else ""))
    pace = (f"; {totals.picture_min_per_min:.2f} min of picture per minute" if totals.picture_min_per_min else "")
    rows = []
    for r in results:
        png, video = _file(r, "timeline_png"), _file(r, "video")
        picture = f'<img src="{_href(png)}" alt="timeline of {e(r.label)}" loading="lazy">' if png else ""
        if picture and video:
            picture = f'<a href="{_href(video)}">{picture}</a>'
        links = " ".join(f'<a href="{_href(_file(r, k))}">{e(text)}</a>' for k, text in _LINKS if _file(r, k))
        stages = ", ".join(f"{s} {r.timings_sec[s]:.1f} s" for s in STAGES if s in r.timings_sec)
        status = r.status if r.status != FAILED else f"{r.status}: {r.error}"
        rows.append(
            f'<tr><td><b>{e(r.label)}</b><br><span class="{e(r.status.replace(" ", "-"))}">{e(status)}</span>'
            f'<div class="links">{links}</div></td>'
            f"<td>{picture}</td>"
            f'<td class="num">{_cell(r.duration_sec, "{:.1f} s")}</td><td class="num">{_cell(r.cues)}</td>'
            f'<td class="num">{_cell(r.hits_within_1_frame)}/{_cell(r.hit_points)}</td>'
            f'<td class="num">{_cell(r.music_lufs, "{:.1f} LUFS")}</td><td>{e(stages)}</td></tr>')
    title = f"tempscore batch: {meta.get('out_dir', '')}"
    state = " (running)" if meta.get("running") else ""
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
            f"<style>{_STYLE}</style></head><body>\n<h1>{e(title)}{e(state)}</h1>\n<p>{e(head + pace)}</p>\n"
            "<table><thead><tr><th>video</th><th>timeline</th><th>length</th><th>cues</th><th>hits ±1 frame</th>"
            "<th>music</th><th>time per stage</th></tr></thead><tbody>\n" + "\n".join(rows) +
            "\n</tbody></table></body></html>\n")


def _cell(v: float | None, fmt: str = "{}") -> str:
    return "" if v is None else html.escape(fmt.format(v))
