"""``plan(analysis, settings) -> Timeline``: cues, tempo map on the cuts, hit points."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from fractions import Fraction

import numpy as np

from .. import __version__
from ..contracts import Analysis, Cue, HitPoint, TempoEvent, Timeline
from ..errors import InvalidSettings
from ..vision.emotion import mood_label
from .cues import segment_cues
from .curves import INTENSITY_WEIGHTS, affect_curves
from .tempo import TempoMap, fit_cue_tempo, tempo_from_cut_rate
from .timecodes import frame_to_smpte

log = logging.getLogger(__name__)

#: Home key of the score: minor cues in D minor, major cues in its relative major, F major.
HOME_MINOR, HOME_MAJOR = "D minor", "F major"


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
    tempo_tolerance: float = 0.12  # how far the fitted tempo may move from the cut-rate target
    curve_rate_hz: float = 10.0

    def validate(self) -> None:
        if not 20 <= self.bpm_min < self.bpm_max <= 300:
            raise InvalidSettings(f"tempo range {self.bpm_min}-{self.bpm_max} BPM is invalid; use e.g. --tempo-range 60-140")
        if self.min_cue_sec <= 0 or self.max_cue_sec < self.min_cue_sec:
            raise InvalidSettings(f"cue length limits {self.min_cue_sec}-{self.max_cue_sec} s are invalid; min must be > 0 and <= max")
        if not 2 <= self.beats_per_bar <= 12:
            raise InvalidSettings(f"beats per bar {self.beats_per_bar} is invalid; use 2..12")


def _mean_over(curve: np.ndarray, rate_hz: float, t0: float, t1: float) -> float:
    a = int(t0 * rate_hz)
    b = max(a + 1, int(np.ceil(t1 * rate_hz)))
    seg = curve[a:b]
    return float(seg.mean()) if len(seg) else float(curve[-1]) if len(curve) else 0.0


def plan(analysis: Analysis, settings: PlanSettings | None = None) -> Timeline:
    """Plan the score for an analysed video.

    Cues are runs of shots with similar intensity/valence (see :func:`segment_cues`), starting
    and ending on cuts. Each cue gets a target tempo from its cutting rate, then the tempo that
    fills the cue with whole beats and puts most of its cuts on the beat/half-beat grid
    (:func:`fit_cue_tempo`). The tempo map has one event per cue start (plus one for a short last
    bar), so every cue starts on a downbeat.

    Returns
    -------
    Timeline
    """
    s = settings or PlanSettings()
    s.validate()
    info = analysis.video
    fps = Fraction(info.fps_num, info.fps_den)
    fps_f = float(fps)
    curves, terms = affect_curves(analysis, rate_hz=s.curve_rate_hz)
    inten = np.asarray(curves.intensity)
    val = np.asarray(curves.valence)
    aro = np.asarray(curves.arousal)
    rate = curves.rate_hz
    shots = analysis.shots
    if not shots:
        raise InvalidSettings(f"{info.path}: the analysis has no shots (no decodable frames); re-run analyze")
    st = np.array([sh.start_sec for sh in shots])
    en = np.array([sh.end_sec for sh in shots])
    # per-shot affect for segmentation: intensity (smoothed curve) and the shot's own emotion reading
    feats = np.array([[_mean_over(inten, rate, sh.start_sec, sh.end_sec), 0.5 * sh.valence, 0.5 * sh.arousal]
                      for sh in shots])
    segments = segment_cues(st, en, feats, min_cue_sec=s.min_cue_sec, max_cue_sec=s.max_cue_sec,
                            change_penalty=s.cue_change_penalty)
    cut_by_frame = {c.frame: c for c in analysis.cuts}
    cues: list[Cue] = []
    tempo_events: list[TempoEvent] = []
    hits: list[HitPoint] = []
    for k, (i, j) in enumerate(segments):
        f0, f1 = shots[i].start_frame, shots[j - 1].end_frame
        t0, t1 = float(shots[i].start_sec), float(shots[j - 1].end_sec)
        dur = t1 - t0
        cue_cuts = [cut_by_frame[sh.start_frame] for sh in shots[i + 1 : j] if sh.start_frame in cut_by_frame]
        n_shots = j - i
        cpm = 60.0 * n_shots / max(dur, 1e-6) if n_shots > 1 else 60.0 / max(dur, 1e-6)
        target = tempo_from_cut_rate(cpm, bpm_min=s.bpm_min, bpm_max=s.bpm_max)
        hit_rel = np.array([c.time_sec - t0 for c in cue_cuts])
        fit = fit_cue_tempo(dur, target, hit_rel, fps=fps_f, bpm_min=s.bpm_min, bpm_max=s.bpm_max,
                            tolerance=s.tempo_tolerance, subdivision=s.hit_subdivision)
        v = _mean_over(val, rate, t0, t1)
        a = _mean_over(aro, rate, t0, t1)
        inten_k = _mean_over(inten, rate, t0, t1)
        shares = {name: round(INTENSITY_WEIGHTS[name] * _mean_over(terms[name], rate, t0, t1), 4) for name in terms}
        tot = sum(shares.values()) or 1.0
        cue_id = f"{k + 1}M1"
        bpb = s.beats_per_bar
        full_bars, rest = divmod(fit.beats, bpb)
        tempo_events.append(TempoEvent(time_sec=round(t0, 9), bpm=round(fit.bpm, 6), beats_per_bar=bpb))
        if rest:
            if full_bars == 0:
                tempo_events[-1].beats_per_bar = rest
            else:
                tr = t0 + full_bars * bpb * 60.0 / fit.bpm
                tempo_events.append(TempoEvent(time_sec=round(tr, 9), bpm=round(fit.bpm, 6), beats_per_bar=rest))
        cues.append(Cue(
            id=cue_id, start_sec=round(t0, 6), end_sec=round(t1, 6), start_frame=f0, end_frame=f1,
            mood=mood_label(v, a), valence=round(v, 3), arousal=round(a, 3), intensity=round(inten_k, 3),
            key=HOME_MAJOR if v >= 0 else HOME_MINOR, tempo_bpm=round(fit.bpm, 3), beats_per_bar=bpb,
            beats=fit.beats,
            why={
                "cuts_per_min": round(cpm, 2),
                "target_bpm": round(target, 2),
                "tempo_rule": f"cut rate -> tempo in {s.bpm_min:g}-{s.bpm_max:g} BPM, then whole beats over the cue "
                              f"with most cuts on the 1/{s.hit_subdivision}-beat grid",
                "hits_on_grid": f"{fit.hits_on_grid}/{len(cue_cuts)}",
                "intensity_share": {name: round(v_ / tot, 3) for name, v_ in shares.items()},
                "shots": n_shots,
                "key_rule": "minor when valence < 0, else major",
            },
        ))
    tmap = TempoMap(tempo_events)
    # bar numbers of cue starts
    for cue in cues:
        cue.start_bar = tmap.bar_beat(cue.start_sec)[0]
    cue_at = lambda t: next((c for c in reversed(cues) if c.start_sec <= t + 1e-9), cues[0])  # noqa: E731
    for c in analysis.cuts:
        cue = cue_at(c.time_sec)
        grid_t = tmap.nearest_grid(c.time_sec, subdivision=s.hit_subdivision)
        bar, beat = tmap.bar_beat(grid_t)
        hits.append(HitPoint(
            frame=c.frame, time_sec=round(c.time_sec, 6), kind="cut" if c.kind == "hard" else c.kind,
            strength=round(c.strength, 3), bar=bar, beat=round(beat, 3),
            offset_frames=round((c.time_sec - grid_t) * fps_f, 3), cue_id=cue.id,
            timecode=frame_to_smpte(c.frame, fps, start_timecode=info.start_timecode),
        ))
    return Timeline(video=info, cues=cues, tempo_map=tmap.events, hit_points=hits, curves=curves,
                    emotion_source=analysis.emotion_source, settings=asdict(s), tempscore_version=__version__)
