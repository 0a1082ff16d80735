"""``score``: every stage of one video, in order, its outputs landing as one set.

This is the one place the stages are sequenced: the command line, the spotting page and the batch
runner all call :func:`score`.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..project import OutputSet, Project
from ._analyze import analyze
from ._compose import compose
from ._overlap import beside_analysis
from ._plan import draw_timeline_png, plan
from ._render import render
from .options import Options
from .results import AnalyzeResult, AnalyzeSummary, PlanSummary, ScoreResult, ScoreSummary

if TYPE_CHECKING:
    from ..models.generator import Generator
    from ._overlap import BesideAnalysis
    from .results import ComposeResult, FirstCue, Progress

log = logging.getLogger(__name__)

__all__ = ["score", "Session"]


def score(video: Path | str, out_dir: Path | str | None = None, *, options: Options | None = None,
          progress: Progress | None = None, session: Session | None = None, replan: bool = True,
          first_cue: Callable[[FirstCue], None] | None = None, **kwargs: Any) -> ScoreResult:
    """Score ``video``: analyze, plan, compose, render; the files land beside it or in ``out_dir``.

    Parameters
    ----------
    video : path
        The rough cut (mp4, mov, mkv, ...).
    out_dir : path, optional
        Where the outputs go (default: beside the video).
    options : Options, optional
        Every option of the run (:class:`~tempscore.api.Options`); ``kwargs`` set single ones by
        their command-line names (``seed=3``, ``stems=True``, ``mood=["cue 2=tense"]``).
    progress : callable, optional
        ``progress(stage, phase, done, total)``, from any thread.
    session : Session, optional
        Models, soundfonts and the last analysis kept loaded between runs (``--watch``, a batch worker).
    replan : bool
        False: compose and render from the timeline as it is (an edit that needs no new plan).
    first_cue : callable, optional
        ``first_cue(FirstCue)``: called once compose is done, before the render, with the first
        cue's music as the render makes it (:class:`~tempscore.api.results.FirstCue`), so a front
        end can play it while the rest renders. Costs the first cue's synthesis once (the render
        reads it back); the outputs are the same with or without it.

    Returns
    -------
    ScoreResult
        The analysis, timeline and score, the files written and a summary per stage.

    Raises
    ------
    TempscoreError
        A user error (bad input or option, no room on the disk): nothing of this run is written and
        the previous outputs stay as they were.
    """
    opts = Options.from_kwargs(options, **kwargs)
    opts.check()
    video = Path(video)
    project = Project.of(video, out_dir)
    timings: dict[str, float] = {}
    timed = _stage_timer(progress, timings)
    with project.lock(), OutputSet(project, protect=(video,)) as out:
        a = p = early = None
        if replan:
            with beside_analysis(project, opts, session or Session()) as early:  # later stages' inputs made during it
                a = timed("analyze", lambda: _analyze(video, project, opts, out, session, progress,
                                                      audio_copy_for=early.audio_copy_for))
            p = timed("plan", lambda: plan(
                a, settings=opts.plan_settings(), fresh=opts.fresh, edl=opts.edl, otio=opts.otio, moods=opts.mood,
                prompts=opts.prompt, reference=opts.reference, picture=False, conform_from=opts.conform_from,
                markers=opts.markers, outputs=out))
        # the timeline picture is drawn beside compose and render (a second CPU, off the critical path)
        drawing = _Background(draw_timeline_png, a.analysis, p.timeline, project, out) if p is not None else None
        try:
            c = timed("compose", lambda: compose(
                p or project.timeline, seed=opts.seed, composer=opts.composer, quantized=opts.int8,
                sampling=opts.sampling(), variants=opts.variants, click=opts.click,
                generator=_generator(early, session, opts), progress=progress,
                outputs=out))
            fonts = session.fonts if session else {}  # loaded once for the first cue and the render
            if first_cue is not None:
                timed("preview", lambda: _first_cue(c, opts, out, fonts, first_cue))
            r = timed("render", lambda: render(
                c, settings=opts.render_settings(), duck_regions=opts.duck_regions, exports=opts.exports(),
                fonts=fonts, progress=progress, outputs=out))
        finally:
            if drawing is not None:
                drawing.join(raise_error=False)
        if drawing is not None:
            drawing.join()
        out.commit()
    summary = ScoreSummary(analyze=a.summary if a else AnalyzeSummary(), plan=p.summary if p else PlanSummary(),
                           compose=c.summary, render=r.summary, timings_sec={k: round(v, 3) for k, v in timings.items()})
    files = {**(a.outputs if a else {}), **(p.outputs if p else {}), **c.outputs, **r.outputs}
    if p is not None:
        files["timeline_png"] = str(project.timeline_png)
    return ScoreResult(outputs=files, summary=summary, analysis=a.analysis if a else None,
                       timeline=p.timeline if p else None, score=c.score, project=project)


def _analyze(video: Path, project: Project, opts: Options, out: OutputSet, session: Session | None,
             progress: Progress | None, *, audio_copy_for: Callable | None = None) -> AnalyzeResult:
    run = session.analyze if session is not None else analyze
    return run(video, project.folder, settings=opts.analyze_settings(), force=opts.force, progress=progress,
               outputs=out, audio_copy_for=audio_copy_for)


def _first_cue(c: ComposeResult, opts: Options, out: OutputSet, fonts: dict,
               hand_to: Callable[[FirstCue], None]) -> None:
    """The first cue's music handed to ``hand_to`` before the render; one that cannot be made is
    logged and skipped (the render goes on, and says in its own words what is wrong)."""
    from ._preview import first_cue

    try:
        made = first_cue(c, settings=opts.render_settings(), outputs=out, duck_regions=opts.duck_regions, fonts=fonts)
    except Exception as exc:  # a preview is never worth the run
        log.warning("no first-cue preview (%s: %s); the render goes on", type(exc).__name__, exc)
        return
    if made is not None:
        hand_to(made)


def _generator(early: BesideAnalysis | None, session: Session | None, opts: Options) -> Generator | None:
    """The generator compose uses: the one loaded beside the analysis, the session's, or None (compose
    loads it)."""
    if early is not None and early.generator is not None:
        return early.generator
    return session.generator_for(opts.composer, opts.int8) if session else None


def _stage_timer(progress: Progress | None, timings: dict[str, float]) -> Callable[[str, Callable[[], Any]], Any]:
    """``timed(stage, fn)``: ``fn()``, its time kept in ``timings[stage]``; the stage's start is
    reported as ``progress(stage, "start", 0, 0)``."""
    def timed(stage: str, fn: Callable[[], Any]) -> Any:
        if progress is not None:
            progress(stage, "start", 0, 0)
        t = time.perf_counter()
        try:
            return fn()
        finally:
            timings[stage] = time.perf_counter() - t

    return timed


class _Background:
    """``fn(*args)`` on a thread from now; :meth:`join` waits and re-raises its error."""

    def __init__(self, fn: Callable[..., object], *args: object) -> None:
        self._error: BaseException | None = None

        def run() -> None:
            try:
                fn(*args)
            except BaseException as exc:  # handed to join()
                self._error = exc

        self._thread = threading.Thread(target=run, name=getattr(fn, "__name__", "background"))
        self._thread.start()

    def join(self, *, raise_error: bool = True) -> None:
        self._thread.join()
        if raise_error and self._error is not None:
            err, self._error = self._error, None
            raise err


@dataclass
class Session:
    """What stays loaded between runs of one process (``score --watch``, a batch worker, the spotting
    page): the generator, the soundfonts, and the last analysis while neither the video nor its
    analysis file changes."""

    fonts: dict = field(default_factory=dict)
    generators: dict = field(default_factory=dict)
    _analysis: tuple | None = None  # (identities of the video and the analysis file, AnalyzeResult)

    def generator_for(self, composer: str, quantized: bool) -> Generator | None:
        """The generator ``compose`` would load for these options (loaded once), or None for rules."""
        from ..models.generator import DEFAULT_CHECKPOINT, Generator

        if composer == "rules" or (composer == "auto" and not DEFAULT_CHECKPOINT.is_file()):
            return None
        if quantized not in self.generators:
            self.generators[quantized] = Generator.load(quantized=quantized)
        return self.generators[quantized]

    def analyze(self, video: Path | str, out_dir: Path | str | None = None, *, force: bool = False,
                outputs: OutputSet | None = None, **kwargs: Any) -> AnalyzeResult:
        """:func:`~tempscore.api.analyze`, or its last result when the video and
        ``<stem>.analysis.json`` are the files it saw (same inode, size and modification time): no
        probe, no parse."""
        video = Path(video)
        project = Project.of(video, out_dir)
        if self._analysis is not None and not force:
            (v_id, a_id), res = self._analysis
            if v_id is not None and v_id == _identity(video) and a_id == _identity(project.analysis):
                summary = dataclasses.replace(res.summary, cached=True)
                return AnalyzeResult(outputs=dict(res.outputs), summary=summary, analysis=res.analysis,
                                     project=project)
        res = analyze(video, out_dir, force=force, outputs=outputs, **kwargs)

        def remember() -> None:  # once its file is in place
            self._analysis = ((_identity(video), _identity(project.analysis)), res)

        if outputs is not None:
            outputs.after_commit(remember)
        else:
            remember()
        return res


def _identity(p: Path) -> tuple | None:
    try:
        st = Path(p).stat()
    except OSError:
        return None
    return (str(Path(p).resolve()), st.st_ino, st.st_size, st.st_mtime_ns)

