"""What is exported after the render, for the editor's and the composer's tools (each on request):
the click track, the streamers picture, the sessions, the notation, the cue sheet and spotting notes.

Every file is written into the run's output set (``out.path(final)``), so it lands with the WAV
and the MIDI it was made from, or not at all.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from av.container import InputContainer
    from av.video.stream import VideoStream
    from PIL.Image import Image

    from ..contracts import Timeline
    from ..project import OutputSet, Project

log = logging.getLogger(__name__)

__all__ = ["ExportOptions", "write_exports"]


@dataclass
class ExportOptions:
    """Which exports a run writes (all off by default), and the cue sheet's composer and publisher."""

    click: bool = False
    streamers: bool = False
    sessions: bool = False
    notation: bool = False
    cuesheet: bool = False
    composer: str = ""
    publisher: str = ""

    @property
    def any(self) -> bool:
        return self.click or self.streamers or self.sessions or self.notation or self.cuesheet


def write_exports(opts: ExportOptions, *, timeline: Timeline, project: Project, out: OutputSet, midi: Path,
                  wav: Path, stems: list[Path], video: Path | None) -> tuple[dict[str, str], dict[str, str]]:
    """Write the exports ``opts`` asks for; returns (name -> final path, name -> what was written).

    ``midi``, ``wav``, ``stems``: this run's files (staged or in place) to read; ``video``: the
    picture, or None where it is not there (the streamers and the picture tracks are then left out).
    """
    files: dict[str, Path] = {}
    notes: dict[str, str] = {}
    protect = (video,) if video is not None else ()
    if opts.click:
        from .click import click_times, write_click_wav

        write_click_wav(timeline, out.path(project.click_wav), protect=protect)
        files["click_wav"] = project.click_wav
        n = click_times(timeline)
        notes["click"] = (f"{sum(1 for c in n if not c.count_in)} clicks, {sum(1 for c in n if c.count_in)} count-in "
                          f"clicks; a click track in the MIDI")
    if opts.streamers:
        notes["streamers"] = _streamers(timeline, project, out, wav, video, files)
    if opts.sessions:
        notes["sessions"] = _sessions(timeline, project, out, wav, stems, video, files)
    if opts.notation:
        notes["notation"] = _notation(timeline, project, out, midi, files)
    if opts.cuesheet:
        from ..fileio import write_text_atomic
        from ..scoring.report import cuesheet_csv, spotting_html

        write_text_atomic(out.path(project.cuesheet), cuesheet_csv(timeline, composer=opts.composer,
                                                                   publisher=opts.publisher), protect=protect)
        thumbs = _thumbnails(timeline, video) if video is not None else {}
        write_text_atomic(out.path(project.spotting_notes),
                          spotting_html(timeline, thumbnails=thumbs, title=f"{project.stem}: spotting notes"),
                          protect=protect)
        files["cuesheet"], files["spotting"] = project.cuesheet, project.spotting_notes
        notes["cuesheet"] = (f"{sum(1 for c in timeline.cues if not c.tacet)} cues; spotting notes with "
                             f"{len(thumbs)} thumbnails" + ("" if opts.composer else "; no composer given "
                                                            "(--cue-composer, or cue_composer in tempscore.toml)"))
    return {k: str(v) for k, v in files.items()}, notes


def _streamers(timeline: Timeline, project: Project, out: OutputSet, wav: Path, video: Path | None,
               files: dict[str, Path]) -> str:
    if video is None:
        return "skipped: the picture is not there"
    from .streamers import write_streamers

    drawn = write_streamers(timeline, video, wav, out.path(project.streamers_video), protect=(video,))
    files["streamers"] = project.streamers_video
    return (f"{drawn['streamers']} streamers, {drawn['punches']} punches, {drawn['size'][0]}x{drawn['size'][1]}"
            + ("" if drawn["timecode"] else "; no font found: no timecode window"))


def _sessions(timeline: Timeline, project: Project, out: OutputSet, wav: Path, stems: list[Path],
              video: Path | None, files: dict[str, Path]) -> str:
    from .sessions import SessionMedia, write_aaf, write_fcpxml, write_rpp, write_xmeml

    # the sessions name the files where they land (the project folder), not this run's staging
    media = SessionMedia(video=video, score=project.wav, stems=[project.folder / p.name for p in stems],
                         midi=project.midi)
    protect = (video,) if video is not None else ()
    write_xmeml(timeline, media, out.path(project.premiere_xml), protect=protect)
    write_fcpxml(timeline, media, out.path(project.fcpxml), protect=protect)
    write_aaf(timeline, media, out.path(project.aaf), protect=protect)
    write_rpp(timeline, media, out.path(project.reaper), protect=protect, folder=project.folder)
    files.update(premiere_xml=project.premiere_xml, fcpxml=project.fcpxml, aaf=project.aaf, reaper=project.reaper)
    return (f"Premiere/Resolve XML, FCPXML, AAF (tracks and clips, no markers, media to relink), REAPER: "
            f"{'picture, ' if video is not None else ''}score and {len(stems)} stems")


def _notation(timeline: Timeline, project: Project, out: OutputSet, midi: Path, files: dict[str, Path]) -> str:
    from .notation import write_musicxml, write_pdf

    made = write_musicxml(midi, timeline, out.path(project.musicxml))
    files["musicxml"] = project.musicxml
    try:
        pdf = write_pdf(out.path(project.musicxml), out.path(project.score_pdf))
        if out.path(project.score_pdf).is_file():
            files["score_pdf"] = project.score_pdf
    except RuntimeError as exc:  # the MusicXML stands; the PDF is a convenience
        log.warning("%s; the MusicXML is written", exc)
        pdf = f"failed: {exc}"
    return f"{len(made['parts'])} parts, {made['notes']} notes; PDF {pdf}"


def _thumbnails(timeline: Timeline, video: Path, *, width: int = 240) -> dict[str, str]:
    """A JPEG ``data:`` URI of each cue's first frame (one seek per cue)."""
    import io

    import av

    out: dict[str, str] = {}
    try:
        with av.open(str(video)) as c:
            stream = c.streams.video[0]
            for cue in timeline.cues:
                img = _frame_at(c, stream, cue.start_sec)
                if img is None:
                    continue
                img.thumbnail((width, width))
                buf = io.BytesIO()
                img.convert("RGB").save(buf, "JPEG", quality=80)
                out[cue.id] = "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()
    except (av.FFmpegError, OSError) as exc:
        log.warning("spotting notes: no thumbnails (%s)", exc)
    return out


def _frame_at(container: InputContainer, stream: VideoStream, sec: float) -> Image | None:
    """The picture showing at ``sec`` (from the first frame), decoded from the keyframe before it."""
    first = None
    target = None
    container.seek(max(0, int((sec - 1.0) / float(stream.time_base))) + (stream.start_time or 0), stream=stream)
    for frame in container.decode(stream):
        t = float(frame.pts * stream.time_base) if frame.pts is not None else 0.0
        first = t if first is None else first
        if t - float((stream.start_time or 0) * stream.time_base) >= sec - 1e-3:
            target = frame
            break
        target = frame
    return target.to_image() if target is not None else None
