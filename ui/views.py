"""What the spotting page shows of a job: its outputs, timeline, beat grid, timecode labels,
variants, NLE strip and the markers dropped on it (plain functions over a job's folder)."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import TempscoreError
from ..project import Project
from .jobs import PREVIEW_AUDIO, PREVIEW_DIR, JobBusy, cue_signature
from .uploads import UploadRejected

if TYPE_CHECKING:
    from .jobs import JobManager

__all__ = ["FILE_LABELS", "AnalysisCache", "beat_grid", "first_cue_preview", "job_strip", "job_view", "output_kind",
           "probe_upload", "read_job_markers", "safe_file", "timecode_labels"]

#: Outputs a job may serve, after its stem (nothing else in the folder is reachable).
OUTPUT_SUFFIXES = {
    "video": re.compile(r"\.scored\.(mp4|mov|mkv|m4v)"), "midi": re.compile(r"\.score\.mid"),
    "wav": re.compile(r"\.score\.wav"), "stem": re.compile(r"\.stem-[a-z]+\.wav"),
    "sync_csv": re.compile(r"\.sync\.csv"), "sync_json": re.compile(r"\.sync\.json"), "edl": re.compile(r"\.edl"),
    "otio": re.compile(r"\.otio"), "timeline": re.compile(r"\.timeline\.json"),
    "timeline_png": re.compile(r"\.timeline\.png"), "analysis": re.compile(r"\.analysis\.json"),
    "click_wav": re.compile(r"\.click\.wav"), "streamers": re.compile(r"\.streamers\.mp4"),
    "premiere_xml": re.compile(r"\.premiere\.xml"), "fcpxml": re.compile(r"\.fcpxml"), "aaf": re.compile(r"\.aaf"),
    "reaper": re.compile(r"\.rpp"), "musicxml": re.compile(r"\.score\.musicxml"), "score_pdf": re.compile(r"\.score\.pdf"),
    "cuesheet": re.compile(r"\.cuesheet\.csv"), "spotting": re.compile(r"\.spotting\.html"),
}
FILE_LABELS = {"video": "Scored video", "midi": "MIDI score", "wav": "Score WAV", "stem": "Stem",
               "sync_csv": "Sync points CSV", "sync_json": "Sync points JSON", "edl": "EDL (CMX 3600)",
               "otio": "OpenTimelineIO", "timeline": "timeline.json", "timeline_png": "Timeline picture",
               "analysis": "analysis.json", "source": "Uploaded video", "click_wav": "Click track",
               "streamers": "Streamers (reference picture)", "premiere_xml": "Premiere / Resolve session",
               "fcpxml": "Final Cut Pro session", "aaf": "Pro Tools / Media Composer AAF", "reaper": "REAPER project",
               "musicxml": "Score (MusicXML)", "score_pdf": "Score (PDF)", "cuesheet": "Cue sheet",
               "spotting": "Spotting notes"}
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}")


def output_kind(name: str, stem: str) -> str | None:
    if not name.startswith(stem + "."):
        return None
    rest = name[len(stem):]
    return next((k for k, rx in OUTPUT_SUFFIXES.items() if rx.fullmatch(rest)), None)


def safe_file(folder: Path, name: str) -> Path | None:
    """``folder/name`` when it is a regular file directly inside ``folder`` (no links, no ``..``)."""
    if not SAFE_NAME.fullmatch(name) or ".." in name:
        return None
    p = folder / name
    if p.is_symlink() or not p.is_file() or p.resolve().parent != folder.resolve():
        return None
    return p


def beat_grid(timeline: dict[str, Any]) -> dict[str, list]:
    """Bar lines (``[time_sec, bar]``) and the other beats (seconds) from the timeline's tempo map.

    The beat grid restarts at every bar-line event (a cue start, a meter change), as the MIDI
    file's does, so a partial bar before it does not shift the next cue's beats.
    """
    from ..contracts import TempoEvent
    from ..scoring.tempo import TempoMap

    fields = {"time_sec", "bpm", "beats_per_bar", "bar", "bar_line"}
    tmap = TempoMap([TempoEvent(**{k: v for k, v in e.items() if k in fields}) for e in timeline["tempo_map"]])
    dur = float(timeline["video"]["duration_sec"])
    starts = [e.time_sec for e in tmap.events if e.bar_line] + [dur]
    bars: list[list[float]] = []
    beats: list[float] = []
    for t0, t1 in zip(starts[:-1], starts[1:]):
        b, b_end = tmap.time_to_beats(t0), tmap.time_to_beats(min(t1, dur))
        while b < b_end - 1e-6:
            t = tmap.beats_to_time(b)
            bar, beat = tmap.bar_beat(t)
            if abs(beat - 1) < 1e-6:
                bars.append([round(t, 4), bar])
            else:
                beats.append(round(t, 4))
            b += 1.0
    return {"bars": bars, "beats": beats}


def timecode_labels(video: dict[str, Any]) -> dict[str, Any]:
    """How the page labels frames for this video (same rules as scoring/timecodes.py): SMPTE or
    frame-count timecode (``rate`` frames per timecode second, ``drop``, ``start_frames``), or, at
    a rate with no whole number of frames per second, the frame's time (``seconds``: ``fps``,
    ``start_sec``, ``decimals``)."""
    from fractions import Fraction

    from ..scoring.timecodes import start_offset_frames, start_seconds, timecode_format

    fps = Fraction(int(video["fps_num"]), int(video["fps_den"]))
    fmt = timecode_format(fps)
    start = video.get("start_timecode") or "00:00:00:00"
    if not fmt.counts_frames:
        return {"seconds": True, "fps": float(fps), "start_sec": float(start_seconds(start, fps)),
                "decimals": fmt.decimals}
    return {"rate": fmt.nominal, "drop": fmt.drop_frame, "start_frames": start_offset_frames(start, fps)}


class AnalysisCache:
    """The picture facts the page draws (shots, cuts, accents, speech), read once per file version."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}

    def get(self, path: Path) -> dict[str, Any] | None:
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return None
        hit = self._cache.get(str(path))
        if hit and hit[0] == mtime:
            return hit[1]
        try:
            a = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        shot_keys = ("start_frame", "end_frame", "start_sec", "end_sec", "valence", "arousal", "emotion_label")
        slim = {"video": {k: a["video"].get(k) for k in ("fps_num", "fps_den", "frame_count", "duration_sec", "width",
                                                         "height", "start_timecode")},
                "cuts": [{k: c.get(k) for k in ("frame", "time_sec", "kind", "strength")} for c in a.get("cuts", [])],
                "shots": [{k: s.get(k) for k in shot_keys} for s in a.get("shots", [])],
                "accents": a.get("accents", []), "speech": (a.get("audio") or {}).get("speech", []),
                "emotion_source": a.get("emotion_source", "")}
        self._cache[str(path)] = (mtime, slim)
        return slim


def probe_upload(path: Path, name: str) -> dict[str, Any]:
    """The uploaded picture's facts the page shows; a file no decoder reads is refused (422) by its name."""
    from ..vision import probe

    try:
        info = probe(path)
    except TempscoreError as exc:
        raise UploadRejected(422, str(exc).replace(str(path), name)) from None
    return {"fps": f"{info.fps_num}/{info.fps_den}", "duration_sec": info.duration_sec, "width": info.width,
            "height": info.height, "frame_count": info.frame_count, "audio_streams": info.audio_streams,
            "codec": info.codec}


def job_view(mgr: JobManager, analyses: AnalysisCache, job: dict[str, Any]) -> dict[str, Any]:
    """Everything the page draws for one job: timeline (as every command checks it), picture facts,
    bar lines, timecode labels, the downloadable files and the cues' variants."""
    d = mgr.job_dir(job["id"])
    project = Project(d, job["stem"])
    preview = first_cue_preview(d, job)
    # while a new upload renders, its shots and cues are this run's, kept with its first cue
    shown = Project(d / PREVIEW_DIR, job["stem"]) if preview else project
    out: dict[str, Any] = {"job": job, "timeline": None, "analysis": analyses.get(shown.analysis),
                           "grid": None, "files": _job_files(d, job), "variants": {}, "preview": preview}
    if shown.timeline.is_file():
        _add_timeline(out, shown.timeline, d)
    if out["timeline"] and not preview:
        out["variants"] = _variants(project.variants, job, out["timeline"])
    return out


def first_cue_preview(job_dir: Path, job: dict[str, Any]) -> dict[str, Any] | None:
    """The running job's first cue, ready to be heard (``job["preview"]`` with the URL of its
    music), or None: no preview, or the run is over (its scored video is the thing to play)."""
    preview = job.get("preview")
    if job.get("state") != "running" or not preview or not (job_dir / PREVIEW_DIR / PREVIEW_AUDIO).is_file():
        return None
    return {**preview, "url": f"/api/jobs/{job['id']}/preview/{PREVIEW_AUDIO}?made={preview.get('made', 0)}"}


def _add_timeline(out: dict[str, Any], path: Path, job_dir: Path) -> None:
    from ..contracts import to_dict
    from ..scoring.validate import load_timeline

    try:  # the same check as every command's: a hand edit the CLI refuses is refused here too
        tl = to_dict(load_timeline(path))
    except TempscoreError as exc:
        out["timeline_error"] = f"{str(exc).replace(str(job_dir) + '/', '')}; or re-run the job"
        return
    out["timeline"] = tl
    out["grid"] = beat_grid(tl)
    out["timecode"] = timecode_labels(tl["video"])


def _job_files(job_dir: Path, job: dict[str, Any]) -> list[dict[str, Any]]:
    """The job's source and outputs, labelled, in the order of :data:`FILE_LABELS`."""
    stem = job["stem"]
    files = []
    for p in sorted(job_dir.iterdir()):
        kind = "source" if p.name == job["video"] else output_kind(p.name, stem)
        if kind and p.is_file() and not p.is_symlink():
            label = FILE_LABELS[kind] + (f": {p.name[len(stem) + 6:-4]}" if kind == "stem" else "")
            files.append({"name": p.name, "kind": kind, "label": label, "bytes": p.stat().st_size,
                          "mtime": p.stat().st_mtime})
    order = list(FILE_LABELS)
    return sorted(files, key=lambda f: (order.index(f["kind"]), f["name"]))


def _variants(vdir: Path, job: dict[str, Any], timeline: dict[str, Any]) -> dict[str, Any]:
    """Per cue: its audition files, which one is picked, and whether they were made from the cue as it is."""
    manifest = vdir / "manifest.json"
    if not manifest.is_file():
        return {}
    try:
        seeds = json.loads(manifest.read_text(encoding="utf-8")).get("seeds", {})
    except (OSError, ValueError):
        seeds = {}
    cues = {c["id"]: c for c in timeline["cues"]}
    out = {}
    for cue_id, cue_seeds in seeds.items():
        if cue_id not in cues:
            continue
        made = job.get("variants_sig", {}).get(cue_id)
        out[cue_id] = {
            "current": made == cue_signature(cues[cue_id]),
            "picked": next((k for k, sd in enumerate(cue_seeds, 1) if sd == cues[cue_id].get("seed")), 0),
            "items": [{"variant": k, "seed": sd, "wav": f"{cue_id}.v{k}.wav"}
                      for k, sd in enumerate(cue_seeds, 1) if (vdir / f"{cue_id}.v{k}.wav").is_file()]}
    return out


def read_job_markers(job_dir: Path, job: dict[str, Any], name: str, body: bytes) -> list[dict]:
    """Markers from an uploaded marker file, read against the job's picture; errors name the file as uploaded."""
    from ..contracts import ANALYSIS_SCHEMA, Analysis, read_stage
    from ..errors import BadMarkerFile
    from ..scoring.markers import read_markers

    project = Project(job_dir, job["stem"])
    if not project.analysis.is_file():
        raise JobBusy(f"{job['name']}: not analysed yet; wait for the first run to finish")
    video = read_stage(project.analysis, Analysis, ANALYSIS_SCHEMA).video
    with tempfile.TemporaryDirectory(prefix="tempscore-markers-") as tmp:
        path = Path(tmp) / (name if SAFE_NAME.fullmatch(name) else "markers.txt")
        path.write_bytes(body)
        try:
            found = read_markers(path, video)
        except BadMarkerFile as exc:  # named as the user knows it, not by the temporary path
            raise BadMarkerFile(str(exc).replace(str(path), name)) from None
    return [{**m.to_dict(), "file": name} for m in found]


def job_strip(mgr: JobManager, analyses: AnalysisCache, job: dict[str, Any]) -> dict[str, Any]:
    """A thumbnail per shot and the waveforms of the production audio and of the score (cached)."""
    from .strip import shot_thumbnails, waveform_peaks

    d = mgr.job_dir(job["id"])
    project = Project(d, job["stem"])
    a = analyses.get(project.analysis)
    if a is None:
        return {"thumbs": [], "waves": {}}
    video, dur = d / job["video"], float(a["video"]["duration_sec"])
    cache = project.cache_dir
    return {"thumbs": shot_thumbnails(video, a["shots"], cache),
            "waves": {"production": waveform_peaks(video, dur, cache, "production"),
                      "score": waveform_peaks(project.wav, dur, cache, "score")}}
