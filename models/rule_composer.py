"""A rule-based first composer: notes per cue from tempo, key/mode, intensity and mood.

This is *not* a learned model; every output says so (``Score.composer = "rule-based:v1"``, a MIDI
text event, the CLI summary). The learned generator replaces it (see docs/ARCHITECTURE.md).

Layers, switched on by the cue's intensity (0..1):

=========  ==========================================  =====================
layer      what                                        when
=========  ==========================================  =====================
pad        sustained triad per bar (strings)           always
bass       chord root, whole -> quarter -> 8th notes   intensity >= 0.2
melody     chord-tone random walk, density by intensity always
ostinato   8th-note arpeggio (harp / pizzicato)        intensity >= 0.45
timpani    root on each downbeat                       intensity >= 0.6
accents    brass stab + cymbal on hits on the grid     hit strength >= 0.3
=========  ==========================================  =====================
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..contracts import Cue, HitPoint, Marker, Note, Part, Score, TempoEvent, Timeline
from ..scoring.tempo import TempoMap

log = logging.getLogger(__name__)

COMPOSER_ID = "rule-based:v1"

PITCH_CLASSES = {"C": 0, "C#": 1, "Db": 1, "D": 2, "D#": 3, "Eb": 3, "E": 4, "F": 5, "F#": 6, "Gb": 6, "G": 7,
                 "G#": 8, "Ab": 8, "A": 9, "A#": 10, "Bb": 10, "B": 11}
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
#: Chord progressions (0-based scale degrees, one chord per bar) by mood.
PROGRESSIONS = {
    "excited": (0, 4, 5, 3),  # I V vi IV
    "serene": (0, 5, 3, 4),  # I vi IV V
    "tense": (0, 5, 3, 4),  # i VI iv V
    "sombre": (0, 5, 2, 6),  # i VI III VII
}

# General MIDI programs (0-based)
GM = {"piano": 0, "harp": 46, "strings": 48, "slow_strings": 49, "pizzicato": 45, "violin": 40, "cello": 42,
      "contrabass": 43, "timpani": 47, "french_horn": 60, "brass": 61, "flute": 73}
DRUM_KICK, DRUM_CRASH = 36, 49


def parse_key(key: str) -> tuple[int, str]:
    """``"D minor"`` -> (2, "minor")."""
    parts = key.split()
    if len(parts) != 2 or parts[0] not in PITCH_CLASSES or parts[1] not in SCALES:
        raise ValueError(f"unknown key {key!r}; use e.g. 'D minor' or 'F major'")
    return PITCH_CLASSES[parts[0]], parts[1]


def chord_pitches(tonic_pc: int, mode: str, degree: int) -> list[int]:
    """Triad (pitch classes, root first) on a scale degree; in minor, V is major (raised 7th)."""
    scale = SCALES[mode]
    pcs = [(tonic_pc + scale[(degree + k) % 7]) % 12 for k in (0, 2, 4)]
    if mode == "minor" and degree == 4:
        pcs[1] = (tonic_pc + 11) % 12
    return pcs


def _nearest(pc: int, around: int) -> int:
    """MIDI pitch with pitch class ``pc`` nearest to ``around``."""
    base = around - ((around - pc) % 12)
    return base if around - base <= 6 else base + 12


@dataclass
class _Ctx:
    cue: Cue
    rng: np.random.Generator
    parts: dict[str, Part]
    fps: float
    tmap: TempoMap
    beat0: float = 0.0  # beats of the tempo map at the cue start

    def t(self, beat: float) -> float:
        """Seconds of a beat counted from the cue start (follows the tempo map, ramps included)."""
        return self.tmap.beats_to_time(self.beat0 + beat)

    def add(self, part: str, program: int, start_beat: float, dur_beats: float, pitch: int, velocity: float,
            *, drum: bool = False) -> None:
        end_beat = min(start_beat + dur_beats, float(self.cue.beats))
        if end_beat <= start_beat:
            return
        p = self.parts.setdefault(part, Part(name=part, program=program, is_drum=drum))
        p.notes.append(Note(start_sec=round(self.t(start_beat), 6), end_sec=round(self.t(end_beat), 6),
                            pitch=int(np.clip(pitch, 0, 127)), velocity=int(np.clip(round(velocity), 1, 127))))


def _compose_cue(ctx: _Ctx, hits: list[HitPoint]) -> None:
    cue = ctx.cue
    tonic, mode = parse_key(cue.key)
    scale = SCALES[mode]
    prog = PROGRESSIONS.get(cue.mood, PROGRESSIONS["serene"])
    I = float(np.clip(cue.intensity, 0, 1))
    bpb = cue.beats_per_bar
    vel = 50 + 60 * I
    bars = [(b0, min(bpb, cue.beats - b0)) for b0 in range(0, cue.beats, bpb)]
    pad_prog = GM["slow_strings"] if I < 0.35 else GM["strings"]
    mel_prog = GM["piano"] if I < 0.4 else GM["violin"] if I < 0.7 else GM["french_horn"]
    ost_prog = GM["harp"] if cue.valence >= 0 else GM["pizzicato"]
    step = 2.0 if I < 0.3 else 1.0 if I < 0.6 else 0.5  # melody note length, beats
    mel_pitch = 72 + tonic if tonic < 6 else 60 + tonic
    for bar_i, (b0, nb) in enumerate(bars):
        last = bar_i == len(bars) - 1
        chord = chord_pitches(tonic, mode, prog[bar_i % len(prog)] if not last else 0)
        # pad: closed voicing around middle C, held through the bar
        for k, pc in enumerate(chord):
            ctx.add("Strings (pad)", pad_prog, b0, nb, _nearest(pc, 60 + 4 * k), vel - 8)
        # bass
        if I >= 0.2:
            bstep = float(nb) if I < 0.5 else 1.0 if I < 0.75 else 0.5
            b = 0.0
            while b < nb - 1e-9:
                ctx.add("Contrabass", GM["contrabass"], b0 + b, bstep, _nearest(chord[0], 40), vel - 5 + (8 if b == 0 else 0))
                b += bstep
        # melody: walk over the scale, landing on chord tones on strong beats
        b = 0.0
        while b < nb - 1e-9:
            strong = abs(b - round(b)) < 1e-9 and int(round(b)) % 2 == 0
            if strong:
                target = min((_nearest(pc, mel_pitch) for pc in chord), key=lambda p: abs(p - mel_pitch))
                mel_pitch = target
            else:
                deg_step = int(ctx.rng.choice([-2, -1, -1, 1, 1, 2]))
                pcs = [(tonic + s) % 12 for s in scale]
                cands = [p for p in range(mel_pitch - 5, mel_pitch + 6) if p % 12 in pcs and p != mel_pitch]
                cands.sort(key=lambda p: abs(p - (mel_pitch + 2 * deg_step)))
                mel_pitch = cands[0]
            mel_pitch = int(np.clip(mel_pitch, 62, 84))
            dur = nb - b if last and b + step >= nb else step
            if not (I < 0.3 and ctx.rng.random() < 0.25):  # leave some air at low intensity
                ctx.add("Melody", mel_prog, b0 + b, dur * 0.95, mel_pitch, vel + (6 if strong else 0))
            b += step
        # ostinato: 8th-note arpeggio
        if I >= 0.45 and not last:
            arp = [_nearest(pc, 67) for pc in chord] + [_nearest(chord[0], 79)]
            for k in range(int(nb * 2)):
                ctx.add("Ostinato", ost_prog, b0 + k * 0.5, 0.45, arp[k % len(arp)], vel - 15 + (10 if k % 2 == 0 else 0))
        # timpani on downbeats
        if I >= 0.6:
            ctx.add("Timpani", GM["timpani"], b0, 1.0, _nearest(chord[0], 45), vel)
    # accents on hit points that sit on the grid
    for h in hits:
        if h.strength < 0.3 or abs(h.offset_frames) > 1.0:
            continue
        grid_sec = h.time_sec - h.offset_frames / ctx.fps
        beat = round((ctx.tmap.time_to_beats(grid_sec) - ctx.beat0) * 2) / 2
        if not 0 <= beat < cue.beats:
            continue
        bar_i = min(int(beat // bpb), len(bars) - 1)
        chord = chord_pitches(tonic, mode, prog[bar_i % len(prog)])
        stab_vel = 70 + 50 * max(I, h.strength * 0.8)
        for pc in chord:
            ctx.add("Brass (accents)", GM["brass"], beat, 0.5, _nearest(pc, 62), stab_vel)
        if I >= 0.3:
            ctx.add("Percussion", 0, beat, 0.5, DRUM_CRASH, stab_vel - 10, drum=True)
            ctx.add("Percussion", 0, beat, 0.25, DRUM_KICK, stab_vel, drum=True)


def compose(timeline: Timeline, *, seed: int = 0) -> Score:
    """Write notes for every cue of the timeline (seeded, reproducible).

    Parameters
    ----------
    timeline : Timeline
        Cues (tempo, key, mood, intensity), tempo map and hit points.
    seed : int
        Random seed; the same timeline and seed give the same notes.

    Returns
    -------
    Score
        ``composer == "rule-based:v1"``.
    """
    fps = timeline.video.fps_num / timeline.video.fps_den
    parts: dict[str, Part] = {}
    markers: list[Marker] = []
    tmap = TempoMap([TempoEvent(**vars(e)) for e in timeline.tempo_map])
    for cue in timeline.cues:
        # one generator per cue, so editing one cue leaves the others' notes unchanged
        ctx = _Ctx(cue=cue, rng=np.random.default_rng([seed, int(cue.start_frame)]), parts=parts, fps=fps,
                   tmap=tmap, beat0=tmap.time_to_beats(cue.start_sec))
        if cue.tacet:
            markers.append(Marker(cue.start_sec, f"{cue.id} tacet"))
            continue
        cue_hits = [h for h in timeline.hit_points if h.cue_id == cue.id]
        _compose_cue(ctx, cue_hits)
        markers.append(Marker(cue.start_sec, f"{cue.id} {cue.mood} {cue.key} {cue.tempo_bpm:.2f} BPM"))
    for i, h in enumerate(timeline.hit_points, 1):
        markers.append(Marker(h.time_sec, f"H{i} {h.kind} {h.timecode} ({h.offset_frames:+.1f} fr)"))
    markers.sort(key=lambda m: m.time_sec)
    order = ["Melody", "Brass (accents)", "Ostinato", "Strings (pad)", "Contrabass", "Timpani", "Percussion"]
    plist = sorted(parts.values(), key=lambda p: order.index(p.name) if p.name in order else len(order))
    for p in plist:
        p.notes.sort(key=lambda n: (n.start_sec, n.pitch))
    return Score(parts=plist, tempo_map=timeline.tempo_map, markers=markers,
                 duration_sec=timeline.video.duration_sec, composer=COMPOSER_ID, seed=seed)
