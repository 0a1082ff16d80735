"""``compose`` and the steering around it: a timeline -> ``<stem>.score.mid``; variants, pick, rate."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..contracts import Timeline, to_json
from ..errors import InvalidSettings
from ..fileio import write_text_atomic
from ..project import OutputSet, Project
from ..threads import ONE_BLAS_THREAD
from .files import load_for_update, load_timeline, midi_seed
from .results import ComposeResult, ComposeSummary, PlanResult, StageResult
from .run import run_context

if TYPE_CHECKING:
    from ..contracts import Score
    from ..models.generator import Generator, SamplingSettings
    from ..models.preferences import Preferences
    from .results import Progress

log = logging.getLogger(__name__)

__all__ = ["compose", "variants", "pick", "rate", "keep_takes", "VARIANT_SEED_BASE"]

VARIANT_SEED_BASE = 7919  # variant k of a cue gets seed VARIANT_SEED_BASE * k + the run's seed


def _timeline_file(timeline: PlanResult | Path | str, out_dir: Path | str | None) -> tuple[Path, Project]:
    if isinstance(timeline, PlanResult):
        return timeline.project.timeline, timeline.project
    return Path(timeline), Project.of(timeline, out_dir)


def compose(timeline: PlanResult | Path | str, out_dir: Path | str | None = None, *, seed: int = 0,
            composer: str = "auto", quantized: bool = False, sampling: SamplingSettings | None = None,
            variants: int = 0, generator: Generator | None = None, progress: Progress | None = None,
            click: bool = False, outputs: OutputSet | None = None) -> ComposeResult:
    """Compose the notes of every cue of ``<stem>.timeline.json`` into ``<stem>.score.mid``.

    Parameters
    ----------
    seed : int
        Same timeline + seed + composer -> the same MIDI, byte for byte.
    composer : {"auto", "transformer", "rules"}
    quantized : bool
        The int8 generator.
    variants : int
        Also write that many alternatives per cue with an audition each (``<stem>.variants/``).
    generator : Generator, optional
        A loaded generator to reuse (else loaded here).
    progress : callable, optional
        ``progress("compose", "writing cues", cues written, cues)``.
    click : bool
        Also a click track in the MIDI (count-ins before each cue), which the render leaves out.
    """
    from ..api.options import sampling_settings

    sampling_settings(seed=seed, variants=variants, composer=composer)  # one line for a bad value, before reading
    tl_path, project = _timeline_file(timeline, out_dir)
    with run_context(project, outputs, protect=()) as out:
        source = out.current(tl_path)
        tl, raw = load_for_update(source)
        if source == tl_path:
            out.expect(tl_path, raw)
        out.protect += (Path(tl.video.path),)
        _refuse_unplanned(tl, tl_path)
        if composer != "rules" and quantized and generator is None:
            from ..models.generator import Generator

            generator = Generator.load(quantized=True)
        prefs = _preferences(project)
        with ONE_BLAS_THREAD:  # the generator's products are small (tempscore.threads)
            score = _compose_score(tl, project, seed=seed, composer=composer, generator=generator, sampling=sampling,
                                   prefs=prefs, progress=progress)
        _write_score(project, out, tl, score, seed, click=click)
        variant_files = {}
        if variants > 0:
            with ONE_BLAS_THREAD:
                variant_files = write_variants(tl, project, n=variants, seed=seed, composer=composer, generator=generator,
                                               sampling=sampling, preferences=prefs)
    summary = ComposeSummary(composer=score.composer, seed=seed, parts=[p.name for p in score.parts],
                             notes=sum(len(p.notes) for p in score.parts), cue_report=score.report,
                             preferences=prefs.describe(), variants=variant_files or None)
    return ComposeResult(outputs={"midi": str(project.midi)}, summary=summary, score=score, project=project)


def _refuse_unplanned(tl: Timeline, tl_path: Path) -> None:
    """The beat grid is the plan's: edits it has not planned yet would be ignored by compose alone."""
    from ..scoring.edits import unplanned_edits

    if pending := unplanned_edits(tl):
        analysis = Path(tl.analysis_path).name if tl.analysis_path else Project.of(tl_path).analysis.name
        raise InvalidSettings(f"{tl_path.name}: {'; '.join(pending)} edited since the plan; the beat grid is "
                              f"planned from them: run `tempscore plan {analysis}` (or `tempscore score` on the video) "
                              f"first")


def _preferences(project: Project) -> Preferences:
    from ..models.preferences import load_ratings, preferences_from

    return preferences_from(load_ratings(project.ratings))


def _compose_score(tl: Timeline, project: Project, *, seed: int, composer: str, generator: Generator | None,
                   sampling: SamplingSettings | None, prefs: Preferences, progress: Progress | None) -> Score:
    from ..models import compose as compose_notes

    cues = (lambda k, n: progress("compose", "writing cues", k, n)) if progress is not None else None
    return compose_notes(tl, seed=seed, composer=composer, generator=generator, sampling=sampling,
                         cache=project.cache(), preferences=prefs, progress=cues)


def _write_score(project: Project, out: OutputSet, tl: Timeline, score: Score, seed: int, *, click: bool = False) -> None:
    """The MIDI, and the timeline when takes were kept in it (locked cues pinned, chosen takes stored)."""
    from ..render.midi import write_midi

    protect = (Path(tl.video.path),)
    if keep_takes(tl, score, seed):
        write_text_atomic(out.path(project.timeline), to_json(tl), protect=protect)
    write_midi(score, out.path(project.midi), timeline=tl, protect=protect, click=click)


def keep_takes(timeline: Timeline, score: Score, seed: int) -> bool:
    """Pin every locked cue to ``seed`` and store the take (melody) of every cue the user chose
    (locked, or with its own seed: picked, rated) that was written afresh in ``score``, so that
    edits of other cues never change it (:func:`tempscore.models.composer.kept_take`). Returns
    whether the timeline changed."""
    changed = False
    for c in timeline.cues:
        if c.locked and c.seed < 0:
            c.seed, changed = seed, True
        take = score.takes.get(c.id)
        if (c.locked or c.seed >= 0) and take is not None and c.take != take:
            c.take, changed = take, True
    return changed


def write_variants(timeline: Timeline, project: Project, *, n: int, seed: int, composer: str,
                   generator: Generator | None, sampling: SamplingSettings | None, preferences: Preferences | None = None,
                   cues: list[str] | None = None) -> dict[str, list[str]]:
    """``n`` alternatives of every cue that is not locked or tacet (of ``cues`` only, when given),
    composed here and auditioned by the render (:func:`tempscore.render.auditions.write_auditions`)
    into ``<stem>.variants/``; returns cue -> audition WAVs."""
    from ..models.composer import compose_variants
    from ..render.auditions import write_auditions

    scores: dict[str, list[tuple[int, Score]]] = {}
    for cue in timeline.cues:
        if cue.locked or cue.tacet or (cues is not None and cue.id not in cues):
            continue
        seeds = [VARIANT_SEED_BASE * k + seed for k in range(1, n + 1)]
        scores[cue.id] = list(zip(seeds, compose_variants(timeline, cue.id, seeds, seed=seed, composer=composer,
                                                         generator=generator, sampling=sampling,
                                                         cache=project.cache(), preferences=preferences)))
    return write_auditions(timeline, scores, project.variants, cache=project.cache(), only=cues)


def variants(timeline: Path | str, out_dir: Path | str | None = None, *, cues: list[str], n: int = 3, seed: int = 0,
             composer: str = "auto") -> StageResult:
    """Alternatives for some cues only (``<stem>.variants/``, as ``compose(variants=n)`` writes them
    for every cue), with the project's cache and ratings; :func:`pick` keeps one."""
    tl_path = Path(timeline)
    project = Project.of(tl_path, out_dir)
    tl = load_timeline(tl_path)
    files = write_variants(tl, project, n=n, seed=seed, composer=composer, generator=None, sampling=None,
                           preferences=_preferences(project), cues=list(cues))
    return StageResult(outputs={"variants": str(project.variants)}, summary={"variants": files})


def pick(timeline: Path | str, cue_ref: str, variant: int) -> StageResult:
    """Keep variant ``variant`` (1-based) of a cue: its seed (and the melody auditioned) go into the
    timeline, so compose, render and later re-plans keep it."""
    from ..scoring.edits import find_cue, take_problem

    tl_path = Path(timeline)
    project = Project.of(tl_path)
    tl, raw = load_for_update(tl_path)
    cue = tl.cues[find_cue(tl, cue_ref)]
    seeds, takes = _listed_variants(project.variants / "manifest.json", tl_path, cue.id)
    _check_pick(tl_path, cue, seeds, variant)
    take = takes[variant - 1] if len(takes) == len(seeds) else None
    _refuse_moved(take, cue, variant, tl_path)
    cue.seed = int(seeds[variant - 1])
    # the melody auditioned, kept as it is (else written again from the seed at the next compose)
    cue.take = take if isinstance(take, dict) and take and take_problem(take) is None else {}
    write_text_atomic(tl_path, to_json(tl), protect=(Path(tl.video.path),), expect=raw)
    return StageResult(outputs={"timeline": str(tl_path)},
                       summary={"cue": cue.id, "variant": variant, "seed": cue.seed,
                                "next": "tempscore compose, then tempscore render (or tempscore score) to hear it in place"})


def _listed_variants(manifest: Path, tl_path: Path, cue_id: str) -> tuple[list[int], list[Any]]:
    if not manifest.is_file():
        raise InvalidSettings(f"{manifest}: no variants yet; run `tempscore compose {tl_path} --variants 3` first")
    try:
        listed = json.loads(manifest.read_text())
        return listed.get("seeds", {}).get(cue_id, []), listed.get("takes", {}).get(cue_id, [])
    except (ValueError, AttributeError) as exc:
        raise InvalidSettings(f"{manifest}: unreadable ({exc}); run `tempscore compose {tl_path} --variants 3` "
                              "again") from None


def _check_pick(tl_path: Path, cue: Any, seeds: list[int], variant: int) -> None:
    if cue.tacet:
        raise InvalidSettings(f"cue {cue.id} is tacet (no music), so it has no variants; set \"tacet\": false on it "
                              f"in {tl_path.name} and run `tempscore score` with --variants to hear some")
    if not seeds:
        raise InvalidSettings(f"cue {cue.id} has no variants (it was changed or added since); run `tempscore compose "
                              f"{tl_path} --variants 3` again")
    if not 1 <= variant <= len(seeds):
        raise InvalidSettings(f"cue {cue.id} has variants 1..{len(seeds)}; {variant} does not exist")
    if cue.locked:  # its notes are kept (as Regenerate on the spotting page)
        raise InvalidSettings(f"cue {cue.id} is locked: its notes are kept; unlock it (\"locked\": false in "
                              f"{tl_path.name}) to use another take")


def _refuse_moved(take: Any, cue: Any, variant: int, tl_path: Path) -> None:
    """What was auditioned is not what the cue would play now (it would be written again)."""
    was = (take.get("for") if isinstance(take, dict) else None) or {}
    moved = [k for k in ("key", "mood", "beats_per_bar", "beats") if k in was and was[k] != getattr(cue, k)]
    if moved:
        what = ", ".join(f"{k.replace('_', ' ')} {was[k]} (now {getattr(cue, k)})" for k in moved)
        raise InvalidSettings(f"variant {variant} of cue {cue.id} was made for its {what}; audition new variants "
                              f"(`tempscore compose {tl_path.name} --variants 3`) or change the cue back")


def rate(timeline: Path | str, cue_ref: str, stars: int) -> StageResult:
    """Rate a cue 1..5 (kept in ``<stem>.ratings.json``): 4-5 keeps the take (seed pinned), 1-2 asks
    for a new take (new seed); all ratings shift the conditioning of the other cues toward the
    liked settings at the next compose (see :mod:`tempscore.models.preferences`)."""
    from ..models.composer import music_affect, steered_condition
    from ..models.preferences import add_rating, load_ratings, preferences_from
    from ..scoring.edits import find_cue

    if not 1 <= int(stars) <= 5:
        raise InvalidSettings(f"rating {stars}: give 1..5 stars (5 = keep it, 1 = write a new one)")
    tl_path = Path(timeline)
    project = Project.of(tl_path)
    tl, raw = load_for_update(tl_path)
    cue = tl.cues[find_cue(tl, cue_ref)]
    if cue.tacet:
        raise InvalidSettings(f"cue {cue.id} is tacet (no music); un-tacet it in the timeline to rate its music")
    heard = cue.seed if cue.seed >= 0 else midi_seed(project.midi)
    if heard is None:
        raise InvalidSettings(f"{project.midi}: no composed score to rate yet; run `tempscore compose {tl_path}` "
                              f"first")
    before = preferences_from(load_ratings(project.ratings))
    dens, reg = steered_condition(music_affect(cue), tl, before)
    rows = add_rating(project.ratings, {
        "cue_id": cue.id, "stars": int(stars), "mood": cue.mood, "key": cue.key, "tempo_bpm": cue.tempo_bpm,
        "intensity": cue.intensity, "density_band": dens, "register": reg, "orchestration": cue.orchestration,
        "seed": int(heard)})
    after = preferences_from(rows)
    action = _apply_rating(cue, int(stars), int(heard))
    write_text_atomic(tl_path, to_json(tl), protect=(Path(tl.video.path),), expect=raw)
    changed = [c.id for c in tl.cues if not (c.locked or c.tacet or c.id in after.kept)
               and steered_condition(music_affect(c), tl, after) != steered_condition(music_affect(c), tl, before)]
    return StageResult(outputs={"ratings": str(project.ratings), "timeline": str(tl_path)}, summary={
        "cue": cue.id, "stars": int(stars), "this_cue": action, "preferences_before": before.describe(),
        "preferences_now": after.describe(), "cues_that_will_change": changed,
        "next": "tempscore compose (or tempscore score) applies it"})


def _apply_rating(cue: Any, stars: int, heard: int) -> str:
    """What the rating does to the rated cue itself; says it."""
    from ..models.preferences import REROLL_SEED_STEP
    from ..scoring.validate import SEED_MAX

    if stars >= 4:
        cue.seed = heard
        return f"kept: seed {heard} pinned, later steering leaves it alone"
    if stars <= 2 and cue.locked:  # a locked cue keeps its notes: the rating still steers the others
        return "the cue is locked, so it keeps its notes; unlock it and rate it again for a new take"
    if stars <= 2:
        cue.seed = (heard + REROLL_SEED_STEP) % (SEED_MAX + 1)  # seeds are 32-bit
        return f"new take at the next compose (seed {heard} -> {cue.seed})"
    return "no change to this cue"
