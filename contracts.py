"""Stage contracts: the plain data that stages exchange.

``analyze(video) -> Analysis``, ``plan(Analysis, PlanSettings) -> Timeline``,
``compose(Timeline) -> Score``. Each is a dataclass that round-trips through JSON
(:func:`to_json` / :func:`from_json`) and carries a versioned ``schema`` field. The field names
listed in DESIGN.md ("Contracts other tools rely on") are public and never renamed.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeVar

from .errors import BadStageFile

ANALYSIS_SCHEMA = "tempscore.analysis/1"
TIMELINE_SCHEMA = "tempscore.timeline/1"

T = TypeVar("T")


# --------------------------------------------------------------------------- analysis
@dataclass
class VideoInfo:
    """What the probe learned about the input video.

    ``fps_num / fps_den`` is the exact rational frame rate; ``time_base_num / time_base_den``
    the stream's time base (seconds per pts tick).
    """

    path: str
    fps_num: int
    fps_den: int
    frame_count: int
    duration_sec: float
    width: int
    height: int
    time_base_num: int = 1
    time_base_den: int = 1
    start_timecode: str = "00:00:00:00"
    codec: str = ""
    audio_streams: int = 0
    size_bytes: int = 0
    content_hash: str = ""

    @property
    def fps(self) -> Fraction:
        return Fraction(self.fps_num, self.fps_den)


@dataclass
class Cut:
    """A shot boundary. ``frame`` is the 0-based first frame of the new shot (decode order)."""

    frame: int
    time_sec: float
    kind: str = "hard"  # "hard" | "gradual"
    end_frame: int | None = None  # last frame (exclusive) of a gradual transition
    strength: float = 1.0  # 0..1, how strong the visual change is
    detector: str = "content"


@dataclass
class Shot:
    """A shot, ``[start_frame, end_frame)``, with its mean features and emotion reading."""

    start_frame: int
    end_frame: int
    start_sec: float
    end_sec: float
    valence: float = 0.0  # [-1, 1]
    arousal: float = 0.0  # [-1, 1]
    motion: float = 0.0  # mean abs frame difference, 0..1
    brightness: float = 0.0  # mean luma, 0..1
    saturation: float = 0.0  # mean HSV saturation, 0..1
    warmth: float = 0.0  # mean (R - B), -1..1
    loudness_db: float | None = None  # mean production-audio level (dBFS RMS); None without audio
    emotion_label: str = ""


@dataclass
class FrameFeatures:
    """Per-frame picture features, index = frame number (decode order)."""

    pts_sec: list[float] = field(default_factory=list)
    motion: list[float] = field(default_factory=list)
    brightness: list[float] = field(default_factory=list)
    saturation: list[float] = field(default_factory=list)
    warmth: list[float] = field(default_factory=list)


@dataclass
class AudioFeatures:
    """Production-audio features on a regular grid of ``rate_hz`` values per second."""

    present: bool = False
    rate_hz: float = 10.0
    loudness_db: list[float] = field(default_factory=list)  # RMS level, dBFS
    integrated_lufs: float | None = None
    #: dialogue regions, each {"start_sec", "end_sec"}; the render ducks the music under them
    speech: list[dict] = field(default_factory=list)


@dataclass
class Analysis:
    """Output of ``tempscore analyze`` (``<stem>.analysis.json``)."""

    video: VideoInfo
    cuts: list[Cut]
    shots: list[Shot]
    emotion_source: str  # "clip:<model>" or "heuristic"
    frames: FrameFeatures = field(default_factory=FrameFeatures)
    audio: AudioFeatures = field(default_factory=AudioFeatures)
    detectors: list[str] = field(default_factory=list)
    tempscore_version: str = ""
    schema: str = ANALYSIS_SCHEMA


# --------------------------------------------------------------------------- timeline
@dataclass
class Cue:
    """One music cue. Music plays from ``start_sec`` to ``end_sec`` (both on beats)."""

    id: str
    start_sec: float
    end_sec: float
    start_frame: int
    end_frame: int
    mood: str
    valence: float
    arousal: float
    intensity: float  # 0..1
    key: str  # e.g. "D minor"
    tempo_bpm: float
    beats_per_bar: int = 4
    start_bar: int = 1
    beats: int = 0  # whole beats in the cue
    locked: bool = False
    tempo_locked: bool = False  # keep tempo_bpm on re-plan (the rest may change)
    tacet: bool = False  # music stops for this cue (black leader, silence; or set by hand)
    why: dict[str, Any] = field(default_factory=dict)
    #: what the planner chose for mood/key/tempo_bpm; a differing value above is a user edit
    auto: dict[str, Any] = field(default_factory=dict)


@dataclass
class TempoEvent:
    """A tempo and/or meter change at ``time_sec``.

    ``bar_line`` events start a new bar (cue starts, meter changes); others are tempo changes
    inside a bar (gentle ramps onto a hit point), which keep the current meter. ``bar`` is the
    bar number at the event (recomputed by :class:`tempscore.scoring.tempo.TempoMap`).
    """

    time_sec: float
    bpm: float
    beats_per_bar: int = 4
    bar: int = 1
    bar_line: bool = True


@dataclass
class HitPoint:
    """A picture event the music should hit, with where it falls on the beat grid."""

    frame: int
    time_sec: float
    kind: str  # "cut" | "gradual" | "cue_start" | ...
    strength: float
    bar: int = 1
    beat: float = 1.0  # 1-based, may be fractional (2.5 = the "and" of 2)
    offset_frames: float = 0.0  # hit time minus grid time, in frames
    cue_id: str = ""
    timecode: str = ""
    how: str = ""  # "tempo" (on the constant grid), "ramp" (a tempo ramp lands it), "user" (added by hand)


@dataclass
class Curves:
    """Affect curves sampled at ``rate_hz`` from t = 0."""

    rate_hz: float = 10.0
    intensity: list[float] = field(default_factory=list)
    arousal: list[float] = field(default_factory=list)
    valence: list[float] = field(default_factory=list)


@dataclass
class Timeline:
    """Output of ``tempscore plan`` (``<stem>.timeline.json``); the editable artefact."""

    video: VideoInfo
    cues: list[Cue]
    tempo_map: list[TempoEvent]
    hit_points: list[HitPoint]
    curves: Curves = field(default_factory=Curves)
    emotion_source: str = "heuristic"
    settings: dict[str, Any] = field(default_factory=dict)
    #: frames of the hit points the planner chose (a frame missing from hit_points was deleted by the user)
    auto_hit_frames: list[int] = field(default_factory=list)
    #: user edits carried across re-plans: locked cues, cue overrides, added/deleted hits
    edits: dict[str, Any] = field(default_factory=dict)
    #: cuts near a strong beat that miss it, with the trim that would land them
    suggestions: list[dict[str, Any]] = field(default_factory=list)
    analysis_path: str = ""
    tempscore_version: str = ""
    schema: str = TIMELINE_SCHEMA


# --------------------------------------------------------------------------- score
@dataclass
class Note:
    """A note in seconds (pretty_midi convention)."""

    start_sec: float
    end_sec: float
    pitch: int
    velocity: int


@dataclass
class Part:
    """One instrument track of the score."""

    name: str
    program: int  # General MIDI program, 0-based
    is_drum: bool = False
    notes: list[Note] = field(default_factory=list)


@dataclass
class Marker:
    time_sec: float
    text: str


@dataclass
class Score:
    """Output of ``compose``: notes per instrument plus the tempo map and markers."""

    parts: list[Part]
    tempo_map: list[TempoEvent]
    markers: list[Marker]
    duration_sec: float
    composer: str  # e.g. "rule-based:v1"
    seed: int = 0


# --------------------------------------------------------------------------- (de)serialisation
def to_dict(obj: Any) -> Any:
    """Dataclass (nested) -> plain JSON-able dict."""
    return dataclasses.asdict(obj)


def _build(tp: Any, value: Any) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return from_dict(tp, value)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _build(args[0], value) if len(args) == 1 else value
    if origin is list:
        (arg,) = typing.get_args(tp) or (Any,)
        return [_build(arg, v) for v in value]
    return value


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Plain dict -> dataclass ``cls`` (nested dataclasses and lists rebuilt, unknown keys kept out)."""
    if not isinstance(data, dict):
        raise TypeError(f"expected an object for {cls.__name__}, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in data:
            kwargs[f.name] = _build(hints[f.name], data[f.name])
    return cls(**kwargs)


def _json_default(o: Any) -> Any:
    """numpy scalars/arrays and Fractions slip into dataclasses easily; store them as plain JSON."""
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Fraction):
        return str(o)
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


def to_json(obj: Any) -> str:
    return json.dumps(to_dict(obj), indent=1, allow_nan=False, default=_json_default)


def read_stage(path: Path, cls: type[T], schema: str) -> T:
    """Read a stage JSON file, checking its schema; errors are one-line :class:`BadStageFile`."""
    path = Path(path)
    if not path.is_file():
        raise BadStageFile(f"{path}: file not found; run the previous stage first")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadStageFile(f"{path}: not valid JSON ({exc}); re-run the stage that wrote it") from exc
    got = data.get("schema") if isinstance(data, dict) else None
    if got != schema:
        raise BadStageFile(f"{path}: schema is {got!r}, expected {schema!r}; re-run the stage that wrote it")
    try:
        return from_dict(cls, data)
    except (TypeError, KeyError, ValueError) as exc:
        raise BadStageFile(f"{path}: malformed {cls.__name__} ({exc}); re-run the stage that wrote it") from exc
