"""Every option of a run, named as on the command line, checked in one place.

:class:`Options` is what ``tempscore score`` takes as flags, what :func:`tempscore.score` takes as
keywords and what a batch manifest gives per video. It builds each stage's settings
(:class:`~tempscore.vision.AnalyzeSettings`, :class:`~tempscore.scoring.PlanSettings`,
:class:`~tempscore.models.generator.SamplingSettings`,
:class:`~tempscore.render.RenderSettings`), refusing a bad value in one line before any work.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidSettings

if TYPE_CHECKING:
    from ..models.generator import SamplingSettings
    from ..render import RenderSettings
    from ..render.exports import ExportOptions
    from ..scoring import PlanSettings
    from ..vision import AnalyzeSettings

__all__ = ["Options", "MAX_VARIANTS", "plan_settings", "sampling_settings", "render_settings", "analyze_settings"]

#: Most alternatives per cue (the spotting page offers as many).
MAX_VARIANTS = 8


@dataclass
class Options:
    """The options of a run (defaults: the command line's). See ``tempscore score --help``."""

    # analyze
    force: bool = False
    clip: str = "auto"
    clip_model: str = "ViT-B-32"
    clip_pretrained: str = "openai"
    clip_checkpoint: str | None = None
    allow_download: bool = False
    dialogue: bool = True
    shot_detector: str = "auto"
    device: str = "auto"
    # plan
    tempo_range: str | None = None
    min_cue_sec: float = 5.0
    beats_per_bar: int = 4
    subdivision: int = 2
    max_ramp: float = 6.0  # percent
    picture_start: str = "auto"
    picture_end: str = "auto"
    style: str | None = None
    edl: bool = False
    otio: bool = False
    fresh: bool = False
    conform_from: str | None = None
    mood: list[str] = field(default_factory=list)
    prompt: list[str] = field(default_factory=list)
    reference: str | None = None
    markers: str | None = None  # the editor's marker export: EDL, FCPXML, xmeml, Avid list, OTIO, CSV
    # compose
    seed: int = 0
    composer: str = "auto"
    int8: bool = False
    temperature: float = 0.9
    top_p: float = 0.95
    top_k: int = 0
    variants: int = 0
    # render
    lufs: float | None = None
    true_peak: float = -1.0
    loudness_hold: float = 0.5
    stems: bool = False
    tracks: str = "all"
    soundfont: str | None = None
    duck_depth: float = 10.0
    duck_attack: float = 0.3
    duck_release: float = 0.8
    duck_regions: str | None = None
    no_reverb: bool = False
    # exports (after the render)
    click: bool = False  # <stem>.click.wav (count-ins) and a click track in the MIDI
    streamers: bool = False  # <stem>.streamers.mp4: a reference picture with streamers, punches, timecode
    sessions: bool = False  # Premiere/Resolve xmeml, FCPXML, AAF, REAPER .rpp
    notation: bool = False  # <stem>.score.musicxml (+ .score.pdf with MuseScore)
    cuesheet: bool = False  # <stem>.cuesheet.csv and <stem>.spotting.html
    cue_composer: str = ""  # the cue sheet's composer and publisher (e.g. from tempscore.toml)
    cue_publisher: str = ""

    @classmethod
    def from_kwargs(cls, options: Options | None = None, **kwargs: Any) -> Options:
        """``options`` (or the defaults) with ``kwargs`` over them; an unknown name is refused."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(kwargs) - names)
        if unknown:
            raise InvalidSettings(f"unknown option(s) {', '.join(unknown)}; see `tempscore score --help` for the "
                                  f"options (as keywords: {', '.join(sorted(names)[:6])}, ...)")
        base = options if options is not None else cls()
        for k in ("mood", "prompt"):  # one string is one entry, as in a config file
            if isinstance(kwargs.get(k), str):
                kwargs[k] = [kwargs[k]]
        return dataclasses.replace(base, **kwargs)

    def first_run_only(self) -> Options:
        """The options of a re-run (``--watch``): the steering given once is in the timeline by then."""
        return dataclasses.replace(self, mood=[], prompt=[], reference=None, variants=0, force=False, fresh=False,
                                   conform_from=None, markers=None)

    def check(self) -> None:
        """Every value and every file named, checked now (one line, before anything is written)."""
        self.analyze_settings()
        self.plan_settings()
        self.sampling()
        self.render_settings()
        from ..scoring.edits import check_overrides

        check_overrides(list(self.mood), list(self.prompt))  # a typo fails before the analysis
        if self.duck_regions is not None:
            from .files import read_duck_regions

            read_duck_regions(Path(self.duck_regions))
        if self.reference is not None and not Path(self.reference).is_file():
            raise InvalidSettings(f"--reference {self.reference}: file not found")
        if self.markers is not None and not Path(self.markers).is_file():
            from ..errors import BadMarkerFile

            raise BadMarkerFile(f"--markers {self.markers}: file not found")
        _check_export_packages(sessions=self.sessions, notation=self.notation)
        for name in ("cue_composer", "cue_publisher"):
            if len(getattr(self, name)) > 200 or "\n" in getattr(self, name):
                raise InvalidSettings(f"--{name.replace('_', '-')}: one line of at most 200 characters")
        if self.conform_from is not None:
            from .files import check_conform_from

            check_conform_from(Path(self.conform_from), fresh=self.fresh)

    def analyze_settings(self) -> AnalyzeSettings:
        return analyze_settings(clip=self.clip, clip_model=self.clip_model, clip_pretrained=self.clip_pretrained,
                                clip_checkpoint=self.clip_checkpoint, allow_download=self.allow_download,
                                dialogue=self.dialogue, shot_detector=self.shot_detector, device=self.device)

    def plan_settings(self) -> PlanSettings:
        return plan_settings(self.tempo_range, min_cue_sec=self.min_cue_sec, beats_per_bar=self.beats_per_bar,
                             subdivision=self.subdivision, max_ramp_pct=self.max_ramp, style=self.style,
                             picture_start=self.picture_start, picture_end=self.picture_end)

    def sampling(self) -> SamplingSettings:
        return sampling_settings(self.temperature, self.top_p, self.top_k, seed=self.seed, variants=self.variants,
                                 composer=self.composer)

    def render_settings(self) -> RenderSettings:
        return render_settings(lufs=self.lufs, true_peak=self.true_peak, stems=self.stems, tracks=self.tracks,
                               soundfont=self.soundfont, duck_depth=self.duck_depth, duck_attack=self.duck_attack,
                               duck_release=self.duck_release, no_reverb=self.no_reverb,
                               loudness_hold=self.loudness_hold)

    def exports(self) -> ExportOptions:
        """What is exported after the render (:mod:`tempscore.render.exports`)."""
        from ..render.exports import ExportOptions

        return ExportOptions(click=self.click, streamers=self.streamers, sessions=self.sessions,
                             notation=self.notation, cuesheet=self.cuesheet, composer=self.cue_composer,
                             publisher=self.cue_publisher)


def _check_export_packages(*, sessions: bool, notation: bool) -> None:
    """--sessions and --notation need the ``exports`` extra: say so in one line, before any work."""
    import importlib.util

    need = ([("opentimelineio", "otio_fcp_adapter"), ("opentimelineio", "otio_aaf_adapter"), ("", "aaf2"), ("", "rpp")]
            if sessions else []) + ([("", "music21")] if notation else [])
    missing = [m for _, m in need if importlib.util.find_spec(m) is None]
    if missing:
        from ..errors import ToolMissing

        raise ToolMissing(f"--sessions/--notation need {', '.join(missing)}: pip install 'tempscore[exports]'")


def analyze_settings(*, clip: str = "auto", clip_model: str = "ViT-B-32", clip_pretrained: str = "openai",
                     clip_checkpoint: str | None = None, allow_download: bool = False, dialogue: bool = True,
                     shot_detector: str = "auto", device: str = "auto") -> AnalyzeSettings:
    from ..vision import AnalyzeSettings

    if clip not in ("auto", "off"):
        raise InvalidSettings(f"--clip {clip!r} is unknown; use auto or off")
    return AnalyzeSettings(clip=clip, clip_model=clip_model, clip_pretrained=clip_pretrained,
                           clip_checkpoint=str(clip_checkpoint) if clip_checkpoint else None,
                           allow_download=allow_download, dialogue=dialogue, shot_detector=shot_detector,
                           device=device)


def plan_settings(tempo_range: str | None, *, min_cue_sec: float = 5.0, beats_per_bar: int = 4, subdivision: int = 2,
                  max_ramp_pct: float = 6.0, style: str | None = None, picture_start: str = "auto",
                  picture_end: str = "auto") -> PlanSettings:
    """The plan's settings from the command line's values (``tempo_range``: ``"LOW-HIGH"`` BPM, else
    the style's range, else 60-140)."""
    from ..scoring import PlanSettings
    from ..scoring.edits import STYLES

    if style and style not in STYLES:
        raise InvalidSettings(f"--style {style!r} is unknown; use one of {', '.join(STYLES)}")
    if tempo_range is None:
        lo, hi = STYLES[style]["tempo_range"] if style else (60.0, 140.0)
    else:
        try:
            lo, hi = (float(x) for x in str(tempo_range).split("-"))
        except ValueError as exc:
            raise InvalidSettings(f"--tempo-range {tempo_range!r} is not LOW-HIGH; use e.g. 60-140") from exc
    s = PlanSettings(bpm_min=lo, bpm_max=hi, min_cue_sec=min_cue_sec, beats_per_bar=beats_per_bar,
                     hit_subdivision=subdivision, max_ramp=max_ramp_pct / 100.0, style=style or "",
                     picture_start=_auto_none_or_timecode(picture_start),
                     picture_end=_auto_none_or_timecode(picture_end))
    s.validate()
    return s


def _auto_none_or_timecode(value: str) -> str:
    return value.strip().lower() if value.strip().isalpha() else value.strip()


def sampling_settings(temperature: float = 0.9, top_p: float = 0.95, top_k: int = 0, *, seed: int = 0,
                      variants: int = 0, composer: str = "auto") -> SamplingSettings:
    """The composer's sampling settings; ``seed``, ``variants`` and ``composer`` are checked here too."""
    from ..models.generator import SamplingSettings

    if not temperature > 0 or not 0 < top_p <= 1 or top_k < 0:
        raise InvalidSettings("sampling: --temperature must be > 0, --top-p in (0, 1], --top-k >= 0")
    if not 0 <= seed < 2**31:
        raise InvalidSettings(f"--seed {seed}: use a whole number from 0 to {2**31 - 1}")
    if not 0 <= variants <= MAX_VARIANTS:
        raise InvalidSettings(f"--variants {variants}: use 0 (none) to {MAX_VARIANTS} alternatives per cue")
    if composer not in ("auto", "transformer", "rules"):
        raise InvalidSettings(f"--composer {composer!r} is unknown; use auto, transformer or rules")
    return SamplingSettings(temperature=temperature, top_p=top_p, top_k=top_k)


def render_settings(*, lufs: float | None = None, true_peak: float = -1.0, stems: bool = False, tracks: str = "all",
                    soundfont: str | None = None, duck_depth: float = 10.0, duck_attack: float = 0.3,
                    duck_release: float = 0.8, no_reverb: bool = False, loudness_hold: float = 0.5) -> RenderSettings:
    from ..render import RenderSettings

    s = RenderSettings(target_lufs=lufs, max_true_peak_dbtp=true_peak, stems=stems, mux_tracks=tracks,
                       soundfont=soundfont, duck_depth_db=duck_depth, duck_attack_sec=duck_attack,
                       duck_release_sec=duck_release, reverb=not no_reverb, loudness_hold_lu=loudness_hold)
    s.validate()
    return s
