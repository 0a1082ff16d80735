"""Batch scoring: many videos, each scored into its own folder exactly as ``tempscore score`` would
(through :func:`tempscore.api.score`), locally or on a Ray cluster.

>>> from tempscore.batch import run_batch
>>> result = run_batch(["reels/", "spots.csv"], "out")
>>> result.totals.failed
0

- :mod:`.sources`: files, folders and manifests -> jobs, and each job's folder under OUT;
- :mod:`.state`: the record a scored video leaves, and whether its outputs are up to date;
- :mod:`.worker`: one video on a worker (a local process or a Ray task);
- :mod:`.engines` (local worker processes), :mod:`.ray_engine` (Ray, imported only when asked for);
- :mod:`.report`: ``batch.csv``, ``batch.json``, ``index.html``;
- :mod:`.run`: :func:`run_batch`, the whole.

A front end: it calls the library API only, never a stage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

if TYPE_CHECKING:
    from .results import BatchProgress, VideoResult
    from .run import BatchResult, make_engine, run_batch

__all__ = ["run_batch", "make_engine", "BatchResult", "BatchProgress", "VideoResult"]

__getattr__, __dir__ = lazy_attributes(__name__, {
    "run_batch": ".run", "make_engine": ".run", "BatchResult": ".run", "BatchProgress": ".results",
    "VideoResult": ".results"})
