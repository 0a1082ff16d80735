"""``compose(timeline) -> Score``: melodies from the trained generator (or rules), motif memory,
thematic recall, copyright guard, then the arranger.

Conditioning from the timeline, per bar: mode from the cue's key (major/minor), density band
from arousal and intensity, register from intensity and valence, chord degree from the cue's
mood progression (the arranger uses the same chords). Every output names its composer
(``Score.composer``): ``transformer:v1`` (``:int8`` when quantised) or ``rule-based:v1``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..cache import StageCache
from ..contracts import Cue, Marker, Part, Score, TempoEvent, Timeline
from ..scoring.tempo import TempoMap
from .arranger import CueContext, Orchestra, arrange_cue, bar_intensities, layer_of
from .harmony import PROGRESSIONS, SCALES, Chord, chord_pitches, nearest, parse_key
from .motif import Motif
from .tokens import BarData

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
            sampling: Any = None, humanize: bool = True, cache: StageCache | None = None,
            preferences: Any = None, progress: Callable[[int, int], None] | None = None) -> Score:
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
    from .generator import DEFAULT_CHECKPOINT, BarCondition, CueRequest, Generator, SamplingSettings

    tmap = TempoMap([TempoEvent(**vars(e)) for e in timeline.tempo_map])
    fps = timeline.video.fps_num / timeline.video.fps_den
    use_model = composer == "transformer" or (composer == "auto" and (generator is not None or DEFAULT_CHECKPOINT.is_file()))
    if use_model and generator is None:
        generator = Generator.load()
    s = sampling or SamplingSettings()

    def seed_of(cue: Cue) -> int:  # a picked variant pins the cue's own seed
        return cue.seed if cue.seed >= 0 else seed

    plans = [_plan_cue(music_affect(c), tmap) for c in timeline.cues if not c.tacet and c.beats > 0]
    melodies: dict[str, list[BarData]] = {}
    report: dict[str, dict[str, Any]] = {}
    conds = {cp.cue.id: take_condition(cp.cue, *steered_condition(cp.cue, timeline, preferences)) for cp in plans}
    kept = {cp.cue.id: bars for cp in plans
            if (bars := kept_take(cp.cue, conds[cp.cue.id], seed_of(cp.cue), len(cp.bars))) is not None}

    def frame_of(cue: Cue) -> int:  # the arrangement's random stream: a kept take's own
        return int(cue.take["frame"]) if cue.id in kept else cue.start_frame
    if use_model and plans:
        def request(cp: _CuePlan, prompt: list[BarData], attempt: int = 0) -> CueRequest:
            dens, reg = steered_condition(cp.cue, timeline, preferences)
            mode = "maj" if cp.mode == "major" else "min"
            conds = [BarCondition(mode, dens, reg, ch, beats=nb) for (_, nb), ch in zip(cp.bars, cp.chords)]
            return CueRequest(tonic_pc=cp.tonic, meter_beats=cp.cue.beats_per_bar, bars=conds, prompt=prompt,
                              seed=seed_of(cp.cue) * 1_000_003 + cp.cue.start_frame * 7 + attempt * 104_729)

        from .guard import COPY_LIMIT, longest_shared_ngram

        gen_key = generator_key(generator, s)

        def write(cp: _CuePlan, prompt: list[BarData]) -> list[BarData]:
            """The cue's melody: from the cache when this exact request was written before, else
            sampled; a melody sharing a 12-gram of intervals with the corpus is re-drawn (guard)."""
            cond = conds[cp.cue.id]
            report[cp.cue.id].update({"density_band": cond["density_band"], "register": cond["register"]})
            if cp.cue.id in kept:  # the user's chosen take, as it was written
                report[cp.cue.id].update({"take": KEPT_TAKE, "cached": True})
                return kept[cp.cue.id]
            key = {"generator": gen_key, "request": _request_key(request(cp, prompt))}
            hit = cache.get_json("melody", key) if cache is not None else None
            if hit is not None:
                report[cp.cue.id].update({**hit["report"], "cached": True})
                return [BarData([tuple(n) for n in b["notes"]], b["chord"]) for b in hit["bars"]]
            mel = generator.generate([request(cp, prompt)], s)[0]
            attempt = 0
            shared = longest_shared_ngram([p for b in mel for _, p, _ in b.notes])
            while shared >= COPY_LIMIT and attempt < 3:
                attempt += 1
                mel = generator.generate([request(cp, [], attempt)], s)[0]
                shared = longest_shared_ngram([p for b in mel for _, p, _ in b.notes])
            rep = {"longest_shared_interval_ngram": shared, "regenerated": attempt}
            report[cp.cue.id].update({**rep, "cached": False})
            if cache is not None:
                cache.put_json("melody", key, {"report": rep, "bars": [
                    {"notes": [list(n) for n in b.notes], "chord": b.chord} for b in mel]})
            return mel

        # 1. the film's motif: the opening bars of the first cue, written freely
        first = plans[0]
        report[first.cue.id] = {"motif": "stated"}
        for cp in plans:
            report.setdefault(cp.cue.id, {})
        melodies[first.cue.id] = write(first, [])
        if progress is not None:
            progress(1, len(plans))
        motif = Motif.from_bars(melodies[first.cue.id][:MOTIF_BARS], tonic_pc=first.tonic, mode=first.mode)
        # 2. every other cue opens with a variation of the motif (or the opening of the cue it recalls)
        for cp in plans[1:]:
            variant, prompt = _prompt_for(cp, first, motif, melodies, timeline)
            report[cp.cue.id]["motif"] = variant
            melodies[cp.cue.id] = write(cp, prompt)
            if progress is not None:
                progress(len(melodies), len(plans))
        composer_id = generator.id + "+arranger:v1"
    else:
        for cp in plans:
            report[cp.cue.id] = {"motif": "none (rules)"}
            if cp.cue.id in kept:
                melodies[cp.cue.id] = kept[cp.cue.id]
                report[cp.cue.id]["take"] = KEPT_TAKE
            else:
                melodies[cp.cue.id] = _rule_melody(cp, np.random.default_rng([seed_of(cp.cue), cp.cue.start_frame]))
        composer_id = RULES_ID
    # 4. arrange
    from ..scoring.report import cue_name

    orch = Orchestra()
    markers: list[Marker] = []
    for cue in timeline.cues:
        if cue.tacet or cue.beats <= 0:
            markers.append(Marker(cue.start_sec, f"{cue_name(cue)} tacet"))
            continue
        cp = next(p for p in plans if p.cue.id == cue.id)
        bar_times = [(tmap.beats_to_time(cp.beat0 + b0), tmap.beats_to_time(cp.beat0 + b0 + nb)) for b0, nb in cp.bars]
        take_by = (cue.take or {}).get("composer", "") if cue.id in kept else ""
        cx = CueContext(cue=cp.cue, tmap=tmap, beat0=cp.beat0, tonic_pc=cp.tonic, mode=cp.mode, bars=cp.bars,
                        chords=[Chord.of_degree(cp.tonic, cp.mode, d) for d in cp.chords], fps=fps, rng=np.random.default_rng([seed_of(cue), frame_of(cue), 99]),
                        seed=seed_of(cue), film=timeline.video.content_hash,
                        melody_writer=_melody_writer(take_by or composer_id),
                        bar_intensity=bar_intensities(timeline.curves.intensity, timeline.curves.rate_hz, bar_times))
        arranged = arrange_cue(orch, cx, melodies[cue.id], [h for h in timeline.hit_points if h.cue_id == cue.id],
                               humanize=humanize)
        report.setdefault(cue.id, {}).update(arranged)
        extra = f" motif {report[cue.id]['motif']}" if report.get(cue.id, {}).get("motif") else ""
        extra += f"; {arranged['idiom']}; written: {arranged['written']}"
        markers.append(Marker(cue.start_sec, f"{cue_name(cue)} {cue.mood} {cue.key} {cue.tempo_bpm:.2f} BPM{extra}"))
    for i, h in enumerate(timeline.hit_points, 1):
        markers.append(Marker(h.time_sec, f"H{i} {h.kind} {h.timecode} ({h.offset_frames:+.1f} fr)"))
    markers.sort(key=lambda m: m.time_sec)
    def order(p: Part) -> tuple[int, str]:
        base = layer_of(p.name, is_drum=p.is_drum)
        return (PART_ORDER.index(base) if base in PART_ORDER else len(PART_ORDER), p.name)

    parts: list[Part] = sorted(orch.parts.values(), key=order)
    for p in parts:
        p.notes.sort(key=lambda n: (n.start_sec, n.pitch, n.end_sec))
    takes = {cp.cue.id: {"seed": seed_of(cp.cue), "frame": frame_of(cp.cue), "composer": composer_id,
                         "for": conds[cp.cue.id],
                         "bars": [{"chord": b.chord, "notes": [list(n) for n in b.notes]} for b in melodies[cp.cue.id]]}
             for cp in plans}
    return Score(parts=parts, tempo_map=timeline.tempo_map, markers=markers, duration_sec=timeline.video.duration_sec,
                 composer=composer_id, seed=seed, report=report, takes=takes)


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
    return {"id": generator.id, "path": str(p) if p else "", "size": st.st_size if st else 0,
            "mtime_ns": st.st_mtime_ns if st else 0, "sampling": asdict(sampling),
            "arithmetic": getattr(generator, "arithmetic", "")}


def _request_key(r: Any) -> dict:
    return {"tonic": r.tonic_pc, "meter": r.meter_beats, "seed": r.seed,
            "bars": [[b.mode, b.dens, b.reg, b.chord, b.beats] for b in r.bars],
            "prompt": [[list(map(list, b.notes)), b.chord] for b in r.prompt]}


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
