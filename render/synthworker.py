"""The synthesis worker: a process of its own that synthesises a share of a section's cues into the cache.

The render synthesises each big section in two processes (:func:`.synth._render_section`): this one
takes the earlier cues and a worker the later ones, which it only stores in the project's cache;
this process then mixes every cue in order, the worker's read back from the cache. The worker is a
fresh interpreter (``python -m tempscore.render.synth``: :func:`~.synth.serve_jobs`), not a fork
of this process: a fork holds a copy of the page tables of everything this process holds by then
(the analysis, the models, the libraries' heaps: 0.3-0.6 GB that a process tree's resident memory
counts twice), where a fresh one holds the synthesiser, the soundfont's presets, its share's
events and the cue in hand (peak RSS 84 MB for a 2-minute cut, 220 MB for a 2-hour one).

It is started on the first section worth sharing, serves every section of one render, and ends
with it, or when this process goes (its end of the pipe closes). A worker that cannot start or
fails leaves its share to this process: the segments it did not store are synthesised here, and
the result is the same.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from .synth import SegmentInputs

log = logging.getLogger(__name__)

__all__ = ["SynthJob", "SynthWorker"]

#: Seconds a worker is given to exit once its pipe is closed, before it is killed.
EXIT_WAIT_SEC = 5.0


@dataclass(frozen=True)
class SynthJob:
    """One section's share: the segments ``ks`` to synthesise and store in the cache at ``cache_root``.

    ``instruments``: (program, is_drum) per instrument of the section, in the order ``plan`` and
    ``programs`` follow; ``inputs``: each segment's inputs and cache key, as
    :func:`~tempscore.render.synth._prepare_section` made them; ``total``: the programme's length
    in samples.
    """

    soundfont: str
    font_id: list
    sr: int
    section: str
    presets: frozenset[tuple[int, int]]
    instruments: list[tuple[int, bool]]
    plan: list[dict[int, int]]
    programs: list[tuple[int, int]]
    inputs: dict[int, tuple[SegmentInputs, dict]]
    ks: list[int]
    total: int
    cache_root: str


class SynthWorker:
    """The render's worker process, started on the first :meth:`submit`; one job at a time.

    Use as a context manager (or call :meth:`close`): the process ends with the block.
    """

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._conn: Connection | None = None
        self._busy = False
        self._broken = False  # could not start, or died: the rest of the render is done here

    def __enter__(self) -> SynthWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        """The worker's process id while it runs."""
        return self._proc.pid if self._proc is not None else None

    def submit(self, job: SynthJob) -> bool:
        """Hand ``job`` to the worker (started now if need be); False when there is no worker to
        take it (the caller does the work itself)."""
        if self._broken or (self._proc is None and not self._start()):
            return False
        try:
            self._conn.send(job)
        except (OSError, ValueError) as exc:  # it died meanwhile
            self._fail(f"cannot be given its work ({exc})")
            return False
        self._busy = True
        return True

    def wait(self) -> bool:
        """Wait for the submitted job; True when the worker stored every segment of it."""
        try:
            error = self._conn.recv()
        except (EOFError, OSError) as exc:
            self._fail(f"ended ({exc or 'its pipe closed'})")
            return False
        self._busy = False
        if error is not None:
            log.warning("synthesis worker failed (%s); rendering its share here", error)
        return error is None

    def close(self, *, kill: bool = False) -> None:
        """End the worker: asked to (its pipe closed) when idle, killed when ``kill`` or busy."""
        proc, conn, self._proc, self._conn = self._proc, self._conn, None, None
        if proc is None:
            return
        if kill or self._busy:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        conn.close()
        try:
            proc.wait(timeout=EXIT_WAIT_SEC)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self._busy = False

    def _start(self) -> bool:
        from multiprocessing import Pipe

        ours, theirs = Pipe(duplex=True)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "tempscore.render.synth", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        except OSError as exc:
            ours.close()
            self._fail(f"cannot start ({exc})")
            return False
        finally:
            theirs.close()
        self._conn = ours
        return True

    def _fail(self, why: str) -> None:
        log.warning("synthesis worker %s; rendering in this process alone", why)
        self._broken = True
        self.close(kill=True)
