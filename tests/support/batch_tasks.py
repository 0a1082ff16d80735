"""Worker functions for the batch engines' tests: a task that takes its own worker process down
(SIGKILL, as the out-of-memory killer would), always or on its first try only."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tempscore.batch.results import SCORED, VideoResult
from tempscore.batch.worker import Task


def crash_or_score(task: Task) -> VideoResult:
    """Kill this process when the task's label starts with ``crash``; the same when it starts with
    ``flaky`` and its marker file (in ``task.out_dir``) is not there yet (made first: the next try
    succeeds); else a scored line naming this process."""
    marker = Path(task.out_dir) / f"{task.folder}.tried"
    if task.label.startswith("crash") or (task.label.startswith("flaky") and not marker.exists()):
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return VideoResult(label=task.label, folder=task.folder, video=task.video, status=SCORED, attempts=1,
                       worker=str(os.getpid()))
