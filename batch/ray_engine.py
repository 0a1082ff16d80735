"""The batch on a Ray cluster (``tempscore batch --ray auto|local|ADDRESS``; ``pip install
tempscore[ray]``).

Each video is one Ray task running :func:`.worker.score_task`, asking for the CPUs and memory its
length needs (:func:`task_resources`), retried by Ray when its worker or node is lost. Ray reuses a
worker process for many tasks, so each keeps its generator and soundfonts loaded. Paths cross as
they are: the videos and OUT must be at the same path on every node (a shared folder: NFS, SMB,
CephFS, Lustre, or an object store mounted as a file system that keeps POSIX locks).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import InvalidSettings
from .engines import LOST_WORKER_RETRIES, lost_worker_message
from .results import VideoResult
from .worker import Task, failed_result, score_task

if TYPE_CHECKING:
    from types import ModuleType

log = logging.getLogger(__name__)

__all__ = ["RayEngine", "task_resources", "import_ray"]

#: What one video's task asks for: a worker's own memory (the interpreter, numpy, onnxruntime, the
#: generator and a soundfont: peak RSS 0.45 GB on 40 s 1080p cuts, bench/batch.py) plus the render's programme-length
#: buffers, ~51 MB per minute of picture while they are in RAM (bench/render_memory.py: 3.3 GB for 64
#: minutes); from 23 minutes (512 MB a buffer) they are files, and the render needs ~0.45 GB of its own.
TASK_BASE_MEMORY_BYTES = 1_000_000_000
TASK_MEMORY_PER_MIN_BYTES = 51_000_000
BUFFERS_IN_RAM_UP_TO_MIN = 23.0
#: Pictures at least this long get 2 CPUs (the render synthesises long sections in two processes).
TWO_CPUS_FROM_SEC = 20 * 60


def task_resources(duration_sec: float | None) -> tuple[int, int]:
    """(CPUs, memory in bytes) a video's task asks Ray for, from the length of its picture
    (unknown: as for an hour)."""
    seconds = duration_sec if duration_sec is not None else 3600.0
    minutes_in_ram = min(seconds / 60.0, BUFFERS_IN_RAM_UP_TO_MIN)
    memory = TASK_BASE_MEMORY_BYTES + int(minutes_in_ram * TASK_MEMORY_PER_MIN_BYTES)
    return (2 if seconds >= TWO_CPUS_FROM_SEC else 1), memory


def import_ray() -> ModuleType:
    try:
        import ray
    except ImportError:
        raise InvalidSettings("--ray needs Ray: pip install 'tempscore[ray]' (on every node of the cluster)") from None
    return ray


@dataclass
class RayEngine:
    """Tasks on a Ray cluster.

    Parameters
    ----------
    address : str
        ``auto``: the Ray this process already started, else the cluster ``RAY_ADDRESS`` or a
        ``ray start`` on this machine names; ``local``: a Ray instance of this machine's own, for this
        batch (``workers`` CPUs); else a cluster's address (``head:6379``, ``ray://head:10001``).
    workers : int or None
        CPUs of a ``local`` instance (default: all).
    """

    address: str
    workers: int | None = None
    #: what a task runs (tests give one that takes its worker down)
    fn: Callable[[Task], VideoResult] = score_task
    sizes_tasks = True  # each task asks for the CPUs and memory its picture's length needs

    def describe(self) -> dict[str, Any]:
        return {"engine": "ray", "address": self.address, **({"workers": self.workers} if self.workers else {})}

    def run(self, tasks: Sequence[Task], *, started: Callable[[Task], None],
            finished: Callable[[VideoResult], None]) -> None:
        ray = import_ray()
        ours = self._connect(ray)
        try:
            self._run(ray, tasks, started, finished)
        finally:
            if ours:
                ray.shutdown()

    def _connect(self, ray: ModuleType) -> bool:
        """Connect (or start a local instance); whether this batch started it (and so shuts it down)."""
        if ray.is_initialized():
            return False
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                  "logging_level": logging.WARNING}
        if self.address == "local":
            kwargs["num_cpus"] = self.workers or os.cpu_count()
        else:
            kwargs["address"] = self.address
        try:
            ray.init(**kwargs)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            where = "no running cluster was found (start one with `ray start --head`, or set RAY_ADDRESS)" \
                if self.address == "auto" else f"cannot connect to {self.address}"
            raise InvalidSettings(f"--ray {self.address}: {where}: {str(exc).splitlines()[0] if str(exc) else exc}") \
                from None
        return True

    def _run(self, ray: ModuleType, tasks: Sequence[Task], started: Callable[[Task], None],
             finished: Callable[[VideoResult], None]) -> None:
        remote = ray.remote(max_retries=LOST_WORKER_RETRIES, retry_exceptions=False)(self.fn)
        largest_cpus, largest_memory, total_cpus = _cluster_size(ray)
        window = max(4, 2 * total_cpus)  # tasks handed to Ray at once: enough to keep every CPU busy
        queue = list(reversed(tasks))
        running: dict[Any, Task] = {}
        while queue or running:
            while queue and len(running) < window:
                task = queue.pop()
                cpus, memory = task_resources(task.duration_sec)
                cpus, memory = min(cpus, largest_cpus), min(memory, largest_memory)
                running[remote.options(num_cpus=cpus, memory=memory, name=f"score {task.label}"[:100]).remote(task)] \
                    = task
                started(task)
            done, _ = ray.wait(list(running), num_returns=1)
            for ref in done:
                task = running.pop(ref)
                try:
                    finished(ray.get(ref))
                except ray.exceptions.RayError as exc:
                    finished(_failure(ray, task, exc))


def _failure(ray: ModuleType, task: Task, exc: BaseException) -> VideoResult:
    """The report line of a task Ray gave up on: its worker or node lost more often than it retries,
    or an error that escaped the task (a bug)."""
    if isinstance(exc, ray.exceptions.RayTaskError):
        cause = getattr(exc, "cause", None) or exc
        return failed_result(task, f"internal error: {cause.__class__.__name__}: {_first_line(cause)}"[:300],
                             attempts=1)
    why = _first_line(exc)
    tries = LOST_WORKER_RETRIES + 1
    return failed_result(task, lost_worker_message(tries, f"{exc.__class__.__name__}: {why}"[:200]), attempts=tries)


def _cluster_size(ray: ModuleType) -> tuple[int, int, int]:
    """(CPUs of the largest node, memory of the largest node, CPUs in all): a task never asks for
    more than a node has (it would wait for ever)."""
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    cpus = [int(r.get("CPU", 0)) for r in nodes] or [1]
    memory = [int(r.get("memory", 0)) for r in nodes] or [TASK_BASE_MEMORY_BYTES]
    return max(1, max(cpus)), max(1, max(memory)), max(1, sum(cpus))


def _first_line(exc: BaseException) -> str:
    """An exception's first line, without the colours Ray puts in its messages."""
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__
