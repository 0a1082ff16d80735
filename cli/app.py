"""The commands: each parses its options, calls the library API (:mod:`tempscore.api`) and shows the
result. No logic of its own."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from .. import __version__
from .options import (
    AllowDownloadOpt,
    BatchForceOpt,
    BatchOutOpt,
    BpbOpt,
    ClickOpt,
    ClipCheckpointOpt,
    ClipModelOpt,
    ClipOpt,
    ClipPretrainedOpt,
    ComposerOpt,
    ConformOpt,
    CueComposerOpt,
    CuePublisherOpt,
    CuesheetOpt,
    DebugOpt,
    DeviceOpt,
    DuckAttackOpt,
    DuckDepthOpt,
    DuckRegionsOpt,
    DuckReleaseOpt,
    EdlOpt,
    ForceOpt,
    FreshOpt,
    HoldOpt,
    Int8Opt,
    JsonOpt,
    LufsOpt,
    MarkersOpt,
    MinCueOpt,
    MoodOpt,
    NoDialogueOpt,
    NoReverbOpt,
    NotationOpt,
    OtioOpt,
    OutOpt,
    PeakOpt,
    PictureEndOpt,
    PictureStartOpt,
    ProjectDirOpt,
    PromptOpt,
    RampOpt,
    RayOpt,
    RefOpt,
    SeedOpt,
    SessionsOpt,
    ShotDetectorOpt,
    SoundfontOpt,
    StemsOpt,
    StreamersOpt,
    StyleOpt,
    SubOpt,
    TempoOpt,
    TempOpt,
    TopKOpt,
    TopPOpt,
    TracksOpt,
    VariantsOpt,
    VerboseOpt,
    WatchOpt,
    WorkersOpt,
)
from .report import print_result, progress_display

if TYPE_CHECKING:
    from ..api.results import StageResult

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Turn a video rough cut into a temp score: shots, cues, a tempo map on the cuts, music, mux.")
log = logging.getLogger("tempscore.cli")


def _setup(debug: bool) -> None:
    from .report import LazyRichHandler

    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(message)s",
                        handlers=[LazyRichHandler()], force=True)


def _show(result: StageResult, title: str, *, json_out: bool, verbose: bool = False) -> None:
    print_result(result, title=title, as_json=json_out, verbose=verbose)


def _options(values: dict[str, Any]) -> Any:
    """The :class:`~tempscore.api.Options` of a command's arguments (those that are options)."""
    import dataclasses

    from ..api.options import Options

    names = {f.name for f in dataclasses.fields(Options)}
    given = {k: (str(v) if isinstance(v, Path) else v) for k, v in values.items() if k in names}
    for k in ("mood", "prompt"):
        if k in given:
            given[k] = list(given[k] or [])
    return Options(**given)


@app.command()
def analyze(video: Annotated[Path, typer.Argument(help="The rough cut (mp4, mov, mkv).")], output_dir: OutOpt = None,
            force: ForceOpt = False, clip: ClipOpt = "auto", clip_model: ClipModelOpt = "ViT-B-32",
            clip_pretrained: ClipPretrainedOpt = "openai", clip_checkpoint: ClipCheckpointOpt = None,
            allow_download: AllowDownloadOpt = False, no_dialogue: NoDialogueOpt = False,
            shot_detector: ShotDetectorOpt = "auto", device: DeviceOpt = "auto", json_out: JsonOpt = False,
            verbose: VerboseOpt = False, debug: DebugOpt = False) -> None:
    """Find shots, accents, dialogue and read emotion; writes <stem>.analysis.json."""
    _setup(debug)
    from ..api import analyze as run

    opts = _options({**locals(), "dialogue": not no_dialogue})
    with progress_display(quiet=json_out) as progress:
        res = run(video, output_dir, settings=opts.analyze_settings(), force=force, progress=progress)
    _show(res, "analyze", json_out=json_out, verbose=verbose)


@app.command()
def models(clip_model: ClipModelOpt = "ViT-B-32", clip_pretrained: ClipPretrainedOpt = "openai",
           json_out: JsonOpt = False, debug: DebugOpt = False) -> None:
    """Which models are installed (CLIP, TransNetV2, Silero VAD) and how to add CLIP weights offline."""
    _setup(debug)
    from ..api.results import StageResult
    from ..vision.clip_emotion import describe_installed

    _show(StageResult(summary=describe_installed(clip_model, clip_pretrained)), "models", json_out=json_out)


@app.command()
def plan(analysis: Annotated[Path, typer.Argument(help="<stem>.analysis.json from `tempscore analyze`.")],
         output_dir: OutOpt = None, tempo_range: TempoOpt = None, min_cue_sec: MinCueOpt = 5.0,
         beats_per_bar: BpbOpt = 4, subdivision: SubOpt = 2, max_ramp: RampOpt = 6.0,
         picture_start: PictureStartOpt = "auto", picture_end: PictureEndOpt = "auto", edl: EdlOpt = False,
         otio: OtioOpt = False, fresh: FreshOpt = False, conform_from: ConformOpt = None, mood: MoodOpt = None,
         prompt: PromptOpt = None, style: StyleOpt = None, reference: RefOpt = None, markers: MarkersOpt = None,
         json_out: JsonOpt = False, verbose: VerboseOpt = False, debug: DebugOpt = False) -> None:
    """Plan cues, tempo map and hit points; writes <stem>.timeline.json, .sync.csv/.json, .timeline.png.

    Re-running it keeps your edits to an existing <stem>.timeline.json (locked cues, mood/key/tempo
    changes, added or deleted hit points) unless --fresh.
    """
    _setup(debug)
    from ..api import plan as run
    from .inputs import stage_input

    opts = _options(locals())
    settings = opts.plan_settings()
    analysis = stage_input(analysis, ".analysis.json", output_dir, command="plan", before="analyze")
    with progress_display(quiet=json_out) as progress:
        if progress is not None:
            progress("plan", "start", 0, 0)
        res = run(analysis, output_dir, settings=settings, fresh=fresh, edl=edl, otio=otio, moods=opts.mood,
                  prompts=opts.prompt, reference=reference, conform_from=conform_from, markers=markers)
    _show(res, "plan", json_out=json_out, verbose=verbose)


@app.command()
def compose(timeline: Annotated[Path, typer.Argument(help="<stem>.timeline.json from `tempscore plan` (may be edited).")],
            output_dir: OutOpt = None, seed: SeedOpt = 0, composer: ComposerOpt = "auto", int8: Int8Opt = False,
            temperature: TempOpt = 0.9, top_p: TopPOpt = 0.95, top_k: TopKOpt = 0, variants: VariantsOpt = 0,
            click: ClickOpt = False, json_out: JsonOpt = False, verbose: VerboseOpt = False,
            debug: DebugOpt = False) -> None:
    """Write the notes for every cue; writes <stem>.score.mid (and <stem>.variants/ with --variants)."""
    _setup(debug)
    from ..api import compose as run
    from .inputs import stage_input

    sampling = _options(locals()).sampling()
    timeline = stage_input(timeline, ".timeline.json", output_dir, command="compose", before="plan")
    with progress_display(quiet=json_out) as progress:
        res = run(timeline, output_dir, seed=seed, composer=composer, quantized=int8, sampling=sampling,
                  variants=variants, progress=progress, click=click)
    _show(res, "compose", json_out=json_out, verbose=verbose)


@app.command()
def pick(args: Annotated[list[str], typer.Argument(
             metavar="TIMELINE CUE VARIANT | CUE VARIANT [TIMELINE]",
             help="<stem>.timeline.json (may come last, or be left out when it is the only one in this folder or "
                  "in -o), the cue id (2M1) or number (2), and the variant number from --variants (1..N).")],
         output_dir: ProjectDirOpt = None, json_out: JsonOpt = False, debug: DebugOpt = False) -> None:
    """Keep one variant of a cue (it sticks across re-runs); then compose and render again."""
    _setup(debug)
    from ..api import pick as run
    from .inputs import timeline_cue_number

    timeline, cue, variant = timeline_cue_number(args, command="pick", what="variant", folder=output_dir)
    _show(run(timeline, cue, variant), "pick", json_out=json_out)


@app.command()
def rate(args: Annotated[list[str], typer.Argument(
             metavar="TIMELINE CUE STARS | CUE STARS [TIMELINE]",
             help="<stem>.timeline.json (may come last, or be left out when it is the only one in this folder or "
                  "in -o), the cue id (2M1) or number (2), and 1..5 stars: 4-5 keeps the take, 1-2 asks for a new "
                  "one; all ratings steer the other cues.")],
         output_dir: ProjectDirOpt = None, json_out: JsonOpt = False, debug: DebugOpt = False) -> None:
    """Rate a cue; ratings are kept in <stem>.ratings.json and bias later generation toward what you liked."""
    _setup(debug)
    from ..api import rate as run
    from .inputs import timeline_cue_number

    timeline, cue, stars = timeline_cue_number(args, command="rate", what="stars", folder=output_dir)
    _show(run(timeline, cue, stars), "rate", json_out=json_out)


@app.command()
def render(midi: Annotated[Path, typer.Argument(help="<stem>.score.mid from `tempscore compose` (may be edited in a DAW).")],
           output_dir: OutOpt = None,
           timeline: Annotated[Optional[Path], typer.Option("--timeline", help="Timeline file (default: <stem>.timeline.json beside the MIDI).")] = None,
           video: Annotated[Optional[Path], typer.Option("--video", help="The picture (default: the path recorded in the timeline; without it only the audio is written).")] = None,
           lufs: LufsOpt = None, true_peak: PeakOpt = -1.0, loudness_hold: HoldOpt = 0.5, stems: StemsOpt = False,
           tracks: TracksOpt = "all", soundfont: SoundfontOpt = None, duck_depth: DuckDepthOpt = 10.0,
           duck_attack: DuckAttackOpt = 0.3, duck_release: DuckReleaseOpt = 0.8, duck_regions: DuckRegionsOpt = None,
           no_reverb: NoReverbOpt = False, click: ClickOpt = False, streamers: StreamersOpt = False,
           sessions: SessionsOpt = False, notation: NotationOpt = False, cuesheet: CuesheetOpt = False,
           cue_composer: CueComposerOpt = "", cue_publisher: CuePublisherOpt = "", json_out: JsonOpt = False,
           verbose: VerboseOpt = False, debug: DebugOpt = False) -> None:
    """Synthesise, mix and mux; writes <stem>.score.wav (+ stems) and, with the video, <stem>.scored.<ext>."""
    _setup(debug)
    from ..api import render as run
    from .inputs import stage_input

    opts = _options(locals())
    settings = opts.render_settings()
    midi = stage_input(midi, ".score.mid", output_dir, command="render", before="compose")
    with progress_display(quiet=json_out) as progress:
        res = run(midi, output_dir, timeline=timeline, video=video, settings=settings, duck_regions=duck_regions,
                  progress=progress, exports=opts.exports())
    _show(res, "render", json_out=json_out, verbose=verbose)


@app.command()
def score(video: Annotated[Path, typer.Argument(help="The rough cut (mp4, mov, mkv).")], output_dir: OutOpt = None,
          tempo_range: TempoOpt = None, min_cue_sec: MinCueOpt = 5.0, beats_per_bar: BpbOpt = 4,
          subdivision: SubOpt = 2, max_ramp: RampOpt = 6.0, picture_start: PictureStartOpt = "auto",
          picture_end: PictureEndOpt = "auto", seed: SeedOpt = 0, composer: ComposerOpt = "auto",
          int8: Int8Opt = False, temperature: TempOpt = 0.9, top_p: TopPOpt = 0.95, top_k: TopKOpt = 0,
          lufs: LufsOpt = None, true_peak: PeakOpt = -1.0, loudness_hold: HoldOpt = 0.5, stems: StemsOpt = False,
          tracks: TracksOpt = "all", soundfont: SoundfontOpt = None, duck_depth: DuckDepthOpt = 10.0,
          duck_regions: DuckRegionsOpt = None, edl: EdlOpt = False, otio: OtioOpt = False, fresh: FreshOpt = False,
          conform_from: ConformOpt = None, mood: MoodOpt = None, prompt: PromptOpt = None, style: StyleOpt = None,
          reference: RefOpt = None, variants: VariantsOpt = 0, force: ForceOpt = False, watch: WatchOpt = False,
          markers: MarkersOpt = None, click: ClickOpt = False, streamers: StreamersOpt = False,
          sessions: SessionsOpt = False, notation: NotationOpt = False, cuesheet: CuesheetOpt = False,
          cue_composer: CueComposerOpt = "", cue_publisher: CuePublisherOpt = "",
          json_out: JsonOpt = False, verbose: VerboseOpt = False, debug: DebugOpt = False) -> None:
    """Run every stage: analyze, plan, compose, render (writes all the files beside the video or into -o)."""
    _setup(debug)
    from ..api import Session
    from ..api import score as run

    opts = _options(locals())
    session = Session() if watch else None
    with progress_display(quiet=json_out) as progress:
        res = run(video, output_dir, options=opts, progress=progress, session=session)
    _show(res, "score", json_out=json_out, verbose=verbose)
    if watch:
        from .watch import watch as keep_watching

        again = opts.first_run_only()
        keep_watching(res, lambda: run(video, output_dir, options=again, session=session), json_out=json_out,
                      picture=video)


@app.command()
def batch(sources: Annotated[list[Path], typer.Argument(metavar="SOURCES...", help="Videos, folders of videos (searched recursively) and manifests (.csv or .jsonl: a 'path' column plus options per video, e.g. style, mood, prompt, seed).")],
          output_dir: BatchOutOpt = None, workers: WorkersOpt = None, ray: RayOpt = None,
          tempo_range: TempoOpt = None, min_cue_sec: MinCueOpt = 5.0, beats_per_bar: BpbOpt = 4,
          subdivision: SubOpt = 2, max_ramp: RampOpt = 6.0, picture_start: PictureStartOpt = "auto",
          picture_end: PictureEndOpt = "auto", seed: SeedOpt = 0, composer: ComposerOpt = "auto",
          int8: Int8Opt = False, temperature: TempOpt = 0.9, top_p: TopPOpt = 0.95, top_k: TopKOpt = 0,
          lufs: LufsOpt = None, true_peak: PeakOpt = -1.0, loudness_hold: HoldOpt = 0.5, stems: StemsOpt = False,
          tracks: TracksOpt = "all", soundfont: SoundfontOpt = None, duck_depth: DuckDepthOpt = 10.0,
          edl: EdlOpt = False, otio: OtioOpt = False, fresh: FreshOpt = False, mood: MoodOpt = None,
          prompt: PromptOpt = None, style: StyleOpt = None, reference: RefOpt = None, variants: VariantsOpt = 0,
          clip: ClipOpt = "auto", no_dialogue: NoDialogueOpt = False, shot_detector: ShotDetectorOpt = "auto",
          force: BatchForceOpt = False, json_out: JsonOpt = False, debug: DebugOpt = False) -> None:
    """Score many videos, each into its own folder under -o, as `tempscore score` would; resumable.

    A video whose outputs are up to date (same video, options and tempscore) is skipped, so a batch
    that was stopped goes on where it was. Exit status 0 when every video is scored, 1 when some
    failed (the report says which and why), 2 for bad usage. The options here apply to every video;
    a manifest's columns go over them.
    """
    _setup(debug)
    from ..batch import make_engine, run_batch
    from ..errors import InvalidSettings
    from .batch_report import batch_progress_display, print_batch_result

    if output_dir is None:
        raise InvalidSettings("batch needs a folder for its outputs: tempscore batch SOURCES... -o OUT")
    opts = _options({**locals(), "dialogue": not no_dialogue})
    engine = make_engine(ray=ray, workers=workers)
    with batch_progress_display(quiet=json_out) as progress:
        res = run_batch(sources, output_dir, options=opts, engine=engine, force=force, progress=progress)
    print_batch_result(res, as_json=json_out)
    if not res.ok:
        raise typer.Exit(1)


@app.command()
def ui(port: Annotated[int, typer.Option("--port", help="Port to serve the page on (0 = any free port).")] = 8765,
       host: Annotated[str, typer.Option("--host", help="Address to listen on; anything but localhost exposes your jobs to the network.")] = "127.0.0.1",
       workdir: Annotated[Optional[Path], typer.Option("--workdir", help="Where jobs and their outputs are kept (default: ~/.local/share/tempscore/ui).")] = None,
       max_upload_mb: Annotated[int, typer.Option("--max-upload-mb", help="Largest video accepted, in MB.")] = 16384,
       open_browser: Annotated[bool, typer.Option("--open", help="Also open the page in the default browser.")] = False,
       debug: DebugOpt = False) -> None:
    """The spotting page: drop a rough cut in the browser, see and hear the score, steer it (local server)."""
    _setup(debug)
    from ..errors import InvalidSettings
    from ..ui.server import is_loopback, serve

    if max_upload_mb < 1:
        raise InvalidSettings(f"--max-upload-mb {max_upload_mb} must be at least 1")

    def ready(url: str, where: Path) -> None:
        typer.echo(f"tempscore ui: open {url}  (jobs in {where}; Ctrl+C stops)")
        if not is_loopback(host):
            typer.echo(f"tempscore: warning: --host {host} serves the page to the network; only those you give "
                       f"the address above (with its access token) can use it", err=True)
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
