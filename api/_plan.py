"""``plan``: an analysis -> ``<stem>.timeline.json`` and its reports, keeping the user's edits."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from ..contracts import ANALYSIS_SCHEMA, TIMELINE_SCHEMA, Analysis, Timeline, read_stage, to_json
from ..errors import BadStageFile
from ..fileio import write_text_atomic
from ..project import OutputSet, Project, stem_of
from .files import check_conform_from, load_fingerprint, load_for_update, load_timeline, refuse_other_videos_file
from .results import AnalyzeResult, PlanResult, PlanSummary
from .run import run_context

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np

    from ..scoring import PlanSettings
    from ..scoring.conform import FrameMap

log = logging.getLogger(__name__)

__all__ = ["plan", "draw_timeline_png", "RECUT_MIN_SHARE"]

#: A recut shares at least this share of its frames with the version it replaces; less, and the
#: edits are not conformed (everything would read as cut out).
RECUT_MIN_SHARE = 0.1


def plan(analysis: AnalyzeResult | Analysis | Path | str, out_dir: Path | str | None = None, *,
         settings: PlanSettings | None = None, fresh: bool = False, edl: bool = False, otio: bool = False,
         moods: Sequence[str] = (), prompts: Sequence[str] = (), reference: Path | str | None = None,
         picture: bool = True, conform_from: Path | str | None = None, markers: Path | str | None = None,
         outputs: OutputSet | None = None) -> PlanResult:
    """Plan cues, tempo map and hit points; write ``<stem>.timeline.json``, ``.sync.csv``,
    ``.sync.json``, ``.timeline.png`` (``picture``) and ``.edl`` / ``.otio`` on request.

    An existing ``<stem>.timeline.json`` in the output folder is read first and the user's edits in
    it (locked cues, changed mood/key/tempo, added or deleted hit points) are kept, unless
    ``fresh``; planned on another version of the cut (a recut), they follow their picture
    (:mod:`tempscore.scoring.conform`). ``conform_from``: take the edits from this timeline of an
    earlier version instead (saved under another name, ``cut_v1.timeline.json``). ``moods`` and
    ``prompts`` (``"cue 3=tense"``, ``"cue 2: C minor, 70 BPM"``) are edits too, kept like hand edits.
    ``markers``: the editor's marker export (:mod:`tempscore.scoring.markers`): hits of their weight,
    must-hits winning in the tempo fit; kept in the timeline for later re-plans.
    """
    from ..scoring import PlanSettings

    analysis, analysis_path, project = _read_analysis(analysis, out_dir)
    s = settings or PlanSettings()
    marker_defs = read_marker_file(markers, analysis) if markers is not None else None  # before anything is written
    with run_context(project, outputs, protect=(Path(analysis.video.path),)) as out:
        previous, conform_file, folders = _previous(project, analysis, out, fresh=fresh, conform_from=conform_from)
        _take_reference(s, reference, previous)
        recut = _recut(previous, analysis, folders, conform_file or project.timeline) if previous is not None else None
        timeline, not_understood = _plan_with_steering(analysis, s, previous, recut, moods, prompts, marker_defs)
        timeline.analysis_path = str(analysis_path.resolve())
        _warn_if_silent(timeline)
        files = _write_reports(project, out, analysis, timeline, edl=edl, otio=otio, picture=picture)
    summary = _summary(analysis, timeline, s, previous, recut, not_understood)
    return PlanResult(outputs=files, summary=summary, timeline=timeline, project=project)


def _warn_if_silent(timeline: Timeline) -> None:
    """Say so when the planner made every cue tacet: the score would be silence."""
    from ..scoring.edits import silent_plan

    if (silent := silent_plan(timeline)) is not None:
        log.warning("%s", silent)


def _read_analysis(analysis: AnalyzeResult | Analysis | Path | str,
                   out_dir: Path | str | None) -> tuple[Analysis, Path, Project]:
    """The analysis, where its file is (recorded in the timeline) and the project it plans for."""
    if isinstance(analysis, AnalyzeResult):
        return analysis.analysis, analysis.project.analysis, analysis.project
    if isinstance(analysis, Analysis):
        project = Project.of(analysis.video.path, out_dir)
        return analysis, project.analysis, project
    path = Path(analysis)
    return read_stage(path, Analysis, ANALYSIS_SCHEMA), path, Project.of(path, out_dir)


def _previous(project: Project, analysis: Analysis, out: OutputSet, *, fresh: bool,
              conform_from: Path | str | None) -> tuple[Timeline | None, Path | None, list[Path]]:
    """The timeline whose edits are kept (the project's own, or ``conform_from``'s), the file it came
    from when that is not the project's, and the picture folders a recut is matched from."""
    tl_path = project.timeline
    folders = [project.picture_dir]
    video = Path(analysis.video.path)
    if conform_from is not None:
        conform_from = Path(conform_from)
        check_conform_from(conform_from, fresh=fresh)
        if conform_from.resolve() != tl_path.resolve():
            previous = load_timeline(conform_from)
            folders.append(Project.of(conform_from).picture_dir)
            if tl_path.is_file():
                with contextlib.suppress(OSError):
                    out.expect(tl_path, tl_path.read_bytes())
            return previous, conform_from, folders
    if not tl_path.is_file():
        return None, None, folders
    if fresh:  # the edits are ignored, but another video's plan is not replaced
        with contextlib.suppress(BadStageFile):  # an unreadable plan is simply replaced
            other = read_stage(tl_path, Timeline, TIMELINE_SCHEMA)
            refuse_other_videos_file(tl_path, other.video, video, analysis.video.content_hash)
        return None, None, folders
    previous, raw = load_for_update(tl_path)
    out.expect(tl_path, raw)
    refuse_other_videos_file(tl_path, previous.video, video, analysis.video.content_hash)
    return previous, None, folders


def _take_reference(s: PlanSettings, reference: Path | str | None, previous: Timeline | None) -> None:
    """A reference track given now is measured (and kept in the timeline for later re-plans);
    else the one an earlier plan measured."""
    if reference is not None:
        from ..scoring.reference import analyze_reference, follow_reference

        s.reference = analyze_reference(Path(reference)).to_dict()
        for line in follow_reference(s.reference)["not_followed"]:  # said once, when measured
            log.warning("--reference %s: %s", Path(reference).name, line)
    elif previous is not None and (previous.settings or {}).get("reference") and not s.reference:
        s.reference = dict(previous.settings["reference"])


def _fps_text(fps_num: int, fps_den: int) -> str:
    return f"{fps_num / fps_den:.3f}".rstrip("0").rstrip(".")


def _recut(previous: Timeline, analysis: Analysis, folders: list[Path], edits_file: Path) -> FrameMap | None:
    """Where the frames ``previous`` was planned on are in this cut, when it was planned on another
    version of it (a recut); None when it was not, or when that cannot be told (said why)."""
    if previous.video.content_hash == analysis.video.content_hash:
        return None
    pv, nv = previous.video, analysis.video
    if (pv.fps_num, pv.fps_den) != (nv.fps_num, nv.fps_den):
        log.warning("%s was planned on a version of the cut at another frame rate (%s -> %s fps): its edits are "
                    "not conformed and stay on the same frame numbers; check them, or re-plan with --fresh",
                    edits_file.name, _fps_text(pv.fps_num, pv.fps_den), _fps_text(nv.fps_num, nv.fps_den))
        return None
    recut = recut_map(folders, previous, analysis)
    if recut is None:
        log.warning("%s was planned on another version of the cut, whose analysis is gone (deleted with the "
                    "%s.cache folder?): your edits stay on the same frame numbers; check them, or re-plan "
                    "with --fresh", edits_file.name, stem_of(edits_file))
        return None
    if recut.kept_frames < RECUT_MIN_SHARE * min(recut.old_frames, recut.new_frames):
        # next to nothing in common: another framing (letterbox, crop), or another film, not a recut
        log.warning("%s was planned on a version of the cut whose picture is not found in this one (%d of %d "
                    "frames; reframed, or another film?): its edits are not conformed and stay on the same "
                    "frame numbers; check them, or re-plan with --fresh", edits_file.name,
                    recut.kept_frames, recut.new_frames)
        return None
    return recut


def recut_map(folders: list[Path], previous: Timeline, analysis: Analysis) -> FrameMap | None:
    """Where the frames of the cut ``previous`` was planned on are in ``analysis``'s cut (a recut),
    from what the analysis kept in the picture ``folders`` (the first that has it), or from the
    analysis file ``previous`` names when it is still that cut's; None when none is left."""
    from ..scoring.conform import match_pictures

    old_hash, new_hash = previous.video.content_hash, analysis.video.content_hash
    old = None
    for path in [f / f"{old_hash}.analysis.json" for f in folders] + [Path(previous.analysis_path or "")]:
        if not path.name or not path.is_file():
            continue
        try:
            old = read_stage(path, Analysis, ANALYSIS_SCHEMA)
        except BadStageFile:
            continue
        if old.video.content_hash == old_hash:
            break
        old = None
    if old is None:
        return None

    def fingerprint(content_hash: str) -> np.ndarray | None:
        return next((fp for f in folders if (fp := load_fingerprint(f / f"{content_hash}.fingerprint.npz")) is not None),
                    None)

    return match_pictures(old, analysis, old_fingerprint=fingerprint(old_hash), new_fingerprint=fingerprint(new_hash))


def read_marker_file(path: Path | str, analysis: Analysis) -> list[dict]:
    """The markers of the editor's export ``path`` on the analysed picture, as the plan takes them."""
    from ..scoring.markers import read_markers

    return [{**m.to_dict(), "file": Path(path).name} for m in read_markers(Path(path), analysis.video)]


def _plan_with_steering(analysis: Analysis, s: PlanSettings, previous: Timeline | None, recut: FrameMap | None,
                        moods: Sequence[str], prompts: Sequence[str],
                        markers: list[dict] | None = None) -> tuple[Timeline, list[str]]:
    """The plan; command-line steering is applied as edits of it and planned again."""
    from ..scoring import plan as make_plan

    timeline = make_plan(analysis, s, previous=previous, recut=recut, markers=markers)
    not_understood: list[str] = []
    if moods or prompts:
        from ..scoring.edits import apply_overrides

        not_understood = apply_overrides(timeline, moods=list(moods), prompts=list(prompts))
        timeline = make_plan(analysis, s, previous=timeline, markers=markers)
        if not_understood:
            log.warning("prompt words not understood (ignored): %s", ", ".join(not_understood))
    return timeline, not_understood


def _write_reports(project: Project, out: OutputSet, analysis: Analysis, timeline: Timeline, *, edl: bool,
                   otio: bool, picture: bool) -> dict[str, str]:
    """The timeline and its reports, into the run's set; what -> final path."""
    from ..scoring.report import sync_csv, sync_json, write_edl, write_otio

    protect = (Path(analysis.video.path),)
    files = {"timeline": project.timeline}
    write_text_atomic(out.path(project.timeline), to_json(timeline), protect=protect)
    for key, path, text in (("sync_csv", project.sync_csv, sync_csv(timeline)),
                            ("sync_json", project.sync_json, sync_json(timeline))):
        write_text_atomic(out.path(path), text, protect=protect)
        files[key] = path
    if edl:
        write_edl(timeline, out.path(project.edl), protect=protect)
        files["edl"] = project.edl
    if otio:
        write_otio(timeline, out.path(project.otio), protect=protect)
        files["otio"] = project.otio
    if picture:
        draw_timeline_png(analysis, timeline, project, out)
        files["timeline_png"] = project.timeline_png
    return {k: str(v) for k, v in files.items()}


def draw_timeline_png(analysis: Analysis, timeline: Timeline, project: Project, out: OutputSet | None = None) -> Path:
    """Draw ``<stem>.timeline.png`` (~0.05 s), into ``out`` when given; returns its final path."""
    from ..scoring.picture import write_timeline_png

    target = out.path(project.timeline_png) if out is not None else project.timeline_png
    write_timeline_png(analysis, timeline, target, protect=(Path(analysis.video.path),))
    return project.timeline_png


def _summary(analysis: Analysis, timeline: Timeline, s: PlanSettings, previous: Timeline | None,
             recut: FrameMap | None, not_understood: list[str]) -> PlanSummary:
    from ..scoring.edits import edits_not_kept
    from ..scoring.leader import LEADER_CUE_ID, TAIL_CUE_ID

    fps = analysis.video.fps_num / analysis.video.fps_den
    # the programme's cuts (a leader's countdown and a tail leader are not scored)
    outside = [(c.start_frame, c.end_frame) for c in timeline.cues if c.id in (LEADER_CUE_ID, TAIL_CUE_ID)]
    hard = [c.frame for c in analysis.cuts if c.kind == "hard" and not any(a <= c.frame < b for a, b in outside)]
    kept = {h.frame for h in timeline.hit_points}
    first, last = timeline.cues[0].why, timeline.cues[-1].why
    return PlanSummary(
        cues=[{"id": c.id, "start_sec": c.start_sec, "end_sec": c.end_sec, "mood": c.mood, "key": c.key,
               "tempo_bpm": c.tempo_bpm, "intensity": c.intensity, "tacet": c.tacet} for c in timeline.cues],
        hit_points=len(timeline.hit_points),
        hits_within_1_frame=sum(1 for h in timeline.hit_points if abs(h.offset_frames) <= 1.0),
        hard_cuts_hit=f"{len(kept & set(hard))}/{len(hard)}", suggestions=len(timeline.suggestions),
        reference=reference_summary(s) if s.reference else None,
        two_pop=first["two_pop"]["note"] if "two_pop" in first else None,
        tail_pop=last["tail_pop"]["note"] if "tail_pop" in last else None,
        edits_kept=sorted(k for k, v in timeline.edits.items() if v), fps=round(fps, 3),
        conformed=timeline.edits["conformed"] if recut is not None else None,
        prompt_not_understood=not_understood, markers=marker_summary(timeline),
        edits_not_kept=edits_not_kept(previous) if previous is not None else [],
        emotion_source=timeline.emotion_source)


def marker_summary(timeline: Timeline) -> dict | None:
    """How the editor's markers fared: counts, each marker's row, the cuts given up for them."""
    if not timeline.markers:
        return None
    rows = [{k: m.get(k) for k in ("timecode", "frame", "name", "weight", "status", "offset_frames", "bar", "beat",
                                   "cue", "reason")} for m in timeline.markers]
    given_up = [{"cue": c.id, **g} for c in timeline.cues for g in c.why.get("given_up_for_markers", [])]

    def count(**kw: str) -> int:
        return sum(1 for m in timeline.markers if all(m.get(k) == v for k, v in kw.items()))

    return {"file": timeline.markers[0].get("file", ""), "must": count(weight="must"), "should": count(weight="should"),
            "hit": count(status="hit"), "near": count(status="near"), "miss": count(status="miss"),
            "must_hit": count(weight="must", status="hit"), "cuts_given_up": given_up, "rows": rows}


def reference_summary(s: PlanSettings) -> dict:
    """What was measured of the reference track, and what the score follows of it."""
    from ..scoring.reference import fold_tempo, follow_reference, register_bias

    ref = s.reference
    f = follow_reference(ref)
    return {"file": Path(ref["path"]).name, "tempo_bpm": ref["tempo_bpm"],
            "tempo_confidence": ref.get("tempo_confidence"), "beat_salience": ref.get("beat_salience"), "key": ref["key"],
            "key_confidence": ref["key_confidence"], "loudness_lufs": ref["loudness_lufs"],
            "brightness_hz": ref["brightness_hz"],
            "score_follows": {"tempo_target_bpm": round(fold_tempo(f["tempo_bpm"], bpm_min=s.bpm_min, bpm_max=s.bpm_max), 2)
                              if f["tempo_bpm"] is not None else None, "keys": f["keys"],
                              "melody_register": {-1: "lower", 0: "as planned", 1: "higher"}[register_bias(ref["brightness_hz"])],
                              "music_lufs_unless_--lufs": f["music_lufs"]},
            "not_followed": f["not_followed"]}
