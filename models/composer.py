"""``compose(timeline) -> Score``: melodies from the trained generator (or rules), motif memory,
thematic recall, copyright guard, then the arranger.

Conditioning from the timeline, per bar: mode from the cue's key (major/minor), density band
from arousal and intensity, register from intensity and valence, chord degree from the cue's
mood progression (the arranger uses the same chords). Every output names its composer
(``Score.composer``): ``transformer:v1`` (``:int8`` when quantised) or ``rule-based:v1``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..contracts import Cue, Marker, Part, Score, TempoEvent, Timeline
from ..scoring.tempo import TempoMap
from .arranger import CueContext, Orchestra, arrange_cue
from .harmony import PROGRESSIONS, SCALES, chord_pitches, nearest, parse_key
from .motif import Motif
from .tokens import BarData

log = logging.getLogger(__name__)

from . import RULES_ID
PART_ORDER = ["Melody", "Melody double", "Counter-line", "Brass (accents)", "Ostinato", "Strings (pad)",
              "Contrabass", "Timpani", "Percussion"]
MOTIF_BARS = 2


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
    bars: list[tuple[int, int]]
    chords: list[int]
    beat0: float


def _plan_cue(cue: Cue, tmap: TempoMap) -> _CuePlan:
    tonic, mode = parse_key(cue.key)
    bpb = max(1, cue.beats_per_bar)
    bars = [(b0, min(bpb, cue.beats - b0)) for b0 in range(0, max(cue.beats, 1), bpb)]
    prog = PROGRESSIONS.get(cue.mood, PROGRESSIONS["serene"])
    chords = [prog[i % len(prog)] for i in range(len(bars))]
    if len(bars) > 1:
        chords[-1] = 0  # end on the tonic
    return _CuePlan(cue, tonic, mode, bars, chords, tmap.time_to_beats(cue.start_sec))


def _rule_melody(cp: _CuePlan, rng: np.random.Generator) -> list[BarData]:
    """The rule-based melody: a walk over the scale landing on chord tones on strong beats."""
    scale = SCALES[cp.mode]
    pcs = {(cp.tonic + s) % 12 for s in scale}
    I = cp.cue.intensity
    step16 = 8 if I < 0.3 else 4 if I < 0.6 else 2
    pitch = 72 + cp.tonic if cp.tonic < 6 else 60 + cp.tonic
    out = []
    for (b0, nb), deg in zip(cp.bars, cp.chords):
        chord = chord_pitches(cp.tonic, cp.mode, deg)
        notes = []
        for pos in range(0, nb * 4, step16):
            if pos % 8 == 0:
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


def compose(timeline: Timeline, *, seed: int = 0, composer: str = "auto", generator: Any = None,
            sampling: Any = None, humanize: bool = True) -> Score:
    """Write the score of a timeline.

    Parameters
    ----------
    timeline : Timeline
    seed : int
        Same timeline + seed + composer -> same notes (the MIDI is byte-identical).
    composer : {"auto", "transformer", "rules"}
        "auto" uses the trained generator when its checkpoint is present, else the rules (and the
        score says which).
    generator : Generator, optional
        An already loaded :class:`~tempscore.models.generator.Generator` (e.g. int8).
    sampling : SamplingSettings, optional
    """
    from .generator import DEFAULT_CHECKPOINT, BarCondition, CueRequest, Generator, SamplingSettings

    tmap = TempoMap([TempoEvent(**vars(e)) for e in timeline.tempo_map])
    fps = timeline.video.fps_num / timeline.video.fps_den
    use_model = composer == "transformer" or (composer == "auto" and (generator is not None or DEFAULT_CHECKPOINT.is_file()))
    if use_model and generator is None:
        generator = Generator.load()
    s = sampling or SamplingSettings()

    def seed_of(cue: Cue) -> int:  # a picked variant pins the cue's own seed
        return cue.seed if cue.seed >= 0 else seed

    plans = [_plan_cue(c, tmap) for c in timeline.cues if not c.tacet and c.beats > 0]
    melodies: dict[str, list[BarData]] = {}
    report: dict[str, dict[str, Any]] = {}
    if use_model and plans:
        def request(cp: _CuePlan, prompt: list[BarData], attempt: int = 0) -> CueRequest:
            dens, reg = condition_for(cp.cue)
            mode = "maj" if cp.mode == "major" else "min"
            conds = [BarCondition(mode, dens, reg, ch, beats=nb) for (_, nb), ch in zip(cp.bars, cp.chords)]
            return CueRequest(tonic_pc=cp.tonic, meter_beats=cp.cue.beats_per_bar, bars=conds, prompt=prompt,
                              seed=seed_of(cp.cue) * 1_000_003 + cp.cue.start_frame * 7 + attempt * 104_729)

        # 1. the film's motif: the opening bars of the first cue, written freely
        first = plans[0]
        melodies[first.cue.id] = generator.generate([request(first, [])], s)[0]
        motif = Motif.from_bars(melodies[first.cue.id][:MOTIF_BARS], tonic_pc=first.tonic, mode=first.mode)
        report[first.cue.id] = {"motif": "stated"}
        # 2. every other cue in one batch, opening with a variation of the motif (or the cue it recalls)
        reqs, rest = [], plans[1:]
        for cp in rest:
            variant, prompt = _prompt_for(cp, first, motif, melodies, timeline)
            reqs.append(request(cp, prompt))
            report[cp.cue.id] = {"motif": variant}
        for cp, mel in zip(rest, generator.generate(reqs, s)):
            melodies[cp.cue.id] = mel
        # 3. copyright guard: regenerate a cue that shares a 12-gram of intervals with the corpus
        from .guard import COPY_LIMIT, longest_shared_ngram

        for cp in plans:
            attempt = 0
            shared = longest_shared_ngram([p for b in melodies[cp.cue.id] for _, p, _ in b.notes])
            while shared >= COPY_LIMIT and attempt < 3:
                attempt += 1
                mel = generator.generate([request(cp, [], attempt)], s)[0]
                melodies[cp.cue.id] = mel
                shared = longest_shared_ngram([p for b in mel for _, p, _ in b.notes])
            report[cp.cue.id].update({"longest_shared_interval_ngram": shared, "regenerated": attempt})
        composer_id = generator.id + "+arranger:v1"
    else:
        for cp in plans:
            melodies[cp.cue.id] = _rule_melody(cp, np.random.default_rng([seed_of(cp.cue), cp.cue.start_frame]))
            report[cp.cue.id] = {"motif": "none (rules)"}
        composer_id = RULES_ID
    # 4. arrange
    orch = Orchestra()
    markers: list[Marker] = []
    for cue in timeline.cues:
        if cue.tacet or cue.beats <= 0:
            markers.append(Marker(cue.start_sec, f"{cue.id} tacet"))
            continue
        cp = next(p for p in plans if p.cue is cue)
        cx = CueContext(cue=cue, tmap=tmap, beat0=cp.beat0, tonic_pc=cp.tonic, mode=cp.mode, bars=cp.bars,
                        chords=cp.chords, fps=fps, rng=np.random.default_rng([seed_of(cue), cue.start_frame, 99]))
        arrange_cue(orch, cx, melodies[cue.id], [h for h in timeline.hit_points if h.cue_id == cue.id],
                    humanize=humanize)
        extra = f" motif {report[cue.id]['motif']}" if report.get(cue.id) else ""
        markers.append(Marker(cue.start_sec, f"{cue.id} {cue.mood} {cue.key} {cue.tempo_bpm:.2f} BPM{extra}"))
    for i, h in enumerate(timeline.hit_points, 1):
        markers.append(Marker(h.time_sec, f"H{i} {h.kind} {h.timecode} ({h.offset_frames:+.1f} fr)"))
    markers.sort(key=lambda m: m.time_sec)
    def order(p: Part) -> tuple[int, str]:
        base = p.name.split(" (")[0]
        return (PART_ORDER.index(base) if base in PART_ORDER else len(PART_ORDER), p.name)

    parts: list[Part] = sorted(orch.parts.values(), key=order)
    for p in parts:
        p.notes.sort(key=lambda n: (n.start_sec, n.pitch, n.end_sec))
    return Score(parts=parts, tempo_map=timeline.tempo_map, markers=markers, duration_sec=timeline.video.duration_sec,
                 composer=composer_id, seed=seed, report=report)


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
                     generator: Any = None, sampling: Any = None) -> list[Score]:
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
        out.append(compose(tl, seed=seed, composer=composer, generator=generator, sampling=sampling))
    return out
