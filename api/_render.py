"""``render``: ``<stem>.score.mid`` -> ``<stem>.score.wav`` (+ stems) and the scored video."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..contracts import to_json
from ..errors import BadStageFile
from ..project import OutputSet, Project, check_free_space
from ..render.auditions import file_state, identity
from .files import load_timeline, read_duck_regions, speech_regions_for
from .results import ComposeResult, RenderResult, RenderSummary
from .run import run_context

if TYPE_CHECKING:
    from ..cache import StageCache
    from ..contracts import Timeline
    from ..render import RenderSettings
    from ..render.exports import ExportOptions
    from ..render.produce import Produced
    from .results import Progress

log = logging.getLogger(__name__)

__all__ = ["render"]

#: Bytes a second of the render's files takes at most: the 24-bit stereo WAV, the AAC tracks
#: (256 kb/s each, up to two) and as much again while the new set is written beside the old.
_WAV_BYTES_PER_SAMPLE = 6


@dataclass
class _Inputs:
    """What a render reads: the MIDI, the timeline, the picture, the dialogue regions."""

    midi: Path
    timeline: Timeline
    timeline_path: Path
    video: Path
    have_video: bool
    regions: list[tuple[float, float]]
    speech_source: str
    picture_note: str
    stale: list[str] | None


def render(score: ComposeResult | Path | str, out_dir: Path | str | None = None, *,
           timeline: Path | str | None = None, video: Path | str | None = None,
           settings: RenderSettings | None = None, duck_regions: Path | str | None = None,
           fonts: dict | None = None, progress: Progress | None = None, exports: ExportOptions | None = None,
           outputs: OutputSet | None = None) -> RenderResult:
    """Render ``<stem>.score.mid`` to ``<stem>.score.wav`` (+ stems on request) and, when the
    picture is there, mux ``<stem>.scored.<ext>``.

    The timeline (cue edges, duration, video path) is read from ``timeline`` or from
    ``<stem>.timeline.json`` beside the MIDI. Without the video (a composer working from the
    timeline and the MIDI alone) the audio is written and the mux skipped, with a message. The music
    ducks under the speech regions of ``duck_regions`` (CSV) or, else, of the analysis. A render
    whose inputs and files are unchanged since the last one returns at once (``up_to_date``).

    Parameters
    ----------
    fonts : dict, optional
        Soundfonts already loaded (kept between runs by a :class:`~tempscore.api.Session`).
    progress : callable, optional
        ``progress("render", phase, done, total)``: see :func:`tempscore.render.produce.produce`.
    exports : ExportOptions, optional
        What to export after the render (click, streamers, sessions, notation, cue sheet), into the
        same output set (:mod:`tempscore.render.exports`); also after an up-to-date render.
    """
    from ..cache import max_bytes_from_env
    from ..render import RenderSettings

    midi_final, project = _midi_file(score, out_dir)
    s = settings or RenderSettings()
    s.validate()
    cache_limit = max_bytes_from_env()  # a bad TEMPSCORE_CACHE_MAX_MB fails before anything is written
    with run_context(project, outputs) as out:
        inputs = _read_inputs(midi_final, project, out, timeline=timeline, video=video, duck_regions=duck_regions)
        cache = project.cache()
        key = _render_key(inputs, s, project)
        done = _up_to_date(cache, key, project)
        if done is not None:  # same inputs as the render that wrote these files, and the files untouched
            return _with_exports(done, exports, inputs, project, out)
        if inputs.have_video:
            out.protect += (inputs.video,)
        check_free_space(project.folder, _space_needed(inputs, s), what="the render")
        made = _produce(inputs, s, project, out, cache, fonts=fonts, progress=progress)
        pruned = cache.prune(cache_limit)  # keeps this run's entries; older ones past the limit go
        files = {k: str(project.folder / Path(p).name) for k, p in made.files.items()}
        summary = _summary(inputs, s, made, cache, pruned, files)
        result = RenderResult(outputs=files, summary=summary, project=project)
        out.after_commit(lambda rendered=result: _record_render(cache, key, rendered))
        result = _with_exports(result, exports, inputs, project, out)
    return result


def _with_exports(result: RenderResult, exports: ExportOptions | None, inputs: _Inputs, project: Project,
                  out: OutputSet) -> RenderResult:
    """``result`` with the exports asked for written into ``out`` and named in its outputs and summary."""
    if exports is None or not exports.any:
        return result
    import dataclasses

    from ..render.exports import write_exports

    stems = [out.current(Path(p)) for k, p in result.outputs.items() if k.startswith("stem")]
    files, notes = write_exports(exports, timeline=inputs.timeline, project=project, out=out, midi=inputs.midi,
                                 wav=out.current(project.wav), stems=stems,
                                 video=inputs.video if inputs.have_video else None)
    summary = dataclasses.replace(result.summary, exports=notes)
    return dataclasses.replace(result, outputs={**result.outputs, **files}, summary=summary)


def _midi_file(score: ComposeResult | Path | str, out_dir: Path | str | None) -> tuple[Path, Project]:
    if isinstance(score, ComposeResult):
        return score.project.midi, score.project
    return Path(score), Project.of(score, out_dir)


def _read_inputs(midi_final: Path, project: Project, out: OutputSet, *, timeline: Path | str | None,
                 video: Path | str | None, duck_regions: Path | str | None) -> _Inputs:
    from ..render.synth import check_midi_head

    midi = out.current(midi_final)
    if not midi.is_file():
        raise BadStageFile(f"{midi_final}: file not found; run compose first")
    check_midi_head(midi)  # before looking for the timeline beside it
    tl_final = Path(timeline) if timeline else midi_final.with_name(Project.of(midi_final).timeline.name)
    tl = load_timeline(out.current(tl_final))
    if video is not None and not Path(video).is_file():
        raise BadStageFile(f"{video}: video not found; check --video")
    src = Path(video) if video else Path(tl.video.path)
    have_video = src.is_file()
    picture_note = _check_picture(tl, src) if have_video and video else ""
    if have_video and video:
        tl.video.path = str(src)
    if duck_regions is not None:
        regions, speech_source = read_duck_regions(Path(duck_regions)), Path(duck_regions).name
    else:
        regions, speech_source = speech_regions_for(tl, Project.of(tl_final).analysis, outputs=out)
    return _Inputs(midi=midi, timeline=tl, timeline_path=tl_final, video=src, have_video=have_video, regions=regions,
                   speech_source=speech_source, picture_note=picture_note, stale=_stale_cues(midi, tl, tl_final))


def _check_picture(tl: Timeline, src: Path) -> str:
    """A warning when ``--video`` is not the picture the timeline was planned on (another length)."""
    from ..vision.probe import probe

    other = probe(src)  # a file that is not a video fails here, in one line
    frame_sec = tl.video.fps_den / tl.video.fps_num
    if abs(other.duration_sec - tl.video.duration_sec) <= 1.5 * frame_sec:
        return ""
    note = (f"--video {src.name} is {other.duration_sec:.2f} s, the timeline's picture "
            f"{tl.video.duration_sec:.2f} s: the score and its sync points do not fit it; "
            f"plan that picture with `tempscore score {src.name}`")
    log.warning("%s", note)
    return note


def _stale_cues(midi: Path, tl: Timeline, tl_path: Path) -> list[str] | None:
    """The cues changed in the timeline since compose wrote the MIDI (said, then rendered as it is)."""
    from ..render.midi import cue_digests, midi_cue_digests

    composed_from = midi_cue_digests(midi)
    if composed_from is None:
        return None
    now = cue_digests(tl)
    stale = sorted(set(now) ^ set(composed_from) | {k for k in now if composed_from.get(k) not in (None, now[k])})
    if stale:
        log.warning("%s was composed from an earlier version of %s (changed since: %s); rendering it as it is: "
                    "run `tempscore compose %s` first to hear the change", midi.name, tl_path.name,
                    ", ".join(stale), tl_path.name)
    return stale


def _space_needed(inputs: _Inputs, s: RenderSettings) -> int:
    """Bytes the render's new files take (the WAV, the stems, the scored video with up to three
    tracks): they are written while the previous set is still there."""
    samples = int(inputs.timeline.video.duration_sec * s.sr)
    wav = samples * _WAV_BYTES_PER_SAMPLE
    stems = 5 * wav if s.stems else 0
    picture = inputs.video.stat().st_size if inputs.have_video else 0
    aac = int(inputs.timeline.video.duration_sec * 3 * 256_000 / 8)
    return wav + stems + picture + aac


def _produce(inputs: _Inputs, s: RenderSettings, project: Project, out: OutputSet, cache: StageCache, *,
             fonts: dict | None, progress: Progress | None) -> Produced:
    from ..render.mux import scored_extension
    from ..render.produce import RenderTargets, produce

    ext = scored_extension(inputs.video) if inputs.have_video else ".mp4"
    targets = RenderTargets(wav=out.path(project.wav), scored=out.path(project.scored_video(ext)),
                            stem_path=lambda section: out.path(project.stem_wav(section)))
    phases = (lambda phase, done, total: progress("render", phase, done, total)) if progress is not None else None
    made = produce(inputs.midi, inputs.timeline, s, regions=inputs.regions,
                   video=inputs.video if inputs.have_video else None, targets=targets, cache=cache, fonts=fonts,
                   protect=(inputs.video,) if inputs.have_video else (), progress=phases)
    if not inputs.have_video:
        log.warning("mux skipped: the video %s is not there (pass --video to mux); wrote the audio only", inputs.video)
    return made


def _summary(inputs: _Inputs, s: RenderSettings, made: Produced, cache: StageCache, pruned: int,
             files: dict[str, str]) -> RenderSummary:
    from ..render.mux import original_audio_titles

    result = made.audio
    lr = result.loudness
    return RenderSummary(
        music_lufs=None if lr.final_lufs is None else round(lr.final_lufs, 2), target_lufs=lr.target_lufs,
        true_peak_dbtp=lr.true_peak_dbtp, gain_db=lr.gain_db, limiter_max_gr_db=lr.limiter_max_gr_db,
        gain_held=(f"the previous render's gain, the loudness within {s.loudness_hold_lu:g} LU of the target "
                   f"(--loudness-hold 0 to normalise exactly)") if lr.gain_held else False,
        soundfont=Path(result.soundfont).name, sections=result.parts, stems=sorted(result.stems),
        ducking={"regions": len(result.speech_regions), "source": inputs.speech_source, "depth_db": s.duck_depth_db,
                 "attack_sec": s.duck_attack_sec, "release_sec": s.duck_release_sec},
        audio_tracks=made.tracks + (original_audio_titles(inputs.video) if inputs.have_video else []),
        mux="done" if inputs.have_video else (f"skipped: the video {inputs.video} is not there (pass --video to mux); "
                                              f"wrote the audio only"),
        duration_sec=round(len(result.music) / s.sr, 3),
        picture_mismatch=inputs.picture_note or None, midi_older_than_timeline=inputs.stale or None,
        aac_tracks={k: f"{v['mode']}, {v['frames_encoded']}/{v['frames']} frames encoded"
                    for k, v in made.aac_reports.items()},
        timings_sec=result.timings_sec,
        synth_cache={"segments_reused": cache.counts.get("synth", [0, 0])[0],
                     "segments_rendered": cache.counts.get("synth", [0, 0])[1],
                     "hall_pieces_reused": cache.counts.get("hall", [0, 0])[0],
                     "hall_pieces_convolved": cache.counts.get("hall", [0, 0])[1],
                     "remixed": result.premaster or None, "dir": str(cache.root),
                     "pruned_mb": round(pruned / 2**20, 1)},
        buffers_on_disk_mb=result.spilled_mb, up_to_date=False)


def _render_key(inputs: _Inputs, s: RenderSettings, project: Project) -> dict[str, Any]:
    """Everything a render's files depend on: the MIDI's bytes, the timeline, the settings, the
    dialogue regions, the soundfont and the video file (identity), and where they are written (the
    cache adds the tempscore version to every key)."""
    from ..render.synth import default_soundfont

    return {"midi": hashlib.sha256(inputs.midi.read_bytes()).hexdigest(), "timeline": to_json(inputs.timeline),
            "settings": asdict(s), "regions": inputs.regions, "soundfont": identity(default_soundfont(s.soundfont)),
            "video": identity(inputs.video) if inputs.have_video else None, "out": str(project.folder.resolve())}


def _up_to_date(cache: StageCache, key: dict, project: Project) -> RenderResult | None:
    """The result of the render made with exactly ``key``, if every file it wrote is still as it
    left it (size and modification time); else None. A no-change re-run then costs no render."""
    rec = cache.get_json("render", key)
    try:
        if not rec or any(file_state(p) != state for p, state in rec["files"]):
            return None
    except (TypeError, ValueError, KeyError):  # an entry of another shape: render
        return None
    summary = RenderSummary.from_dict(rec["summary"])
    summary.up_to_date = True
    summary.timings_sec = {}
    summary.synth_cache = {**summary.synth_cache, "segments_reused": 0, "segments_rendered": 0,
                           "hall_pieces_reused": 0, "hall_pieces_convolved": 0, "pruned_mb": 0.0}
    return RenderResult(outputs=dict(rec["outputs"]), summary=summary, project=project)


def _record_render(cache: StageCache, key: dict, res: RenderResult) -> None:
    # (a cache that cannot be written only costs the next run this shortcut)
    cache.put_json("render", key, {"outputs": res.outputs, "summary": res.summary_dict(),
                                    "files": [[p, file_state(p)] for p in res.outputs.values()]})
