"""One video of a batch, on a worker: :func:`score_task` is what a local worker process and a Ray
task run. It scores the video with :func:`tempscore.api.score`, exactly as ``tempscore score VIDEO
-o FOLDER`` would, records the set once it is in place, and returns the video's report line; an
error of the video is that line, never the end of the worker.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import socket
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .results import FAILED, SCORED, VideoResult
from .state import file_stat, sweep_record_leftovers, write_record

if TYPE_CHECKING:
    from ..api import ScoreResult, Session

log = logging.getLogger(__name__)

__all__ = ["Task", "score_task", "init_worker", "failed_result"]

#: Thread counts of the numeric libraries (OpenBLAS, MKL, OpenMP).
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class Task:
    """What a worker needs to score one video (plain data: it crosses to other processes and nodes).

    Attributes
    ----------
    video : str
        The video's absolute path (on storage every worker reaches).
    out_dir : str
        The batch's OUT, absolute.
    folder : str
        The video's folder under ``out_dir``.
    label : str
        How the batch names the video.
    options : dict
        Every option of its run (:class:`~tempscore.api.Options` fields).
    fingerprint : dict
        What its outputs depend on (recorded with them).
    options_digest : str
    duration_sec : float or None
        The picture's length when the batch probed it (it sizes a Ray task).
    """

    video: str
    out_dir: str
    folder: str
    label: str
    options: dict[str, Any] = field(default_factory=dict)
    fingerprint: dict[str, Any] = field(default_factory=dict)
    options_digest: str = ""
    duration_sec: float | None = None

    @property
    def path(self) -> Path:
        """The video's folder, absolute."""
        return Path(self.out_dir) / self.folder


def init_worker(parent_pid: int | None = None) -> None:
    """Set up a local worker process: it dies with the batch that started it (a batch killed outright
    leaves no worker scoring on, which a restarted batch would race), Ctrl+C is the batch's to
    handle (it stops the workers with ``kill``), and its BLAS/OpenMP use one thread (one worker per
    core: the generator's small matrix products in several threads each were 8x slower,
    bench/batch.py; Ray's workers get the same from Ray)."""
    _die_with_parent(parent_pid)
    for var in _THREAD_VARS:  # before numpy is imported (the worker imports it with the first video)
        os.environ.setdefault(var, "1")
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.getLogger().addHandler(logging.NullHandler())  # warnings go into the report, not on the terminal


def _die_with_parent(parent_pid: int | None) -> None:
    """Linux: SIGKILL this process when its parent dies (``prctl(PR_SET_PDEATHSIG)``)."""
    if parent_pid is None or not os.path.exists("/proc/self"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:  # the parent died before the line above
        os._exit(1)


@functools.cache
def _session() -> Session:
    """This process's :class:`~tempscore.api.Session`: the generator and soundfonts load once per
    worker and serve every video it scores (the one piece of process state, on purpose)."""
    from ..api import Session

    return Session()


def score_task(task: Task) -> VideoResult:
    """Score ``task``'s video into its folder and record it; its report line (``status`` scored or
    failed). Only an interruption escapes."""
    from ..api import Options, score

    t0 = time.perf_counter()
    out = VideoResult(label=task.label, folder=task.folder, video=task.video, attempts=1,
                      worker=f"{socket.gethostname()}:{os.getpid()}")
    folder = task.path
    with _warnings_kept() as warnings, _stop_on_sigterm():
        try:
            folder.mkdir(parents=True, exist_ok=True)
            sweep_record_leftovers(folder)
            stat = file_stat(task.video)
            res = score(task.video, folder, options=Options(**task.options), session=_session())
            _fill(out, res, folder)
            out.warnings, out.wall_sec = list(warnings), round(time.perf_counter() - t0, 3)
            write_record(folder, label=task.label, options_digest=task.options_digest, fp=task.fingerprint,
                         video={"path": task.video, "stat": stat, "content_hash": res.analysis.video.content_hash
                                if res.analysis is not None else None},
                         outputs=res.outputs, result=out.to_dict())
        except Exception as exc:  # a video's failure is its report line
            out.status, out.error = FAILED, _one_line(exc, folder)
            if out.error.startswith("internal error"):
                log.error("%s: %s", task.label, "".join(traceback.format_exception(exc)))
            with contextlib.suppress(OSError):
                folder.rmdir()  # a video refused before it wrote anything leaves no folder
    out.warnings = warnings
    out.wall_sec = round(time.perf_counter() - t0, 3)
    return out


@contextlib.contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """While a video is scored, ``kill`` stops it the way Ctrl+C stops ``tempscore score`` (its staged
    outputs removed); an idle worker just ends."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def _fill(out: VideoResult, res: ScoreResult, folder: Path) -> None:
    s = res.summary
    out.status = SCORED
    out.duration_sec = round(s.analyze.duration_sec or s.render.duration_sec, 3)
    out.cues = len(s.plan.cues)
    out.hit_points = s.plan.hit_points
    out.hits_within_1_frame = s.plan.hits_within_1_frame
    out.music_lufs, out.true_peak_dbtp = s.render.music_lufs, s.render.true_peak_dbtp
    out.timings_sec = dict(s.timings_sec)
    out.outputs = {k: Path(p).name for k, p in res.outputs.items() if Path(p).parent == folder}


def _one_line(exc: BaseException, folder: Path) -> str:
    """The line the report gives a failure: a user error's own message, a full disk as the command
    line says it, else what kind of bug it is."""
    from ..errors import TempscoreError, disk_error, disk_failure

    if isinstance(exc, TempscoreError):
        return str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    refusal = disk_failure(exc)
    if refusal is not None:
        return str(disk_error(refusal, folder=folder)).splitlines()[0]
    return f"internal error: {exc.__class__.__name__}: {exc}".splitlines()[0]


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            self.lines.append(record.getMessage().splitlines()[0])


@contextlib.contextmanager
def _warnings_kept() -> Iterator[list[str]]:
    """The warnings tempscore logs meanwhile (this thread's run), for the video's report line."""
    handler = _Kept()
    logger = logging.getLogger("tempscore")
    logger.addHandler(handler)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)


def failed_result(task: Task, error: str, *, attempts: int) -> VideoResult:
    """The report line of a video whose worker never returned (lost, killed, out of memory)."""
    return VideoResult(label=task.label, folder=task.folder, video=task.video, status=FAILED, error=error,
                       attempts=attempts, duration_sec=task.duration_sec)
