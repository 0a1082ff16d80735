"""``plan(analysis, settings) -> Timeline``: cues, a tempo map fitted to the cuts, hit points, suggestions."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from .. import __version__
from ..contracts import Analysis, Cue, HitPoint, TempoEvent, Timeline
from ..errors import InvalidSettings
from ..vision.emotion import mood_label
from .conform import FrameMap, conform_edits
from .cues import segment_cues
from .curves import INTENSITY_WEIGHTS, affect_curves
from .edits import collect_edits, edits_not_kept
from .keys import CueMood, cue_keys, home_key, key_for_mood
from .leader import (
    LEADER_CUE_ID,
    TAIL_CUE_ID,
    check_picture_start,
    describe_two_pop,
    picture_end,
    picture_start,
    tail_pop,
    two_pop,
)
from .tempo import CueGrid, GridSearch, TempoMap, TempoTarget, fit_cue_grid, tempo_for_mood
from .timecodes import frame_to_smpte

log = logging.getLogger(__name__)

#: Home pair of a film the planner knows nothing of (no content hash, no picture): F major / D minor.
HOME_MINOR, HOME_MAJOR = "D minor", "F major"


def _key_for_mood(mood: str | None, auto_key: str, home: tuple[str, str] = (HOME_MAJOR, HOME_MINOR)) -> str:
    """A mood set by the user brings its mode (:func:`~tempscore.scoring.keys.key_for_mood`)."""
    return key_for_mood(mood, auto_key, home)
#: Metric modulations preferred between adjacent cues (new tempo / previous tempo).
RELATED_RATIOS = (1.0, 3 / 2, 2 / 3, 4 / 3, 3 / 4, 2.0, 1 / 2)
#: Weight of a hit in the fit: user-added hits must land; hard cuts by strength; fades less.
USER_HIT_WEIGHT = 100.0
#: Weight of the editor's markers (``--markers``): a must-hit as a hit added by hand; a should-hit
#: above the strongest cut.
MARKER_WEIGHTS = {"must": USER_HIT_WEIGHT, "should": 1.5}


@dataclass
class PlanSettings:
    """Knobs of the planning stage (all recorded in ``timeline.json``)."""

    bpm_min: float = 60.0
    bpm_max: float = 140.0
    min_cue_sec: float = 5.0  # about two bars: the shortest phrase that reads as a cue
    max_cue_sec: float = 240.0
    # A cue changes where the affect jump D (over intensity, valence/2, arousal/2) between two passages
    # of d1 and d2 seconds gives D^2 * d1*d2/(d1+d2) > penalty: for two 20 s passages, D > 0.16.
    cue_change_penalty: float = 0.25
    beats_per_bar: int = 4
    hit_subdivision: int = 2  # hits may land on beats or half-beats (8th notes)
    hit_tolerance_frames: float = 1.0
    tempo_tolerance: float = 0.15  # how far the base tempo may move from the cut-rate target
    max_ramp: float = 0.06  # largest tempo change of a ramp onto a hit (0 = constant tempo per cue)
    suggest_within_frames: int = 4  # list cuts this close to a beat that miss it
    # picture darker than this (mean brightness) is black: a leader before the action, a tail after it
    # (no music there); black inside the programme gets quiet music, silence only where the editor asks
    black_below_brightness: float = 0.04
    curve_rate_hz: float = 10.0
    recall_distance: float = 0.06  # cues whose colour signatures are closer recall the earlier cue's theme
    #: the first frame of action: "auto" (after a leader: bars, countdown, 2-pop, black, up to a whole
    #: hour of timecode), "none" (frame 0), or a timecode of the video; no music before it
    picture_start: str = "auto"
    #: where the programme ends (the first frame after the last frame of action): "auto" (before a
    #: tail: black and a tail pop two seconds after the action, or black at the very end of the
    #: video), "none" (the last frame), or a timecode of the video; no music after it
    picture_end: str = "auto"
    style: str = ""  # a preset of scoring.edits.STYLES: valence/intensity offsets (tempo range set by the CLI)
    reference: dict = field(default_factory=dict)  # a measured reference track (scoring.reference.ReferenceTrack)

    def validate(self) -> None:
        if not 20 <= self.bpm_min < self.bpm_max <= 300:
            raise InvalidSettings(f"tempo range {self.bpm_min}-{self.bpm_max} BPM is invalid; use e.g. --tempo-range 60-140")
        if self.min_cue_sec <= 0 or self.max_cue_sec < self.min_cue_sec:
            raise InvalidSettings(f"cue length limits {self.min_cue_sec}-{self.max_cue_sec} s are invalid; min must be > 0 and <= max")
        if not 2 <= self.beats_per_bar <= 12:
            raise InvalidSettings(f"beats per bar {self.beats_per_bar} is invalid; use 2..12")
        if self.hit_subdivision not in (1, 2, 3, 4):
            raise InvalidSettings(f"hit subdivision {self.hit_subdivision} is invalid; use 1 (beats), 2 (8ths), 3 (triplets) or 4 (16ths)")
        if self.style and self.style not in _styles():
            raise InvalidSettings(f"style {self.style!r} is unknown; use one of {', '.join(_styles())}")
        if not 0 <= self.max_ramp <= 0.25:
            raise InvalidSettings(f"max ramp {self.max_ramp} is invalid; use 0..0.25 (0 = constant tempo)")
        check_picture_start(self.picture_start)
        check_picture_start(self.picture_end, end=True)


def _styles() -> dict:
    from .edits import STYLES

    return STYLES


def _mean_over(curve: np.ndarray, rate_hz: float, t0: float, t1: float) -> float:
    a = int(t0 * rate_hz)
    b = max(a + 1, int(np.ceil(t1 * rate_hz)))
    seg = curve[a:b]
    return float(seg.mean()) if len(seg) else float(curve[-1]) if len(curve) else 0.0


def _overlap(a0: int, a1: int, b0: int, b1: int) -> int:
    return max(0, min(a1, b1) - max(a0, b0))


def _spans(analysis: Analysis, s: PlanSettings, feats_of, locked: list[dict[str, Any]],  # noqa: ANN001
           pinned: list[dict[str, Any]] = (), leader_frames: int = 0,
           tail_from: int | None = None) -> list[tuple[int, int, dict | None, bool]]:
    """Cue spans in frames ``(start, end, locked cue or None, edges pinned)``: locked cues as they
    are, cues whose edges the user placed (``pinned``) on those frames, a leader ``[0, leader_frames)``
    and a tail ``[tail_from, frame_count)`` as one span each (unless the user's spans reach into
    them), the rest segmented shot by shot."""
    n = analysis.video.frame_count
    pts = analysis.frames.pts_sec
    t_of = lambda f: pts[f] if f < len(pts) else analysis.video.duration_sec  # noqa: E731
    fixed = sorted([(c["start_frame"], c["end_frame"], c, False) for c in locked]
                   + [(c["start_frame"], c["end_frame"], None, True) for c in pinned], key=lambda x: (x[0], x[3]))
    out: list[tuple[int, int, dict | None, bool]] = []
    free: list[tuple[int, int]] = []
    cursor = 0
    if 0 < leader_frames < n and not any(span[0] < leader_frames for span in fixed):
        out.append((0, leader_frames, None, False))
        cursor = leader_frames
    end = n
    if tail_from is not None and max(cursor, 0) < tail_from < n and not any(
            span[1] > tail_from for span in fixed if 0 <= span[0] < span[1] <= n):
        out.append((tail_from, n, None, False))
        end = tail_from
    for span in fixed:
        f0, f1 = span[0], span[1]
        if not 0 <= f0 < f1 <= n or (span[3] and f0 < cursor):  # out of range; a pinned span under a locked one
            if span[2] is not None:
                log.warning("cue %s is locked, but frames %d-%d are not in this picture (%d frames): its lock is "
                            "dropped", span[2].get("id"), f0, f1, n)
            continue
        if span[2] is not None and f0 < cursor:  # two locked cues over the same picture (a recut reused it)
            log.warning("cue %s is locked, but its frames %d-%d overlap the cue before it: its lock is dropped",
                        span[2].get("id"), f0, f1)
            continue
        if f0 > cursor:
            free.append((cursor, f0))
        cursor = max(cursor, f1)
        out.append(span)
    if cursor < end:
        free.append((cursor, end))
    for r0, r1 in free:
        units = [(max(sh.start_frame, r0), min(sh.end_frame, r1)) for sh in analysis.shots
                 if _overlap(sh.start_frame, sh.end_frame, r0, r1) > 0]
        st = np.array([t_of(a) for a, _ in units])
        en = np.array([t_of(b) for _, b in units])
        feats = np.array([feats_of(a, b) for a, b in units])
        for i, j in segment_cues(st, en, feats, min_cue_sec=s.min_cue_sec, max_cue_sec=s.max_cue_sec,
                                 change_penalty=s.cue_change_penalty):
            out.append((units[i][0], units[j - 1][1], None, False))
    return _absorb_slivers(sorted(out, key=lambda x: x[0]), t_of, min_sec=60.0 / s.bpm_max)


def _absorb_slivers(spans: list[tuple[int, int, dict | None, bool]], t_of, *,  # noqa: ANN001
                    min_sec: float) -> list[tuple[int, int, dict | None, bool]]:
    """Spans too short for one beat at the fastest tempo allowed (``min_sec``: a frame left between
    edges placed by hand, a cue dragged down to nothing) join a neighbour: one whose music is not
    locked if there is one (the one before first), else a locked one (which is then fitted to its
    new length). A cue of a frame or two would otherwise need a tempo of thousands of BPM."""
    out = list(spans)
    while len(out) > 1:
        short = [i for i, (f0, f1, locked, _) in enumerate(out) if t_of(f1) - t_of(f0) < min_sec - 1e-9]
        k = next((i for i in short if out[i][2] is None), short[0] if short else None)
        if k is None:
            break
        f0, f1, locked, pinned = out[k]
        near = [j for j in (k - 1, k + 1) if 0 <= j < len(out)]
        j = next((j for j in near if out[j][2] is None), near[0])
        a0, a1, a_locked, a_pinned = out[j]
        what = f"cue {locked['id']} (locked)" if locked else "the cue" if pinned else "the stretch"
        log.warning("frames %d-%d: %s there is too short for a beat (%.2f s < %.2f s at the fastest tempo); it joins "
                    "the cue %s it", f0, f1, what, t_of(f1) - t_of(f0), min_sec, "before" if j < k else "after")
        # an edge the user placed stays placed (the merged cue is kept there on the next plan too)
        out[min(j, k)] = (min(a0, f0), max(a1, f1), a_locked, a_pinned or pinned or locked is not None)
        del out[max(j, k)]
    return out


def _free_id(cue_id: str, taken: set[str]) -> str:
    """``cue_id``, or, when a locked cue elsewhere has it, ``cue_id`` with a letter (``2M1A``), as
    music editors name a cue put in between."""
    if cue_id not in taken:
        return cue_id
    for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        if cue_id + letter not in taken:
            return cue_id + letter
    return f"{cue_id}.{len(taken)}"


def _locked_grid(locked: dict[str, Any], duration_sec: float, cands: list[dict[str, Any]]) -> CueGrid | None:
    """A locked cue's beat grid as it was planned (tempo events, ramps, hits: its music stays exactly
    as the user heard it), for the candidate hits ``cands``; None when there is none to keep (a
    timeline from before grids were kept) or its length no longer matches (the grid is fitted
    again at the cue's tempo)."""
    from .tempo import HitFit

    g = locked.get("grid")
    try:
        if not g or abs(float(g["duration_sec"]) - duration_sec) > 1e-6 or not g["events"] or g["events"][0][0] != 0:
            return None
        events = [TempoEvent(float(t), float(b), int(m), bar_line=bool(bl)) for t, b, m, bl in g["events"]]
        stored = {int(h["frame"]): h for h in g["hits"] if h.get("how") != "cue_start"}
        for c in cands:  # the accents keep their weight too (a re-encode moves a cut's measured strength)
            if c["frame"] in stored and "strength" in stored[c["frame"]]:
                c["strength"] = float(stored[c["frame"]]["strength"])
        ramps = int((locked.get("why") or {}).get("ramps") or 0)
    except (KeyError, TypeError, ValueError):
        return None
    fits = []
    for c in cands:
        h = stored.get(c["frame"])
        fits.append(HitFit(c["time_sec"], c["weight"], True, float(h["offset_frames"]), str(h["how"]), "kept (locked)")
                    if h is not None else
                    HitFit(c["time_sec"], c["weight"], False, 0.0, "dropped", "the cue is locked: its hits stay as they were"))
    return CueGrid(bpm=float(locked["tempo_bpm"]), beats=int(locked["beats"]), events=events, hits=fits,
                   ramps=ramps, constant_landed=0.0)


def _edited_intensity(locked: dict[str, Any], override: dict[str, Any], auto: float) -> float:
    """A cue's intensity: a locked cue's own, an override carried from an edit, else the planner's ``auto``."""
    if locked:  # as it was (the user's value or the planner's then): its music stays the same
        return float(locked["intensity"]) if locked.get("intensity") is not None else auto
    return float(override["intensity"]) if "intensity" in override else auto


def plan(analysis: Analysis, settings: PlanSettings | None = None, *, previous: Timeline | None = None,
         recut: FrameMap | None = None, markers: list[dict[str, Any]] | None = None) -> Timeline:
    """Plan the score for an analysed video.

    Cues are runs of shots with similar affect (:func:`segment_cues`), starting and ending on
    cuts. Each cue gets a target tempo from its cutting rate, then :func:`fit_cue_grid` chooses
    the base tempo (0.01 BPM search, preferring metric modulations of the previous cue), gentle
    ramps onto hits the constant grid misses, and a whole-beat end so the next cue starts on a
    downbeat. The chosen hit points all sit within the tolerance of the grid; the others are
    listed per cue with the reason, and cuts a few frames off a beat become trim suggestions.

    Parameters
    ----------
    previous : Timeline, optional
        A timeline the user may have edited: locked cues, changed mood/key/tempo, added or
        deleted hit points are kept (see :func:`collect_edits`).
    recut : FrameMap, optional
        Where the frames of the cut ``previous`` was planned on are in this analysis's cut (the
        picture was recut, :func:`~tempscore.scoring.conform.match_pictures`): the edits follow
        their picture (:func:`~tempscore.scoring.conform.conform_edits`); what happened to them is
        in ``edits["conformed"]`` of the result.
    markers : list of dict, optional
        The editor's markers (:class:`~tempscore.scoring.markers.EditorMarker` as dicts, with
        ``file``): each is a hit of its weight (``must`` markers win in the fit: :func:`fit_cue_grid`'s
        ``must``); how each fared is in the result's ``markers``. None: ``previous``'s markers.
    """
    s = settings or PlanSettings()
    s.validate()
    if not analysis.shots:
        raise InvalidSettings(f"{analysis.video.path}: the analysis has no shots (no decodable frames); re-run analyze")
    edits, conformed = _edits_of(analysis, previous, recut)
    film = _film(analysis, s, edits, _marker_defs(markers, previous, analysis.video.frame_count))
    spans = _spans(analysis, s, film.feats_of, edits.get("locked_cues", []), edits.get("pinned_cues", []),
                   leader_frames=film.ffoa, tail_from=film.lfoa if film.lfoa < analysis.video.frame_count else None)
    planned = _plan_cues(film, spans)
    return _timeline(film, spans, planned, conformed)


def _edits_of(analysis: Analysis, previous: Timeline | None, recut: FrameMap | None) -> tuple[dict, dict | None]:
    """The user's edits of ``previous`` (:func:`collect_edits`), moved with their picture after a
    recut; and what the recut did to them (None: no recut)."""
    info = analysis.video
    fps = Fraction(info.fps_num, info.fps_den)
    edits = collect_edits(previous) if previous is not None else {}
    for line in edits_not_kept(previous) if previous is not None else []:
        log.warning("%s", line)
    if previous is None or recut is None:
        return edits, None
    edits, notes = conform_edits(edits, recut, new_pts_sec=analysis.frames.pts_sec, new_duration_sec=info.duration_sec,
                                 timecode=lambda f: frame_to_smpte(f, fps, start_timecode=info.start_timecode))
    for line in notes:
        log.warning("recut: %s", line)
    return edits, {"from_content_hash": previous.video.content_hash, "matched_by": recut.by,
                   "old_frames_kept": f"{recut.kept_frames}/{recut.old_frames}",
                   "new_frames_matched": f"{recut.kept_frames}/{recut.new_frames}", "notes": notes}


@dataclass
class _Film:
    """What every cue of a plan reads: the analysis, the settings and edits, the affect curves, the
    home keys (or a reference track's) and where the picture starts and ends."""

    analysis: Analysis
    s: PlanSettings
    edits: dict[str, Any]
    marker_defs: list[dict]
    curves: Any  # AffectCurves
    terms: dict[str, Any]
    home_why: str
    home: tuple[str, str]
    follow: dict[str, Any] | None
    all_black: bool
    ffoa: int
    ffoa_how: str
    pop: dict | None
    lfoa: int
    lfoa_how: str
    end_pop: dict | None
    shot_of_frame: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, int))

    @property
    def info(self) -> Any:  # VideoInfo
        return self.analysis.video

    @property
    def fps(self) -> Fraction:
        return Fraction(self.info.fps_num, self.info.fps_den)

    def t_of(self, f: int) -> float:
        """The time of frame ``f`` (its pts; the end of the video past the last frame), seconds."""
        pts = self.analysis.frames.pts_sec
        return float(pts[f]) if f < len(pts) else float(self.info.duration_sec)

    def mean(self, name: str, t0: float, t1: float) -> float:
        """The mean of an affect curve (``intensity``, ``valence``, ``arousal``) from ``t0`` to ``t1``."""
        return _mean_over(np.asarray(getattr(self.curves, name)), self.curves.rate_hz, t0, t1)

    def feats_of(self, a: int, b: int) -> list[float]:
        """A shot run's features for :func:`segment_cues`: its intensity, its first shot's valence and arousal."""
        sh = self.analysis.shots[self.shot_of_frame[a]]
        return [self.mean("intensity", self.t_of(a), self.t_of(b)), 0.5 * sh.valence, 0.5 * sh.arousal]


def _film(analysis: Analysis, s: PlanSettings, edits: dict[str, Any], marker_defs: list[dict]) -> _Film:
    """The film's context (:class:`_Film`)."""
    info = analysis.video
    curves, terms = affect_curves(analysis, rate_hz=s.curve_rate_hz)
    shot_of_frame = np.zeros(info.frame_count, int)
    for k, sh in enumerate(analysis.shots):
        shot_of_frame[sh.start_frame:sh.end_frame] = k
    home_why, home, follow = _home(analysis, s, np.asarray(curves.valence))
    bright = analysis.frames.brightness
    return _Film(analysis=analysis, s=s, edits=edits, marker_defs=marker_defs, curves=curves, terms=terms,
                 home_why=home_why, home=home, follow=follow,
                 all_black=bool(len(bright)) and max(bright) < s.black_below_brightness,
                 **_picture_bounds(analysis, s), shot_of_frame=shot_of_frame)


def _home(analysis: Analysis, s: PlanSettings, val: np.ndarray) -> tuple[str, tuple[str, str], dict | None]:
    """The film's home keys (major, minor) and why; a reference track's keys instead when it has
    one, and what the plan follows of it (None: no reference)."""
    film_home = home_key(brightness=float(np.mean(analysis.frames.brightness)) if analysis.frames.brightness else 0.5,
                         valence=float(np.mean(val)) if len(val) else 0.0, content_hash=analysis.video.content_hash)
    if not s.reference:
        return film_home.why, (film_home.major, film_home.minor), None
    from .reference import follow_reference

    follow = follow_reference(s.reference)
    home = (film_home.major, film_home.minor)
    why = film_home.why
    if follow["keys"] is not None:
        home = (follow["keys"]["major"], follow["keys"]["minor"])
        why = f"home {home[0]} / {home[1]}: the reference track's key ({s.reference['key']})"
    for line in follow["not_followed"]:
        log.info("reference track: %s", line)
    return why, home, follow


def _picture_bounds(analysis: Analysis, s: PlanSettings) -> dict[str, Any]:
    """Where the picture starts and ends (no music in a leader or a tail), and their sync pops."""
    info = analysis.video
    ffoa, ffoa_how = picture_start(analysis, s.picture_start, black_below=s.black_below_brightness)
    pop = None
    if ffoa:
        log.info("picture starts at frame %d (%s): no music before it", ffoa, ffoa_how)
        pop = two_pop(analysis, ffoa, black_below=s.black_below_brightness)
        if pop is not None and pop["in_sync"] is False:
            log.warning("%s", describe_two_pop(pop))
    lfoa, lfoa_how = picture_end(analysis, s.picture_end, start_frame=ffoa, black_below=s.black_below_brightness)
    end_pop = None
    if lfoa < info.frame_count:
        log.info("picture ends at frame %d (%s): no music after it", lfoa, lfoa_how)
        end_pop = tail_pop(analysis, lfoa, black_below=s.black_below_brightness)
        if end_pop is not None and end_pop["in_sync"] is False:
            log.warning("%s", describe_two_pop(end_pop, name="tail pop"))
    return {"ffoa": ffoa, "ffoa_how": ffoa_how, "pop": pop, "lfoa": lfoa, "lfoa_how": lfoa_how, "end_pop": end_pop}


@dataclass
class _Planned:
    """The cues of a plan, with what the timeline is made of after them."""

    cues: list[Cue] = field(default_factory=list)
    overrides: list[dict[str, Any]] = field(default_factory=list)  # each cue's edits (its override)
    keys_given: list[bool] = field(default_factory=list)  # whether the cue's key is the user's (locked, or set)
    events: list[TempoEvent] = field(default_factory=list)
    kept_hits: list[tuple[HitPoint, float, int]] = field(default_factory=list)  # (hit, grid time, grid subdivision)
    marker_subs: dict[str, int] = field(default_factory=dict)  # cue id -> the grid its markers are measured on


def _plan_cues(film: _Film, spans: list[tuple[int, int, dict | None, bool]]) -> _Planned:
    """Each span's cue (:func:`_plan_cue`), in order: a cue's tempo prefers metric relations to the one before."""
    out = _Planned()
    prev_bpm: float | None = None
    numbered = 0  # cues are numbered 1M1, 2M1, ... from the picture start
    locked_ids = {span[2]["id"] for span in spans if span[2]}  # they keep theirs, wherever they now are
    for k, (f0, f1, locked, pinned) in enumerate(spans):
        d = _draft(film, f0, f1, locked, pinned)
        numbered += not (d.leader or d.tail)
        d.cue_id = (locked["id"] if locked else LEADER_CUE_ID if d.leader else TAIL_CUE_ID if d.tail
                    else _free_id(f"{numbered}M1", locked_ids))
        prev_bpm = _plan_cue(film, d, k, prev_bpm, out)
    return out


@dataclass
class _CueDraft:
    """One cue while it is planned: its span, its hit candidates, then its edits, affect and tempo search."""

    f0: int
    f1: int
    t0: float
    t1: float
    locked: dict[str, Any] | None
    pinned: bool
    leader: bool
    tail: bool
    cands: list[dict[str, Any]]
    plain_cands: list[dict[str, Any]]  # without the markers: what they cost is measured against it
    cpm: float
    cue_id: str = ""
    ov: dict[str, Any] = field(default_factory=dict)
    removed_here: bool = False
    v: float = 0.0
    a: float = 0.0
    intensity: float = 0.0
    mood: str = ""
    tt: TempoTarget | None = None
    target: float = 0.0
    lo_bpm: float = 0.0
    hi_bpm: float = 0.0
    sub: int = 2
    ref_tempo: bool = False
    fixed: float | None = None
    refit_note: str | None = None
    bpb: int = 4
    prefer: tuple[float, ...] = ()

    @property
    def dur(self) -> float:
        return self.t1 - self.t0


def _draft(film: _Film, f0: int, f1: int, locked: dict | None, pinned: bool) -> _CueDraft:
    """A cue's span and its candidate hits: the cuts inside it (not those the user deleted), the hits
    the user added, the editor's markers; none in a leader or tail."""
    info = film.info
    leader = bool(film.ffoa) and not locked and (f0, f1) == (0, film.ffoa)
    tail = film.lfoa < info.frame_count and not locked and (f0, f1) == (film.lfoa, info.frame_count)
    deleted = set(film.edits.get("deleted_hit_frames", []))
    added = [h for h in film.edits.get("added_hits", []) if 0 <= h["frame"] < info.frame_count]
    # a leader's countdown numbers and 2-pop (and a tail's) are not cuts to hit
    cuts_in = [] if leader or tail else [c for c in film.analysis.cuts if f0 < c.frame < f1]
    cands: list[dict[str, Any]] = [
        {"frame": c.frame, "time_sec": c.time_sec, "kind": "cut" if c.kind == "hard" else c.kind,
         "strength": c.strength, "weight": (0.5 + 0.5 * c.strength) if c.kind == "hard" else 0.3 * c.strength}
        for c in cuts_in if c.frame not in deleted]
    cands += [{"frame": h["frame"], "time_sec": film.t_of(h["frame"]), "kind": h.get("kind") or "user",
               "strength": float(h.get("strength", 1.0)), "weight": USER_HIT_WEIGHT, "user": True, "must": True}
              for h in added if f0 < h["frame"] < f1 and not (leader or tail)]
    cands.sort(key=lambda c: c["time_sec"])
    plain_cands = [dict(c) for c in cands]
    if not (leader or tail):
        _add_marker_cands(cands, film.marker_defs, f0, f1, film.t_of)
    t0, t1 = film.t_of(f0), film.t_of(f1)
    dur = t1 - t0
    n_cuts = len(cuts_in)
    cpm = 60.0 * n_cuts / max(dur, 1e-6) if n_cuts else 60.0 / max(dur, 1e-6)
    return _CueDraft(f0=f0, f1=f1, t0=t0, t1=t1, locked=locked, pinned=pinned, leader=leader, tail=tail, cands=cands,
                     plain_cands=plain_cands, cpm=cpm)


def _plan_cue(film: _Film, d: _CueDraft, k: int, prev_bpm: float | None, out: _Planned) -> float:
    """Plan the ``k``-th cue into ``out``: its edits, affect and mood, tempo grid, hits and cue;
    returns its tempo (the next cue's metric relations)."""
    _take_override(film, d)
    _take_affect(film, d)
    grid = _locked_grid(d.locked, d.dur, d.cands) if d.locked else None
    _take_tempo_search(film, d, prev_bpm)
    if d.locked and grid is None:
        _refit_locked(film, d)
    if grid is None:
        grid = _fit(film, d, d.fixed)
    out.marker_subs[d.cue_id] = d.sub
    given_up = _given_up_for_markers(d.cands, d.plain_cands, grid, _fit(film, d, d.fixed, cands=d.plain_cands)) \
        if not d.locked and any(c.get("marker") is not None for c in d.cands) else []
    # the planner's own tempo, also where the user set one (what "auto" on the spotting page gives back)
    auto_bpm = _fit(film, d, None).bpm if d.fixed is not None and not d.locked else grid.bpm
    range_note = None
    if grid.outside_range_bpm is not None:
        s = film.s
        range_note = (f"{d.dur:.2f} s holds no whole number of beats within {s.bpm_min:g}-{s.bpm_max:g} BPM, "
                      f"so the cue ends on a beat at {grid.outside_range_bpm:.2f} BPM (the nearest to the range)")
        log.warning("cue %s: %s; widen --tempo-range or move the cue's edges", d.cue_id, range_note)
    for e in grid.events:
        out.events.append(TempoEvent(round(d.t0 + e.time_sec, 9), e.bpm, e.beats_per_bar, bar_line=e.bar_line))
    kept, dropped = _sorted_hits(film, d, grid, k, out.kept_hits)
    cue = _cue(film, d, grid, auto_bpm)
    cue.why = _why(film, d, grid, prev_bpm, range_note=range_note, kept=kept, dropped=dropped, given_up=given_up)
    out.cues.append(cue)
    out.overrides.append(d.ov)
    out.keys_given.append(bool((d.locked or {}).get("key") or d.ov.get("key")))
    return grid.bpm


def _take_override(film: _Film, d: _CueDraft) -> None:
    """The user's edits of the cue (its override; matched by overlap when its id moved); a cue the
    user deleted is a tacet edit."""
    overrides = film.edits.get("cue_overrides", {})
    ov = dict(overrides.get(d.cue_id, {}))
    if not ov:  # an override of a cue whose id moved: match by overlap
        for o in overrides.values():
            if _overlap(o["start_frame"], o["end_frame"], d.f0, d.f1) > 0.5 * min(o["end_frame"] - o["start_frame"],
                                                                                   d.f1 - d.f0):
                ov = dict(o)
                break
    d.removed_here = not d.locked and "tacet" not in ov and any(
        _overlap(a, b, d.f0, d.f1) > 0.5 * (d.f1 - d.f0) for a, b in film.edits.get("removed_spans", []))
    if d.removed_here:  # the user deleted the cue that was here: silence, as a tacet edit
        ov["tacet"] = True
    d.ov = ov


def _take_affect(film: _Film, d: _CueDraft) -> None:
    """The cue's valence, arousal and intensity (a style preset colours every cue) and its mood."""
    s = film.s
    d.v, d.a = film.mean("valence", d.t0, d.t1), film.mean("arousal", d.t0, d.t1)
    d.intensity = film.mean("intensity", d.t0, d.t1)
    if s.style:  # a style preset colours every cue
        st_ = _styles()[s.style]
        d.v = float(np.clip(d.v + st_["valence"], -1, 1))
        d.intensity = float(np.clip(d.intensity + st_["intensity"], 0, 1))
    d.mood = (d.locked or {}).get("mood") or d.ov.get("mood") or mood_label(d.v, d.a)


def _take_tempo_search(film: _Film, d: _CueDraft, prev_bpm: float | None) -> None:
    """What the cue's tempo search starts from: the mood's range with the cutting rate's place in it
    (a reference track: its tempo), the hit grid, a tempo the user set or locked, the metre."""
    s = film.s
    # the mood sets the tempo range, the cutting rate the place in it (a reference track: its tempo)
    d.tt = tt = tempo_for_mood(d.cpm, d.mood, bpm_min=s.bpm_min, bpm_max=s.bpm_max, subdivision=s.hit_subdivision,
                               arousal=d.a)
    d.target, d.lo_bpm, d.hi_bpm, d.sub = tt.bpm, tt.bpm_min, tt.bpm_max, tt.subdivision
    if any(c.get("marker") is not None and c.get("must") for c in d.cands):
        d.sub = min(d.sub, s.hit_subdivision)  # a must-hit on a beat or half-beat, not on a double-time 16th
    follow = film.follow
    d.ref_tempo = follow is not None and follow["tempo_bpm"] is not None
    if d.ref_tempo:  # the reference's tempo is the target; the hit search may still move it
        from .reference import fold_tempo

        d.target = fold_tempo(follow["tempo_bpm"], bpm_min=s.bpm_min, bpm_max=s.bpm_max)
        d.lo_bpm, d.hi_bpm, d.sub = s.bpm_min, s.bpm_max, s.hit_subdivision
    locked, ov = d.locked, d.ov
    d.fixed = float(locked["tempo_bpm"]) if locked else (float(ov["tempo_bpm"]) if "tempo_bpm" in ov else None)
    # the cue's metre: a locked cue's own, an edit of it (3 for a waltz), else --beats-per-bar
    d.bpb = int((locked or ov).get("beats_per_bar") or s.beats_per_bar)
    d.prefer = tuple(prev_bpm * r for r in RELATED_RATIOS) if prev_bpm else ()


def _refit_locked(film: _Film, d: _CueDraft) -> None:
    """A locked cue whose length changed (a recut inside it): the same bars at a tempo that fills the
    new length, when that is a gentle change, so that its melody (take) still fits."""
    locked, s = d.locked, film.s
    was_sec = float((locked.get("grid") or {}).get("duration_sec", locked["end_sec"] - locked["start_sec"]))
    if not (int(locked.get("beats") or 0) > 0 and abs(was_sec - d.dur) > 1e-6):
        return
    fixed = d.fixed
    fill = int(locked["beats"]) * 60.0 / d.dur
    if abs(fill / fixed - 1) < 1e-4:  # the same tempo to the hundredth of a BPM
        d.refit_note = f"its picture was recut inside: its {int(locked['beats'])} beats are fitted to it again"
    elif abs(fill / fixed - 1) <= s.max_ramp:
        d.refit_note = (f"its picture changed length: the same {int(locked['beats'])} beats at "
                        f"{fill:.2f} BPM (was {fixed:.2f})")
        d.fixed = fill
    else:
        d.refit_note = (f"its picture changed length: {int(locked['beats'])} beats would need {fill:.2f} BPM "
                        f"(more than {s.max_ramp:.0%} from {fixed:.2f}); fitted again at {fixed:.2f} BPM")
    log.warning("cue %s (locked): %s", d.cue_id, d.refit_note)


def _fit(film: _Film, d: _CueDraft, fixed_bpm: float | None, lo: float | None = None, hi: float | None = None,
         cands: list[dict[str, Any]] | None = None, tolerance: float | None = None) -> CueGrid:
    """The cue's grid (:func:`fit_cue_grid`) in the mood's range (``lo``-``hi``), widened to the
    user's whole range when the cue is too short for it or must-hits are out of its reach."""
    s = film.s
    lo = d.lo_bpm if lo is None else lo
    hi = d.hi_bpm if hi is None else hi
    cands = d.cands if cands is None else cands
    tolerance = s.tempo_tolerance if tolerance is None else tolerance
    must = np.array([bool(c.get("must")) for c in cands], bool)
    search = GridSearch(target_bpm=min(max(d.target, lo), hi), fps=float(film.fps), bpm_min=lo, bpm_max=hi,
                        tolerance=tolerance, subdivision=d.sub, tol_frames=s.hit_tolerance_frames, max_ramp=s.max_ramp,
                        beats_per_bar=d.bpb, prefer_bpm=d.prefer, fixed_bpm=fixed_bpm)
    g = fit_cue_grid(d.dur, np.array([c["time_sec"] - d.t0 for c in cands]), search,
                     weights=np.array([c["weight"] for c in cands]), must=must)
    if g.outside_range_bpm is not None and (lo, hi) != (s.bpm_min, s.bpm_max):
        return _fit(film, d, fixed_bpm, s.bpm_min, s.bpm_max, cands)  # too short for the mood's range: the whole range
    missed = sum(1 for f, m in zip(g.hits, must) if m and not f.landed)
    if missed and fixed_bpm is None and ((lo, hi) != (s.bpm_min, s.bpm_max) or tolerance < 2 * s.tempo_tolerance):
        # must-hits the mood's tempo cannot reach: the user's whole range, twice as far from the target
        wide = _fit(film, d, None, s.bpm_min, s.bpm_max, cands, 2 * s.tempo_tolerance)
        if sum(1 for f, m in zip(wide.hits, must) if m and not f.landed) < missed:
            return wide
    return g


def _sorted_hits(film: _Film, d: _CueDraft, grid: CueGrid, k: int,
                 kept_hits: list[tuple[HitPoint, float, int]]) -> tuple[list[int], list[dict[str, Any]]]:
    """The candidates the grid landed (into ``kept_hits`` as hit points; the cut that starts a cue
    after the first, hit by its first downbeat, too) and those it dropped with the reason:
    (kept frames, dropped rows)."""
    fps_f = float(film.fps)
    kept, dropped = [], []
    for c, f in zip(d.cands, grid.hits):
        if f.landed:
            kept.append(c["frame"])
            grid_t = c["time_sec"] - f.error_frames / fps_f
            kept_hits.append((HitPoint(frame=c["frame"], time_sec=round(c["time_sec"], 6), kind=c["kind"],
                                       strength=round(c["strength"], 3), cue_id=d.cue_id,
                                       how="user" if c.get("user") else "marker" if c.get("marker") is not None
                                       else f.how), grid_t, d.sub))
        else:
            dropped.append({"frame": c["frame"], "time_sec": round(c["time_sec"], 6),
                            "offset_frames": round(f.error_frames, 2), "reason": f.reason})
    if k > 0 and not d.tail:  # the cut that starts the cue is hit by its first downbeat (a tail's: the music's end)
        c0 = next((c for c in film.analysis.cuts if c.frame == d.f0), None)
        if c0 is not None and d.f0 not in set(film.edits.get("deleted_hit_frames", [])):
            strength = next((float(h["strength"]) for h in ((d.locked or {}).get("grid") or {}).get("hits", [])
                             if h.get("how") == "cue_start" and "strength" in h), c0.strength)
            kept_hits.append((HitPoint(frame=d.f0, time_sec=round(d.t0, 6), kind="cut" if c0.kind == "hard" else c0.kind,
                                       strength=round(strength, 3), cue_id=d.cue_id, how="cue_start"), d.t0, d.sub))
    return kept, dropped


def _cue(film: _Film, d: _CueDraft, grid: CueGrid, auto_bpm: float) -> Cue:
    """The cue: what the user locked or edited, else what the plan worked out (``auto``)."""
    home = film.home
    # the key is chosen with the other cues' (below); the family's home key until then
    auto = {"mood": mood_label(d.v, d.a), "key": home[0] if d.v >= 0 else home[1], "tempo_bpm": round(auto_bpm, 3),
            # silence only in a leader or a tail (or a picture black from end to end: no programme
            # at all), or where the editor asks
            "tacet": bool(d.leader or d.tail or film.all_black),
            "intensity": round(d.intensity, 3), "beats_per_bar": film.s.beats_per_bar, "start_frame": d.f0,
            "end_frame": d.f1, "start_sec": round(d.t0, 6), "end_sec": round(d.t1, 6)}
    src, ov, locked = d.locked or {}, d.ov, d.locked
    return Cue(
        id=d.cue_id, start_sec=round(d.t0, 6), end_sec=round(d.t1, 6), start_frame=d.f0, end_frame=d.f1,
        mood=d.mood,
        # a locked cue keeps its reading too (after a recut, its neighbours' picture moves the curves)
        valence=float(src.get("valence", round(d.v, 3))), arousal=float(src.get("arousal", round(d.a, 3))),
        intensity=_edited_intensity(src, ov, auto["intensity"]),
        key=src.get("key") or ov.get("key") or _key_for_mood(ov.get("mood"), auto["key"], home),
        tempo_bpm=round(grid.bpm, 3), beats_per_bar=d.bpb, beats=grid.beats, locked=bool(locked),
        tempo_locked=bool(src.get("tempo_locked") or ("tempo_bpm" in ov and not locked)),
        edges_locked=bool(d.pinned or src.get("edges_locked")),
        tacet=bool(src["tacet"] if "tacet" in src else ov.get("tacet", auto["tacet"])),
        orchestration=str(src.get("orchestration") or ov.get("orchestration") or ""),
        title=str(src.get("title") or ov.get("title") or ""),
        seed=int(src.get("seed", -1) if locked else ov.get("seed", -1)),
        take=dict((src if locked else ov).get("take") or {}),
        auto=auto,
    )


def _why(film: _Film, d: _CueDraft, grid: CueGrid, prev_bpm: float | None, *, range_note: str | None,
         kept: list[int], dropped: list[dict[str, Any]], given_up: list[dict]) -> dict[str, Any]:
    """Why the cue is as planned: its tempo's reasons, its hits kept and dropped, what its intensity
    is made of, the user's edits, a leader's or tail's picture bounds."""
    s = film.s
    related = next((r for r in RELATED_RATIOS if prev_bpm and abs(grid.bpm / (prev_bpm * r) - 1) <= 0.005), None)
    shares = {name: INTENSITY_WEIGHTS.get(name, 0) * _mean_over(film.terms[name], film.curves.rate_hz, d.t0, d.t1)
              for name in film.terms}
    tot = sum(shares.values()) or 1.0
    ov, pop, end_pop = d.ov, film.pop, film.end_pop
    return {
        "cuts_per_min": round(d.cpm, 2),
        "target_bpm": round(d.target, 2),
        "tempo": _tempo_why(s, d, grid) + (f"; {range_note}" if range_note else ""),
        "related_to_previous": f"{related:g} x previous tempo" if related else None,
        "ramps": grid.ramps,
        "hits_kept": kept,
        "hits_dropped": dropped,
        **({"given_up_for_markers": given_up} if given_up else {}),
        "intensity_share": {name: round(v_ / tot, 3) for name, v_ in shares.items()},
        "tacet_rule": "silence only where the editor asks (tacet) and in a leader or tail; quiet or black "
                      "picture inside the programme gets quiet music (a picture black from end to end "
                      "has no programme: no music)",
        "edited": sorted(ov.keys() - {"start_frame", "end_frame"}) if ov else [],
        **({"removed": "deleted from timeline.json by the user: tacet (set tacet to false for music "
                       "here again)"} if d.removed_here else {}),
        **({"leader": f"before the picture start: {film.ffoa_how}; no music and no hits here"} if d.leader else {}),
        **({"two_pop": {**pop, "note": describe_two_pop(pop)}} if d.leader and pop is not None else {}),
        **({"tail": f"after the picture end: {film.lfoa_how}; no music and no hits here"} if d.tail else {}),
        **({"tail_pop": {**end_pop, "note": describe_two_pop(end_pop, name="tail pop")}}
           if d.tail and end_pop is not None else {}),
    }


def _tempo_why(s: PlanSettings, d: _CueDraft, grid: CueGrid) -> str:
    if d.refit_note:
        return f"locked by the user; {d.refit_note}"
    if d.locked:
        return "locked by the user"
    if d.fixed is not None:
        return "set by the user"
    return ((f"reference track {s.reference['tempo_bpm']:.1f} BPM -> target {d.target:.1f} BPM "
             f"(mood and cut rate alone: {d.tt.bpm:.1f})" if d.ref_tempo else d.tt.why)
            + f"; the 0.01-BPM search within ±{s.tempo_tolerance:.0%} chose {grid.bpm:.2f} for the most "
            f"hit weight on the 1/{d.sub}-beat grid")


def _timeline(film: _Film, spans: list[tuple[int, int, dict | None, bool]], planned: _Planned,
              conformed: dict | None) -> Timeline:
    """The timeline of the planned cues: their keys chosen together, the tempo map, bars and
    thematic recalls, the hit points on the map, trim suggestions, the markers' report."""
    s, info, fps = film.s, film.info, film.fps
    cues = planned.cues
    _choose_keys(cues, planned.overrides, planned.keys_given, film.home_why, film.home,
                 areas=not (film.follow is not None and film.follow["keys"] is not None))
    tmap = TempoMap(planned.events)
    for cue in cues:
        cue.start_bar = tmap.bar_beat(cue.start_sec)[0]
        # what the plan wrote of the fields it works out itself: a hand edit of one is named back
        cue.auto.update(valence=cue.valence, arousal=cue.arousal, beats=cue.beats, start_bar=cue.start_bar,
                        grid={"tempo_bpm": cue.tempo_bpm, "beats_per_bar": cue.beats_per_bar})
    _thematic_recall(cues, film.analysis, s.recall_distance)
    for cue in cues:
        cue.auto["recalls"] = cue.recalls
    _chosen_recalls(cues, {c.id: ov["recalls"] for c, ov in zip(cues, planned.overrides) if "recalls" in ov},
                    {span[2]["id"]: span[2].get("recalls", "") for span in spans if span[2]})
    hits = _placed_hits(planned.kept_hits, tmap, fps, info.start_timecode)
    suggestions = _suggest(cues, tmap, fps, info.start_timecode, s.suggest_within_frames, s.hit_tolerance_frames)
    marker_rows = _marker_report(film.marker_defs, cues, tmap, planned.marker_subs, fps=fps, t_of=film.t_of,
                                 tol=s.hit_tolerance_frames, start_tc=info.start_timecode)
    edits = film.edits
    stored_edits = {k: v for k, v in edits.items() if v and k != "removed_spans"} if edits else {}
    if conformed is not None:
        stored_edits["conformed"] = conformed
    return Timeline(video=info, cues=cues, tempo_map=tmap.events, hit_points=hits, curves=film.curves,
                    emotion_source=film.analysis.emotion_source, settings=asdict(s), tempscore_version=__version__,
                    auto_hit_frames=[h.frame for h in hits if h.how != "user"], edits=stored_edits,
                    suggestions=suggestions, markers=marker_rows)


def _placed_hits(kept_hits: list[tuple[HitPoint, float, int]], tmap: TempoMap, fps: Fraction,
                 start_tc: str) -> list[HitPoint]:
    """The kept hits with their bar and beat on the tempo map, their offset from the grid and timecode, in frame order."""
    hits: list[HitPoint] = []
    for h, grid_t, grid_sub in kept_hits:
        h.bar, beat = tmap.bar_beat_of_beats(tmap.time_to_beats(grid_t), grid=grid_sub)
        h.beat = round(beat, 3)
        h.offset_frames = round(float((h.time_sec - grid_t) * float(fps)), 3)
        h.timecode = frame_to_smpte(h.frame, fps, start_timecode=start_tc)
        hits.append(h)
    hits.sort(key=lambda h: h.frame)
    return hits


# ----------------------------------------------------------------------------- the editor's markers
#: A marker this many frames or fewer off the beat grid is "near" (a trim lands it); further, a miss.
MARKER_NEAR_FRAMES = 3.0
#: The fields of a marker that define it (the rest is how it fared, worked out at each plan).
_MARKER_FIELDS = ("frame", "name", "weight", "colour", "line", "source", "file")


def _marker_defs(markers: list[dict[str, Any]] | None, previous: Timeline | None, frame_count: int) -> list[dict]:
    """The markers of this plan: those given, else the previous plan's (on frames still in the picture)."""
    src = markers if markers is not None else (previous.markers if previous is not None else [])
    return [{k: m[k] for k in _MARKER_FIELDS if k in m} for m in src if 0 <= int(m["frame"]) < frame_count]


def _add_marker_cands(cands: list[dict[str, Any]], defs: list[dict], f0: int, f1: int, t_of) -> None:  # noqa: ANN001
    """The markers inside ``(f0, f1)`` as candidate hits of their weight; one on a cut's frame makes
    that cut weigh as the marker (and a must-hit)."""
    for i, m in enumerate(defs):
        if not f0 < m["frame"] < f1:
            continue
        must = m["weight"] == "must"
        same = next((c for c in cands if c["frame"] == m["frame"]), None)
        if same is None:
            same = {"frame": m["frame"], "time_sec": t_of(m["frame"]), "kind": "marker", "strength": 1.0,
                    "weight": 0.0}
            cands.append(same)
        same["weight"] = max(same["weight"], MARKER_WEIGHTS[m["weight"]])
        same["must"] = bool(same.get("must")) or must
        same["marker"] = i
    cands.sort(key=lambda c: c["time_sec"])


def _given_up_for_markers(cands: list[dict], plain: list[dict], grid: CueGrid, plain_grid: CueGrid) -> list[dict]:
    """The ordinary cuts the plain fit (without the markers) landed that this one does not: given up for them."""
    landed = {c["frame"] for c, f in zip(cands, grid.hits) if f.landed}
    marked = {c["frame"] for c in cands if c.get("marker") is not None}
    return [{"frame": c["frame"], "time_sec": round(c["time_sec"], 6)}
            for c, f in zip(plain, plain_grid.hits)
            if f.landed and c["frame"] not in landed and c["frame"] not in marked and not c.get("user")]


def _marker_report(defs: list[dict], cues: list[Cue], tmap: TempoMap, subs: dict[str, int], *, fps: Fraction,
                   t_of, tol: float, start_tc: str) -> list[dict[str, Any]]:  # noqa: ANN001 - t_of: frame -> sec
    """How each marker fared, as Digital Performer's hit report: hit / near / miss, the frames off the
    beat grid (beats and half-beats, or the cue's own grid), its bar and beat, and why it was missed."""
    out = []
    for m in defs:
        f = int(m["frame"])
        cue = next((c for c in cues if c.start_frame <= f < c.end_frame), cues[-1])
        row = {**m, "time_sec": round(t_of(f), 6), "timecode": frame_to_smpte(f, fps, start_timecode=start_tc),
               "cue": cue.id}
        t = t_of(f)
        sub = subs.get(cue.id, 2)
        grid_t = tmap.nearest_grid(t, subdivision=sub)
        off = round((t - grid_t) * float(fps), 2)
        bar, beat = tmap.bar_beat_of_beats(tmap.time_to_beats(grid_t), grid=sub)
        row.update(offset_frames=off, bar=bar, beat=round(beat, 3))
        if cue.id in (LEADER_CUE_ID, TAIL_CUE_ID) or cue.tacet:
            where = {LEADER_CUE_ID: "before the picture start", TAIL_CUE_ID: "after the picture end"}.get(cue.id, "")
            row.update(status="miss", reason=f"{where or f'in cue {cue.id}, which is tacet'}: no music there")
        elif f == cue.start_frame:
            row.update(status="hit", offset_frames=0.0, reason=f"the first downbeat of cue {cue.id}")
        elif abs(off) <= tol + 1e-6:
            row.update(status="hit", reason="on the grid")
        else:
            dropped = next((d for d in cue.why.get("hits_dropped", []) if d["frame"] == f), None)
            near = abs(off) <= MARKER_NEAR_FRAMES
            row.update(status="near" if near else "miss",
                       reason=(dropped["reason"] if dropped else f"{off:+.1f} frames off the grid")
                       + (f"; trim {-round(off):+d} frames to land it" if near else ""))
        out.append(row)
    return out


def _choose_keys(cues: list[Cue], overrides: list[dict[str, Any]], given: list[bool], home_why: str,
                 home: tuple[str, str], *, areas: bool) -> None:
    """Every cue's planned key (``auto["key"]``, :func:`~tempscore.scoring.keys.cue_keys`), and its
    key where the user set none: the planned one, or, for a mood the user set, that mood's mode."""
    moods = [CueMood(c.auto["mood"], c.valence, c.arousal, float(c.auto["intensity"]), not c.tacet) for c in cues]
    for cue, ov, is_given, (key, why) in zip(cues, overrides, given, cue_keys(moods, _home_of(home), areas=areas)):
        cue.auto["key"] = key
        if not is_given:
            cue.key = _key_for_mood(ov.get("mood"), key, home)
        cue.why["key_rule"] = f"{home_why}; this cue: {why}"


def _home_of(home: tuple[str, str]):  # noqa: ANN202 - keys.HomeKey
    """The :class:`~tempscore.scoring.keys.HomeKey` of a (major, minor) pair."""
    from ..harmony import parse_key
    from .keys import MAJOR_BY_FIFTHS, HomeKey

    pc = parse_key(home[0])[0]
    fifths = next(f for f, name in MAJOR_BY_FIFTHS.items() if parse_key(f"{name} major")[0] == pc)
    return HomeKey(home[0], home[1], fifths, "")


def picture_signature(analysis: Analysis, f0: int, f1: int) -> np.ndarray:
    """Colour/light signature of a stretch of picture: mean and spread of brightness, saturation
    and warmth over its frames (all 0..1 scaled)."""
    fr = analysis.frames
    b = np.asarray(fr.brightness[f0:f1] or [0.0])
    sa = np.asarray(fr.saturation[f0:f1] or [0.0])
    w = 0.5 + np.asarray(fr.warmth[f0:f1] or [0.0])
    return np.array([b.mean(), sa.mean(), w.mean(), b.std(), sa.std(), w.std()])


def _chosen_recalls(cues: list[Cue], chosen: dict[str, str], locked: dict[str, str]) -> None:
    """The recalls the user chose (``chosen``: cue id -> the earlier cue whose theme it opens with,
    ``""`` for none) and those of locked cues (kept as they were), over the planner's. A recall of a
    cue that is no longer before it is dropped, with a warning."""
    before: set[str] = set()
    for cue in cues:
        if cue.id in locked:  # as it was when locked: its music is kept
            cue.recalls = locked[cue.id]
            if cue.recalls:
                cue.why["recall"] = {"cue": cue.recalls, "rule": "kept (the cue is locked)"}
            else:
                cue.why.pop("recall", None)
        elif (want := chosen.get(cue.id)) is not None:
            if want and want not in before:
                log.warning("cue %s: the theme of %s was chosen for it, but no cue %s comes before it now; it "
                            "recalls %s", cue.id, want, want, cue.recalls or "nothing (it opens with the film's motif)")
            else:
                cue.recalls = want
                cue.why["recall"] = ({"cue": want, "rule": "chosen by the user"} if want else
                                     {"cue": None, "rule": "none: chosen by the user"})
                src = next((c for c in cues if c.id == want), None)
                if src is not None and src.tacet and not cue.tacet:
                    log.warning("cue %s recalls %s, which is tacet: it opens with the film's motif until %s has "
                                "music", cue.id, want, want)
        before.add(cue.id)


def _thematic_recall(cues: list[Cue], analysis: Analysis, max_distance: float) -> None:
    """A cue whose picture looks like an earlier cue's (a recurring place or character) recalls that
    cue's theme: ``cue.recalls`` names the earliest such cue (chains resolve to their origin)."""
    sigs = [picture_signature(analysis, c.start_frame, c.end_frame) for c in cues]
    for j, cue in enumerate(cues):
        if cue.tacet:
            continue
        best = None
        for i in range(j):
            if cues[i].tacet:
                continue
            d = float(np.linalg.norm(sigs[i] - sigs[j]))
            if d <= max_distance and (best is None or d < best[1]):
                best = (i, d)
        if best is not None:
            src = cues[best[0]]
            cue.recalls = src.recalls or src.id
            cue.why["recall"] = {"cue": cue.recalls, "picture_distance": round(best[1], 4),
                                 "rule": f"colour signature distance <= {max_distance}"}


def _suggest(cues: list[Cue], tmap: TempoMap, fps: Fraction, start_tc: str, within: int, tol: float) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    fps_f = float(fps)
    for cue in cues:
        for d in cue.why.get("hits_dropped", []):
            frame, t = int(d["frame"]), float(d["time_sec"])
            b = tmap.time_to_beats(t)
            beat_t = tmap.beats_to_time(round(b))
            off = (t - beat_t) * fps_f
            if tol < abs(off) <= within:
                trim = -int(round(off))
                bar, beat = tmap.bar_beat(beat_t)
                out.append({
                    "frame": frame, "timecode": frame_to_smpte(frame, fps, start_timecode=start_tc), "cue": cue.id,
                    "bar": bar, "beat": round(beat, 2), "offset_frames": round(float(off), 2), "trim_frames": trim,
                    "action": (f"move the cut {abs(trim)} frame{'s' if abs(trim) != 1 else ''} "
                               f"{'later' if trim > 0 else 'earlier'} to land on bar {bar} beat {beat:g}"),
                })
    return out

