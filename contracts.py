"""Stage contracts: the plain data that stages exchange.

``analyze(video) -> Analysis``, ``plan(Analysis, PlanSettings) -> Timeline``,
``compose(Timeline) -> Score``. Each is a dataclass that round-trips through JSON
(:func:`to_json` / :func:`from_json`) and carries a versioned ``schema`` field. The field names
listed in DESIGN.md ("Contracts other tools rely on") are public and never renamed.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import shlex
import types
import typing
from collections.abc import Callable
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
    #: the production audio that is analysed and mixed, in words: ``"DIAL + FX (2 mono streams
    #: summed)"``, ``"stream 1 (stereo)"``; ``""`` without audio (tempscore.media.describe_bed)
    production_audio: str = ""
    size_bytes: int = 0
    content_hash: str = ""
    frame_count_exact: bool = True  # False when the container stores no frame count (estimated)

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
    #: gradual only: "fade_in" (from black), "fade_out" (to black) or "dissolve"
    transition: str | None = None


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
    #: CLIP zero-shot probabilities per prompt label (empty with the heuristic)
    emotion_scores: dict[str, float] = field(default_factory=dict)


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
    #: dialogue regions {"start_sec", "end_sec"}, seconds from the first video frame (music ducks here)
    speech: list[dict] = field(default_factory=list)
    #: production-audio transients (door slams, gunshots) {"time_sec", "strength" 0..1}
    onsets: list[dict] = field(default_factory=list)


@dataclass
class Accent:
    """A candidate hit point inside a shot: flash, impact, motion onset or audio transient."""

    frame: int  # 0-based frame (decode order)
    time_sec: float  # that frame's PTS from the first frame
    kind: str  # "flash" | "impact" | "motion" | "audio"
    strength: float = 1.0  # 0..1
    source: str = "picture"  # "picture" | "audio"


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
    #: the analysis settings used (a cached analysis is reused only for the same settings)
    settings: dict[str, Any] = field(default_factory=dict)
    schema: str = ANALYSIS_SCHEMA
    accents: list[Accent] = field(default_factory=list)  # candidate hit points inside shots


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
    edges_locked: bool = False  # keep start_frame/end_frame on re-plan (tempo, hits, mood are re-planned)
    tacet: bool = False  # music stops for this cue (black leader, silence; or set by hand)
    recalls: str = ""  # id of an earlier cue whose picture looks alike: its theme comes back here
    orchestration: str = ""  # e.g. "solo cello" (from a prompt); empty = by intensity
    title: str = ""  # the music editor's name for the cue ("The Chase"); the id stays the plan's number
    seed: int = -1  # the cue's own composer seed (a picked variant); -1 = the run's --seed
    #: the melody the user chose, kept as written (locked, picked or rated cues; see compose):
    #: {"seed", "frame", "composer", "for": {key, mood, beats, ...}, "bars": [{"chord", "notes": [[pos16, pitch, dur16]]}]}
    take: dict[str, Any] = field(default_factory=dict)
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
    #: the editor's markers (``--markers``) and how each fared: {"frame", "name", "weight" ("must" |
    #: "should"), "colour", "file", "line", "status" ("hit" | "near" | "miss"), "offset_frames", "bar",
    #: "beat", "cue", "reason", ...}; kept across re-plans until other markers are given
    markers: list[dict[str, Any]] = field(default_factory=list)
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
    composer: str  # e.g. "transformer:v1+arranger:v1" or "rule-based:v1"
    seed: int = 0
    report: dict[str, Any] = field(default_factory=dict)  # per cue: motif variant, copy check, ...
    takes: dict[str, Any] = field(default_factory=dict)  # per cue: its melody as a Cue.take


# --------------------------------------------------------------------------- (de)serialisation
def to_dict(obj: Any) -> Any:
    """Dataclass (nested) -> plain JSON-able dict."""
    return dataclasses.asdict(obj)


class ContractError(TypeError):
    """A stage file field has the wrong shape; the message starts with the field's path."""


def _build(tp: Any, value: Any, where: str) -> Any:
    return _builder(tp)(value, where)


def _as_is(value: Any, where: str) -> Any:  # a builder's signature: ``where`` is unused
    return value


@functools.cache
def _builder(tp: Any) -> Callable[[Any, str], Any]:
    """How to rebuild a value of annotation ``tp`` from JSON, worked out once per annotation (a
    60-minute film's analysis is some 650,000 values: looking at the annotation for each cost ~1 s)."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return lambda value, where: from_dict(tp, value, where=where)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) != 1:
            return _as_is
        inner = _builder(args[0])
        return lambda value, where: None if value is None else inner(value, where)
    if origin is list:
        (arg,) = typing.get_args(tp) or (Any,)
        inner = _builder(arg)

        def build_list(value: Any, where: str) -> list:
            if not isinstance(value, list):
                raise ContractError(f"{where}: expected a list, got {type(value).__name__}")
            if inner is _as_is:
                return list(value)
            return [inner(v, f"{where}[{i}]") for i, v in enumerate(value)]

        return build_list
    if origin is dict:
        def build_dict(value: Any, where: str) -> Any:
            if not isinstance(value, dict):
                raise ContractError(f"{where}: expected an object, got {type(value).__name__}")
            return value

        return build_dict
    return _as_is


@functools.cache
def _fields(cls: type) -> tuple[tuple[str, Callable[[Any, str], Any], bool], ...]:
    """(name, builder, required) per field of a contract class."""
    hints = _type_hints(cls)
    return tuple((f.name, _builder(hints[f.name]),
                  f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)  # type: ignore[misc]
                 for f in dataclasses.fields(cls))


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    """``typing.get_type_hints`` of a contract class (resolving the annotations once per class)."""
    return typing.get_type_hints(cls)


def from_dict(cls: type[T], data: dict[str, Any], *, where: str = "") -> T:
    """Plain dict -> dataclass ``cls`` (nested dataclasses and lists rebuilt, unknown keys left out).

    Raises :class:`ContractError` naming the field path (e.g. ``cues[2]``) on a wrong shape.
    """
    label = where or cls.__name__
    if not isinstance(data, dict):
        raise ContractError(f"{label}: expected an object, got {type(data).__name__}")
    kwargs = {}
    missing = []
    for name, build, required in _fields(cls):
        if name in data:
            kwargs[name] = build(data[name], f"{where}.{name}" if where else name)
        elif required:
            missing.append(name)
    if missing:
        raise ContractError(f"{label}: missing {', '.join(missing)}")
    return cls(**kwargs)


def _type_ok(tp: Any, value: Any) -> bool:
    origin = typing.get_origin(tp)
    if tp is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(a, value) for a in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and _element_ok(float)(value)
    if tp is str:
        return isinstance(value, str)
    if origin is list:
        (arg,) = typing.get_args(tp) or (Any,)
        return isinstance(value, list) and all(_type_ok(arg, v) for v in value)
    if origin is dict or tp is dict:
        return isinstance(value, dict)
    if dataclasses.is_dataclass(tp):
        return isinstance(value, tp)
    return True


@functools.cache
def _element_ok(tp: Any) -> Callable[[Any], bool]:
    """A fast test of one list element against ``tp`` (a float curve is 200,000 of them)."""
    if tp is float:
        def finite(v: Any) -> bool:
            try:
                return type(v) in (float, int) and math.isfinite(v)
            except OverflowError:  # an int too large for a float
                return False

        return finite
    if tp is int:
        return lambda v: type(v) is int
    if tp is str:
        return lambda v: type(v) is str
    return lambda v: _type_ok(tp, v)


def check_types(obj: Any, where: str = "") -> None:
    """Check every field of a (nested) dataclass against its annotation; raise :class:`ContractError`
    naming the first bad field (``cues[2].tempo_bpm: expected float, got str``)."""
    hints = _type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        path = f"{where}.{f.name}" if where else f.name
        tp = hints[f.name]
        if dataclasses.is_dataclass(value):
            check_types(value, path)
            continue
        if typing.get_origin(tp) is list and isinstance(value, list):
            ok = _element_ok(typing.get_args(tp)[0])
            for i, v in enumerate(value):
                if dataclasses.is_dataclass(v):
                    check_types(v, f"{path}[{i}]")
                elif not ok(v):
                    raise ContractError(f"{path}[{i}]: {v!r:.40} has the wrong type")
            continue
        if not _type_ok(tp, value):
            want = getattr(tp, "__name__", str(tp))
            raise ContractError(f"{path}: expected {want}, got {type(value).__name__} {value!r:.40}")


def _json_default(o: Any) -> Any:
    """numpy scalars/arrays and Fractions slip into dataclasses easily; store them as plain JSON."""
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Fraction):
        return str(o)
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


def to_json(obj: Any) -> str:
    return json.dumps(to_dict(obj), indent=1, allow_nan=False, default=_json_default)


def read_stage(path: Path, cls: type[T], schema: str, *, raw: bytes | None = None,
               check: Callable[[Any], None] | None = None) -> T:
    """Read a stage JSON file, checking its schema; errors are one-line :class:`BadStageFile`.
    ``raw``: the file's bytes, already read (what is parsed is then exactly what was read).
    ``check``: called with the parsed document (of the right schema) before it is built (e.g.
    :func:`tempscore.scoring.validate.check_json`); raises :class:`BadStageFile` to refuse it."""
    path = Path(path)
    if raw is None and not path.is_file():
        raise BadStageFile(f"{path}: file not found; run the previous stage first")
    if raw is None:
        raw = path.read_bytes()
    if not raw.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):  # a video, MIDI or WAV given where JSON goes
        kind = schema.split(".")[-1].split("/")[0]
        if path.name.endswith(f".{kind}.json"):  # the right file, broken (emptied, cut short, overwritten)
            raise BadStageFile(f"{path}: is not a tempscore {kind} file (it holds no JSON object: emptied, cut "
                               f"short or overwritten?); correct it, or delete it and re-run the stage that wrote it")
        video = "VIDEO"
        if path.suffix.lower() not in (".json", ".mid", ".midi", ".wav", ".txt", ""):  # the video itself, most likely
            video = shlex.quote(str(path))
        fix = {"analysis": f"run `tempscore analyze {video}` first (or `tempscore score {video}` for every stage)",
               "timeline": f"run `tempscore plan <stem>.analysis.json` first (or `tempscore score {video}`)"}
        raise BadStageFile(f"{path}: is not a tempscore {kind} file (<stem>.{kind}.json); "
                           f"{fix.get(kind, 're-run the stage that writes it')}")
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadStageFile(f"{path}: not valid JSON ({exc}); correct it there (after a hand edit: a missing or "
                           f"extra comma, an unquoted word), or re-run the stage that wrote it") from exc
    except RecursionError:  # arrays or objects nested ~1000 deep: no stage file is
        raise BadStageFile(f"{path}: its JSON is nested thousands of levels deep, which no tempscore file is; "
                           f"re-run the stage that wrote it") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise BadStageFile(f"{path}: not a usable JSON file ({exc}); correct it there, or re-run the stage that "
                           f"wrote it") from None
    got = data.get("schema") if isinstance(data, dict) else None
    if got != schema:
        want_kind = schema.split(".")[-1].split("/")[0]
        if isinstance(got, str) and got.startswith("tempscore.") and got.split("/")[0] != schema.split("/")[0]:
            kind = got.split(".")[-1].split("/")[0]  # another stage's file: say which one goes here
            article = "an" if kind[:1] in "aeiou" else "a"
            raise BadStageFile(f"{path}: is {article} {kind} file; this command takes <stem>.{want_kind}.json")
        raise BadStageFile(f"{path}: schema is {got!r:.60}, expected {schema!r}; re-run the stage that wrote it")
    if check is not None:
        check(data)
    try:
        return from_dict(cls, data)
    except (TypeError, KeyError, ValueError) as exc:
        raise BadStageFile(f"{path}: {exc}; fix that field or re-run the stage that wrote it") from exc
