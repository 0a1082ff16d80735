"""Terminal output owned by the CLI: progress bars, spinners, result tables (rich)."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterator

from rich.console import Console


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
def frame_progress(label: str, *, quiet: bool = False) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar fed as ``progress(done, total)``; nothing when ``quiet``."""
    if quiet:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("frames"),
                  TimeRemainingColumn(), console=err_console(), transient=True) as prog:
        task = prog.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            prog.update(task, completed=done, total=total)

        yield update


#: ``progress(phase, done, total)``: what a long stage is doing now and how far it is in it.
StageProgress = Callable[[str, float, float], None]


@contextlib.contextmanager
def stage_progress(label: str, *, quiet: bool = False) -> Iterator[StageProgress | None]:
    """A rich progress bar for a stage of several phases, fed as ``progress(phase, done, total)``
    (any thread): the label says the phase ("rendering: encoding audio"), the bar how far it is.
    Until the first call it is a spinner; nothing when ``quiet`` or when stderr is not a terminal
    (a log file gets no redrawn bars)."""
    con = err_console()
    if quiet or not con.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn, TimeRemainingColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                  TimeRemainingColumn(), console=con, transient=True) as prog:
        task = prog.add_task(label, total=None)
        shown = [""]

        def update(phase: str, done: float, total: float) -> None:
            if phase != shown[0]:  # a new phase: its own bar (and time left) from zero
                shown[0] = phase
                prog.reset(task, description=f"{label}: {phase}", total=total or None, completed=done)
            else:
                prog.update(task, completed=done, total=total or None)

        yield update


@contextlib.contextmanager
def spinner(label: str, *, quiet: bool = False) -> Iterator[None]:
    if quiet:
        yield
        return
    with err_console().status(label):
        yield


def print_result(result, *, title: str, as_json: bool) -> None:  # noqa: ANN001 - pipeline.StageResult
    """Print a stage's summary: JSON on stdout with ``--json``, else a short human report."""
    if as_json:
        print(json.dumps({"ok": True, "command": title, "outputs": result.outputs, **result.summary},
                         indent=1, default=str))
        return
    from rich.table import Table

    con = Console()
    sections = result.summary if title == "score" else {title: result.summary}
    for name, summary in sections.items():
        if not isinstance(summary, dict):
            continue
        if name == "timings_sec":
            con.print("[bold]time[/bold]  " + "  ".join(f"{k} {v:.2f}s" for k, v in summary.items()))
            continue
        flat = {k: v for k, v in summary.items() if not isinstance(v, (list, dict))}
        lists = {k: v for k, v in summary.items() if isinstance(v, (list, dict))}
        con.print(f"[bold]{name}[/bold]  " + "  ".join(f"{k}={v}" for k, v in flat.items()))
        cues = lists.pop("cues", None)
        if cues:
            t = Table(show_edge=False, pad_edge=False)
            for col in ("cue", "start", "end", "mood", "key", "tempo", "intensity"):
                t.add_column(col)
            for c in cues:
                t.add_row(c["id"], f"{c['start_sec']:.2f}s", f"{c['end_sec']:.2f}s",
                          "tacet (no music)" if c.get("tacet") else c["mood"], c["key"],
                          f"{c['tempo_bpm']:.2f} BPM", f"{c['intensity']:.2f}")
            con.print(t)
        for k, v in lists.items():
            if not v:
                continue
            con.print(f"  {k}: " + (", ".join(map(str, v)) if isinstance(v, list) else json.dumps(v, default=str)))
    render = result.summary.get("render", {}) if title == "score" else result.summary
    kept = isinstance(render, dict) and render.get("up_to_date")  # nothing changed: the render was not redone
    for k, v in result.outputs.items():
        if kept and (k in ("wav", "video") or k.startswith("stem_")):
            con.print(f"[cyan]up to date[/cyan] {k:8s} {v}")
        else:
            con.print(f"[green]wrote[/green] {k:13s} {v}")
