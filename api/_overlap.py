"""Work of the later stages done beside the analysis, while the picture decodes.

:func:`~tempscore.api.score` sequences the stages; what a later stage needs and depends only on
the video is made here during the analysis instead of after it:

- the production audio the render mixes under the score (48 kHz stereo): made from the frames the
  analysis already decodes for its own 16 kHz mono (:class:`~tempscore.vision.audio.AudioCopy`),
  so the file's sound is decoded once, not twice, and is in the render's cache when the render
  starts (sample for sample what the render would decode: the same frames through a resampler of
  its own);
- the generator compose will use, loaded in a thread beside the decode (kept in the
  :class:`~tempscore.api.Session` when there is one: ``--watch``, the page, a batch worker).

Nothing here changes an output: each thing is made exactly as the stage itself makes it, and is
found by the stage in the same place (the project's cache, the session).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..contracts import VideoInfo
    from ..project import Project
    from ..vision.audio import AudioCopy
    from ._score import Session
    from .options import Options

log = logging.getLogger(__name__)

__all__ = ["BesideAnalysis", "beside_analysis"]


@dataclass
class BesideAnalysis:
    """What runs beside one analysis: :meth:`audio_copy_for` is given to
    :func:`~tempscore.api.analyze` (it asks once it knows the video's streams)."""

    project: Project
    sr: int
    stack: contextlib.ExitStack
    spill: object  # render.spill.Spill: gives the copy's mapped pages back while it is written
    made: list = field(default_factory=list)
    generator: object = None  # models.generator.Generator compose will use (None: the rules, or not loaded)

    def audio_copy_for(self, info: VideoInfo) -> AudioCopy | None:
        """The render's production audio to make from the analysis' decode, or None (no sound of
        its own, or already in the cache)."""
        from ..render import production_audio_made_early

        if not info.audio_streams:
            return None
        cache = self.project.cache()
        copy = self.stack.enter_context(production_audio_made_early(
            cache, Path(info.path), sr=self.sr, bed=info.production_audio, spill=self.spill))
        if copy is not None:
            self.made.append(copy)
        return copy


@contextlib.contextmanager
def beside_analysis(project: Project, opts: Options, models: Session) -> Iterator[BesideAnalysis]:
    """While the block (the analysis) runs: the production audio is made from its decode and the
    generator loads in a thread (into ``models``: the run's session, or a new one); on leaving, the
    audio becomes the render's cache entry (when the analysis decoded the whole file) and the
    generator is ready in :attr:`BesideAnalysis.generator`."""
    from ..render.spill import Spill

    loaded: list = []
    loading = threading.Thread(target=_load_generator, args=(models, opts, loaded), name="tempscore-load-models",
                               daemon=True)
    loading.start()
    spill = Spill(None, ram_bytes=0)
    with contextlib.ExitStack() as stack:
        stack.enter_context(spill.trimming())
        beside = BesideAnalysis(project=project, sr=opts.render_settings().sr, stack=stack, spill=spill)
        yield beside
    loading.join()
    beside.generator = loaded[0] if loaded else None


def _load_generator(models: Session, opts: Options, out: list) -> None:
    """The generator compose will use for these options (None for the rules); a failure is left
    for compose to meet and report in its own words."""
    try:
        out.append(models.generator_for(opts.composer, opts.int8))
    except Exception as exc:  # compose loads it again and says what is wrong
        log.debug("generator not loaded beside the analysis (%s); compose loads it", exc)
