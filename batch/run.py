"""``run_batch``: score many videos, each into its own folder under OUT, skipping those whose outputs
are up to date, on local workers or a Ray cluster, with a report at the end (and on the way)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidSettings, OutputError, TempscoreError
from ..fileio import leftovers
from .engines import LocalEngine, default_workers
from .report import REPORT_FILES, BatchTotals, totals_of, write_reports
from .results import FAILED, PENDING, SCORED, UP_TO_DATE, BatchProgress, VideoResult
from .sources import PATH_OPTIONS, Job, assign_folders, collect_jobs, is_file_option, options_digest
from .state import batch_lock, fingerprint, read_record, up_to_date
from .worker import Task

if TYPE_CHECKING:
    from ..api.options import Options
    from .engines import Engine

log = logging.getLogger(__name__)

__all__ = ["run_batch", "BatchResult", "make_engine"]

#: How often the reports are rewritten while the batch runs (they are always written at the end).
REPORT_EVERY_SEC = 15.0


@dataclass
class BatchResult:
    """A batch's outcome: a line per video (in the order the sources list them), the totals, where the
    reports are and what ran it."""

    videos: list[VideoResult]
    totals: BatchTotals
    out_dir: Path
    reports: dict[str, Path] = field(default_factory=dict)
    engine: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.totals.failed == 0 and self.totals.pending == 0


def make_engine(*, ray: str | None = None, workers: int | None = None) -> Engine:
    """The engine of ``--ray`` (None: local worker processes, ``workers`` of them, default one per core)."""
    if workers is not None and workers < 1:
        raise InvalidSettings(f"--workers {workers}: give at least 1")
    if ray:
        from .ray_engine import RayEngine, import_ray

        import_ray()  # refused now, in one line, when Ray is not installed
        return RayEngine(address=ray, workers=workers)
    return LocalEngine(workers=workers or default_workers())


def run_batch(sources: Iterable[Path | str], out_dir: Path | str, *, options: Options | None = None,
              engine: Engine | None = None, force: bool = False,
              progress: Callable[[BatchProgress], None] | None = None) -> BatchResult:
    """Score every video of ``sources`` into its own folder under ``out_dir``.

    Parameters
    ----------
    sources : iterable of path
        Videos, folders of videos (searched recursively) and manifests (CSV or JSON Lines: a ``path``
        and options per video; see :mod:`tempscore.batch.sources`).
    out_dir : path
        OUT: a folder per video (its path under its source, without the extension), and the reports
        ``batch.csv``, ``batch.json``, ``index.html``.
    options : Options, optional
        Every video's options (a manifest's columns go over them).
    engine : Engine, optional
        :func:`make_engine`'s (default: local workers, one per core).
    force : bool
        Score every video, up to date or not (and analyse it again).
    progress : callable, optional
        ``progress(BatchProgress)`` as each video starts and ends.

    Returns
    -------
    BatchResult
        A failed video is its line (``status`` failed, ``error`` why); the batch goes on.

    Raises
    ------
    TempscoreError
        Bad usage, before any video is scored: a source or a manifest row that is wrong, a bad
        option, an OUT that cannot be written or that another batch is writing to.
    """
    from ..api.options import Options

    t0 = time.perf_counter()
    out_dir = _out_folder(out_dir)
    base = _absolute_paths(Options.from_kwargs(options))
    if force:
        base = dataclasses.replace(base, force=True)
    base.check()
    jobs = collect_jobs(sources, out_dir=out_dir)
    passed: set[str] = set()
    merged = [_options_of(job, base, passed) for job in jobs]
    engine = engine if engine is not None else make_engine()
    started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    _make_folder(out_dir)  # (only now: a batch refused for its usage leaves nothing)
    with batch_lock(out_dir):
        _sweep_reports(out_dir)
        plan = _plan(jobs, merged, out_dir, force=force)
        meta = {"tempscore_version": _version(), "out_dir": str(out_dir), "engine": engine.describe(),
                "started_at": started_at, "running": True}
        run = _Run(out_dir, [r for r, _ in plan], meta, progress, t0)
        tasks = [t for _, t in plan if t is not None]
        tasks = run.probe(tasks) if engine.sizes_tasks else tasks  # (Ray: a task asks for what its length needs)
        run.write()
        try:
            engine.run(tasks, started=run.started, finished=run.finished)
        finally:
            run.meta.update(running=False, finished_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
            reports = run.write()
    return BatchResult(videos=run.results, totals=run.totals(), out_dir=out_dir, reports=reports,
                       engine=engine.describe())


def _version() -> str:
    from .. import __version__

    return __version__


def _out_folder(out_dir: Path | str) -> Path:
    out = Path(os.path.abspath(out_dir))
    if out.exists() and not out.is_dir():
        raise OutputError(f"-o {out}: is a file; give the batch a folder for its outputs")
    return out


def _make_folder(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"-o {out}: cannot make it ({exc.strerror or exc}); choose another folder") from exc


def _absolute_paths(options: Options) -> Options:
    """``options`` with every file it names absolute (from the working folder), so a worker in another
    folder or on another node finds it."""
    changes = {k: os.path.abspath(os.path.expanduser(getattr(options, k))) for k in PATH_OPTIONS
               if is_file_option(k, getattr(options, k))}
    return dataclasses.replace(options, **changes)


def _options_of(job: Job, base: Options, passed: set[str]) -> Options:
    """The job's options (its manifest row over the batch's), checked: a wrong one names the row.
    ``passed``: digests of the options already checked (many rows share theirs)."""
    if not job.options:
        return base
    opts = dataclasses.replace(base, **job.options)
    key = options_digest(dataclasses.asdict(opts))
    if key not in passed:
        try:
            opts.check()
        except TempscoreError as exc:
            raise InvalidSettings(f"{job.where}: {exc}") from None
        passed.add(key)
    return opts


def _plan(jobs: list[Job], options: list[Options], out_dir: Path, *, force: bool
          ) -> list[tuple[VideoResult, Task | None]]:
    """Each job's report line and, unless its outputs are up to date, its task."""
    from ..api import content_hash

    def claim(folder: str) -> tuple[str, str] | None:
        rec = read_record(out_dir / folder)
        return (str(rec.get("label")), str(rec.get("options_digest"))) if rec else None

    hash_of = functools.lru_cache(maxsize=None)(lambda p: content_hash(Path(p)))  # (an option's file, once)
    folders = assign_folders(jobs, claim)
    return [_line_and_task(job, opts, out_dir, folder, force=force, hash_of=hash_of)
            for job, opts, folder in zip(jobs, options, folders)]


def _line_and_task(job: Job, opts: Options, out_dir: Path, folder: str, *, force: bool,
                   hash_of: Callable[[str], str]) -> tuple[VideoResult, Task | None]:
    """A job's report line: its record's when its outputs are up to date (no task), else pending
    with its task."""
    from ..api import content_hash

    fp = fingerprint(opts, stem=_stem(job.video), file_hash=hash_of)
    record = read_record(out_dir / folder)
    if not force and up_to_date(record, folder=out_dir / folder, video=job.video, fp=fp,
                                content_hash=lambda p: content_hash(Path(p))):
        return VideoResult.from_dict({**record.get("result", {}), "label": job.label, "folder": folder,
                                      "video": str(job.video), "status": UP_TO_DATE}), None
    line = VideoResult(label=job.label, folder=folder, video=str(job.video), status=PENDING)
    return line, Task(video=str(job.video), out_dir=str(out_dir), folder=folder, label=job.label,
                      options=dataclasses.asdict(opts), fingerprint=fp, options_digest=options_digest(fp["options"]))


def _stem(video: Path) -> str:
    from ..project import stem_of

    return stem_of(video)


def _sweep_reports(out_dir: Path) -> None:
    """Remove report files half-written by a batch killed while writing them."""
    names = set(REPORT_FILES.values())
    for p in leftovers(out_dir, lambda name: name in names):
        try:
            p.unlink()
        except OSError as exc:
            log.debug("could not remove %s: %s", p, exc)


class _Run:
    """The batch while it runs: the report lines, the progress, the reports rewritten now and then."""

    def __init__(self, out_dir: Path, results: list[VideoResult], meta: dict[str, Any],
                 progress: Callable[[BatchProgress], None] | None, t0: float) -> None:
        self.out_dir, self.results, self.meta, self._progress, self._t0 = out_dir, results, meta, progress, t0
        self._index = {r.folder: i for i, r in enumerate(results)}
        self._running: set[str] = set()
        self.state = BatchProgress(total=len(results), up_to_date=sum(r.status == UP_TO_DATE for r in results))
        self._written = 0.0

    def probe(self, tasks: list[Task]) -> list[Task]:
        """``tasks`` with their pictures' lengths; a video the probe refuses fails now with its line."""
        from ..api import probe

        def length(task: Task) -> float | str:
            try:
                return float(probe(task.video).duration_sec)
            except TempscoreError as exc:
                return str(exc).splitlines()[0]

        with ThreadPoolExecutor(max_workers=8) as pool:
            lengths = list(pool.map(length, tasks))
        out = []
        for task, got in zip(tasks, lengths):
            if isinstance(got, str):
                self.finished(VideoResult(label=task.label, folder=task.folder, video=task.video, status=FAILED,
                                          error=got, attempts=1))
            else:
                out.append(dataclasses.replace(task, duration_sec=got))
        return out

    def started(self, task: Task) -> None:
        self._running.add(task.folder)
        self.state.running = len(self._running)
        self._tell(None)

    def finished(self, result: VideoResult) -> None:
        self.results[self._index[result.folder]] = result
        self._running.discard(result.folder)
        s = self.state
        s.running = len(self._running)
        s.finished_here += 1
        if result.status == SCORED:
            s.scored += 1
            s.picture_sec += result.duration_sec or 0.0
        else:
            s.failed += 1
        self._tell(result)
        if time.perf_counter() - self._written >= REPORT_EVERY_SEC:
            self.write()

    def _tell(self, last: VideoResult | None) -> None:
        self.state.elapsed_sec = time.perf_counter() - self._t0
        self.state.last = last
        if self._progress is not None:
            self._progress(self.state)

    def totals(self) -> BatchTotals:
        return totals_of(self.results, wall_sec=time.perf_counter() - self._t0)

    def write(self) -> dict[str, Path]:
        self._written = time.perf_counter()
        return write_reports(self.out_dir, self.results, meta=self.meta, totals=self.totals())
