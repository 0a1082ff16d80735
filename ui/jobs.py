"""Background jobs of the spotting page.

Every uploaded video is a job: a folder ``<workdir>/jobs/<id>/`` holding the video, the stage
files the CLI writes (``<stem>.analysis.json``, ``<stem>.timeline.json``, ``<stem>.score.mid``,
...) and ``job.json`` (state, progress, the tasks still to run). Tasks run one after another on
worker threads through :func:`tempscore.api.score`, the sequence the CLI runs:

- ``score``: analyze, plan, compose, render (a new upload);
- ``rescore``: plan (when the edit needs it), compose, render (after an edit of the timeline);
- ``variants``: alternatives of one cue with an audition WAV each.

``job.json`` is rewritten at every change of state, so a job queued or running when the server
stops runs again when it starts (the analysis is cached by content hash, so that is cheap).

A new upload's first cue is kept in ``.first-cue/`` as soon as it is composed (``score``'s
``first_cue``), with that run's timeline and analysis, and named in ``job["preview"]``: the page
draws the shots and cues and plays that cue over the picture while the rest renders.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from ..errors import OutputError, TempscoreError
from ..fileio import atomic_path, write_text_atomic
from ..project import Project

if TYPE_CHECKING:
    from ..api.results import FirstCue

log = logging.getLogger(__name__)

JOB_SCHEMA = "tempscore.ui-job/1"
JOB_ID_CHARS = 16  # hex digits of a job id
T = TypeVar("T")
#: Where a new upload's first cue waits to be heard while the rest renders (in the job's folder; a
#: stem never starts with a dot, so no output is ever named so): the cue's music and copies of this
#: run's timeline and analysis, which land with the run's other files only at its end.
PREVIEW_DIR = ".first-cue"
#: The first cue's music in :data:`PREVIEW_DIR` (PCM WAV: every browser plays it as it arrives).
PREVIEW_AUDIO = "first-cue.wav"


#: Share of the render stage's time each of its phases takes (a 62-minute film: synthesis ~25 %,
#: reverb ~8 %, loudness ~11 %, production mix ~20 %, the rest encoding and the mux), for one bar.
RENDER_PHASES: dict[str, tuple[float, float]] = {
    "synthesising": (0.0, 0.25), "reverb": (0.25, 0.33), "loudness": (0.33, 0.44), "production mix": (0.44, 0.6),
    "encoding audio": (0.6, 0.95), "muxing": (0.95, 1.0)}


#: Where each stage of a task sits on the job's bar: a new upload, a re-score after an edit that
#: needs a new plan, and one that needs only compose and render.
STAGE_BOUNDS: dict[str, dict[str, tuple[float, float]]] = {
    "score": {"analyze": (0.0, 0.7), "plan": (0.7, 0.75), "compose": (0.75, 0.85), "render": (0.85, 1.0)},
    "rescore": {"analyze": (0.0, 0.0), "plan": (0.0, 0.1), "compose": (0.1, 0.35), "render": (0.35, 1.0)},
    "compose": {"compose": (0.0, 0.35), "render": (0.35, 1.0)}}
#: What the page says each stage is doing.
STAGE_NAMES = {"analyze": "analysing picture and sound", "plan": "planning cues and tempo map", "compose": "composing",
               "render": "rendering and muxing"}


def render_fraction(phase: str, done: float, total: float) -> float | None:
    """How far the render stage is (0..1), from its progress report (see
    :func:`~tempscore.api.render`); None for a phase not in :data:`RENDER_PHASES`."""
    if phase not in RENDER_PHASES:
        return None
    lo, hi = RENDER_PHASES[phase]
    return lo + (hi - lo) * min(1.0, max(0.0, done / total if total else 0.0))


class JobNotFound(Exception):
    """No job with that id (HTTP 404)."""


class JobBusy(Exception):
    """The job cannot take that request now (HTTP 409); the message says why and what to do."""


@dataclass
class JobSettings:
    """How the page's jobs run the stages (the CLI's defaults, plus every optional output)."""

    seed: int = 0
    composer: str = "auto"
    stems: bool = True
    edl: bool = True
    otio: bool = True


def is_job_id(text: str) -> bool:
    return len(text) == JOB_ID_CHARS and all(c in "0123456789abcdef" for c in text)


def _now() -> float:
    return round(time.time(), 3)


def cue_signature(cue: dict[str, Any]) -> list[Any]:
    """What a cue's notes are composed from, to tell whether auditioned variants are still current."""
    return [cue.get(k) for k in ("start_frame", "end_frame", "mood", "key", "intensity", "tempo_bpm", "tacet",
                                 "orchestration")]


class JobManager:
    """Jobs on disk under ``workdir`` and the worker threads that run their tasks.

    Parameters
    ----------
    workdir : Path
        The workspace (created if needed). Only one manager may use it at a time.
    workers : int
        Tasks run at once (each stage already uses the machine's cores).
    settings : JobSettings, optional
    """

    def __init__(self, workdir: Path, *, workers: int = 1, settings: JobSettings | None = None) -> None:
        self.root = Path(workdir).expanduser().resolve()
        self.jobs_dir = self.root / "jobs"
        self.uploads_dir = self.root / "uploads"
        try:
            self.jobs_dir.mkdir(parents=True, exist_ok=True)
            self.uploads_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot use {self.root} as the workspace ({exc.strerror}); give --workdir a "
                              f"writable directory") from exc
        self._lockfile = self._take_workspace()
        self.settings = settings or JobSettings()
        self.workers = max(1, int(workers))
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._jobs: dict[str, dict[str, Any]] = {}
        self._queue: deque[str] = deque()
        self._threads: list[threading.Thread] = []
        self._generation = 0  # workers of an older generation stop
        for stale in self.uploads_dir.iterdir():  # uploads cut off by a stopped server
            with contextlib.suppress(OSError):
                stale.unlink()
        self._load()

    # ------------------------------------------------------------------ workspace and persistence
    def _take_workspace(self) -> TextIO:
        """The workspace's lock file, open and locked for as long as this manager runs."""
        import fcntl

        f = (self.root / ".lock").open("a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            raise OutputError(f"{self.root} is in use by another `tempscore ui`; stop that one or give "
                              f"--workdir another directory") from None
        return f

    def _load(self) -> None:
        """Read every job.json; re-queue what was queued or running when the server stopped."""
        jobs = []
        for p in self.jobs_dir.glob("*/job.json"):
            try:
                job = json.loads(p.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                log.warning("%s: unreadable job state (%s); skipped", p, exc)
                continue
            if job.get("schema") != JOB_SCHEMA or job.get("id") != p.parent.name or not is_job_id(job["id"]):
                log.warning("%s: not a tempscore job; skipped", p)
                continue
            jobs.append(job)
        for job in sorted(jobs, key=lambda j: j.get("created", 0)):
            if job.get("state") == "running" and job.get("task"):
                job["pending"] = [job["task"], *job.get("pending", [])]
                job["message"] = "restarted: the server stopped while this ran"
            job["task"] = None
            if job.get("pending"):
                job["state"] = "queued"
                self._queue.append(job["id"])
            elif job.get("state") in ("queued", "running"):
                job["state"] = "failed"
                job["error"] = "the server stopped before this finished; upload the video again"
            self._jobs[job["id"]] = job
            self._save(job)

    def _save(self, job: dict[str, Any]) -> None:
        """Persist a job's state; a failed write (full disk) is logged and the job goes on in memory."""
        job["updated"] = _now()
        try:
            write_text_atomic(self.job_dir(job["id"]) / "job.json", json.dumps(job, indent=1))
        except (OSError, OutputError) as exc:
            log.warning("job %s: state not saved (%s); it will not survive a restart", job["id"], exc)

    def job_dir(self, job_id: str) -> Path:
        if not is_job_id(job_id):
            raise JobNotFound(job_id)
        return self.jobs_dir / job_id

    # ------------------------------------------------------------------ threads
    def start(self) -> None:
        """Start the worker threads (idempotent)."""
        with self._lock:
            if self._threads:
                return
            if self._lockfile is None:
                raise RuntimeError("the job manager is closed")
            self._generation += 1
            for k in range(self.workers):
                t = threading.Thread(target=self._work, args=(self._generation,), name=f"tempscore-ui-worker-{k}",
                                     daemon=True)
                t.start()
                self._threads.append(t)

    def stop(self, timeout: float = 0.0) -> None:
        """Take no new tasks; wait up to ``timeout`` s for the running ones (they finish on their own)."""
        with self._lock:
            self._generation += 1
            self._wake.notify_all()
            threads, self._threads = self._threads, []
        deadline = time.monotonic() + timeout
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def close(self, timeout: float = 0.0) -> None:
        """:meth:`stop`, then release the workspace. A task still running when the process exits is
        left as it is on disk and runs again at the next start."""
        self.stop(timeout)
        if self._lockfile is not None:
            self._lockfile.close()
            self._lockfile = None

    def wait_idle(self, timeout: float) -> bool:
        """Block until no job is queued or running (for tests and scripts); False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not any(j["state"] in ("queued", "running") for j in self._jobs.values()):
                    return True
            time.sleep(0.05)
        return False

    # ------------------------------------------------------------------ jobs
    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._public(j) for j in sorted(self._jobs.values(), key=lambda j: j["created"])]

    def get(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            return self._public(self._require(job_id))

    def _require(self, job_id: str) -> dict[str, Any]:
        job = self._jobs.get(job_id) if is_job_id(job_id) else None
        if job is None:
            raise JobNotFound(job_id)
        return job

    def _public(self, job: dict[str, Any]) -> dict[str, Any]:
        out = json.loads(json.dumps(job))
        out["queue_position"] = (list(self._queue).index(job["id"]) + 1) if job["id"] in self._queue else 0
        out["has_timeline"] = self.timeline_path(job["id"]).is_file()
        return out

    def create(self, upload: Path, *, name: str, stem: str, suffix: str, info: dict[str, Any] | None = None
               ) -> dict[str, Any]:
        """Make a job of an uploaded file (moved into the job folder) and queue its scoring."""
        job_id = secrets.token_hex(JOB_ID_CHARS // 2)
        d = self.jobs_dir / job_id
        d.mkdir()
        video = f"{stem}{suffix}"
        os.replace(upload, d / video)
        job = {"schema": JOB_SCHEMA, "id": job_id, "name": name, "stem": stem, "video": video,
               "size_bytes": (d / video).stat().st_size, "info": info or {}, "created": _now(), "updated": _now(),
               "state": "queued", "stage": "waiting", "progress": 0.0, "message": "", "error": "", "revision": 0,
               "task": None, "pending": [], "timings_sec": {}, "variants_sig": {}}
        with self._lock:
            self._jobs[job_id] = job
            self._submit(job, {"kind": "score"})
            return self._public(job)

    def delete(self, job_id: str) -> None:
        with self._lock:
            job = self._require(job_id)
            if job["state"] == "running":
                raise JobBusy(f"{job['name']} is being worked on ({job['stage']}); delete it when it has finished")
            del self._jobs[job_id]
            with contextlib.suppress(ValueError):
                self._queue.remove(job_id)
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)

    def _submit(self, job: dict[str, Any], task: dict[str, Any]) -> None:
        """Queue a task (lock held). A rescore waiting behind another rescore is merged into it."""
        for t in job["pending"]:
            if t["kind"] == task["kind"] == "rescore":
                t["plan"] = bool(t.get("plan") or task.get("plan"))
                if task.get("exports"):
                    t["exports"] = {**t.get("exports", {}), **task["exports"]}
                break
        else:
            job["pending"].append(task)
        if job["state"] != "running":
            job["state"] = "queued"
            job["stage"] = "waiting"
            job["progress"] = 0.0
            if job["id"] not in self._queue:
                self._queue.append(job["id"])
        self._save(job)
        self._wake.notify()

    # ------------------------------------------------------------------ paths of a job's files
    def project(self, job_id: str) -> Project:
        """The job's project (its video's files in the job's folder)."""
        with self._lock:
            job = self._require(job_id)
            return Project(self.job_dir(job_id), job["stem"])

    def timeline_path(self, job_id: str) -> Path:
        return self.project(job_id).timeline

    # ------------------------------------------------------------------ edits
    def change(self, job_id: str, action: Callable[[Path], T], task: dict[str, Any] | None) -> T:
        """Run ``action(timeline_path)`` (an edit of the timeline file) and queue ``task`` after it.

        Refused (:class:`JobBusy`) while the job runs or before it has a timeline; an action that
        raises leaves the file and the queue as they were.
        """
        with self._lock:
            job = self._require(job_id)
            if job["state"] == "running":
                raise JobBusy(f"{job['name']}: the score is being updated ({job['stage']}); wait for it to finish")
            path = self.timeline_path(job_id)
            if not path.is_file():
                raise JobBusy(f"{job['name']}: not scored yet; wait for the first run to finish")
            out = action(path)
            if task is not None:
                self._submit(job, task)
            return out

    def submit(self, job_id: str, task: dict[str, Any]) -> dict[str, Any]:
        """Queue a task that does not edit the timeline (e.g. variants)."""
        self.change(job_id, lambda _p: None, task)
        return self.get(job_id)

    # ------------------------------------------------------------------ the worker
    def _report(self, job_id: str, stage: str, progress: float) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                job["stage"], job["progress"] = stage, round(min(max(progress, 0.0), 1.0), 4)

    def _work(self, generation: int) -> None:
        while True:
            with self._lock:
                while generation == self._generation and not self._queue:
                    self._wake.wait()
                if generation != self._generation:
                    return
                job_id = self._queue.popleft()
                job = self._jobs.get(job_id)
                if job is None or not job["pending"]:
                    continue
                task = job["pending"].pop(0)
                job.update(state="running", task=task, stage="starting", progress=0.0, error="", message="",
                           started=_now())
                self._save(job)
                snapshot = dict(job)
            t0 = time.perf_counter()
            error, timings = "", {}
            try:
                timings = self._run(snapshot, task)
            except TempscoreError as exc:
                error = self._clean(str(exc), snapshot)
            except Exception as exc:  # reported on the page, traceback in the server log
                from ..errors import disk_error, disk_failure

                if (refused := disk_failure(exc)) is not None:  # the disk, not tempscore: said as the CLI says it
                    error = str(disk_error(refused, folder=self.root))  # the workspace: where space is wanted
                    log.warning("job %s: %s", job_id, error)
                else:
                    log.exception("job %s: %s failed", job_id, task["kind"])
                    error = self._clean(f"internal error: {exc.__class__.__name__}: {exc} (the server log has "
                                        f"the details)", snapshot)
            with self._lock:
                job = self._jobs.get(job_id)
                if job is None:  # deleted meanwhile is refused while running; keep the guard anyway
                    continue
                timings["total"] = round(time.perf_counter() - t0, 3)
                job.update(task=None, progress=1.0, error=error, timings_sec=timings, last_task=task,
                           revision=job["revision"] + 1, stage="failed" if error else "done",
                           state="failed" if error else "done")
                if task["kind"] == "variants" and not error:
                    cue = next((c for c in self._timeline_cues(job_id) if c["id"] == task["cue"]), None)
                    if cue is not None:
                        job["variants_sig"][task["cue"]] = cue_signature(cue)
                if job["pending"]:
                    job["state"] = "queued"
                    self._queue.append(job_id)
                self._save(job)
                if error:
                    log.warning("job %s (%s): %s", job_id, job["name"], error)

    def _clean(self, message: str, job: dict[str, Any]) -> str:
        """An error line for the page: the job folder left out of paths, the user's own file name shown."""
        d = str(self.job_dir(job["id"]))
        return message.replace(d + os.sep, "").replace(d, "").replace(job["video"], job["name"]).strip()

    def _timeline_cues(self, job_id: str) -> list[dict[str, Any]]:
        from ..contracts import to_dict
        from ..errors import TempscoreError
        from ..scoring.validate import load_timeline

        try:
            return to_dict(load_timeline(self.timeline_path(job_id)))["cues"]
        except TempscoreError:
            return []

    def _run(self, job: dict[str, Any], task: dict[str, Any]) -> dict[str, float]:
        """Run one task through the library API (:func:`tempscore.api.score`, the sequence the CLI runs);
        returns seconds per stage."""
        from ..api import Options, score, variants

        d = self.job_dir(job["id"])
        project = Project(d, job["stem"])
        s = self.settings
        kind = task["kind"]
        if kind == "variants":
            self._report(job["id"], "composing variants", 0.0)
            t = time.perf_counter()
            variants(project.timeline, d, cues=[task["cue"]], n=int(task.get("n", 3)), seed=s.seed,
                     composer=s.composer)
            return {"variants": round(time.perf_counter() - t, 3)}
        if kind not in ("score", "rescore"):
            raise ValueError(f"unknown task {kind!r}")
        replan = kind == "score" or task.get("plan", True)
        bounds = STAGE_BOUNDS[kind if replan else "compose"]
        exports = {k: True for k in ("click", "streamers", "sessions", "notation", "cuesheet")
                   if (task.get("exports") or {}).get(k)}
        # a new upload's first cue is heard as soon as it is composed (an edit's re-run shows the last score)
        first_cue = self._first_cue_to(job["id"], project) if kind == "score" else None
        res = score(d / job["video"], d, options=Options(seed=s.seed, composer=s.composer, stems=s.stems, edl=s.edl,
                                                         otio=s.otio, **exports),
                    progress=self._progress_of(job["id"], bounds), replan=replan, first_cue=first_cue)
        for old in project.stem_wavs():  # a section that no longer plays leaves no stale stem
            if str(old) not in res.outputs.values():
                old.unlink()
        return dict(res.summary.timings_sec)

    def _first_cue_to(self, job_id: str, project: Project) -> Callable[[FirstCue], None]:
        """What keeps a run's first cue (:class:`~tempscore.api.results.FirstCue`) for the page: its
        music and this run's timeline and analysis in :data:`PREVIEW_DIR`, then ``job["preview"]``
        (the cue, where it is on the picture, when it was ready). The last run's preview goes now."""
        folder = project.folder / PREVIEW_DIR
        t0 = time.perf_counter()
        with self._lock:
            job = self._require(job_id)
            job["preview"] = None
            self._save(job)

        def keep(fc: FirstCue) -> None:
            try:
                folder.mkdir(exist_ok=True)
                fc.write_wav(folder / PREVIEW_AUDIO)
                for src, final in ((fc.timeline_file, project.timeline), (fc.analysis_file, project.analysis)):
                    if src is not None:
                        with atomic_path(folder / final.name) as tmp:
                            shutil.copyfile(src, tmp)
            except (OSError, OutputError) as exc:  # (a full disk) the run goes on without a preview
                log.warning("job %s: no first-cue preview (%s)", job_id, exc)
                return
            preview = {"cue": fc.cue_id, "start_sec": round(fc.start_sec, 6), "end_sec": round(fc.end_sec, 6),
                       "audio": PREVIEW_AUDIO, "lufs": fc.lufs, "gain_held": fc.gain_held,
                       "ready_sec": round(time.perf_counter() - t0, 3), "made": _now()}
            with self._lock:
                job = self._jobs.get(job_id)
                if job is not None:
                    job["preview"] = preview
                    self._save(job)

        return keep

    def _progress_of(self, job_id: str, bounds: dict[str, tuple[float, float]]) -> Callable[[str, str, float, float], None]:
        """The API's progress as the job's bar: each stage its share (``bounds``), the render by its phases."""
        def progress(stage: str, phase: str, done: float, total: float) -> None:
            if stage not in bounds:
                return
            lo, hi = bounds[stage]
            if stage == "render":
                f = render_fraction(phase, done, total) if phase != "start" else 0.0
            else:
                f = min(1.0, max(0.0, done / total)) if total else 0.0
            if f is not None:
                self._report(job_id, STAGE_NAMES[stage], lo + (hi - lo) * f)

        return progress
