"""``analyze``: the picture and production audio of a video -> ``<stem>.analysis.json`` (cached)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from .. import __version__
from ..contracts import ANALYSIS_SCHEMA, Analysis, read_stage, to_json
from ..errors import BadStageFile
from ..fileio import write_text_atomic
from ..project import OutputSet, Project
from .files import refuse_other_videos_file, save_fingerprint
from .results import AnalyzeResult, AnalyzeSummary
from .run import run_context

if TYPE_CHECKING:
    from ..contracts import VideoInfo
    from ..vision import AnalyzeSettings
    from ..vision.audio import AudioCopy
    from .results import Progress

__all__ = ["analyze"]


def analyze(video: Path | str, out_dir: Path | str | None = None, *, settings: AnalyzeSettings | None = None,
            force: bool = False, progress: Progress | None = None, outputs: OutputSet | None = None,
            audio_copy_for: Callable[[VideoInfo], AudioCopy | None] | None = None) -> AnalyzeResult:
    """Analyse ``video`` into ``<stem>.analysis.json`` in ``out_dir`` (default: beside it); an
    analysis of the same content with the same settings and version is reused unless ``force``.

    Parameters
    ----------
    progress : callable, optional
        ``progress("analyze", "frames", done, total)`` as frames are analysed.
    outputs : OutputSet, optional
        The output set of a larger run (:func:`tempscore.score`) this is part of; by default the
        analysis is its own set, written under the project's lock.
    audio_copy_for : callable, optional
        ``audio_copy_for(probed video)``: a rendition of the production audio to make from the
        frames the analysis decodes (:class:`~tempscore.vision.audio.AudioCopy`), or None; asked
        only when the picture is analysed (not when the analysis is reused).
    """
    from ..vision import AnalyzeSettings, probe

    video = Path(video)
    info = probe(video, note_scored_before=True)  # fails fast (exit 2) before anything is written
    project = Project.of(video, out_dir)
    s = settings or AnalyzeSettings()
    key = _settings_key(s)
    with run_context(project, outputs, protect=(video,)) as out:
        analysis = _reusable(project, video, info, key, force=force, outputs=out)
        cached = analysis is not None
        if analysis is None:
            copy = audio_copy_for(info) if audio_copy_for is not None else None
            analysis = _analyse(video, project, info, s, key, progress=progress, audio_copy=copy)
            write_text_atomic(out.path(project.analysis), to_json(analysis), protect=(video,))
    summary = AnalyzeSummary(
        cached=cached, frames=analysis.video.frame_count, fps=f"{analysis.video.fps_num}/{analysis.video.fps_den}",
        duration_sec=analysis.video.duration_sec, cuts=len(analysis.cuts), shots=len(analysis.shots),
        emotion_source=analysis.emotion_source,
        production_audio=analysis.video.production_audio if analysis.audio.present else False)
    return AnalyzeResult(outputs={"analysis": str(project.analysis)}, summary=summary, analysis=analysis,
                         project=project)


def _settings_key(s: AnalyzeSettings) -> dict:
    """What an analysis depends on besides the picture: the settings, with the shot detector "auto"
    chose here (classic on CPU, combined with a GPU): an analysis made on one machine is not reused
    as if the other method had run."""
    from ..vision.analyze import MEASURES
    from ..vision.shots import resolve_method

    key = {k: v for k, v in asdict(s).items() if k != "allow_download"}
    key["shot_detector"] = resolve_method(s.shot_detector)
    key["measures"] = MEASURES  # an analysis measured another way (per frame, before) is made again
    return key


def _reusable(project: Project, video: Path, info: VideoInfo, key: dict, *, force: bool,
              outputs: OutputSet) -> Analysis | None:
    """The analysis in place when it is of this content, version and settings; a recut's analysis
    is kept in the project's picture folder (its timeline's edits are conformed from it)."""
    path = outputs.current(project.analysis)
    if not path.is_file():
        return None
    try:
        old = read_stage(path, Analysis, ANALYSIS_SCHEMA)
    except BadStageFile:
        return None
    refuse_other_videos_file(path, old.video, video, info.content_hash)
    if (not force and old.video.content_hash == info.content_hash and old.tempscore_version == __version__
            and old.settings == key and old.video.production_audio == info.production_audio):
        return old
    if old.video.content_hash and old.video.content_hash != info.content_hash:
        with contextlib.suppress(OSError):
            write_text_atomic(project.earlier_analysis(old.video.content_hash), path.read_text(), protect=(video,))
    return None


def _analyse(video: Path, project: Project, info: VideoInfo, s: AnalyzeSettings, key: dict, *,
             progress: Progress | None, audio_copy: AudioCopy | None = None) -> Analysis:
    from ..vision import analyze as analyse_picture

    prints: list = []
    frames = (lambda done, total: progress("analyze", "frames", done, total)) if progress is not None else None
    analysis = analyse_picture(video, settings=s, progress=frames, fingerprint_out=prints, audio_copy=audio_copy)
    analysis.settings = key
    if prints and info.content_hash:
        save_fingerprint(project.fingerprint(info.content_hash), prints[0], protect=(video,))
    return analysis
