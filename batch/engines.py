"""Where a batch's videos are scored: worker processes on this machine (the default), or a Ray
cluster (:mod:`.ray_engine`). Both run :func:`.worker.score_task` per video and hand each report
line back as it comes; a worker lost under a video (killed, out of memory) is replaced and the
video tried again, up to :data:`LOST_WORKER_RETRIES` times.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Protocol

from .results import VideoResult
from .worker import Task, failed_result, init_worker, score_task

log = logging.getLogger(__name__)

__all__ = ["Engine", "LocalEngine", "LOST_WORKER_RETRIES", "default_workers", "lost_worker_message"]

#: Tries after the first for a video whose worker was lost under it.
LOST_WORKER_RETRIES = 2
#: Memory a local worker is given room for by the default worker count (its peak RSS scoring 40 s
#: 1080p cuts: 0.45 GB, bench/batch.py; a long film's render adds up to ~1.2 GB, docs/BATCH.md).
WORKER_MEMORY_BYTES = 1_000_000_000


class Engine(Protocol):
    """Runs tasks; calls ``started(task)`` as each begins and ``finished(result)`` as each ends.
    ``sizes_tasks``: it needs each task's ``duration_sec`` (read before the tasks are handed over)."""

    sizes_tasks: bool

    def run(self, tasks: Sequence[Task], *, started: Callable[[Task], None],
            finished: Callable[[VideoResult], None]) -> None: ...

    def describe(self) -> dict[str, Any]: ...


def default_workers() -> int:
    """One worker per core this process may use, fewer when the memory available would not hold
    them (:data:`WORKER_MEMORY_BYTES` each)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    available = _memory_available_bytes()
    if available is not None:
        cores = min(cores, max(1, available // WORKER_MEMORY_BYTES))
    return max(1, cores)


def _memory_available_bytes() -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError), open("/proc/meminfo", encoding="ascii") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return None


def _collect(fut: Future[VideoResult], task: Task, tries: Counter[int], finished: Callable[[VideoResult], None],
             broken: list[Task]) -> None:
    """A finished future's result to ``finished``; its task to ``broken`` when the pool broke under it."""
    try:
        result = fut.result()
    except BrokenProcessPool:
        broken.append(task)
        return
    result.attempts += tries[id(task)]
    finished(result)


def lost_worker_message(tries: int, why: str = "") -> str:
    return (f"the worker scoring it was lost {tries} time(s){f' ({why})' if why else ''}: killed, out of memory or "
            f"its machine gone; see the system log, give it more memory, or score it alone with `tempscore score`")


@dataclass
class LocalEngine:
    """``workers`` processes on this machine (spawned, so no thread or lock of the batch is copied
    into them), each with its own :class:`~tempscore.api.Session`. At most ``workers`` videos are
    handed out at once. When a worker is lost, the videos that were on the pool then are tried again
    one at a time, so the one that takes its worker down is known and the others are not blamed."""

    workers: int
    #: what a worker runs per task (tests give one that takes its worker down)
    fn: Callable[[Task], VideoResult] = score_task
    sizes_tasks = False

    def describe(self) -> dict[str, Any]:
        return {"engine": "local", "workers": self.workers}

    def run(self, tasks: Sequence[Task], *, started: Callable[[Task], None],
            finished: Callable[[VideoResult], None]) -> None:
        queue = list(reversed(tasks))  # popped from the end: first task first
        lost: Counter[int] = Counter()  # times a worker was lost under a video running alone
        tries: Counter[int] = Counter()  # times a video was on a pool that broke
        suspects: set[int] = set()
        while queue:
            broken = self._run_pool(queue, suspects, tries, started, finished)
            for task in broken:
                key = id(task)
                tries[key] += 1
                if len(broken) == 1:  # it was alone on the pool: it took its worker down
                    lost[key] += 1
                if lost[key] > LOST_WORKER_RETRIES:
                    finished(failed_result(task, lost_worker_message(lost[key]), attempts=tries[key]))
                    continue
                suspects.add(key)
                log.warning("%s: the worker scoring it was lost; trying it again", task.label)
                queue.append(task)

    def _run_pool(self, queue: list[Task], suspects: set[int], tries: Counter[int], started: Callable[[Task], None],
                  finished: Callable[[VideoResult], None]) -> list[Task]:
        """Run ``queue`` on one pool until it is empty or the pool breaks; the tasks that were on it
        when it broke. A suspect runs alone."""
        ctx = multiprocessing.get_context("spawn")
        running: dict[Future[VideoResult], Task] = {}
        broken: list[Task] = []
        pool = ProcessPoolExecutor(max_workers=max(1, min(self.workers, len(queue))), mp_context=ctx,
                                   initializer=init_worker, initargs=(os.getpid(),))
        try:
            while queue or running:
                while queue and len(running) < self.workers and not _alone(running, suspects):
                    if id(queue[-1]) in suspects and running:
                        break  # a suspect waits for the pool to empty
                    task = queue.pop()
                    running[pool.submit(self.fn, task)] = task
                    started(task)
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    _collect(fut, running.pop(fut), tries, finished, broken)
                if broken:  # the others in flight fail with it (or finished just before): collect them
                    for fut, task in list(running.items()):
                        del running[fut]
                        _collect(fut, task, tries, finished, broken)
                    break
        except BaseException:
            _stop(pool)
            raise
        pool.shutdown(wait=True, cancel_futures=True)
        return broken


def _alone(running: dict[Future[VideoResult], Task], suspects: set[int]) -> bool:
    """Whether a suspect is running (it runs alone)."""
    return any(id(t) in suspects for t in running.values())


def _stop(pool: ProcessPoolExecutor) -> None:
    """Stop the workers now (Ctrl+C): each removes what it staged and exits."""
    for proc in list((getattr(pool, "_processes", None) or {}).values()):  # no public way before Python 3.14
        if proc.is_alive():
            proc.terminate()
    pool.shutdown(wait=True, cancel_futures=True)
