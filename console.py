"""Terminal output owned by the CLI: progress bars, spinners, result tables (rich)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator

from rich.console import Console


def err_console() -> Console:
    return Console(stderr=True)


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


@contextlib.contextmanager
def spinner(label: str, *, quiet: bool = False) -> Iterator[None]:
    if quiet:
        yield
        return
    with err_console().status(label):
        yield


def print_result(result, *, title: str, as_json: bool) -> None:  # noqa: ANN001 - pipeline.StageResult
    if as_json:
        print(json.dumps({"ok": True, "command": title, "outputs": result.outputs, **result.summary},
                         indent=1, default=str))
        return
    from rich.table import Table

    con = Console()
    table = Table(title=f"tempscore {title}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for k, v in result.summary.items():
        if isinstance(v, (dict, list)):
            v = json.dumps(v, default=str)
            if len(v) > 160:
                v = v[:157] + "..."
        table.add_row(k, str(v))
    for k, v in result.outputs.items():
        table.add_row(f"wrote {k}", v)
    con.print(table)
