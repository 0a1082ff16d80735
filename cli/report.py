"""What the terminal shows: progress while a command runs, then a short report (or JSON).

The report is what an editor reads: one line per stage with its time, the cue table, the
loudness, and the files written. ``-v`` adds every figure of the summary; ``--json`` prints the
summary object (schema ``tempscore.summary/1``, docs/FORMATS.md) on stdout.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from rich.console import Console

if TYPE_CHECKING:
    from ..api.results import Progress, StageResult

__all__ = ["err_console", "LazyRichHandler", "progress_display", "print_result"]

#: What each stage says while it runs.
STAGE_LABELS = {"analyze": "analysing picture", "plan": "planning cues and tempo map", "compose": "composing",
                "render": "rendering"}
#: What the files are, for the report (by the key of ``outputs``).
FILE_LABELS = {"video": "picture + temp score", "midi": "MIDI (tempo map, markers, one track per part)",
               "wav": "the score alone", "timeline": "cues, tempo map, hits (editable)",
               "sync_csv": "sync points (SMPTE, frames, bar|beat)", "sync_json": "sync points (JSON)",
               "timeline_png": "timeline picture", "edl": "CMX 3600 EDL with locators", "otio": "OpenTimelineIO",
               "analysis": "shots, cuts, emotion", "ratings": "your ratings", "variants": "alternatives",
               "click_wav": "click track (count-in before each cue)", "streamers": "picture with streamers and punches",
               "premiere_xml": "Premiere Pro / Resolve session (FCP 7 XML)", "fcpxml": "Final Cut Pro session",
               "aaf": "Pro Tools / Media Composer session (AAF)", "reaper": "REAPER project",
               "musicxml": "score for notation software (MusicXML)", "score_pdf": "printed score (MuseScore)",
               "cuesheet": "cue sheet", "spotting": "spotting notes (HTML)"}


def err_console() -> Console:
    return Console(stderr=True)


class LazyRichHandler(logging.Handler):
    """rich's log handler on stderr, built at the first record (importing ``rich.logging`` costs
    ~15 ms, and most runs log nothing)."""

    def __init__(self, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self._inner: logging.Handler | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self._inner is None:
            from rich.logging import RichHandler

            self._inner = RichHandler(console=err_console(), show_path=False, show_time=False)
            self._inner.setFormatter(self.formatter)
        self._inner.emit(record)


@contextlib.contextmanager
def progress_display(*, quiet: bool = False) -> Iterator[Progress | None]:
    """A progress bar on stderr fed as ``progress(stage, phase, done, total)`` from any thread: a
    spinner with the stage's name until it reports an amount, then a bar (frames for the
    analysis, cues for compose, the render's phases). Nothing when ``quiet`` or when stderr is not a
    terminal (a log file gets no redrawn bars)."""
    con = err_console()
    if quiet or not con.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn, TimeRemainingColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                  TimeRemainingColumn(), console=con, transient=True) as prog:
        task = prog.add_task("starting", total=None)
        shown = [("", "")]

        def update(stage: str, phase: str, done: float, total: float) -> None:
            label = STAGE_LABELS.get(stage, stage)
            if phase not in ("start", "frames", "writing cues"):
                label = f"{label}: {phase}"
            if (stage, phase) != shown[0]:  # a new stage or phase: its own bar (and time left) from zero
                shown[0] = (stage, phase)
                prog.reset(task, description=label, total=total or None, completed=done)
            else:
                prog.update(task, completed=done, total=total or None)

        yield update


def print_result(result: StageResult, *, title: str, as_json: bool, verbose: bool = False) -> None:
    """A command's result: JSON on stdout with ``--json``, else the short report (``verbose``: all of it)."""
    summary = result.summary_dict()
    if as_json:
        from ..api.results import SUMMARY_SCHEMA

        print(json.dumps({"ok": True, "command": title, "schema": SUMMARY_SCHEMA, "outputs": result.outputs,
                          **summary}, indent=1, default=str))
        return
    con = Console()
    stages = summary if title == "score" else {title: summary}
    timings = summary.get("timings_sec", {}) if title == "score" else {}
    for name in ("analyze", "plan", "compose", "render"):
        if isinstance(stages.get(name), dict):
            con.print(_stage_line(name, stages[name], timings.get(name)), highlight=False, soft_wrap=True)
    for name, part in stages.items():
        if name not in ("analyze", "plan", "compose", "render", "timings_sec") and isinstance(part, dict):
            con.print(_other_line(name, part), highlight=False, soft_wrap=True)
    plan = stages.get("plan")
    if isinstance(plan, dict) and plan.get("cues"):
        con.print(_cue_table(plan["cues"]))
    if verbose:
        _print_details(con, stages)
    _print_files(con, result.outputs, stages)


def _stage_line(name: str, s: dict[str, Any], sec: float | None) -> str:
    took = f"{sec:6.2f} s" if sec is not None else " " * 8
    return f"[bold]{name:8s}[/bold] {took}  {_what(name, s)}"


def _what(name: str, s: dict[str, Any]) -> str:
    if name == "analyze":
        fps = s.get("fps", "")
        if isinstance(fps, str) and fps.endswith("/1"):
            fps = fps[:-2]
        return (f"{s.get('duration_sec', 0):.2f} s at {fps} fps, {s.get('shots')} shots, "
                f"{s.get('emotion_source')} emotion" + (" [dim](cached)[/dim]" if s.get("cached") else ""))
    if name == "plan":
        cues = s.get("cues", [])
        return (f"{len(cues)} cues, {s.get('hit_points')} hits ({s.get('hits_within_1_frame')} within 1 frame), "
                f"hard cuts hit {s.get('hard_cuts_hit')}")
    if name == "compose":
        return f"{s.get('notes')} notes, {len(s.get('parts', []))} parts, {s.get('composer')}, seed {s.get('seed')}"
    if s.get("up_to_date"):
        return "[cyan]up to date[/cyan] (nothing changed since the last render)"
    lufs, peak = s.get("music_lufs"), s.get("true_peak_dbtp")
    loud = f"{lufs:.1f} LUFS, {peak:.1f} dBTP" if lufs is not None and peak is not None else "silent"
    return (f"{loud}, {s.get('soundfont')}, {len(s.get('audio_tracks', []))} audio tracks"
            + ("" if s.get("mux") == "done" else ", [yellow]not muxed[/yellow] (no video)"))


def _other_line(name: str, s: dict[str, Any]) -> str:
    flat = [f"{k.replace('_', ' ')}: {v}" for k, v in s.items() if not isinstance(v, (list, dict)) and v not in ("", None)]
    return f"[bold]{name:8s}[/bold] " + "; ".join(flat)


def _cue_table(cues: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    t = Table(show_edge=False, pad_edge=False, box=None, padding=(0, 2))
    for col in ("cue", "start", "end", "mood", "key", "tempo", "intensity"):
        t.add_column(col, justify="right" if col in ("start", "end", "tempo", "intensity") else "left")
    for c in cues:
        t.add_row(c["id"], f"{c['start_sec']:.2f} s", f"{c['end_sec']:.2f} s",
                  "tacet" if c.get("tacet") else c["mood"], "" if c.get("tacet") else c["key"],
                  "" if c.get("tacet") else f"{c['tempo_bpm']:.1f} BPM", f"{c['intensity']:.2f}")
    return t


def _print_details(con: Console, stages: dict[str, Any]) -> None:
    """Every figure (``-v``): a stage's scalars on a line, its lists and tables one per line."""
    for name, part in stages.items():
        if not isinstance(part, dict):
            continue
        con.print(f"[bold]{name}[/bold]")
        for k, v in part.items():
            if k == "cues" or v in (None, [], {}, ""):
                continue
            text = json.dumps(v, default=str) if isinstance(v, (list, dict)) else str(v)
            con.print(f"  {k}: {text}", highlight=False, soft_wrap=True)


def _print_files(con: Console, outputs: dict[str, str], stages: dict[str, Any]) -> None:
    render, analyze = stages.get("render"), stages.get("analyze")
    kept = {k for k in outputs if isinstance(render, dict) and render.get("up_to_date")  # the render was not redone
            and (k in ("wav", "video") or k.startswith("stem_"))}
    if isinstance(analyze, dict) and analyze.get("cached"):
        kept.add("analysis")
    shown = {k: _short(v) for k, v in outputs.items()}
    width = max((len(v) for v in shown.values()), default=0)
    for k, v in shown.items():
        verb = "[cyan]kept [/cyan]" if k in kept else "[green]wrote[/green]"
        label = FILE_LABELS.get(k, f"stem: {k[5:]}" if k.startswith("stem_") else k)
        con.print(f"{verb} {v:{width}s}  [dim]{label}[/dim]", highlight=False, soft_wrap=True)


def _short(path: str) -> str:
    """``path`` relative to the working folder when it is under it (shorter lines)."""
    import os

    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return rel if not rel.startswith("..") else path
