"""``tempscore``: a thin command line over the stages (no logic of its own).

Exit status: 0 success, 2 user error (bad input, one line on stderr), 1 internal error.
Heavy libraries load inside the commands, so ``tempscore --help`` is instant.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import __version__
from .errors import ConcurrentEdit, TempscoreError

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Turn a video rough cut into a temp score: shots, cues, a tempo map on the cuts, music, mux.")

_state = {"json": False}
log = logging.getLogger("tempscore.cli")

ProjectDirOpt = Annotated[Optional[Path], typer.Option("-o", "--output-dir", help="The folder `tempscore score` wrote to, when the timeline is not given (default: this folder).")]
OutOpt = Annotated[Optional[Path], typer.Option("-o", "--output-dir", help="Directory for outputs (default: beside the input).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a machine-readable summary on stdout.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Verbose logs and tracebacks.")]


def _setup(json_out: bool, debug: bool) -> None:
    from .console import LazyRichHandler

    _state["json"] = json_out
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(message)s",
                        handlers=[LazyRichHandler()], force=True)


def _emit(result, title: str) -> None:  # noqa: ANN001
    from .console import print_result

    print_result(result, title=title, as_json=_state["json"])


@app.command()
def analyze(
    video: Annotated[Path, typer.Argument(help="The rough cut (mp4, mov, mkv).")],
    output_dir: OutOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Re-analyse even if a matching analysis exists.")] = False,
    clip: Annotated[str, typer.Option("--clip", help="CLIP emotion: auto (when weights are local) or off.")] = "auto",
    clip_model: Annotated[str, typer.Option("--clip-model", help="open_clip architecture.")] = "ViT-B-32",
    clip_pretrained: Annotated[str, typer.Option("--clip-pretrained", help="open_clip pretrained tag.")] = "openai",
    clip_checkpoint: Annotated[Optional[Path], typer.Option(
        "--clip-checkpoint", help="Local CLIP weights file (or set TEMPSCORE_CLIP_CHECKPOINT).")] = None,
    allow_download: Annotated[bool, typer.Option("--allow-download", help="Fetch CLIP weights if not cached.")] = False,
    no_dialogue: Annotated[bool, typer.Option("--no-dialogue", help="Skip voice activity detection.")] = False,
    shot_detector: Annotated[str, typer.Option(
        "--shot-detector", help="auto (classic on CPU, combined with a CUDA GPU), classic, transnet or combined.")] = "auto",
    device: Annotated[str, typer.Option("--device", help="Device for TransNetV2: auto, cpu or cuda.")] = "auto",
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Find shots, accents, dialogue and read emotion; writes <stem>.analysis.json."""
    _setup(json_out, debug)
    from .console import frame_progress
    from .errors import InvalidSettings
    from .pipeline import project_lock, run_analyze
    from .vision import AnalyzeSettings

    if clip not in ("auto", "off"):
        raise InvalidSettings(f"--clip {clip!r} is unknown; use auto or off")
    settings = AnalyzeSettings(clip=clip, clip_model=clip_model, clip_pretrained=clip_pretrained,
                               clip_checkpoint=str(clip_checkpoint) if clip_checkpoint else None,
                               allow_download=allow_download, dialogue=not no_dialogue,
                               shot_detector=shot_detector, device=device)
    with project_lock(video, output_dir), frame_progress("analysing picture", quiet=json_out) as progress:
        _, res = run_analyze(video, output_dir, force=force, progress=progress, settings=settings)
    _emit(res, "analyze")



@app.command()
def models(
    clip_model: Annotated[str, typer.Option("--clip-model", help="open_clip architecture.")] = "ViT-B-32",
    clip_pretrained: Annotated[str, typer.Option("--clip-pretrained", help="open_clip pretrained tag.")] = "openai",
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Which models are installed (CLIP, TransNetV2, Silero VAD) and how to add CLIP weights offline."""
    _setup(json_out, debug)
    from .models.clip_emotion import describe_installed
    from .pipeline import StageResult

    _emit(StageResult(summary=describe_installed(clip_model, clip_pretrained)), "models")


def _plan_settings(tempo_range: str | None, min_cue_sec: float, beats_per_bar: int, subdivision: int = 2,
                   max_ramp_pct: float = 6.0, style: str | None = None, picture_start: str = "auto",
                   picture_end: str = "auto"):  # noqa: ANN202
    from .errors import InvalidSettings
    from .scoring import PlanSettings
    from .scoring.edits import STYLES

    if style and style not in STYLES:
        raise InvalidSettings(f"--style {style!r} is unknown; use one of {', '.join(STYLES)}")
    if tempo_range is None:  # the style's range, else 60-140
        lo, hi = STYLES[style]["tempo_range"] if style else (60.0, 140.0)
    else:
        try:
            lo, hi = (float(x) for x in tempo_range.split("-"))
        except ValueError as exc:
            raise InvalidSettings(f"--tempo-range {tempo_range!r} is not LOW-HIGH; use e.g. 60-140") from exc
    s = PlanSettings(bpm_min=lo, bpm_max=hi, min_cue_sec=min_cue_sec, beats_per_bar=beats_per_bar,
                     hit_subdivision=subdivision, max_ramp=max_ramp_pct / 100.0, style=style or "",
                     picture_start=_auto_none_or_timecode(picture_start), picture_end=_auto_none_or_timecode(picture_end))
    s.validate()
    return s


def _auto_none_or_timecode(value: str) -> str:
    return value.strip().lower() if value.strip().isalpha() else value.strip()


TempoOpt = Annotated[Optional[str], typer.Option("--tempo-range", help="Allowed tempo range in BPM, LOW-HIGH (default 60-140, or the --style's).")]
MinCueOpt = Annotated[float, typer.Option("--min-cue-sec", help="Shortest cue in seconds.")]
BpbOpt = Annotated[int, typer.Option("--beats-per-bar", help="Meter (beats per bar, quarter-note beats).")]
SubOpt = Annotated[int, typer.Option("--subdivision", help="Hits land on beats (1), 8ths (2), triplets (3) or 16ths (4).")]
RampOpt = Annotated[float, typer.Option("--max-ramp", help="Largest tempo ramp onto a hit, percent (0 = constant tempo per cue).")]
PictureStartOpt = Annotated[str, typer.Option("--picture-start", help="First frame of action, in the video's timecode (e.g. 01:00:00:00): no music and no hits before it. auto: after a leader (the video starts under 2 min before a whole hour and is black just before it: bars, countdown, 2-pop); none: frame 0.")]
PictureEndOpt = Annotated[str, typer.Option("--picture-end", help="Where the programme ends: the first frame after the last frame of action, in the video's timecode (e.g. 01:00:20:00): no music and no hits from there on. auto: before a tail (black, then a tail pop 2 s after the action, then e.g. a tail leader), or before at least 1 s of black that ends the video; none: the video's end.")]
EdlOpt = Annotated[bool, typer.Option("--edl", help="Also write <stem>.edl (CMX 3600 with locators).")]
OtioOpt = Annotated[bool, typer.Option("--otio", help="Also write <stem>.otio (OpenTimelineIO with markers).")]
FreshOpt = Annotated[bool, typer.Option("--fresh", help="Ignore the edits in an existing timeline.json.")]
ConformOpt = Annotated[Optional[Path], typer.Option(
    "--conform-from", metavar="TIMELINE",
    help="The timeline.json of an earlier version of this cut saved under another name (cut_v1.timeline.json "
         "for cut_v2.mp4): its edits (locked cues, moods, hits, picks) are carried over, each following its "
         "picture; those whose picture was cut are named. (A new version saved over the old file needs no "
         "option: its edits follow by themselves.)")]
MoodOpt = Annotated[Optional[list[str]], typer.Option("--mood", help="Set a cue's mood, e.g. --mood 'cue 3=tense' (repeatable).")]
PromptOpt = Annotated[Optional[list[str]], typer.Option("--prompt", help="Brief a cue in words, e.g. --prompt 'cue 2: C minor, 70 BPM, 3/4, solo cello, melancholic' "
                                         "(key, tempo, metre in quarter notes, instrument, mood; words not understood are "
                                         "named back; repeatable).")]
RefOpt = Annotated[Optional[Path], typer.Option("--reference", help="A reference track (temp love: wav, mp3, m4a, flac): the score follows its tempo, key, loudness and brightness where the picture allows; kept for later re-plans (--fresh drops it).")]
StyleOpt = Annotated[Optional[str], typer.Option("--style", help="Preset: thriller, drama, action or documentary (tempo range, mood and intensity).")]
VariantsOpt = Annotated[int, typer.Option("--variants", help="Also write N alternatives per cue with an audition WAV each (see `tempscore pick`).")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed of the composer (same seed, same notes).")]
ComposerOpt = Annotated[str, typer.Option("--composer", help="auto (trained generator if present), transformer, or rules.")]
Int8Opt = Annotated[bool, typer.Option("--int8", help="Use the int8-quantised generator (faster on CPU).")]
TempOpt = Annotated[float, typer.Option("--temperature", help="Sampling temperature of the generator (> 0).")]
TopPOpt = Annotated[float, typer.Option("--top-p", help="Nucleus sampling mass, 0..1 (1 = off).")]
TopKOpt = Annotated[int, typer.Option("--top-k", help="Sample among the k likeliest tokens (0 = off).")]


#: Most alternatives per cue (the spotting page offers as many).
MAX_VARIANTS = 8


def _sampling(temperature: float, top_p: float, top_k: int, *, seed: int = 0, variants: int = 0):  # noqa: ANN202
    """The composer's sampling settings; ``seed`` and ``variants`` are checked here too."""
    from .errors import InvalidSettings
    from .models.generator import SamplingSettings

    if not temperature > 0 or not 0 < top_p <= 1 or top_k < 0:
        raise InvalidSettings("sampling: --temperature must be > 0, --top-p in (0, 1], --top-k >= 0")
    if not 0 <= seed < 2**31:
        raise InvalidSettings(f"--seed {seed}: use a whole number from 0 to {2**31 - 1}")
    if not 0 <= variants <= MAX_VARIANTS:
        raise InvalidSettings(f"--variants {variants}: use 0 (none) to {MAX_VARIANTS} alternatives per cue")
    return SamplingSettings(temperature=temperature, top_p=top_p, top_k=top_k)
LufsOpt = Annotated[Optional[float], typer.Option("--lufs", help="Integrated loudness target of the music, LUFS (default: -23, EBU R128; with a --reference, the reference's level within -31..-14).")]
PeakOpt = Annotated[float, typer.Option("--true-peak", help="True-peak ceiling, dBTP (EBU R128: -1).")]
HoldOpt = Annotated[float, typer.Option("--loudness-hold", help="On a re-render, keep the previous music gain while the loudness stays within this many LU of the target (EBU R128 permits 0.5): unchanged stretches then come out as before and only the changed ones are encoded again. 0: normalise exactly every time.")]
StemsOpt = Annotated[bool, typer.Option("--stems", help="Also write one WAV per section: <stem>.stem-strings.wav, -brass, -woodwinds, -percussion, -keys.")]
TracksOpt = Annotated[str, typer.Option("--tracks", help="Audio tracks of the scored video: all (mix, score, production), separate (score, production), mixed (mix, production).")]
SoundfontOpt = Annotated[Optional[str], typer.Option("--soundfont", help="fluidr3, timgm6mb, musescore or a .sf2 path (default: $TEMPSCORE_SOUNDFONT, else FluidR3 when installed, else TimGM6mb).")]
DuckDepthOpt = Annotated[float, typer.Option("--duck-depth", help="How far the music goes down under dialogue, dB (0 = no ducking).")]
DuckAttackOpt = Annotated[float, typer.Option("--duck-attack", help="Seconds the music takes to go down before a line starts.")]
DuckReleaseOpt = Annotated[float, typer.Option("--duck-release", help="Seconds the music takes to come back after a line ends.")]
DuckRegionsOpt = Annotated[Optional[Path], typer.Option("--duck-regions", help="CSV of dialogue regions start_sec,end_sec (default: the analysis' speech regions, if any).")]
NoReverbOpt = Annotated[bool, typer.Option("--no-reverb", help="Dry render (no hall).")]


def _render_settings(lufs: float | None, true_peak: float, stems: bool, tracks: str, soundfont: str | None,
                     duck_depth: float, duck_attack: float, duck_release: float, no_reverb: bool,
                     loudness_hold: float = 0.5):  # noqa: ANN202
    from .render import RenderSettings

    s = RenderSettings(target_lufs=lufs, max_true_peak_dbtp=true_peak, stems=stems, mux_tracks=tracks,
                       soundfont=soundfont, duck_depth_db=duck_depth, duck_attack_sec=duck_attack,
                       duck_release_sec=duck_release, reverb=not no_reverb, loudness_hold_lu=loudness_hold)
    s.validate()
    return s


@app.command()
def plan(
    analysis: Annotated[Path, typer.Argument(help="<stem>.analysis.json from `tempscore analyze`.")],
    output_dir: OutOpt = None,
    tempo_range: TempoOpt = None,
    min_cue_sec: MinCueOpt = 5.0,
    beats_per_bar: BpbOpt = 4,
    subdivision: SubOpt = 2,
    max_ramp: RampOpt = 6.0,
    picture_start: PictureStartOpt = "auto",
    picture_end: PictureEndOpt = "auto",
    edl: EdlOpt = False,
    otio: OtioOpt = False,
    fresh: FreshOpt = False,
    conform_from: ConformOpt = None,
    mood: MoodOpt = None,
    prompt: PromptOpt = None,
    style: StyleOpt = None,
    reference: RefOpt = None,
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Plan cues, tempo map and hit points; writes <stem>.timeline.json, .sync.csv/.json, .timeline.png.

    Re-running it keeps your edits to an existing <stem>.timeline.json (locked cues, mood/key/tempo
    changes, added or deleted hit points) unless --fresh.
    """
    _setup(json_out, debug)
    from .pipeline import project_lock, run_plan

    settings = _plan_settings(tempo_range, min_cue_sec, beats_per_bar, subdivision, max_ramp, style, picture_start,
                              picture_end)
    analysis = _stage_input(analysis, ".analysis.json", output_dir, command="plan", before="analyze")
    with project_lock(analysis, output_dir):
        _, res = run_plan(analysis, output_dir, settings=settings, fresh=fresh, edl=edl, otio=otio,
                          moods=mood or [], prompts=prompt or [], reference=reference, conform_from=conform_from)
    _emit(res, "plan")


def _stage_input(path: Path, suffix: str, output_dir: Path | None, *, command: str, before: str) -> Path:
    """The stage file a command reads, as a user may name it: the file itself; a folder holding
    one ``*<suffix>`` (the ``-o`` of ``score``); or the video, whose ``<stem><suffix>`` is in
    ``-o`` or beside it. Anything else (another stage's file too) is returned as given: the stage
    says what is wrong with it."""
    from .errors import InvalidSettings
    from .pipeline import stem_of

    path = Path(path)
    if path.is_dir():
        found = sorted(path.glob(f"*{suffix}"))
        if len(found) == 1:
            return found[0]
        if found:
            raise InvalidSettings(f"{path} holds {len(found)} {suffix} files ({', '.join(p.name for p in found)}); "
                                  f"name one: tempscore {command} {found[0]}")
        raise InvalidSettings(f"{path} holds no <stem>{suffix}; run `tempscore {before}` first (or `tempscore score "
                              f"VIDEO -o {path}` for every stage)")
    if not path.is_file() or path.suffix.lower() in (".json", ".mid", ".midi", ".wav", ".csv"):
        return path  # a stage's file (a wrong one is named by the stage), or nothing there
    for folder in ([output_dir] if output_dir is not None else []) + [path.parent]:
        candidate = Path(folder) / f"{stem_of(path)}{suffix}"
        if candidate.is_file():
            log.info("%s: reading %s", path.name, candidate)
            return candidate
    return path


@app.command()
def compose(
    timeline: Annotated[Path, typer.Argument(help="<stem>.timeline.json from `tempscore plan` (may be edited).")],
    output_dir: OutOpt = None,
    seed: SeedOpt = 0,
    composer: ComposerOpt = "auto",
    int8: Int8Opt = False,
    temperature: TempOpt = 0.9,
    top_p: TopPOpt = 0.95,
    top_k: TopKOpt = 0,
    variants: VariantsOpt = 0,
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Write the notes for every cue; writes <stem>.score.mid (and <stem>.variants/ with --variants)."""
    _setup(json_out, debug)
    from .console import stage_progress
    from .pipeline import project_lock, run_compose

    timeline = _stage_input(timeline, ".timeline.json", output_dir, command="compose", before="plan")
    with project_lock(timeline, output_dir), stage_progress("composing", quiet=json_out) as progress:
        res = run_compose(timeline, output_dir, seed=seed, composer=composer, quantized=int8,
                          sampling=_sampling(temperature, top_p, top_k, seed=seed, variants=variants),
                          variants=variants, progress=progress)
    _emit(res, "compose")


@app.command()
def pick(
    args: Annotated[list[str], typer.Argument(metavar="TIMELINE CUE VARIANT | CUE VARIANT [TIMELINE]",
                                         help="<stem>.timeline.json (may come last, or be left out when it is "
                                              "the only one in this folder or in -o), the cue id (2M1) or number "
                                              "(2), and the variant number from --variants (1..N).")],
    output_dir: ProjectDirOpt = None,
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Keep one variant of a cue (it sticks across re-runs); then compose and render again."""
    _setup(json_out, debug)
    from .pipeline import run_pick

    timeline, cue, variant = _timeline_cue_number(args, command="pick", what="variant", folder=output_dir)
    _emit(run_pick(timeline, cue, variant), "pick")


@app.command()
def rate(
    args: Annotated[list[str], typer.Argument(metavar="TIMELINE CUE STARS | CUE STARS [TIMELINE]",
                                         help="<stem>.timeline.json (may come last, or be left out when it is "
                                              "the only one in this folder or in -o), the cue id (2M1) or number "
                                              "(2), and 1..5 stars: 4-5 keeps the take, 1-2 asks for a new one; all "
                                              "ratings steer the other cues.")],
    output_dir: ProjectDirOpt = None,
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Rate a cue; ratings are kept in <stem>.ratings.json and bias later generation toward what you liked."""
    _setup(json_out, debug)
    from .pipeline import run_rate

    timeline, cue, stars = _timeline_cue_number(args, command="rate", what="stars", folder=output_dir)
    _emit(run_rate(timeline, cue, stars), "rate")


def _timeline_cue_number(args: list[str], *, command: str, what: str,
                         folder: Path | None = None) -> tuple[Path, str, int]:
    """``TIMELINE CUE N`` or ``CUE N [TIMELINE]`` (the timeline: the only ``*.timeline.json`` in
    ``folder`` (``-o``) or the working folder when left out; a folder given as TIMELINE: the only
    one in it) -> (timeline, cue, N)."""
    from .errors import InvalidSettings

    usage = f"{command} CUE {what.upper()}"
    if not 2 <= len(args) <= 3:
        raise InvalidSettings(f"give the cue and the {what} (and the timeline): tempscore {usage} <stem>.timeline.json")
    first, second, third = (*args, None) if len(args) == 2 else args

    def is_timeline(arg: str) -> bool:
        return arg.lower().endswith(".json") or Path(arg).is_file() or Path(arg).is_dir()

    def only_one_in(where: Path) -> Path:
        found = sorted(where.glob("*.timeline.json"))
        if len(found) != 1:
            listed = (f"found {', '.join(p.name for p in found)}" if found else
                      "none in this folder" if where == Path.cwd() else f"none in {where}")
            raise InvalidSettings(f"which timeline? give it: tempscore {usage} <stem>.timeline.json ({listed})")
        return found[0]

    if folder is not None and not folder.is_dir():
        raise InvalidSettings(f"-o {folder}: no such folder; give the folder `tempscore score` wrote to")
    if third is None:
        if is_timeline(first):
            raise InvalidSettings(f"give the cue and the {what}: tempscore {command} {first} CUE {what.upper()}")
        timeline, cue, number = only_one_in(folder if folder is not None else Path.cwd()), first, second
    elif is_timeline(first):
        timeline, cue, number = Path(first), second, third
    else:
        timeline, cue, number = Path(third), first, second
    if timeline.is_dir():
        timeline = only_one_in(timeline)
    try:
        return timeline, cue, int(number)
    except ValueError:
        example = 4 if command == "rate" else 2
        raise InvalidSettings(f"{what} {number!r} is not a whole number; e.g. tempscore {command} {timeline.name} "
                              f"{cue} {example}") from None


@app.command()
def render(
    midi: Annotated[Path, typer.Argument(help="<stem>.score.mid from `tempscore compose` (may be edited in a DAW).")],
    output_dir: OutOpt = None,
    timeline: Annotated[Optional[Path], typer.Option("--timeline", help="Timeline file (default: <stem>.timeline.json beside the MIDI).")] = None,
    video: Annotated[Optional[Path], typer.Option("--video", help="The picture (default: the path recorded in the timeline; without it only the audio is written).")] = None,
    lufs: LufsOpt = None,
    true_peak: PeakOpt = -1.0,
    loudness_hold: HoldOpt = 0.5,
    stems: StemsOpt = False,
    tracks: TracksOpt = "all",
    soundfont: SoundfontOpt = None,
    duck_depth: DuckDepthOpt = 10.0,
    duck_attack: DuckAttackOpt = 0.3,
    duck_release: DuckReleaseOpt = 0.8,
    duck_regions: DuckRegionsOpt = None,
    no_reverb: NoReverbOpt = False,
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Synthesise, mix and mux; writes <stem>.score.wav (+ stems) and, with the video, <stem>.scored.<ext>."""
    _setup(json_out, debug)
    from .console import stage_progress
    from .pipeline import project_lock, run_render

    settings = _render_settings(lufs, true_peak, stems, tracks, soundfont, duck_depth, duck_attack, duck_release,
                                no_reverb, loudness_hold=loudness_hold)
    midi = _stage_input(midi, ".score.mid", output_dir, command="render", before="compose")
    with project_lock(midi, output_dir), stage_progress("rendering", quiet=json_out) as progress:
        res = run_render(midi, output_dir, timeline_path=timeline, video=video, settings=settings,
                         duck_regions=duck_regions, progress=progress)
    _emit(res, "render")


@app.command()
def score(
    video: Annotated[Path, typer.Argument(help="The rough cut (mp4, mov, mkv).")],
    output_dir: OutOpt = None,
    tempo_range: TempoOpt = None,
    min_cue_sec: MinCueOpt = 5.0,
    beats_per_bar: BpbOpt = 4,
    subdivision: SubOpt = 2,
    max_ramp: RampOpt = 6.0,
    picture_start: PictureStartOpt = "auto",
    picture_end: PictureEndOpt = "auto",
    seed: SeedOpt = 0,
    composer: ComposerOpt = "auto",
    int8: Int8Opt = False,
    temperature: TempOpt = 0.9,
    top_p: TopPOpt = 0.95,
    top_k: TopKOpt = 0,
    lufs: LufsOpt = None,
    true_peak: PeakOpt = -1.0,
    loudness_hold: HoldOpt = 0.5,
    stems: StemsOpt = False,
    tracks: TracksOpt = "all",
    soundfont: SoundfontOpt = None,
    duck_depth: DuckDepthOpt = 10.0,
    duck_regions: DuckRegionsOpt = None,
    edl: EdlOpt = False,
    otio: OtioOpt = False,
    fresh: FreshOpt = False,
    conform_from: ConformOpt = None,
    mood: MoodOpt = None,
    prompt: PromptOpt = None,
    style: StyleOpt = None,
    reference: RefOpt = None,
    variants: VariantsOpt = 0,
    force: Annotated[bool, typer.Option("--force", help="Re-analyse even if a matching analysis exists.")] = False,
    watch: Annotated[bool, typer.Option(
        "--watch", help="After the run, keep watching <stem>.timeline.json and <stem>.ratings.json and score again "
                        "on every save, with the model and soundfont kept loaded (only changed cues are recomposed "
                        "and re-rendered). --mood/--prompt/--reference/--variants apply to the first run "
                        "only (they are in the timeline by then). Ctrl+C stops.")] = False,
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Run every stage: analyze, plan, compose, render (writes all the files beside the video or into -o)."""
    _setup(json_out, debug)
    import time

    from .console import frame_progress, spinner, stage_progress
    from .pipeline import (StageResult, Warm, draw_timeline_png, project_lock, run_analyze, run_compose, run_plan,
                           run_render, timeline_png_path)

    settings = _plan_settings(tempo_range, min_cue_sec, beats_per_bar, subdivision, max_ramp, style, picture_start,
                              picture_end)
    from .scoring.edits import check_overrides

    check_overrides(mood or [], prompt or [])  # a typo fails before the analysis
    sampling = _sampling(temperature, top_p, top_k, seed=seed, variants=variants)
    rsettings = _render_settings(lufs, true_peak, stems, tracks, soundfont, duck_depth, 0.3, 0.8, False,
                                 loudness_hold=loudness_hold)
    if duck_regions is not None:  # a bad CSV fails now, before anything is written
        from .pipeline import read_duck_regions

        read_duck_regions(duck_regions)
    if reference is not None and not Path(reference).is_file():  # likewise a missing reference
        from .errors import InvalidSettings

        raise InvalidSettings(f"--reference {reference}: file not found")
    if conform_from is not None:  # and a bad earlier timeline
        from .pipeline import check_conform_from

        check_conform_from(conform_from, fresh=fresh)
    warm = Warm() if watch else None

    def run_once(first: bool, mark=None) -> tuple[StageResult, Callable[[], object]]:  # noqa: ANN001
        """One run, and the drawing of its timeline picture when watching (then left to the caller,
        to do once the new score is out; the first run draws it in the plan stage)."""
        quiet = json_out or not first
        timings: dict[str, float] = {}
        with project_lock(video, output_dir):
            return _stages(first, mark, quiet, timings)

    def _stages(first: bool, mark, quiet: bool, timings: dict[str, float]) -> tuple[StageResult, Callable[[], object]]:  # noqa: ANN001
        t = time.perf_counter()
        with frame_progress("analysing picture", quiet=quiet) as progress:
            analyze = warm.analyze if warm is not None else run_analyze
            analysis, a = analyze(video, output_dir, force=force and first, progress=progress)
        timings["analyze"] = time.perf_counter() - t
        t = time.perf_counter()
        with spinner("planning cues and tempo map", quiet=quiet):
            timeline, p = run_plan(Path(a.outputs["analysis"]), output_dir, settings=settings, fresh=fresh and first,
                                   edl=edl, otio=otio, moods=(mood or []) if first else [],
                                   prompts=(prompt or []) if first else [], reference=reference if first else None,
                                   picture=False, conform_from=conform_from if first else None)
        timings["plan"] = time.perf_counter() - t
        tl_path = Path(p.outputs["timeline"])
        # the first run draws the timeline picture beside compose and render (a second CPU; ~0.1 s
        # of imports and drawing off the critical path); watching, it is drawn after the result is out
        drawing = _Background(draw_timeline_png, analysis, timeline, tl_path) if first else None
        try:
            return _compose_render(first, mark, quiet, timings, a, p, analysis, timeline, drawing)
        finally:
            if drawing is not None:
                drawing.join(raise_error=False)

    def _compose_render(first: bool, mark, quiet: bool, timings: dict[str, float], a, p, analysis, timeline,  # noqa: ANN001
                        drawing) -> tuple[StageResult, Callable[[], object]]:  # noqa: ANN001
        tl_path = Path(p.outputs["timeline"])
        t = time.perf_counter()
        with stage_progress("composing", quiet=quiet) as progress:
            c = run_compose(Path(p.outputs["timeline"]), output_dir, seed=seed, composer=composer, quantized=int8,
                            sampling=sampling, variants=variants if first else 0,
                            generator=warm.generator_for(composer, int8) if warm else None, progress=progress)
        timings["compose"] = time.perf_counter() - t
        if mark is not None:  # the last of our writes to the timeline: a save after this is the user's
            mark()
        t = time.perf_counter()
        with stage_progress("rendering", quiet=quiet) as progress:
            r = run_render(Path(c.outputs["midi"]), output_dir, settings=rsettings, duck_regions=duck_regions,
                           fonts=warm.fonts if warm else None, progress=progress)
        timings["render"] = time.perf_counter() - t
        outputs = {**a.outputs, **p.outputs, **c.outputs, **r.outputs}
        if drawing is not None:
            drawing.join()
        outputs["timeline_png"] = str(timeline_png_path(tl_path))
        res = StageResult(outputs=outputs, summary={
            "analyze": a.summary, "plan": p.summary, "compose": c.summary, "render": r.summary,
            "timings_sec": {k: round(v, 3) for k, v in timings.items()}})
        return res, lambda: draw_timeline_png(analysis, timeline, tl_path)

    res, _ = run_once(True)
    _emit(res, "score")
    if watch:
        _watch(res, lambda mark: run_once(False, mark), json_out=json_out, picture=video)


class _Background:
    """``fn(*args)`` on a thread from now; :meth:`join` waits and re-raises its error."""

    def __init__(self, fn: Callable[..., object], *args: object) -> None:
        import threading

        self._error: BaseException | None = None

        def run() -> None:
            try:
                fn(*args)
            except BaseException as exc:  # noqa: BLE001 - handed to join()
                self._error = exc

        self._thread = threading.Thread(target=run, name=getattr(fn, "__name__", "background"))
        self._thread.start()

    def join(self, *, raise_error: bool = True) -> None:
        self._thread.join()
        if raise_error and self._error is not None:
            err, self._error = self._error, None
            raise err


#: ``score --watch``: a new export of the picture is scored once its file has not changed for this
#: long (an editing application writes a long export in pieces).
PICTURE_SETTLE_SEC = 2.0


def _watch(first, rerun, *, json_out: bool, picture: Path | None = None) -> None:  # noqa: ANN001
    """``score --watch``: poll the timeline and ratings files; score again when their content changes,
    and when the picture file is replaced by a new export (a recut: the edits are conformed), once
    it has been left alone for :data:`PICTURE_SETTLE_SEC`.

    A save that does not parse is reported in one line and the watch goes on (the next save is
    tried again); Ctrl+C while waiting ends with status 0, during a run it interrupts as usual.
    """
    import json
    import time

    from .console import err_console
    from .pipeline import watch_files

    timeline = Path(first.outputs["timeline"])
    files = watch_files(timeline)
    con = err_console()

    def state() -> tuple:
        out = []
        for f in files:
            try:
                out.append(f.read_bytes())
            except OSError:
                out.append(None)
        return tuple(out)

    def stamp() -> tuple:
        out = []
        for f in files:
            try:
                st = f.stat()
                out.append((st.st_mtime_ns, st.st_size))
            except OSError:
                out.append(None)
        return tuple(out)

    def picture_stamp() -> tuple | None:
        try:
            st = picture.stat() if picture is not None else None
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size) if st is not None else None

    seen_stamp, seen = stamp(), state()
    seen_picture, pending = picture_stamp(), None  # pending: (stamp, since) of a picture being written
    con.print(f"watching {', '.join(f.name for f in files)}"
              f"{' and ' + picture.name if picture is not None else ''} in {timeline.parent} "
              "(save to score again; Ctrl+C stops)")
    runs = 0
    while True:
        try:
            time.sleep(0.1)
            recut = False
            pic = picture_stamp()
            if pic != seen_picture and pic is not None:
                if pending is None or pending[0] != pic:
                    if pending is None:
                        con.print(f"{picture.name} changed: scoring the new version once it is written")
                    pending = (pic, time.monotonic())
                elif time.monotonic() - pending[1] >= PICTURE_SETTLE_SEC:
                    recut = True
            now = stamp()
            if not recut:
                if now == seen_stamp:
                    continue
                time.sleep(0.05)  # let the editor finish writing
                if stamp() != now:
                    continue
                seen_stamp = now
                content = state()
                if content == seen:  # touched, or our own write
                    continue
            else:
                seen_picture, pending = pic, None
                seen_stamp, content = now, state()
        except KeyboardInterrupt:
            con.print("stopped watching")
            return
        t = time.perf_counter()
        own: list[tuple] = []
        try:
            res, draw_picture = rerun(lambda: own.append((stamp(), state())))
        except ConcurrentEdit:  # a save came in while this run was rewriting the timeline: it runs next
            con.print("a newer save came in during the run; scoring that one")
            seen_stamp, seen = now, content
            continue
        except TempscoreError as exc:
            sys.stderr.write(f"tempscore: error: {exc} (still watching: fix it and save again)\n")
            sys.stderr.flush()
            # what was tried (or, past compose, our own last write): a newer save, even one just made, runs
            seen_stamp, seen = own[-1] if own else (now, content)
            continue
        runs += 1
        sec = time.perf_counter() - t
        # the plan (and compose) rewrite the timeline: that is not a change of the user's, but a save
        # made after our last write (during the render) still differs from it and runs next
        seen_stamp, seen = own[-1] if own else (stamp(), state())
        if json_out:
            print(json.dumps({"ok": True, "command": "score", "watch_run": runs, "wall_sec": round(sec, 3),
                              "outputs": res.outputs, **res.summary}, default=str), flush=True)
        else:
            rep = res.summary["compose"].get("cue_report", {})
            redone = [k for k, v in rep.items() if not v.get("cached", False)]
            synth = res.summary["render"].get("synth_cache", {})
            con.print(f"scored again in {sec:.2f} s: {len(redone)} cue(s) recomposed"
                      f"{' (' + ', '.join(redone) + ')' if redone else ''}, "
                      f"{synth.get('segments_rendered', 0)} segment(s) synthesised, "
                      f"{synth.get('segments_reused', 0)} reused -> {res.outputs.get('video') or res.outputs.get('wav')}")
        try:  # the timeline picture last: the new score is out first
            draw_picture()
        except TempscoreError as exc:
            sys.stderr.write(f"tempscore: error: timeline picture not written: {exc}\n")


@app.command()
def ui(
    port: Annotated[int, typer.Option("--port", help="Port to serve the page on (0 = any free port).")] = 8765,
    host: Annotated[str, typer.Option("--host", help="Address to listen on; anything but localhost exposes your jobs to the network.")] = "127.0.0.1",
    workdir: Annotated[Optional[Path], typer.Option("--workdir", help="Where jobs and their outputs are kept (default: ~/.local/share/tempscore/ui).")] = None,
    max_upload_mb: Annotated[int, typer.Option("--max-upload-mb", help="Largest video accepted, in MB.")] = 16384,
    open_browser: Annotated[bool, typer.Option("--open", help="Also open the page in the default browser.")] = False,
    debug: DebugOpt = False,
) -> None:
    """The spotting page: drop a rough cut in the browser, see and hear the score, steer it (local server)."""
    _setup(False, debug)
    from .errors import InvalidSettings
    from .ui.server import is_loopback, serve

    if max_upload_mb < 1:
        raise InvalidSettings(f"--max-upload-mb {max_upload_mb} must be at least 1")

    def ready(url: str, where: Path) -> None:
        typer.echo(f"tempscore ui: open {url}  (jobs in {where}; Ctrl+C stops)")
        if not is_loopback(host):
            typer.echo(f"tempscore: warning: --host {host} lets anyone who can reach this machine upload and "
                       f"see your jobs", err=True)
        if open_browser:
            import webbrowser

            webbrowser.open(url)

    serve(host=host, port=port, workdir=workdir, max_upload_bytes=max_upload_mb * 1024 * 1024, on_ready=ready,
          debug=debug)
    typer.echo("tempscore ui: stopped (queued jobs run again at the next start)")


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def _click_exception_types() -> tuple[tuple[type, ...], tuple[type, ...], tuple[type, ...]]:
    """(Exit, ClickException, Abort) types of plain click and of the click that typer vendors."""
    import click

    mods = [click.exceptions]
    try:
        from typer._click import exceptions as vendored  # typer >= 0.2x ships its own click

        mods.append(vendored)
    except ImportError:
        pass
    pick = lambda name: tuple(t for m in mods if (t := getattr(m, name, None)) is not None)  # noqa: E731
    return (pick("Exit") + (typer.Exit,), pick("ClickException"), pick("Abort"))


def config_paths() -> list:  # noqa: ANN201 - list[Path]
    """Configuration files, lowest priority first: user defaults, then the project's ``tempscore.toml``
    (current directory), then ``$TEMPSCORE_CONFIG``."""
    import os

    xdg = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    paths = [xdg / "tempscore" / "config.toml", Path.cwd() / "tempscore.toml"]
    if os.environ.get("TEMPSCORE_CONFIG"):
        paths.append(Path(os.environ["TEMPSCORE_CONFIG"]))
    return paths


def load_default_map(cmd, sources: dict | None = None) -> dict:  # noqa: ANN001
    """Option defaults per command from the TOML config files (``[score]``, ``[plan]``, ... and
    ``[defaults]`` for every command that has the option). Unknown keys are errors. ``sources``
    (optional) receives, per command and option, where its value was set (``path: [table] key``)."""
    import os
    import tomllib

    from .errors import InvalidSettings

    params = {name: {p.name: p for p in sub.params} for name, sub in cmd.commands.items()}
    out: dict[str, dict] = {}
    for path in config_paths():
        if not path.is_file():
            continue
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8-sig"))  # Windows editors may write a BOM
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InvalidSettings(f"{path}: not valid TOML ({exc}); fix or remove it") from exc
        for section, values in data.items():
            if not isinstance(values, dict):  # a key above every table
                raise InvalidSettings(f"{path}: {section} = {values!r} is outside a table; put it under [defaults] "
                                      f"(every command) or a command's table such as [score]")
            if section != "defaults" and section not in params:
                raise InvalidSettings(f"{path}: [{section}] is not a command; use [defaults] or one of "
                                      f"{', '.join(sorted(params))}")
            targets = list(params) if section == "defaults" else [section]
            for key, value in values.items():
                name = key.replace("-", "_")
                hit = [t for t in targets if name in params[t]]
                if not hit:
                    raise InvalidSettings(f"{path}: [{section}] {key} is not an option of that command; "
                                          f"see `tempscore {targets[0]} --help`")
                if isinstance(value, str) and value.startswith("~"):  # a path: no shell expands it in TOML
                    value = os.path.expanduser(value)
                for t in hit:
                    out.setdefault(t, {})[name] = _config_value(params[t][name], value, where=f"{path}: [{section}] {key}")
                    if sources is not None:
                        sources.setdefault(t, {})[name] = (f"{path} [{section}] {key}", value)
    return out


def _blame_config(message: str, cmd, args: list[str], sources: dict) -> str:  # noqa: ANN001 - a click group
    """``message`` (a user error) with the config file and key that set the value it is about, when
    that value came from a config file rather than the command line: the error names the option
    (``--lufs -80 is outside ...``) as if it had been typed, which a user who never typed it looks
    for in vain. Matched by the option's flag, its name in words or its value in the message."""
    name = next((a for a in args if not a.startswith("-")), None)
    sub = cmd.commands.get(name) if name and cmd is not None else None
    if sub is None or name not in sources:
        return message
    typed = {a.split("=", 1)[0] for a in args if a.startswith("-")}
    low = message.lower()
    blamed = []
    for p in sub.params:
        if p.name not in sources[name] or typed & set(getattr(p, "opts", [])):
            continue
        where, value = sources[name][p.name]
        values = value if isinstance(value, list) else [value]
        if (any(o in message for o in getattr(p, "opts", []) if o.startswith("--"))
                or p.name.replace("_", " ") in low
                or any(isinstance(v, str) and len(v) > 2 and (v in message or v.split("=")[0].split(":")[0].strip() in message)
                       for v in values)):
            blamed.append(where)
    return f"{message} (set in {blamed[0]})" if len(blamed) == 1 else message


def _config_value(param, value: object, *, where: str) -> object:  # noqa: ANN001 - a click parameter
    """A config file's value for ``param``, checked as the command line would check it: a single
    string is one entry of a repeatable option (``mood = "cue 1=tense"``), a list is several; a
    wrong type is an error naming the file and the key, not an error about a flag never typed."""
    from .errors import InvalidSettings

    items = value if isinstance(value, list) else [value]
    if not getattr(param, "multiple", False) and isinstance(value, list):
        raise InvalidSettings(f"{where}: takes one value, not a list")
    if getattr(param, "is_flag", False) and not isinstance(value, bool):
        raise InvalidSettings(f"{where} = {value!r}: use true or false")
    textual = param.type.name in ("str", "text", "path")
    if not getattr(param, "is_flag", False) and any(isinstance(v, (bool, dict, list)) or (textual and not isinstance(v, str))
                                                    for v in items):
        kind = {"int": "whole number", "float": "number", "str": "text", "path": "path"}.get(param.type.name, param.type.name)
        raise InvalidSettings(f"{where} = {value!r}: give " + (f"a list of {kind}s" if getattr(param, "multiple", False)
                                                                 else f"a {kind}"))
    if param.type.name in ("int", "integer") and any(isinstance(v, float) and not v.is_integer() for v in items):
        raise InvalidSettings(f"{where} = {value!r}: give a whole number")
    try:
        converted = [param.type.convert(v, param, None) for v in items]
    except Exception as exc:  # noqa: BLE001 - click.BadParameter (its class comes with typer's click)
        raise InvalidSettings(f"{where} = {value!r}: {getattr(exc, 'message', exc)}") from None
    return converted if getattr(param, "multiple", False) else converted[0]


def _stop_on_sigterm() -> None:
    """``kill`` (SIGTERM) stops a run the way Ctrl+C does: temporary files removed, nothing half-written."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        def stop(signum, frame) -> None:  # noqa: ANN001, ARG001
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit status."""
    code = _main(argv)
    if argv is None:  # the process's own run: its status is decided, so a Ctrl+C while the interpreter
        import signal  # tears down (freeing a film's audio, joining threads) no longer kills it with SIGINT
        import threading

        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    return code


def _main(argv: list[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    _stop_on_sigterm()
    exit_types, click_errors, abort_types = _click_exception_types()
    cmd = None
    sources: dict = {}  # command -> option -> (where a config file set it, the value)
    try:
        cmd = typer.main.get_command(app)
        try:
            default_map = load_default_map(cmd, sources)
        except TempscoreError:
            if "--help" not in args and args:
                raise
            default_map = {}  # help is shown whatever a config file says
        rv = cmd.main(args=args, prog_name="tempscore", standalone_mode=False, default_map=default_map)
        if isinstance(rv, int) and not isinstance(rv, bool) and rv:
            # outside standalone mode typer returns an Exit's code instead of raising it, and turns
            # Ctrl+C into Exit(130) after every `with` block has unwound: a status, never a silent 0
            if rv == 130:
                sys.stderr.write("interrupted\n")
            return rv
        return 0
    except exit_types as exc:
        return int(exc.exit_code)
    except click_errors as exc:
        exc.show()
        return 2
    except abort_types:
        sys.stderr.write("aborted\n")
        return 130
    except TempscoreError as exc:
        if debug:
            traceback.print_exc()
        sys.stderr.write(f"tempscore: error: {_blame_config(str(exc), cmd, args, sources)}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        if debug:
            traceback.print_exc()
        sys.stderr.write(f"tempscore: internal error: {exc.__class__.__name__}: {exc} (re-run with --debug for the traceback)\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
