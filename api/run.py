"""How a command writes: under the project's lock, its outputs as one set (:class:`~tempscore.project.OutputSet`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from ..project import OutputSet, Project

__all__ = ["run_context"]


@contextlib.contextmanager
def run_context(project: Project, outputs: OutputSet | None, *, protect: tuple[Path, ...] = ()) -> Iterator[OutputSet]:
    """``outputs`` when a larger run owns the set (it holds the lock and commits); else this
    command's own set, under the project's lock, committed when the block ends without an error."""
    if outputs is not None:
        yield outputs
        return
    with project.lock(), OutputSet(project, protect=protect) as out:
        yield out
        out.commit()
