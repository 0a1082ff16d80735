"""``compose(timeline) -> Score``: form and chords per cue (:mod:`.form`, the learned progression
model), melodies from the trained generator (or rules) over them, motif memory, thematic recall,
copyright guard, then the arranger.

Conditioning from the timeline, per bar: mode family from the cue's key (a modal key is written in
its family's scale and moved onto the mode), density band from arousal and intensity, register
from intensity and valence, the bar's first chord as a scale degree, and for the sampler the
chords' tones, the phrase ends and the repeated bars of the form (the arranger gets the same
chords). Every cue's random streams hold the film's content hash, the seed and the cue. Every
output names its composer (``Score.composer``): ``transformer:v1`` (``:int8`` when quantised) or
``rule-based:v1``; the cue report names the harmony's writer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..cache import StageCache
from ..contracts import Cue, HitPoint, Marker, Part, Score, TempoEvent, Timeline
from ..harmony import SCALES, family_maps, mode_family, move_pitch, nearest, parse_key
from ..scoring.tempo import TempoMap
from .arranger import CueContext, Orchestra, arrange_cue, bar_intensities, layer_of
from .form import CueHarmony, harmony_from_take, harmony_to_take, plan_harmony
from .motif import Motif, adapt_rhythm
from .tokens import BarData

if TYPE_CHECKING:
    from .progression import ProgressionModel

log = logging.getLogger(__name__)

from . import RULES_ID

PART_ORDER = ["Melody", "Melody double", "Melody accents", "Counter-line", "Accents", "Arpeggio", "Ostinato", "Pulse",
              "Pad", "Chorale", "Tremolo", "Drone", "Bass", "Timpani", "Percussion"]
MOTIF_BARS = 2


#: Where each mood sits on the circumplex (valence, arousal), and how it shifts intensity.
MOOD_AFFECT = {"excited": (0.5, 0.5, 0.15), "tense": (-0.5, 0.5, 0.15), "serene": (0.5, -0.5, -0.1),
               "sombre": (-0.5, -0.5, -0.1)}


def music_affect(cue: Cue) -> Cue:
    """The cue as the music should feel it. When the user gave the cue a mood other than the
    picture's (``mood`` differs from the quadrant of its measured valence/arousal), the music
    follows the mood: valence and arousal move into the mood's quadrant (at least 0.5 from the
    axes) and intensity shifts by the mood's offset, so the melody's density/register, the mode and
    the orchestration all change. Otherwise the cue is returned unchanged."""
    from dataclasses import replace

    from ..vision.emotion import mood_label

    if cue.mood not in MOOD_AFFECT or cue.mood == mood_label(cue.valence, cue.arousal):
        return cue
    mv, ma, di = MOOD_AFFECT[cue.mood]
    v = float(np.sign(mv) * max(abs(cue.valence), abs(mv)))
    a = float(np.sign(ma) * max(abs(cue.arousal), abs(ma)))
    return replace(cue, valence=round(v, 3), arousal=round(a, 3), intensity=round(float(np.clip(cue.intensity + di, 0, 1)), 3))


def steered_condition(cue: Cue, timeline: Timeline, preferences: Any = None) -> tuple[int, str]:
    """:func:`condition_for`, then the user's steering: the reference track's register bias and the
    ratings' density/register shifts. Locked cues and cues the user liked (rated 4-5) are left as
    they are, so they are never re-written by later steering."""
    from .preferences import shift_register

    dens, reg = condition_for(cue)
    if cue.locked or (preferences is not None and cue.id in preferences.kept):
        return dens, reg
    ref = (timeline.settings or {}).get("reference") or {}
    if ref:
        from ..scoring.reference import register_bias

        reg = shift_register(reg, register_bias(float(ref.get("brightness_hz", 2000.0))))
    if preferences is not None:
        dens = int(np.clip(dens + preferences.density_shift, 0, 3))
        reg = shift_register(reg, preferences.register_shift)
    return dens, reg


def condition_for(cue: Cue) -> tuple[int, str]:
    """Density band (0..3) and register for a cue: arousal and intensity drive density; high
    intensity lifts the register, dark and calm cues sit low."""
    x = 0.5 * (cue.arousal + 1) / 2 + 0.5 * cue.intensity
    dens = 0 if x < 0.3 else 1 if x < 0.45 else 2 if x < 0.6 else 3
    reg = "high" if cue.intensity > 0.65 else "low" if (cue.valence < -0.3 and cue.intensity < 0.35) else "mid"
    return dens, reg


@dataclass
class _CuePlan:
    cue: Cue
    tonic: int
    mode: str
    bars: list[tuple[int, int]]  # (first beat from the cue start, beats)
    beat0: float
    hits: list[HitPoint] = field(default_factory=list)
    next_key: tuple[int, str] | None = None  # the key of the cue that follows at once, when it differs
    harmony: CueHarmony | None = None

    @property
    def chords(self) -> list[int]:
        """The scale degree of each bar's first chord (-1: chromatic)."""
        return [-1 if c.degree is None else c.degree for c in self.harmony.chords]


def _plan_cue(cue: Cue, tmap: TempoMap, hits: list[HitPoint]) -> _CuePlan:
    tonic, mode = parse_key(cue.key)
    bpb = max(1, cue.beats_per_bar)
    bars = [(b0, min(bpb, cue.beats - b0)) for b0 in range(0, max(cue.beats, 1), bpb)]
    return _CuePlan(cue, tonic, mode, bars, tmap.time_to_beats(cue.start_sec), [h for h in hits if h.cue_id == cue.id])


def _link_keys(plans: list[_CuePlan]) -> None:
    """Each cue followed at once (no gap, no tacet between) by a cue in another key leads into it."""
    for a, b in zip(plans, plans[1:]):
        if abs(a.cue.end_sec - b.cue.start_sec) < 1e-6 and (a.tonic, a.mode) != (b.tonic, b.mode):
            a.next_key = (b.tonic, b.mode)


def _downbeat_hits(cp: _CuePlan, tmap: TempoMap, fps: float) -> list[float]:
    """The strongest hit within the first beat of each bar (0 where none): where a cadence may land."""
    out = [0.0] * len(cp.bars)
    for h in cp.hits:
        beat = tmap.time_to_beats(h.time_sec - h.offset_frames / fps) - cp.beat0
        for i, (b0, _) in enumerate(cp.bars):
            if b0 - 1e-6 <= beat < b0 + 1 - 1e-6:
                out[i] = max(out[i], float(h.strength))
    return out


def _harmony(cp: _CuePlan, *, model: ProgressionModel, rng: np.random.Generator, tmap: TempoMap, fps: float,
             given: dict[int, BarData] | None = None) -> CueHarmony:
    """The cue's chords and form (:func:`~tempscore.models.form.plan_harmony`), or, for a cue whose
    take is kept, the harmony stored with it."""
    return plan_harmony(cp.bars, tonic_pc=cp.tonic, mode=cp.mode, mood=cp.cue.mood, intensity=cp.cue.intensity,
                        bpm=cp.cue.tempo_bpm, beats_per_bar=cp.cue.beats_per_bar, model=model, rng=rng,
                        downbeat_hits=_downbeat_hits(cp, tmap, fps), given=given, next_key=cp.next_key)


def _conditions(cp: _CuePlan, dens: int, reg: str) -> list[Any]:
    """The generator's per-bar conditions: mode family, density, register, the bar's first chord's
    degree, the chords' tones in the family's scale, cadence bars and repeated bars."""
    from .generator import BarCondition

    to_family, _ = family_maps(cp.tonic, cp.mode)
    fam = "maj" if mode_family(cp.mode) == "major" else "min"
    last_bars = {ph.last_bar for ph in cp.harmony.phrases}
    # a cue that closes (its last phrase an authentic cadence) ends its melody on the tonic
    closes = bool(cp.harmony.phrases) and cp.harmony.phrases[-1].cadence == "authentic"
    out = []
    for i, ((_, nb), deg) in enumerate(zip(cp.bars, cp.chords)):
        segs = [(0, cp.harmony.chords[i])] + [(int(round(b * 4)), ch) for b, ch in cp.harmony.changes.get(i, [])]
        tones = tuple((pos, tuple(to_family.get(pc, pc) for pc in ch.pcs)) for pos, ch in segs)  # root first
        out.append(BarCondition(fam, dens, reg, deg, beats=nb, tones=tones, cadence=i in last_bars,
                                copy_of=cp.harmony.copies.get(i, -1),
                                close_pc=cp.tonic % 12 if closes and i == len(cp.bars) - 1 else -1))
    return out


def _rule_melody(cp: _CuePlan, rng: np.random.Generator) -> list[BarData]:
    """The rule-based melody: a walk over the scale landing on chord tones on strong beats."""
    scale = SCALES[cp.mode]
    pcs = {(cp.tonic + s) % 12 for s in scale}
    I = cp.cue.intensity
    step16 = 8 if I < 0.3 else 4 if I < 0.6 else 2
    pitch = 72 + cp.tonic if cp.tonic < 6 else 60 + cp.tonic
    out = []
    for i, ((b0, nb), deg) in enumerate(zip(cp.bars, cp.chords)):
        notes = []
        for pos in range(0, nb * 4, step16):
            if pos % 8 == 0:
                chord = cp.harmony.chord_at(i, pos / 4.0).pcs
                pitch = min((nearest(pc, pitch) for pc in chord), key=lambda p: abs(p - pitch))
            else:
                move = int(rng.choice([-2, -1, -1, 1, 1, 2]))
                cands = sorted((p for p in range(pitch - 5, pitch + 6) if p % 12 in pcs and p != pitch),
                               key=lambda p: abs(p - (pitch + 2 * move)))
                pitch = cands[0]
            pitch = int(np.clip(pitch, 62, 84))
            notes.append((pos, pitch, min(step16, nb * 4 - pos)))
        out.append(BarData(notes, deg))
    return out


def _film_number(timeline: Timeline, *salt: object) -> int:
    """A number of the film (its content hash) and ``salt``: different films draw differently, the
    same film the same on every run."""
    from ..scoring.keys import film_number

    return film_number(timeline.video.content_hash or timeline.video.path, *salt)


def compose(timeline: Timeline, *, seed: int = 0, composer: str = "auto", generator: Any = None,
            sampling: Any = None, humanize: bool = True, cache: StageCache | None = None,
            preferences: Any = None, progress: Callable[[int, int], None] | None = None) -> Score:
    """Write the score of a timeline.

    Parameters
    ----------
    timeline : Timeline
    seed : int
        Same timeline + seed + composer -> same notes (the MIDI is byte-identical). The film's
        content hash goes into every cue's random streams too (harmony, melody), so two films
        differ even where their cues look alike.
    composer : {"auto", "transformer", "rules"}
        "auto" uses the trained generator when its checkpoint is present, else the rules (and the
        score says which).
    generator : Generator, optional
        An already loaded :class:`~tempscore.models.generator.Generator` (e.g. int8).
    sampling : SamplingSettings, optional
    cache : StageCache, optional
        Per-cue melody cache: a cue whose request (conditioning, opening bars, seed), sampling
        settings and checkpoint are unchanged is read back instead of sampled again. A cue's
        melody depends only on those, so the result is the same with or without the cache.
    preferences : Preferences, optional
        Shifts learned from the user's ratings (:mod:`.preferences`), applied to the cues that are
        neither locked nor liked; a reference track's register bias (``timeline.settings``) too.
    progress : callable, optional
        ``progress(cues written, cues)`` after each cue's melody (sampled or read back).
    """
    from .generator import DEFAULT_CHECKPOINT, Generator, SamplingSettings
    from .progression import ProgressionModel

    use_model = composer == "transformer" or (composer == "auto" and (generator is not None or DEFAULT_CHECKPOINT.is_file()))
    if use_model and generator is None:
        generator = Generator.load()
    c = _Composition.start(timeline, seed=seed, preferences=preferences, harmony_model=ProgressionModel.load())
    if use_model and c.plans:
        writer = _MelodyWriter(c, generator, sampling or SamplingSettings(), cache)
        writer.write_all(progress)
        composer_id = generator.id + "+arranger:v1"
    else:
        _rule_melodies(c)
        composer_id = RULES_ID
    parts, markers, levels = _arrange(c, composer_id=composer_id, humanize=humanize)
    return Score(parts=parts, tempo_map=timeline.tempo_map, markers=markers, duration_sec=timeline.video.duration_sec,
                 composer=composer_id, seed=seed, report=c.report, takes=_takes(c, composer_id, levels))


@dataclass
class _Composition:
    """One compose in progress: the timeline's cues planned for music (:class:`_CuePlan`), their
    conditions, kept takes, and the melodies and reports written so far."""

    timeline: Timeline
    seed: int
    preferences: Any
    harmony_model: ProgressionModel
    tmap: TempoMap
    fps: float
    plans: list[_CuePlan]
    conds: dict[str, dict[str, Any]]
    kept: dict[str, list[BarData]]
    report: dict[str, dict[str, Any]]
    melodies: dict[str, list[BarData]] = field(default_factory=dict)

    @classmethod
    def start(cls, timeline: Timeline, *, seed: int, preferences: Any, harmony_model: ProgressionModel) -> _Composition:
        tmap = TempoMap([TempoEvent(**vars(e)) for e in timeline.tempo_map])
        plans = [_plan_cue(music_affect(c), tmap, timeline.hit_points) for c in timeline.cues
                 if not c.tacet and c.beats > 0]
        _link_keys(plans)
        conds = {cp.cue.id: take_condition(cp.cue, *steered_condition(cp.cue, timeline, preferences)) for cp in plans}
        c = cls(timeline=timeline, seed=seed, preferences=preferences, harmony_model=harmony_model, tmap=tmap,
                fps=timeline.video.fps_num / timeline.video.fps_den, plans=plans, conds=conds, kept={},
                report={cp.cue.id: {} for cp in plans})
        c.kept = {cp.cue.id: bars for cp in plans
                  if (bars := kept_take(cp.cue, conds[cp.cue.id], c.seed_of(cp.cue), len(cp.bars))) is not None}
        return c

    def seed_of(self, cue: Cue) -> int:
        """The cue's seed: a picked variant pins the cue's own."""
        return cue.seed if cue.seed >= 0 else self.seed

    def frame_of(self, cue: Cue) -> int:
        """The arrangement's random stream: a kept take's own."""
        return int(cue.take["frame"]) if cue.id in self.kept else cue.start_frame

    def film_of(self, cue: Cue) -> str:
        """The film the arrangement is for: a kept take's own (a recut changes the hash)."""
        content = self.timeline.video.content_hash
        return str(cue.take.get("film", content)) if cue.id in self.kept else content

    def harmonise(self, cp: _CuePlan, given: list[BarData]) -> None:
        """The cue's chords and form: a kept take's own, else planned under its opening bars."""
        stored = (cp.cue.take or {}).get("harmony") if cp.cue.id in self.kept else None
        if stored:
            try:
                cp.harmony = harmony_from_take(stored, len(cp.bars), tonic_pc=cp.tonic, mode=cp.mode)
            except (TypeError, ValueError, KeyError, IndexError, AttributeError):  # edited by hand into nonsense
                log.warning("cue %s: its take's harmony cannot be read; its chords are planned again", cp.cue.id)
                stored = None
        if not stored:
            rng = np.random.default_rng([_film_number(self.timeline, "harmony") & 0xFFFFFFFF,
                                         self.seed_of(cp.cue) & 0xFFFFFFFF, cp.cue.start_frame])
            cp.harmony = _harmony(cp, model=self.harmony_model, rng=rng, tmap=self.tmap, fps=self.fps,
                                  given=dict(enumerate(given)))
        self.report[cp.cue.id].update(_harmony_report(cp))


class _MelodyWriter:
    """The learned melodies: the film's motif stated by the first cue, every other cue opening with
    a variation of it (or of the cue it recalls), each cue's chords planned under its opening."""

    def __init__(self, c: _Composition, generator: Any, sampling: Any, cache: StageCache | None) -> None:
        from .generator import film_rhythm

        self.c, self.generator, self.s, self.cache = c, generator, sampling, cache
        self.gen_key = generator_key(generator, sampling)
        self.rhythm = film_rhythm(_film_number(c.timeline, "rhythm"))  # the film's rhythmic cell, in every cue

    def write_all(self, progress: Callable[[int, int], None] | None) -> None:
        c = self.c
        # 1. the film's motif: the opening bars of the first cue, written freely
        first = c.plans[0]
        c.report[first.cue.id]["motif"] = "stated"
        c.harmonise(first, [])
        c.melodies[first.cue.id] = self.write(first, [])
        if progress is not None:
            progress(1, len(c.plans))
        motif = Motif.from_bars(c.melodies[first.cue.id][:MOTIF_BARS], tonic_pc=first.tonic, mode=first.mode)
        # 2. every other cue opens with a variation of the motif (or the opening of the cue it recalls),
        # its rhythm fitted to the cue's density, its chords chosen under it
        for cp in c.plans[1:]:
            variant, prompt = _prompt_for(cp, first, motif, c.melodies, c.timeline)
            prompt = adapt_rhythm(prompt, density_band=c.conds[cp.cue.id]["density_band"],
                                  beats=[nb for _, nb in cp.bars],
                                  scale_pcs=frozenset((cp.tonic + s) % 12 for s in SCALES[cp.mode]))
            c.report[cp.cue.id]["motif"] = variant
            c.harmonise(cp, prompt)
            c.melodies[cp.cue.id] = self.write(cp, prompt)
            if progress is not None:
                progress(len(c.melodies), len(c.plans))

    def request(self, cp: _CuePlan, prompt: list[BarData], attempt: int = 0) -> Any:  # CueRequest
        from .generator import CueRequest

        c = self.c
        dens, reg = steered_condition(cp.cue, c.timeline, c.preferences)
        to_family, _ = family_maps(cp.tonic, cp.mode)
        prompt = [BarData([(p, move_pitch(n, to_family), d) for p, n, d in b.notes], b.chord) for b in prompt]
        return CueRequest(tonic_pc=cp.tonic, meter_beats=cp.cue.beats_per_bar, bars=_conditions(cp, dens, reg),
                          prompt=prompt, seed=_film_number(c.timeline, "melody", c.seed_of(cp.cue), cp.cue.start_frame,
                                                           attempt) & 0x7FFFFFFF, rhythm=self.rhythm)

    def write(self, cp: _CuePlan, prompt: list[BarData]) -> list[BarData]:
        """The cue's melody: from the cache when this exact request was written before, else
        sampled; a melody sharing a 12-gram of intervals with the corpus is re-drawn (guard).
        Written in the mode's family scale, then moved onto the mode's own (modal keys)."""
        c, cache = self.c, self.cache
        cond = c.conds[cp.cue.id]
        c.report[cp.cue.id].update({"density_band": cond["density_band"], "register": cond["register"]})
        if cp.cue.id in c.kept:  # the user's chosen take, as it was written
            c.report[cp.cue.id].update({"take": KEPT_TAKE, "cached": True})
            return c.kept[cp.cue.id]
        key = {"generator": self.gen_key, "request": _request_key(self.request(cp, prompt)), "mode": cp.mode}
        hit = cache.get_json("melody", key) if cache is not None else None
        if hit is not None:
            c.report[cp.cue.id].update({**hit["report"], "cached": True})
            return [BarData([tuple(n) for n in b["notes"]], b["chord"]) for b in hit["bars"]]
        mel, rep = self._sample(cp, prompt)
        c.report[cp.cue.id].update({**rep, "cached": False})
        if cache is not None:
            cache.put_json("melody", key, {"report": rep, "bars": [
                {"notes": [list(n) for n in b.notes], "chord": b.chord} for b in mel]})
        return mel

    def _sample(self, cp: _CuePlan, prompt: list[BarData]) -> tuple[list[BarData], dict[str, int]]:
        """A melody sampled (re-drawn without the prompt while it copies the corpus), in the cue's mode."""
        from .guard import COPY_LIMIT, longest_shared_ngram

        mel = self.generator.generate([self.request(cp, prompt)], self.s)[0]
        attempt = 0
        shared = longest_shared_ngram([p for b in mel for _, p, _ in b.notes])
        while shared >= COPY_LIMIT and attempt < 3:
            attempt += 1
            mel = self.generator.generate([self.request(cp, [], attempt)], self.s)[0]
            shared = longest_shared_ngram([p for b in mel for _, p, _ in b.notes])
        _, to_mode = family_maps(cp.tonic, cp.mode)
        mel = [BarData([(p, move_pitch(n, to_mode), d) for p, n, d in b.notes], b.chord) for b in mel]
        return mel, {"longest_shared_interval_ngram": shared, "regenerated": attempt}


def _rule_melodies(c: _Composition) -> None:
    """Every cue's melody by the rules (no generator), a kept take's as it was."""
    for cp in c.plans:
        c.report[cp.cue.id]["motif"] = "none (rules)"
        c.harmonise(cp, [])
        if cp.cue.id in c.kept:
            c.melodies[cp.cue.id] = c.kept[cp.cue.id]
            c.report[cp.cue.id]["take"] = KEPT_TAKE
        else:
            c.melodies[cp.cue.id] = _rule_melody(cp, np.random.default_rng(
                [_film_number(c.timeline, "rules") & 0xFFFFFFFF, c.seed_of(cp.cue) & 0xFFFFFFFF, cp.cue.start_frame]))


def _arrange(c: _Composition, *, composer_id: str, humanize: bool
             ) -> tuple[list[Part], list[Marker], dict[str, list[float] | None]]:
    """Every cue arranged around its melody (:func:`arrange_cue`) into the score's parts, in layer
    order; the score's markers (cues, tacets, hits); each cue's per-bar intensity."""
    from ..scoring.report import cue_name

    orch = Orchestra()
    markers: list[Marker] = []
    by_id = {cp.cue.id: cp for cp in c.plans}
    levels: dict[str, list[float] | None] = {}
    for cue in c.timeline.cues:
        if cue.tacet or cue.beats <= 0:
            markers.append(Marker(cue.start_sec, f"{cue_name(cue)} tacet"))
            continue
        cp = by_id[cue.id]
        levels[cue.id] = _bar_levels(c, cp)
        take_by = (cue.take or {}).get("composer", "") if cue.id in c.kept else ""
        cx = CueContext(cue=cp.cue, tmap=c.tmap, beat0=cp.beat0, tonic_pc=cp.tonic, mode=cp.mode, bars=cp.bars,
                        chords=cp.harmony.chords, changes=cp.harmony.changes, fps=c.fps,
                        rng=np.random.default_rng([c.seed_of(cue), c.frame_of(cue), 99]),
                        seed=c.seed_of(cue), film=c.film_of(cue),
                        melody_writer=_melody_writer(take_by or composer_id),
                        bar_intensity=levels[cue.id],
                        phrase_ends=tuple(ph.last_bar for ph in cp.harmony.phrases), scale=SCALES[cp.mode])
        arranged = arrange_cue(orch, cx, c.melodies[cue.id], cp.hits, humanize=humanize)
        c.report[cue.id].update(arranged)
        extra = f" motif {c.report[cue.id]['motif']}" if c.report[cue.id].get("motif") else ""
        extra += f"; {arranged['idiom']}; written: {arranged['written']}"
        markers.append(Marker(cue.start_sec, f"{cue_name(cue)} {cue.mood} {cue.key} {cue.tempo_bpm:.2f} BPM{extra}"))
    for i, h in enumerate(c.timeline.hit_points, 1):
        markers.append(Marker(h.time_sec, f"H{i} {h.kind} {h.timecode} ({h.offset_frames:+.1f} fr)"))
    markers.sort(key=lambda m: m.time_sec)

    def order(p: Part) -> tuple[int, str]:
        base = layer_of(p.name, is_drum=p.is_drum)
        return (PART_ORDER.index(base) if base in PART_ORDER else len(PART_ORDER), p.name)

    parts: list[Part] = sorted(orch.parts.values(), key=order)
    for p in parts:
        p.notes.sort(key=lambda n: (n.start_sec, n.pitch, n.end_sec))
    return parts, markers, levels


def _bar_levels(c: _Composition, cp: _CuePlan) -> list[float]:
    """The cue's per-bar intensity: a kept take keeps the picture's energy it was arranged to (a
    recut or a neighbour's edit moves the smoothed curve under it), else the curve's under each bar."""
    cue = cp.cue
    stored = (cue.take or {}).get("bar_intensity") if cue.id in c.kept else None
    ok = (isinstance(stored, list) and len(stored) == len(cp.bars)
          and all(isinstance(x, (int, float)) and not isinstance(x, bool) and 0 <= x <= 1 for x in stored))
    if ok:
        return [float(x) for x in stored]
    bar_times = [(c.tmap.beats_to_time(cp.beat0 + b0), c.tmap.beats_to_time(cp.beat0 + b0 + nb)) for b0, nb in cp.bars]
    return bar_intensities(c.timeline.curves.intensity, c.timeline.curves.rate_hz, bar_times)


def _takes(c: _Composition, composer_id: str, levels: dict[str, list[float] | None]) -> dict[str, dict[str, Any]]:
    """Each cue's take: what it was written for and with, to keep it (lock, pick) as it is."""
    return {cp.cue.id: {"seed": c.seed_of(cp.cue), "frame": c.frame_of(cp.cue), "film": c.film_of(cp.cue),
                        "composer": composer_id,
                        "for": c.conds[cp.cue.id],
                        "bars": [{"chord": b.chord, "notes": [list(n) for n in b.notes]} for b in c.melodies[cp.cue.id]],
                        "harmony": harmony_to_take(cp.harmony),
                        **({"bar_intensity": [float(x) for x in levels[cp.cue.id]]}
                           if levels.get(cp.cue.id) is not None else {})}
            for cp in c.plans}


def _harmony_report(cp: _CuePlan) -> dict[str, Any]:
    """What the cue report says of the harmony: who wrote it, the chords bar by bar, the form."""
    h = cp.harmony
    bars = []
    for i, ch in enumerate(h.chords):
        bars.append(" ".join([ch.label] + [c.label for _, c in h.changes.get(i, [])]))
    out = {"harmony": h.writer, "chord_labels": " | ".join(bars),
           "form": ", ".join(f"{ph.design} of {ph.bars} bar{'s' if ph.bars > 1 else ''} ({ph.cadence})" for ph in h.phrases)}
    if h.modulation:
        out["modulation"] = h.modulation
    return out


def _melody_writer(composer_id: str) -> str:
    """Who a cue's melody notes are credited to: the model (``"transformer:v1"``) or the rules."""
    first = composer_id.split("+")[0]
    return "rules:melody" if not first or first.startswith("rule") else first


#: ``cue_report[...]["take"]`` of a cue composed from its kept take.
KEPT_TAKE = "kept (the take stored in timeline.json)"


def take_condition(cue: Cue, density_band: int, register: str) -> dict[str, Any]:
    """What a cue's melody was written for (``Cue.take["for"]``): key, mood, length in beats, metre,
    density band, register and the cue whose theme it recalls. Not the opening prompt itself, which
    comes from other cues."""
    return {"key": cue.key, "mood": cue.mood, "beats": cue.beats, "beats_per_bar": cue.beats_per_bar,
            "density_band": int(density_band), "register": register, "recalls": cue.recalls}


def kept_take(cue: Cue, condition: dict[str, Any], seed: int, n_bars: int) -> list[BarData] | None:
    """The melody of the take the user chose for ``cue`` (``Cue.take``), or None to write one.

    A take is kept for a locked cue, and for a cue with its own seed (a picked variant, a rated
    take, a cue locked once) while it fits: the same key, mood, length and metre, and, when the
    cue is not locked, the same seed, density band, register and recalled theme (the user
    changed the cue: it is written again). Edits of *other* cues (the first cue's motif, a recalled theme) never
    change a kept take.
    """
    take = cue.take
    if not take or not (cue.locked or cue.seed >= 0):
        return None
    was = take.get("for") or {}
    fixed = ("key", "mood", "beats", "beats_per_bar")
    fits = all(was.get(k) == condition[k] for k in fixed) and len(take.get("bars", [])) == n_bars
    if cue.locked and not fits:
        log.warning("cue %s is locked, but its %s changed since its take was stored; its melody is written again",
                    cue.id, ", ".join(k.replace("_", " ") for k in fixed if was.get(k) != condition[k]) or "bars")
    was = {"recalls": condition["recalls"], **was}  # a take stored before recalls were kept with it
    if not fits or not (cue.locked or (was == condition and take.get("seed") == seed)):
        return None
    return [BarData([(int(a), int(b), int(c)) for a, b, c in bar["notes"]], int(bar["chord"])) for bar in take["bars"]]


def generator_key(generator: Any, sampling: Any) -> dict:
    """What identifies a generator's output besides the request: checkpoint file identity
    (path, size, modification time), backend (float/int8), the sampling settings and the
    version of the inference arithmetic (float rounding can tip a sampled note)."""
    from dataclasses import asdict
    from pathlib import Path

    p = Path(generator.path) if getattr(generator, "path", "") else None
    st = p.stat() if p is not None and p.is_file() else None
    from .generator import SAMPLER_RULES

    return {"id": generator.id, "path": str(p) if p else "", "size": st.st_size if st else 0,
            "mtime_ns": st.st_mtime_ns if st else 0, "sampling": asdict(sampling),
            "arithmetic": getattr(generator, "arithmetic", ""), "sampler": SAMPLER_RULES}


def _request_key(r: Any) -> dict:
    return {"tonic": r.tonic_pc, "meter": r.meter_beats, "seed": r.seed,
            "bars": [[b.mode, b.dens, b.reg, b.chord, b.beats, [[p, list(t)] for p, t in b.tones], b.cadence, b.copy_of,
                      b.close_pc] for b in r.bars],
            "prompt": [[list(map(list, b.notes)), b.chord] for b in r.prompt], "rhythm": list(r.rhythm)}


def _prompt_for(cp: _CuePlan, first: _CuePlan, motif: Motif, melodies: dict[str, list[BarData]],
                timeline: Timeline) -> tuple[str, list[BarData]]:
    """The opening of a cue: the bars of the cue it recalls, or a variation of the film's motif."""
    if len(cp.bars) < 2 * MOTIF_BARS:
        return "none (cue too short)", []
    if cp.cue.recalls and cp.cue.recalls in melodies:
        src = next(c for c in timeline.cues if c.id == cp.cue.recalls)
        s_tonic, s_mode = parse_key(src.key)
        m = Motif.from_bars(melodies[src.id][: 2 * MOTIF_BARS], tonic_pc=s_tonic, mode=s_mode)
        return f"recalls {src.id}", m.realise(tonic_pc=cp.tonic, mode=cp.mode)
    if (cp.cue.valence >= 0) != (first.cue.valence >= 0):
        variant = "inverted"
    elif cp.cue.mood != first.cue.mood:
        variant = "re-harmonised"
    else:
        variant = "transposed"
    return variant, motif.realise(tonic_pc=cp.tonic, mode=cp.mode, variant=variant)


def compose_variants(timeline: Timeline, cue_id: str, seeds: list[int], *, seed: int = 0, composer: str = "auto",
                     generator: Any = None, sampling: Any = None, cache: StageCache | None = None,
                     preferences: Any = None) -> list[Score]:
    """Alternatives for one cue: the whole score with only that cue's seed changed, once per seed.

    Composing the whole film each time makes an audition exactly what ``pick`` will give (the other
    cues, the motif and the batch are the same). Picking a variant of the first cue restates the
    film's motif, so later cues' openings follow it.
    """
    import copy

    from .generator import Generator

    if generator is None and composer != "rules":
        from .generator import DEFAULT_CHECKPOINT

        if composer == "transformer" or DEFAULT_CHECKPOINT.is_file():
            generator = Generator.load()
    out = []
    for sd in seeds:
        tl = copy.deepcopy(timeline)
        next(c for c in tl.cues if c.id == cue_id).seed = sd
        out.append(compose(tl, seed=seed, composer=composer, generator=generator, sampling=sampling, cache=cache,
                           preferences=preferences))
    return out
