"""tempscore: a temp score for a video rough cut.

Stages (plain functions over plain data, see DESIGN.md)::

    analyze(video) -> Analysis          tempscore.vision
    plan(analysis, settings) -> Timeline tempscore.scoring
    compose(timeline) -> Score           tempscore.models
    render(score) -> audio, mux(video, audio) -> video   tempscore.render

Heavy libraries are imported inside the stages, so ``import tempscore`` stays cheap.
"""

__version__ = "0.1.0"
