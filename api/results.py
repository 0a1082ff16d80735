"""What each stage returns: the contract it made, the files it wrote, and a typed summary.

Every summary turns into the JSON object that ``--json`` prints (``to_dict``): the keys are the
dataclass fields in order, and fields left ``None`` that the format marks optional are left out.
The format is versioned by :data:`SUMMARY_SCHEMA` and described in docs/FORMATS.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import numpy as np

    from ..contracts import Analysis, Score, Timeline
    from ..project import Project

__all__ = ["SUMMARY_SCHEMA", "Progress", "Summary", "AnalyzeSummary", "PlanSummary", "ComposeSummary",
           "RenderSummary", "ScoreSummary", "StageResult", "AnalyzeResult", "PlanResult", "ComposeResult",
           "RenderResult", "ScoreResult", "FirstCue"]

#: Version of the ``--json`` summaries (the object each command prints).
SUMMARY_SCHEMA = "tempscore.summary/1"

#: ``progress(stage, phase, done, total)``: what a long stage is doing and how far it is in it
#: (``("analyze", "frames", 120, 717)``, ``("render", "encoding audio", 3.1, 15.3)``); called from
#: any thread.
Progress = Callable[[str, str, float, float], None]


@dataclass
class Summary:
    """A stage's summary; :meth:`to_dict` is its ``--json`` object."""

    #: fields left out of the JSON when they are None (the format's optional keys)
    OPTIONAL: ClassVar[tuple[str, ...]] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None and f.name in self.OPTIONAL:
                continue
            out[f.name] = value.to_dict() if isinstance(value, Summary) else value
        return out


@dataclass
class AnalyzeSummary(Summary):
    cached: bool = False
    frames: int = 0
    fps: str = ""
    duration_sec: float = 0.0
    cuts: int = 0
    shots: int = 0
    emotion_source: str = ""
    production_audio: Any = False  # the stream's description, or False when there is none


@dataclass
class PlanSummary(Summary):
    OPTIONAL: ClassVar[tuple[str, ...]] = ("reference", "two_pop", "tail_pop", "conformed", "markers")
    cues: list[dict[str, Any]] = field(default_factory=list)
    hit_points: int = 0
    hits_within_1_frame: int = 0
    hard_cuts_hit: str = ""
    suggestions: int = 0
    reference: dict[str, Any] | None = None
    two_pop: str | None = None
    tail_pop: str | None = None
    edits_kept: list[str] = field(default_factory=list)
    fps: float = 0.0
    conformed: dict[str, Any] | None = None
    prompt_not_understood: list[str] = field(default_factory=list)
    edits_not_kept: list[str] = field(default_factory=list)
    emotion_source: str = ""
    #: the editor's markers (--markers): hit/near/miss per marker and the cuts given up for the must-hits
    markers: dict[str, Any] | None = None


@dataclass
class ComposeSummary(Summary):
    OPTIONAL: ClassVar[tuple[str, ...]] = ("variants",)
    composer: str = ""
    seed: int = 0
    parts: list[str] = field(default_factory=list)
    notes: int = 0
    cue_report: dict[str, Any] = field(default_factory=dict)
    preferences: dict[str, Any] | str = field(default_factory=dict)
    variants: dict[str, list[str]] | None = None


@dataclass
class RenderSummary(Summary):
    OPTIONAL: ClassVar[tuple[str, ...]] = ("picture_mismatch", "midi_older_than_timeline", "exports")
    music_lufs: float | None = None
    target_lufs: float | None = None
    true_peak_dbtp: float | None = None
    gain_db: float | None = None
    limiter_max_gr_db: float | None = None
    gain_held: str | bool = False
    soundfont: str = ""
    sections: Any = None
    stems: list[str] = field(default_factory=list)
    ducking: dict[str, Any] = field(default_factory=dict)
    audio_tracks: list[str] = field(default_factory=list)
    mux: str = "done"
    duration_sec: float = 0.0
    picture_mismatch: str | None = None
    midi_older_than_timeline: list[str] | None = None
    aac_tracks: dict[str, str] = field(default_factory=dict)
    timings_sec: dict[str, float] = field(default_factory=dict)
    synth_cache: dict[str, Any] = field(default_factory=dict)
    buffers_on_disk_mb: float = 0.0
    up_to_date: bool = False
    #: what was exported after the render (--click, --streamers, --sessions, --notation, --cuesheet): name -> note
    exports: dict[str, str] | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RenderSummary:
        names = {f.name for f in dataclasses.fields(cls) if f.init}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class ScoreSummary(Summary):
    analyze: AnalyzeSummary = field(default_factory=AnalyzeSummary)
    plan: PlanSummary = field(default_factory=PlanSummary)
    compose: ComposeSummary = field(default_factory=ComposeSummary)
    render: RenderSummary = field(default_factory=RenderSummary)
    timings_sec: dict[str, float] = field(default_factory=dict)


@dataclass
class StageResult:
    """What a command wrote (``outputs``: what -> path) and its summary."""

    outputs: dict[str, str] = field(default_factory=dict)
    summary: Summary | dict[str, Any] = field(default_factory=dict)

    def summary_dict(self) -> dict[str, Any]:
        return self.summary.to_dict() if isinstance(self.summary, Summary) else dict(self.summary)


@dataclass
class AnalyzeResult(StageResult):
    analysis: Analysis | None = None
    project: Project | None = None


@dataclass
class PlanResult(StageResult):
    timeline: Timeline | None = None
    project: Project | None = None


@dataclass
class ComposeResult(StageResult):
    score: Score | None = None
    project: Project | None = None


@dataclass
class RenderResult(StageResult):
    project: Project | None = None
    #: what marks this render up to date once its files are in place (the render cache's record)
    record: Callable[[], None] | None = field(default=None, repr=False)


@dataclass
class ScoreResult(StageResult):
    """Every stage's result of one :func:`tempscore.score` run."""

    analysis: Analysis | None = None
    timeline: Timeline | None = None
    score: Score | None = None
    project: Project | None = None

    def _path(self, key: str) -> Path | None:
        return Path(self.outputs[key]) if key in self.outputs else None

    @property
    def scored_video(self) -> Path | None:
        """The picture with the temp score (None when the video was not there to mux)."""
        return self._path("video")

    @property
    def midi(self) -> Path | None:
        return self._path("midi")

    @property
    def wav(self) -> Path | None:
        return self._path("wav")

    @property
    def timeline_path(self) -> Path | None:
        return self._path("timeline")

    @property
    def analysis_path(self) -> Path | None:
        return self._path("analysis")


@dataclass
class FirstCue:
    """The first cue with music, heard before the render ends (:func:`tempscore.score`'s
    ``first_cue``): made right after compose with the render's own synthesis, reverb, ducking and
    loudness (:func:`tempscore.render.preview.first_cue_music`), while the render is still to run.

    ``audio`` (shape ``(n, 2)``, float32 at ``sr``) is the final music of ``[start_sec, end_sec)``
    times one factor (the cue brought to the loudness target on its own; the render sets the gain
    from the whole programme). It is not one of the run's outputs: :meth:`write_wav` puts it where
    the caller wants it. ``timeline_file`` and ``analysis_file`` are this run's files as staged:
    readable during the call only (they land with the run's set at its end).
    """

    cue_id: str
    start_sec: float
    end_sec: float
    sr: int
    audio: np.ndarray = field(repr=False)
    lufs: float | None
    gain_db: float
    gain_held: bool
    timeline_file: Path
    analysis_file: Path | None

    def write_wav(self, path: Path | str, *, bits: int = 24) -> Path:
        """Write :attr:`audio` as a PCM WAV, atomically; returns ``path``."""
        from ..render.mix import write_wav

        return write_wav(Path(path), self.audio, sr=self.sr, bits=bits)
