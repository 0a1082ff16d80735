"""What a batch reports: one :class:`VideoResult` per video, and the progress of the whole."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

__all__ = ["VideoResult", "BatchProgress", "SCORED", "UP_TO_DATE", "FAILED", "PENDING", "STAGES"]

#: Statuses: scored by this run; skipped, its outputs up to date; failed (``error`` says why);
#: not run (the batch was stopped first).
SCORED, UP_TO_DATE, FAILED, PENDING = "scored", "up to date", "failed", "pending"
#: The stages whose seconds the report lists.
STAGES = ("analyze", "plan", "compose", "render")


@dataclass
class VideoResult:
    """One video's line of the report.

    Attributes
    ----------
    label : str
        The video as the batch names it (its path under its source folder or manifest).
    folder : str
        Its folder under OUT (POSIX, relative).
    video : str
        The video's absolute path.
    status : str
        :data:`SCORED`, :data:`UP_TO_DATE`, :data:`FAILED` or :data:`PENDING`.
    duration_sec : float or None
        Length of the picture.
    cues, hit_points, hits_within_1_frame : int or None
        From the plan.
    music_lufs, true_peak_dbtp : float or None
        From the render (None when the music is silent).
    timings_sec : dict
        Seconds per stage (``analyze``, ``plan``, ``compose``, ``render``) of the run that scored it.
    wall_sec : float or None
        The whole task on its worker, in seconds (the model loads of a worker's first video included).
    outputs : dict
        What -> file name in ``folder`` (``midi``, ``wav``, ``video``, ``timeline_png`` ...).
    error : str
        Why it failed, in one line (empty otherwise).
    warnings : list of str
        What the run warned about.
    attempts : int
        Tries it took (more than 1 when a worker was lost under it).
    worker : str
        ``host:pid`` of the worker that scored it.
    """

    label: str
    folder: str
    video: str
    status: str = PENDING
    duration_sec: float | None = None
    cues: int | None = None
    hit_points: int | None = None
    hits_within_1_frame: int | None = None
    music_lufs: float | None = None
    true_peak_dbtp: float | None = None
    timings_sec: dict[str, float] = field(default_factory=dict)
    wall_sec: float | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    error: str = ""
    warnings: list[str] = field(default_factory=list)
    attempts: int = 0
    worker: str = ""

    @property
    def ok(self) -> bool:
        return self.status in (SCORED, UP_TO_DATE)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VideoResult:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class BatchProgress:
    """Where a batch is, after each video (what the progress bar shows).

    ``picture_sec`` and ``elapsed_sec`` count this run only: ``picture_sec / elapsed_sec`` is the
    throughput (seconds of picture scored per second), ``eta_sec`` the time left at that pace.
    """

    total: int
    scored: int = 0
    up_to_date: int = 0
    failed: int = 0
    running: int = 0
    picture_sec: float = 0.0
    elapsed_sec: float = 0.0
    finished_here: int = 0  # videos this run scored or failed
    last: VideoResult | None = None

    @property
    def remaining(self) -> int:
        return self.total - self.scored - self.up_to_date - self.failed

    @property
    def finished(self) -> int:
        return self.total - self.remaining

    @property
    def picture_min_per_min(self) -> float | None:
        """Minutes of picture scored per minute of wall time, so far."""
        return self.picture_sec / self.elapsed_sec if self.elapsed_sec > 0 and self.picture_sec > 0 else None

    @property
    def eta_sec(self) -> float | None:
        """Time left at the pace so far (videos finished per second)."""
        if not self.finished_here or self.elapsed_sec <= 0:
            return None
        return self.remaining * self.elapsed_sec / self.finished_here
