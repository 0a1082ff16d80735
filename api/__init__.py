"""The library API: the stages over files, and the one sequence of them.

>>> import tempscore
>>> result = tempscore.score("cut.mp4", "out", seed=3)
>>> result.scored_video
PosixPath('out/cut.scored.mp4')

Each stage takes the previous one's result (or its file) and returns a typed result
(:mod:`.results`): :func:`analyze`, :func:`plan`, :func:`compose`, :func:`render`; :func:`score`
runs them all, its outputs landing as one set. Progress comes through a callback, never printed.
:func:`probe` reads a video's length, rate and content hash without decoding it; :func:`content_hash`
is that fingerprint of any file (what the analysis cache and ``tempscore batch`` compare).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

if TYPE_CHECKING:
    from ..vision.probe import content_hash, probe
    from ._analyze import analyze
    from ._compose import compose, pick, rate, variants
    from ._plan import plan
    from ._render import render
    from ._score import Session, score
    from .options import Options
    from .results import (
        SUMMARY_SCHEMA,
        AnalyzeResult,
        ComposeResult,
        PlanResult,
        RenderResult,
        ScoreResult,
        StageResult,
    )

__all__ = ["analyze", "plan", "compose", "render", "score", "pick", "rate", "variants", "Options", "Session",
           "AnalyzeResult", "PlanResult", "ComposeResult", "RenderResult", "ScoreResult", "StageResult",
           "SUMMARY_SCHEMA", "probe", "content_hash"]

__getattr__, __dir__ = lazy_attributes(__name__, {
    "analyze": "._analyze", "plan": "._plan", "compose": "._compose", "pick": "._compose", "rate": "._compose",
    "variants": "._compose", "render": "._render", "score": "._score", "Session": "._score", "Options": ".options",
    "AnalyzeResult": ".results", "PlanResult": ".results", "ComposeResult": ".results", "RenderResult": ".results",
    "ScoreResult": ".results", "StageResult": ".results", "SUMMARY_SCHEMA": ".results",
    "probe": "..vision.probe", "content_hash": "..vision.probe"})
