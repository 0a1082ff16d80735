"""tempscore: a temp score for a video rough cut.

>>> import tempscore
>>> r = tempscore.score("samples/rough_cut.mp4", "out")
>>> r.scored_video, r.midi, r.summary.render.music_lufs

The library API (:mod:`tempscore.api`): ``analyze``, ``plan``, ``compose``, ``render`` and
``score`` (all of them, in order); each returns a typed result. (``tempscore.score`` and the
others are the same functions; ``render`` is ``tempscore.api.render``, as ``tempscore.render`` is the
render stage's package.) The stages underneath are plain
functions over plain data (see DESIGN.md)::

    analyze(video) -> Analysis                         tempscore.vision
    plan(analysis, settings) -> Timeline               tempscore.scoring
    compose(timeline) -> Score                         tempscore.models
    render(score) -> audio, mux(video, audio) -> video tempscore.render

Everything loads on first use, so ``import tempscore`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_attributes

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .api import Options, Session, analyze, compose, pick, plan, rate, score, variants

# (``render`` is ``tempscore.api.render``: ``tempscore.render`` is the render stage's package)
__all__ = ["__version__", "analyze", "plan", "compose", "score", "pick", "rate", "variants", "Options", "Session"]

__getattr__, __dir__ = lazy_attributes(__name__, {name: ".api" for name in __all__ if name != "__version__"})
