"""The first cue's music between compose and render (:func:`~tempscore.api.score`'s ``first_cue``).

The render of a long film takes most of a run (synthesis of every cue, the hall, loudness, the
production mix, two AAC encodes and the mux); the first cue alone takes a second or two. Made
here from the files compose staged, read as the render reads them, its synthesis and hall pieces
left in the project's cache for the render to read back (:mod:`tempscore.render.preview`). It is
not one of the run's outputs and never stops the run: a preview that fails is logged and skipped.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from ._render import _midi_file, _read_inputs
from .results import FirstCue

if TYPE_CHECKING:
    from ..project import OutputSet
    from ..render import RenderSettings
    from .results import ComposeResult

log = logging.getLogger(__name__)

__all__ = ["first_cue"]


def first_cue(score: ComposeResult, *, settings: RenderSettings, outputs: OutputSet,
              duck_regions: Path | str | None = None, fonts: dict | None = None) -> FirstCue | None:
    """The first cue with music of ``score`` as the render will make it (see :class:`FirstCue`).

    Parameters
    ----------
    score : ComposeResult
        Compose's result, its MIDI and timeline staged in ``outputs``.
    settings : RenderSettings
        The render's settings (the same keys, so the render finds what is made here).
    outputs : OutputSet
        The run's set: the staged MIDI, timeline and analysis are read from it.
    duck_regions : path, optional
        The dialogue regions the render ducks under (``--duck-regions``), else the analysis'.
    fonts : dict, optional
        Soundfonts kept loaded (a :class:`~tempscore.api.Session`'s).

    Returns
    -------
    FirstCue or None
        None when no cue has music.
    """
    from ..render.preview import first_cue_music

    midi_final, project = _midi_file(score, None)
    inputs = _read_inputs(midi_final, project, outputs, timeline=None, video=None, duck_regions=duck_regions)
    music = first_cue_music(inputs.midi, inputs.timeline, settings=settings, speech=inputs.regions,
                            cache=project.cache(), fonts=fonts)
    if music is None:
        return None
    analysis = outputs.current(project.analysis)
    return FirstCue(cue_id=music.cue_id, start_sec=music.start_sec, end_sec=music.end_sec, sr=music.sr,
                    audio=music.audio, lufs=music.loudness.final_lufs, gain_db=float(music.loudness.gain_db),
                    gain_held=music.gain_held, timeline_file=outputs.current(inputs.timeline_path),
                    analysis_file=analysis if analysis.is_file() else None)
