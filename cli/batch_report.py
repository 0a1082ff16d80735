"""What the terminal shows for ``tempscore batch``: a progress bar over the videos on stderr, then a
short report (a line per failed video, the totals, where the reports are), or ``--json``."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from rich.console import Console

from .report import err_console

if TYPE_CHECKING:
    from ..batch import BatchProgress, BatchResult

__all__ = ["batch_progress_display", "print_batch_result"]


def _clock(sec: float | None) -> str:
    if sec is None:
        return "-:--:--"
    sec = round(sec)
    return f"{sec // 3600}:{sec % 3600 // 60:02d}:{sec % 60:02d}"


def _counts(p: BatchProgress) -> str:
    parts = [f"{p.scored} scored"]
    if p.up_to_date:
        parts.append(f"{p.up_to_date} up to date")
    parts.append(f"[red]{p.failed} failed[/red]" if p.failed else "0 failed")
    parts.append(f"{p.remaining} left")
    pace = p.picture_min_per_min
    if pace:
        parts.append(f"{pace:.2f} min of picture/min")
    return ", ".join(parts)


@contextlib.contextmanager
def batch_progress_display(*, quiet: bool = False) -> Iterator[Callable[[BatchProgress], None] | None]:
    """``progress(BatchProgress)``: a bar over the videos (done/failed/left, throughput, time left)
    on a terminal; on a log file, a line per video as it ends; nothing when ``quiet``."""
    con = err_console()
    if quiet:
        yield None
        return
    if not con.is_terminal:
        def line(p: BatchProgress) -> None:
            r = p.last
            if r is None:
                return
            what = (f"failed: {r.error}" if r.error else
                    f"{r.status} in {r.wall_sec or 0:.1f} s ({r.duration_sec or 0:.1f} s of picture)")
            sys.stderr.write(f"[{p.finished}/{p.total}] {r.label}: {what}\n")
            sys.stderr.flush()

        yield line
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[counts]}"),
                  TextColumn("[dim]{task.fields[left]}[/dim]"), console=con, transient=True) as prog:
        task = prog.add_task("videos", total=None, counts="", left="")

        def update(p: BatchProgress) -> None:
            prog.update(task, total=p.total, completed=p.finished, counts=_counts(p),
                        left=f"{_clock(p.eta_sec)} left" if p.remaining else "")
            r = p.last
            if r is not None and r.error:  # a failure stays on the screen above the bar
                prog.console.print(f"[red]failed[/red] {r.label}: {r.error}", highlight=False, soft_wrap=True,
                                   markup=True)

        yield update


def print_batch_result(result: BatchResult, *, as_json: bool) -> None:
    """The batch's outcome: JSON on stdout (``tempscore.batch/1``, as ``batch.json``), else a short report."""
    from ..batch.report import report_json

    if as_json:
        meta = {"out_dir": str(result.out_dir), "engine": result.engine,
                "reports": {k: str(v) for k, v in result.reports.items()}}
        print(json.dumps({"ok": result.ok, "command": "batch", **report_json(result.videos, meta=meta,
                                                                              totals=result.totals)},
                         indent=1, default=str))
        return
    con = Console()
    t = result.totals
    for r in result.videos:
        if r.error:
            con.print(f"[red]failed[/red]  {r.label}: {r.error}", highlight=False, soft_wrap=True)
    pace = f", {t.picture_min_per_min:.2f} min of picture per minute" if t.picture_min_per_min else ""
    con.print(f"[bold]batch[/bold]  {t.videos} videos: {t.scored} scored, {t.up_to_date} up to date, "
              f"{t.failed} failed" + (f", {t.pending} not run" if t.pending else "") +
              f" in {t.wall_sec:.1f} s{pace}", highlight=False, soft_wrap=True)
    reports = result.reports
    if reports:
        con.print(f"[green]wrote[/green] {reports['html']}  [dim]every video, its timeline and files[/dim]\n"
                  f"[green]wrote[/green] {reports['csv']}, {reports['json'].name}  [dim]a line per video[/dim]",
                  highlight=False, soft_wrap=True)
