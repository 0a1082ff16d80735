"""Orchestration: a cue's melody and chords made into film music for an orchestra.

Each cue is arranged in layers (:func:`arrange_cue`):

=============  ==========================================================================
melody         the generated line on an instrument that can play it: one whose range
               holds the line (moved by whole octaves) and whose fastest comfortable rate
               is not exceeded (no horn sixteenths at 140 BPM); doubled an octave only
               at high intensity and only inside the doubling instrument's range
counter-line   chord tones a tenth under the melody's on-beat notes (intensity >= 0.45)
bed            always, so no cue falls silent: a pad, a chorale, a drone or string
               tremolo (low-intensity cues get a quiet pad or drone)
bass           the chord's bass note, or a tonic pedal (intensity >= 0.2)
motion         an arpeggio, an ostinato or a pulse, rate-limited by its instrument
timpani        tonic and dominant roots on phrase downbeats (intensity >= 0.6)
accents        about one hit a bar: the strongest, preferring downbeats (every hit the
               user added), coloured by the mood (below)
=============  ==========================================================================

The idioms (:mod:`.idioms`) are chosen per cue from the mood and intensity with a random stream
seeded by the cue's stream (the run's seed and the cue's first frame) and the film's content hash,
and the instruments from a palette chosen per film and seed: different films and seeds get different
accompaniment, the same inputs the same notes. A cue whose intensity rises by 0.2 or more gets a
rising build (its layers enter one after another). Every cue's onsets stay under
:data:`MAX_NOTES_PER_SEC`, and its texture follows its energy (arousal and intensity): from 3
notes a second at none to 13 at full (:func:`notes_per_sec_for`); the moving layer's subdivision,
the doublings and the counter-line give way first.

Accent colours: excited, a brass stab with timpani and bass drum; tense, low brass and timpani
with bass drum; serene, a harp glissando onto a celesta note; sombre, a low piano note, a
timpani roll or a low string swell. Crash cymbals only in excited or tense cues, on hits of
strength >= 0.75 at intensity >= 0.5, at most one per 10 s of a cue. Below intensity 0.25
every mood takes the soft colours.

The :class:`Orchestra` never lets one instrument (GM program) sound the same pitch twice at
once: a note struck while the same pitch still sounds ends the earlier one; two strikes of a
pitch under :data:`FLAM_SEC` apart keep only the louder (no accidental flams). It records who
wrote each note (the melody's model, or these rules), reported per cue as the share of its
sounding notes.

Humanisation: seeded micro-timing (sd 5 ms, at most 12 ms) and velocity (sd 4) on every layer
except the accents, which stay exactly on the grid.
"""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..contracts import Cue, HitPoint, Note, Part
from . import idioms as I_
from ..harmony import DRUM, SCALES, Chord
from .idioms import INSTRUMENTS, Instrument, instrument

if TYPE_CHECKING:
    from ..scoring.tempo import TempoMap
    from .tokens import BarData

#: Who wrote a note that no model wrote.
RULES_WRITER = "rules:arranger"
#: No cue's texture (every part's onsets, accents included) goes over this many notes a second
#: (a Haydn quartet: ~8; the issue's ceiling: 16); the planning budget keeps a margin for accents.
MAX_NOTES_PER_SEC = 16.0
PLAN_NOTES_PER_SEC = 13.0
#: Two strikes of one pitch on one instrument closer than this are a flam: only the louder is kept.
FLAM_SEC = 0.030
#: Crash cymbals: at most one per this many seconds of a cue, only on strong hits of loud cues.
CRASH_EVERY_SEC = 10.0
MAJOR_FAMILY = ("major", "lydian", "mixolydian", "ionian")


@dataclass
class CueContext:
    cue: Cue
    tmap: TempoMap
    beat0: float
    tonic_pc: int
    mode: str
    bars: list[tuple[int, int]]  # (first beat from the cue start, beats in the bar)
    chords: list[Chord]  # the chord at the start of each bar
    fps: float
    rng: np.random.Generator
    #: chord changes inside bars: ``changes[i]`` lists ``(beat in bar, chord)`` after the bar's first
    changes: dict[int, list[tuple[float, Chord]]] | None = None
    #: the run's seed for this cue (the arranger's choices of idiom and instruments follow it)
    seed: int = 0
    #: the film's content hash: different films get different palettes and idioms
    film: str = ""
    #: who wrote the melody (``"transformer:v1"``, ``"rule-based:v1"``): its notes are credited to it
    melody_writer: str = "rules:melody"
    #: the picture's intensity (0..1) per bar, from the timeline's curve (None: the cue's own)
    bar_intensity: list[float] | None = None
    #: bars (0-based) that end a phrase (a cadence): the motion relaxes into them
    phrase_ends: tuple[int, ...] = ()
    #: the mode's scale (semitones above the tonic); None: ``SCALES[mode]``
    scale: tuple[int, ...] | None = None

    def chord_at(self, bar: int, beat_in_bar: float = 0.0) -> Chord:
        """The chord sounding at ``beat_in_bar`` of bar ``bar`` (clamped to the cue's bars)."""
        bar = min(max(bar, 0), len(self.chords) - 1)
        chord = self.chords[bar]
        for b, ch in (self.changes or {}).get(bar, []):
            if b <= beat_in_bar + 1e-9:
                chord = ch
        return chord

    @property
    def major(self) -> bool:
        return self.mode in MAJOR_FAMILY

    def scale_steps(self) -> tuple[int, ...]:
        return self.scale or SCALES.get(self.mode) or SCALES["major" if self.major else "minor"]


def layer_of(track_name: str, *, is_drum: bool = False) -> str:
    """The layer of a track named by :attr:`Orchestra.parts`: ``"Strings (pad) (String Ensemble 1)"``
    -> ``"Strings (pad)"``, ``"Melody (Flute)"`` -> ``"Melody"``, ``"Contrabass"`` -> itself."""
    if is_drum or not track_name.endswith(")"):
        return track_name
    return track_name.rsplit(" (", 1)[0]


class Orchestra:
    """Collects notes per named part; one instrument never sounds one pitch twice at once."""

    def __init__(self) -> None:
        self._parts: dict[tuple[str, int, bool], Part] = {}
        # per instrument (program, drum) and pitch: its notes by start, and the part each is in
        self._by_pitch: dict[tuple[int, bool, int], list[tuple[float, int, Note, tuple[str, int, bool]]]] = {}
        self._writer: dict[int, str] = {}
        self._serial = 0
        self._log: list[tuple[Note, tuple[str, int, bool]]] = []  # every note added, in order (removed ones too)

    @property
    def parts(self) -> dict[str, Part]:
        """Parts by track name: the layer and its instrument (``"Melody (Flute)"``; a drum layer, or
        one named after its instrument, by its name alone), one track per instrument a layer plays.
        The names depend only on the layer and the instrument, so an edit elsewhere never renames a
        cue's track (a DAW re-import finds its tracks again)."""
        import pretty_midi

        out: dict[str, Part] = {}
        for (name, program, drum), p in self._parts.items():
            if not p.notes:
                continue
            inst = pretty_midi.program_to_instrument_name(program)
            label = name if drum or inst.lower() == name.lower() else f"{name} ({inst})"
            out[label] = Part(name=label, program=p.program, is_drum=p.is_drum, notes=p.notes)
        return out

    def add(self, name: str, program: int, start_sec: float, end_sec: float, pitch: int, velocity: float,
            *, drum: bool = False, writer: str = RULES_WRITER) -> bool:
        """Add a note to the part ``name`` played by ``program``; returns whether it was kept.

        The same pitch on the same instrument (whatever the layer): a note starting while another
        sounds ends that one (or is itself ended where the next one starts); two strikes less than
        :data:`FLAM_SEC` apart keep only the louder (the earlier one on a tie).
        """
        start, end = round(float(start_sec), 6), round(float(end_sec), 6)
        pitch = min(max(int(pitch), 0), 127)  # (plain min/max: np.clip on a scalar costs ~10 µs a note)
        vel = min(max(int(round(velocity)), 1), 127)
        if end <= start:
            return False
        key = (name, 0 if drum else program, drum)
        inst_key = (0 if drum else program, drum, pitch)
        lst = self._by_pitch.setdefault(inst_key, [])
        i = bisect.bisect_left(lst, (start, -1))
        for j in (i - 1, i):  # a flam with the neighbour either side
            if 0 <= j < len(lst) and abs(lst[j][0] - start) < FLAM_SEC:
                other = lst[j][2]
                if vel <= other.velocity:
                    return False
                self._remove(j, lst)
                i = bisect.bisect_left(lst, (start, -1))
                break
        if i > 0 and lst[i - 1][2].end_sec > start:  # the note before still sounds: it ends here
            lst[i - 1][2].end_sec = start
        if i < len(lst) and lst[i][0] < end:  # the next strike ends this one
            end = lst[i][0]
        if key not in self._parts:
            self._parts[key] = Part(name=name, program=program, is_drum=drum)
        note = Note(start_sec=start, end_sec=end, pitch=pitch, velocity=vel)
        self._parts[key].notes.append(note)
        self._serial += 1
        lst.insert(i, (start, self._serial, note, key))
        self._writer[id(note)] = writer
        self._log.append((note, key))
        return True

    def _remove(self, j: int, lst: list) -> None:
        _, _, note, key = lst.pop(j)
        self._parts[key].notes.remove(note)
        self._writer.pop(id(note), None)

    @property
    def mark(self) -> int:
        """Where the notes added from now on begin (:meth:`notes_in` ``since``)."""
        return len(self._log)

    def notes_in(self, start_sec: float, end_sec: float, *, since: int = 0) -> list[tuple[Note, tuple[str, int, bool]]]:
        """The notes (and their part keys) still there that were added after ``since`` and start in
        ``[start_sec, end_sec)``: a cue's own notes, without a pass over the whole film's."""
        return [(n, k) for n, k in self._log[since:]
                if id(n) in self._writer and start_sec - 0.02 <= n.start_sec < end_sec - 1e-6]

    def shares(self, start_sec: float, end_sec: float, *, since: int = 0) -> dict[str, dict[str, float]]:
        """Per writer, its share of the notes starting in ``[start_sec, end_sec)`` (added after
        ``since``): of their number (``notes``) and of their sounding time (``sounding``)."""
        count: dict[str, int] = {}
        secs: dict[str, float] = {}
        for n, _ in self.notes_in(start_sec, end_sec, since=since):
            w = self._writer[id(n)]
            count[w] = count.get(w, 0) + 1
            secs[w] = secs.get(w, 0.0) + n.end_sec - n.start_sec
        total_n, total_s = sum(count.values()) or 1, sum(secs.values()) or 1.0
        return {w: {"notes": round(count[w] / total_n, 4), "sounding": round(secs[w] / total_s, 4)} for w in sorted(count)}

    def onsets(self, start_sec: float, end_sec: float, *, since: int = 0) -> int:
        return len(self.notes_in(start_sec, end_sec, since=since))


# ============================================================================ the cue's writer
class CueWriter:
    """The arranger's view of one cue for the idioms: beats from the cue's first downbeat, its
    chords, and :meth:`add` placing a note on the tempo map (humanised unless exact)."""

    def __init__(self, orch: Orchestra, cx: CueContext, *, humanize: bool) -> None:
        self.orch, self.cx, self.cue = orch, cx, cx.cue
        self.since = orch.mark  # the cue's notes are those added from here
        self.humanize = humanize
        self.end_beat = float(cx.cue.beats)
        self.bpm = float(cx.cue.tempo_bpm)
        self.tonic_pc = cx.tonic_pc
        self.bpb = max(1, cx.cue.beats_per_bar)
        self._bar_starts = [b0 for b0, _ in cx.bars]
        self.gain = 1.0  # a rising build scales the layers' dynamics

    def t(self, beat: float) -> float:
        return self.cx.tmap.beats_to_time(self.cx.beat0 + min(beat, self.end_beat))

    def beat_of(self, time_sec: float) -> float:
        return self.cx.tmap.time_to_beats(time_sec) - self.cx.beat0

    def add(self, layer: str, inst: Instrument, beat: float, dur: float, pitch: int, velocity: float, *,
            exact: bool = False, drum: bool = False, writer: str = RULES_WRITER) -> None:
        b1 = min(beat + dur, self.end_beat)
        if b1 <= beat or beat < -1e-9:
            return
        rng = self.cx.rng
        j = 0.0 if exact or not self.humanize else min(max(float(rng.normal(0, 0.005)), -0.012), 0.012)
        vj = 0.0 if exact or not self.humanize else float(rng.normal(0, 4))
        s = max(self.cue.start_sec, self.t(beat) + j)
        e = self.t(b1) - (0.0 if exact else 0.01)
        self.orch.add(layer, inst.program if not drum else 0, s, e, pitch if drum else inst.fit(pitch),
                      velocity * (1.0 if exact else self.gain) + vj, drum=drum, writer=writer)

    def bar_of(self, beat: float) -> int:
        return max(0, min(bisect.bisect_right(self._bar_starts, beat + 1e-9) - 1, len(self._bar_starts) - 1))

    def chord_at_beat(self, beat: float) -> Chord:
        k = self.bar_of(beat)
        return self.cx.chord_at(k, beat - self._bar_starts[k])

    def chord_spans(self) -> list[tuple[float, float, Chord]]:
        """(first beat, end beat, chord) of each stretch of one chord, split at bar lines."""
        out = []
        for k, (b0, nb) in enumerate(self.cx.bars):
            points = [(0.0, self.cx.chords[min(k, len(self.cx.chords) - 1)])]
            points += [(b, ch) for b, ch in (self.cx.changes or {}).get(k, []) if 0 < b < nb]
            for (a, ch), nxt in zip(points, points[1:] + [(float(nb), None)]):
                if nxt[0] > a:
                    out.append((b0 + a, min(b0 + nxt[0], self.end_beat), ch))
        return [s for s in out if s[1] > s[0]]

    def bar_lines(self) -> list[tuple[float, int]]:
        return [(float(b0), nb) for b0, nb in self.cx.bars]

    def cadence_rest(self, beat: float) -> bool:
        """Whether ``beat`` lies in the second half of a bar that closes a phrase (not the cue's last):
        the moving layer stops there and lets the cadence's chord sound."""
        k = self.bar_of(beat)
        if k not in self.cx.phrase_ends or k >= len(self.cx.bars) - 1:
            return False
        b0, nb = self.cx.bars[k]
        return beat - b0 >= nb / 2 - 1e-9

    def level(self, beat: float) -> float:
        """The picture's intensity (0..1) at ``beat``: the bar's, else the cue's."""
        bi = self.cx.bar_intensity
        if bi:
            return min(max(float(bi[min(self.bar_of(beat), len(bi) - 1)]), 0.0), 1.0)
        return min(max(float(self.cue.intensity), 0.0), 1.0)


# ============================================================================ choices
@dataclass(frozen=True)
class Palette:
    """The film's orchestra: the instruments each role may take (by name in :data:`INSTRUMENTS`)."""

    name: str
    melody: dict[str, tuple[str, ...]]  # by intensity band: "low" | "mid" | "high"
    pad: tuple[str, ...]
    chorale: tuple[str, ...]
    arpeggio: tuple[str, ...]
    ostinato: tuple[str, ...]
    pulse: tuple[str, ...]
    counter: tuple[str, ...]
    bass: tuple[str, ...]
    stab: tuple[str, ...]


PALETTES = (
    Palette("orchestra", {"low": ("flute", "clarinet", "oboe", "piano"), "mid": ("violins", "flute", "clarinet", "horns"),
                          "high": ("violins", "horns", "trumpet")},
            pad=("strings", "slow strings"), chorale=("horns", "strings", "trombones"), arpeggio=("harp", "piano"),
            ostinato=("strings", "pizzicato"), pulse=("celli", "strings"), counter=("celli", "horns", "bassoon"),
            bass=("basses",), stab=("brass", "trombones")),
    Palette("strings and harp", {"low": ("violins", "celli", "violas"), "mid": ("violins", "celli"), "high": ("violins",)},
            pad=("slow strings", "strings"), chorale=("strings", "slow strings"), arpeggio=("harp",),
            ostinato=("strings", "pizzicato"), pulse=("celli", "pizzicato"), counter=("celli", "violas"),
            bass=("basses",), stab=("strings", "trombones")),
    Palette("piano and strings", {"low": ("piano",), "mid": ("piano", "violins"), "high": ("violins", "piano")},
            pad=("slow strings", "strings"), chorale=("strings",), arpeggio=("piano", "harp"),
            ostinato=("piano", "strings"), pulse=("piano", "celli"), counter=("celli", "violas"),
            bass=("basses", "celli"), stab=("brass", "strings")),
    Palette("winds and strings", {"low": ("clarinet", "oboe", "flute"), "mid": ("flute", "oboe", "clarinet", "horns"),
                                  "high": ("violins", "trumpet", "horns")},
            pad=("strings", "choir", "slow strings"), chorale=("horns", "bassoon", "strings"),
            arpeggio=("harp", "celesta", "clarinet"), ostinato=("strings", "clarinet"), pulse=("bassoon", "celli"),
            counter=("bassoon", "celli", "horns"), bass=("basses", "tuba"), stab=("brass", "horns")),
)

#: Bed (the sustaining layer) weights by mood.
BEDS = {"serene": {"pad": 3, "chorale": 2, "drone": 0.7}, "sombre": {"drone": 2, "chorale": 2, "pad": 1.5, "tremolo": 1},
        "tense": {"tremolo": 3, "drone": 2, "pad": 1}, "excited": {"pad": 2, "chorale": 2, "tremolo": 0.5}}
#: Moving-layer weights by mood and intensity band ("none": the bed and bass alone).
MOTIONS = {
    ("serene", "low"): {"arpeggio": 2, "none": 2}, ("serene", "mid"): {"arpeggio": 3, "pulse": 1, "ostinato": 1},
    ("serene", "high"): {"arpeggio": 3, "ostinato": 1, "pulse": 1},
    ("sombre", "low"): {"arpeggio": 1, "none": 3}, ("sombre", "mid"): {"arpeggio": 2, "pulse": 1, "none": 1},
    ("sombre", "high"): {"pulse": 2, "ostinato": 1, "arpeggio": 1},
    ("tense", "low"): {"pulse": 1, "none": 2}, ("tense", "mid"): {"pulse": 3, "ostinato": 2, "arpeggio": 1},
    ("tense", "high"): {"ostinato": 3, "pulse": 3},
    ("excited", "low"): {"arpeggio": 2, "pulse": 1, "none": 1}, ("excited", "mid"): {"ostinato": 2, "arpeggio": 2, "pulse": 2},
    ("excited", "high"): {"ostinato": 3, "pulse": 2, "arpeggio": 2},
}


def band_of(intensity: float) -> str:
    return "low" if intensity < 0.3 else "mid" if intensity < 0.6 else "high"


def film_number(film: str) -> int:
    return int.from_bytes(hashlib.sha256(f"tempscore-arranger:{film}".encode()).digest()[:8], "big") >> 1


def choice(rng: np.random.Generator, weights: dict[str, float]) -> str:
    """One key of ``weights``, drawn with probability proportional to its weight (keys in order)."""
    keys = list(weights)
    w = np.array([weights[k] for k in keys], float)
    return keys[int(rng.choice(len(keys), p=w / w.sum()))]


def pick(rng: np.random.Generator, names: tuple[str, ...]) -> Instrument:
    return INSTRUMENTS[names[int(rng.integers(len(names)))]]


def palette_for(seed: int, film: str) -> Palette:
    """The film's palette: the same for every cue of one film and seed."""
    rng = np.random.default_rng([seed & 0xFFFFFFFF, film_number(film) & 0xFFFFFFFF, 7])
    return PALETTES[int(rng.integers(len(PALETTES)))]


# ============================================================================ the melody
@dataclass
class Line:
    """The melody as played: (beat from the cue start, beats long, pitch) per note."""

    notes: list[tuple[float, float, int]] = field(default_factory=list)

    @property
    def pitches(self) -> list[int]:
        return [p for _, _, p in self.notes]

    def rate(self, w: CueWriter) -> float:
        """The fastest bar's notes per second (what the instrument must be able to play)."""
        best = 0.0
        for b0, nb in w.bar_lines():
            n = sum(1 for b, _, _ in self.notes if b0 - 1e-9 <= b < b0 + nb - 1e-9)
            sec = w.t(b0 + nb) - w.t(b0)
            if sec > 0:
                best = max(best, n / sec)
        return best


def melody_line(cx: CueContext, melody: list[BarData]) -> Line:
    out = Line()
    for (b0, _), bar in zip(cx.bars, melody):
        for pos, pitch, dur in bar.notes:
            out.notes.append((b0 + pos / 4.0, dur / 4.0 * 0.95, int(pitch)))
    return out


def octave_shift(pitches: list[int], inst: Instrument) -> int | None:
    """The whole-octave move (nearest to none) that puts every pitch in ``inst``'s range, or None."""
    if not pitches:
        return 0
    lo, hi = min(pitches), max(pitches)
    fits = [k for k in (0, 12, -12, 24, -24) if lo + k >= inst.low and hi + k <= inst.high]
    return fits[0] if fits else None


def melody_instrument(line: Line, w: CueWriter, candidates: tuple[str, ...], rng: np.random.Generator,
                      named: Instrument | None = None) -> tuple[Instrument, int]:
    """An instrument for the line and the octave it plays it in: the one the user named, else one of
    ``candidates`` fast enough for its rate whose range holds it (else the first fast one that
    holds it, else violins or piano)."""
    rate = line.rate(w)
    if named is not None:
        k = octave_shift(line.pitches, named)
        return named, 0 if k is None else k
    ok = [INSTRUMENTS[n] for n in candidates if INSTRUMENTS[n].max_rate >= rate and octave_shift(line.pitches, INSTRUMENTS[n]) is not None]
    if not ok:
        ok = [i for i in (INSTRUMENTS["violins"], INSTRUMENTS["flute"], INSTRUMENTS["piano"])
              if i.max_rate >= rate and octave_shift(line.pitches, i) is not None] or [INSTRUMENTS["piano"]]
    inst = ok[int(rng.integers(len(ok)))]
    return inst, octave_shift(line.pitches, inst) or 0


# ============================================================================ accents
@dataclass
class Accent:
    hit: HitPoint
    beat: float
    bar: int
    score: float


def choose_accents(hits: list[HitPoint], w: CueWriter) -> tuple[list[Accent], list[Accent]]:
    """(accented, left) hit points of the cue: per bar the strongest, a downbeat counting 0.15 more
    and the middle of the bar 0.05; every hit the user added."""
    cands: list[Accent] = []
    for h in hits:
        grid_sec = h.time_sec - h.offset_frames / w.cx.fps
        beat = round(w.beat_of(grid_sec), 6)  # a hit on a bar line is in that bar, wherever the cue is
        if not -1e-6 <= beat < w.end_beat:
            continue
        beat = max(beat, 0.0)
        bar = w.bar_of(beat)
        within = beat - w.cx.bars[bar][0]
        bonus = 0.15 if within < 1e-6 else 0.05 if w.bpb % 2 == 0 and abs(within - w.bpb / 2) < 1e-6 else 0.0
        cands.append(Accent(h, beat, bar, float(h.strength) + bonus + (10.0 if h.how == "user" else 0.0)))
    chosen: dict[int, Accent] = {}
    users = [a for a in cands if a.hit.how == "user"]
    for a in cands:
        if a.hit.how == "user":
            continue
        if a.bar not in chosen or a.score > chosen[a.bar].score + 1e-9:
            chosen[a.bar] = a
    accented = sorted([a for a in chosen.values() if not any(u.bar == a.bar for u in users)] + users,
                      key=lambda a: a.beat)
    left = [a for a in cands if a not in accented]
    return accented, left


def accent_colour(mood: str, intensity: float, rng: np.random.Generator) -> str:
    if intensity < 0.25 or mood in ("serene", "sombre"):
        if mood in ("serene", "excited"):
            return "gliss"
        return ("low piano", "timpani roll", "swell")[int(rng.integers(3))]
    return "stab" if mood == "excited" else "low brass"


def write_accents(w: CueWriter, accents: list[Accent], *, mood: str, colour: str, palette: Palette,
                  rng: np.random.Generator) -> list[str]:
    """Write each accent in the cue's colour (crashes only where allowed); returns what was used."""
    I = float(np.clip(w.cue.intensity, 0, 1))
    used: list[str] = []
    crash_ok = mood in ("excited", "tense") and I >= 0.5
    last_crash = -np.inf
    top = sorted(accents, key=lambda a: -a.hit.strength)
    crash_beats = set()
    for a in top:  # the strongest hits get the crashes, one per CRASH_EVERY_SEC at most
        t = w.t(a.beat)
        if crash_ok and a.hit.strength >= 0.75 and all(abs(t - w.t(b)) >= CRASH_EVERY_SEC for b in crash_beats):
            crash_beats.add(a.beat)
    stab = pick(rng, palette.stab)
    for a in accents:
        chord = w.chord_at_beat(a.beat)
        level = max(I, 0.8 * float(a.hit.strength))
        v = 64 + 50 * level
        if colour == "stab":
            for p in I_.voice_chord(tuple(chord.pcs), n=3, low=55, high=74, prev=None, center=64):
                w.add("Accents", stab, a.beat, 0.5, p, v, exact=True)
            w.add("Timpani", INSTRUMENTS["timpani"], a.beat, 0.5, I_.nearest_pc(chord.root, 45), v, exact=True)
            w.add("Percussion", INSTRUMENTS["timpani"], a.beat, 0.25, DRUM["bass_drum"], v, exact=True, drum=True)
        elif colour == "low brass":
            low = INSTRUMENTS["trombones"]
            root = low.fit(I_.nearest_pc(chord.root, 45))
            for p in (root, root + 12 if root + 12 <= low.high else root + 7):
                w.add("Accents", low, a.beat, 0.75, p, v, exact=True)
            w.add("Timpani", INSTRUMENTS["timpani"], a.beat, 0.5, I_.nearest_pc(chord.root, 45), v, exact=True)
            w.add("Percussion", INSTRUMENTS["timpani"], a.beat, 0.25, DRUM["bass_drum"], v - 6, exact=True, drum=True)
        elif colour == "gliss":
            harp = INSTRUMENTS["harp"]
            top_p = harp.fit(I_.nearest_pc(chord.pcs[-1] if len(chord.pcs) > 2 else chord.root, 79))
            run = I_.scale_run(w.cx.scale_steps(), w.tonic_pc, to_pitch=top_p, notes=7)
            span = min(0.5, a.beat)  # the glissando takes the half beat before the hit
            for k, p in enumerate(run[:-1]):
                if span > 0:
                    w.add("Accents", harp, a.beat - span + span * k / (len(run) - 1), 0.5, p, 40 + 4 * k, exact=True)
            w.add("Accents", harp, a.beat, 1.0, run[-1], min(100, v - 8), exact=True)
            w.add("Accents", INSTRUMENTS["celesta"], a.beat, 1.0, INSTRUMENTS["celesta"].fit(top_p + 12), v - 14, exact=True)
        elif colour == "low piano":
            piano = INSTRUMENTS["piano"]
            root = I_.nearest_pc(chord.root, 31)
            for p in (root, root + 12):
                w.add("Accents", piano, a.beat, 2.0, piano.fit(p), v - 4, exact=True)
        elif colour == "timpani roll":
            timp = INSTRUMENTS["timpani"]
            p = I_.nearest_pc(chord.root, 45)
            steps = 4 if w.bpm < 110 else 2  # sixteenths, or eighths at a quick tempo (at most 8 a second)
            step = 1.0 / steps
            for k in range(steps, 0, -1):
                if a.beat - k * step >= 0:
                    w.add("Timpani", timp, a.beat - k * step, step, p, 36 + 30 * (steps - k) / steps, exact=True)
            w.add("Timpani", timp, a.beat, 1.0, p, v, exact=True)
        else:  # swell: low strings enter on the hit and hold
            for name, center in (("celli", 48), ("basses", 36)):
                inst = INSTRUMENTS[name]
                w.add("Accents", inst, a.beat, min(w.bpb, w.end_beat - a.beat), inst.fit(I_.nearest_pc(chord.root, center)),
                      v - 10, exact=True)
        if a.beat in crash_beats:
            w.add("Percussion", INSTRUMENTS["timpani"], a.beat, 1.0, DRUM["crash"], v - 10, exact=True, drum=True)
            used.append("crash")
        used.append(colour)
    return used


# ============================================================================ the cue
#: Notes an accent of each colour takes (a crash is one more).
ACCENT_NOTES = {"stab": 5, "low brass": 4, "gliss": 8, "low piano": 2, "timpani roll": 5, "swell": 2}


def energy_of(cue: Cue) -> float:
    """The cue's energy, 0..1: arousal and intensity alike (as the melody's density band is chosen)."""
    return float(np.clip(0.5 * (cue.arousal + 1) / 2 + 0.5 * cue.intensity, 0, 1))


def notes_per_sec_for(cue: Cue) -> float:
    """How busy the cue's texture may be: from 3 notes a second at no energy to
    :data:`PLAN_NOTES_PER_SEC` at full energy, so the density follows the picture's arousal."""
    return 3.0 + (PLAN_NOTES_PER_SEC - 3.0) * energy_of(cue)


@dataclass
class Budget:
    """Notes a cue may still take (its length at :data:`PLAN_NOTES_PER_SEC`)."""

    left: float

    def fits(self, n: float) -> bool:
        return n <= self.left + 1e-9

    def take(self, n: float) -> None:
        self.left -= n


def arrange_cue(orch: Orchestra, cx: CueContext, melody: list[BarData], hits: list[HitPoint], *,
                humanize: bool = True) -> dict[str, Any]:
    """Write every layer of one cue into ``orch``; returns what was written (the cue's arrangement
    report: idioms, instruments, accented hits, chords, writers' shares)."""
    cue = cx.cue
    w = CueWriter(orch, cx, humanize=humanize)
    I = float(np.clip(cue.intensity, 0, 1))
    mood = cue.mood if cue.mood in BEDS else ("serene" if cx.major else "sombre")
    band = band_of(I)
    # the choices follow the cue's own stream (its seed and first frame, a kept take's frame) and the film
    rng = np.random.default_rng([int(cx.rng.integers(2**32)), film_number(cx.film) & 0xFFFFFFFF, 23])
    palette = palette_for(cx.seed, cx.film)
    line = melody_line(cx, melody)
    named, solo, others = _named_instruments(cue)
    mel_inst, shift = melody_instrument(line, w, palette.melody[band], rng, named)
    budget = Budget(notes_per_sec_for(cue) * (w.t(w.end_beat) - w.t(0.0)))
    vel = 48 + 55 * I
    for b, d, p in line.notes:
        w.add("Melody", mel_inst, b, d, p + shift, vel + 8, writer=cx.melody_writer)
    budget.take(len(line.notes))
    layers = [f"melody: {mel_inst.name}"]
    accents, left = choose_accents(hits, w)
    if solo:  # the soloist alone; a rest longer than 3 s is bridged by holding the note before
        _bridge_rests(w, line, mel_inst, shift, vel, cx.melody_writer)
        for a in accents:
            chord = w.chord_at_beat(a.beat)
            w.add("Melody accents", mel_inst, a.beat, 0.5, I_.nearest_pc(chord.root, 60), 100, exact=True)
        return _report(orch, w, cx, {"palette": palette.name, "idiom": f"solo {mel_inst.name}", "layers": layers},
                       accents, left, ["soloist"])
    colour = accent_colour(mood, I, rng)
    budget.take((ACCENT_NOTES[colour] + 0.2) * len(accents))
    voicer = Voicer(w, line, shift, rng)
    bed = _write_bed(w, rng, palette, budget, voicer, mood=mood, band=band, vel=vel, others=others, layers=layers)
    # a modal cue's tonic is stated under it by a pedal at any level (its scale is a major or minor
    # key's, that key's tonic otherwise heard as home: a lydian cue as its dominant's key)
    modal = cx.mode not in ("major", "minor")
    if (I >= 0.2 or modal) and bed != "drone":  # (a drone is its own bass)
        _write_bass(w, rng, palette, budget, voicer, mood=mood, band=band, vel=vel, layers=layers, pedal=modal)
    if I >= 0.7 and budget.fits(1.5 * len(line.notes)) and (dbl := _doubling(line, mel_inst, shift)) is not None:
        inst, k = dbl
        for b, d, p in line.notes:
            w.add("Melody double", inst, b, d, p + k, vel - 4, writer=cx.melody_writer)
        budget.take(len(line.notes))
        layers.append(f"doubled: {inst.name} {'up' if k > shift else 'down'} an octave")
    if I >= 0.45 and budget.fits(1.5 * w.end_beat):
        c_inst = pick(rng, palette.counter)
        budget.take(_counter_line(w, line, shift, c_inst, vel - 10))
        layers.append(f"counter-line: {c_inst.name}")
    rising = _rising(cx)
    motion = _write_motion(w, rng, palette, budget, mood=mood, band=band, vel=vel, rising=rising, layers=layers)
    if I >= 0.6 and mood != "serene" and budget.fits(len(cx.bars) / 2):  # timpani as tuned: tonic and dominant
        timp = INSTRUMENTS["timpani"]
        for k, (b0, _) in enumerate(cx.bars):
            root = cx.chord_at(k).root
            if k % 2 == 0 and (root - cx.tonic_pc) % 12 in (0, 7):
                w.add("Timpani", timp, b0, 1.0, I_.nearest_pc(root, 45), vel - 4)
        layers.append("timpani")
    colours = write_accents(w, accents, mood=mood, colour=colour, palette=palette, rng=rng)
    if rising:
        _build_dynamics(orch, w)
    _thin(orch, w)
    report = {"palette": palette.name, "idiom": " + ".join(x for x in (bed, motion) if x != "none"), "layers": layers}
    return _report(orch, w, cx, report, accents, left, sorted(set(colours)))


class Voicer:
    """The learned voices (bass, tenor, alto) of the cue's chords under its melody
    (:mod:`.voicing`), per chord or every ``step`` beats; None where the model is not there."""

    def __init__(self, w: CueWriter, line: Line, shift: int, rng: np.random.Generator) -> None:
        from .voicing import MODEL_ID, VoicingModel

        try:
            self.model: Any = VoicingModel.load()
        except (OSError, ValueError, KeyError):  # the tables are shipped; without them, rules
            self.model = None
        self.writer = MODEL_ID
        self.w, self.line, self.shift = w, sorted(line.notes), shift
        self.seed = int(rng.integers(2**32))
        self._spans: dict[float | None, list] = {}

    def soprano(self, beat: float) -> int | None:
        """The melody note sounding at ``beat`` (or starting in the beat after), if it lies where a
        soprano sings; else None (the voices are then written without one)."""
        for b, d, p in self.line:
            if b - 1e-9 <= beat < b + d or beat <= b < beat + 1.0:
                p += self.shift
                return p if 58 <= p <= 84 else None
        return None

    def bass_pc(self, k: int, beat: float, chord: Chord, n: int) -> int | None:
        """The bass the harmony asks for (an inversion it names), else the root where the key must
        be clear: the cue's first and last chord, a phrase's closing bar, any tonic chord (a
        first-inversion tonic throughout a short cue made its third sound like the key); elsewhere
        the model chooses."""
        if chord.bass is not None:
            return chord.bass
        closing = self.w.bar_of(beat) in self.w.cx.phrase_ends
        if k == 0 or k == n - 1 or closing or chord.root == self.w.tonic_pc:
            return chord.root
        return None

    def spans(self, step: float | None = None) -> list[tuple[float, float, tuple[int, int, int]]] | None:
        if self.model is None:
            return None
        if step not in self._spans:
            pieces = []
            for b0, b1, chord in self.w.chord_spans():
                b = b0
                while b < b1 - 1e-9:
                    d = min(step or (b1 - b0), b1 - b)
                    pieces.append((b, b + d, chord))
                    b += d
            voices = self.model.voice([tuple(c.pcs) for _, _, c in pieces], [self.soprano(b) for b, _, _ in pieces],
                                      np.random.default_rng([self.seed, int((step or 0) * 4)]),
                                      bass_pcs=[self.bass_pc(k, b, c, len(pieces)) for k, (b, _, c) in enumerate(pieces)])
            self._spans[step] = [(b0, b1, v) for (b0, b1, _), v in zip(pieces, voices)]
        return self._spans[step]


def _with_third(w: CueWriter, spans: list[tuple[float, float, tuple[int, int, int]]], n: int
                ) -> list[tuple[float, float, tuple[int, ...]]]:
    """``n`` of each learned voicing's voices for a layer that plays only some: the chord's root and
    third first (the highest voice having each), then the highest others. Without a bass under it,
    a pad of fifths and doublings leaves the chord, and the key, to the melody alone."""
    out = []
    for b0, b1, v in spans:
        chord = w.chord_at_beat(b0)
        pick: list[int] = []
        for pc in chord.pcs[:2]:
            having = [p for p in v if p % 12 == pc and p not in pick]
            if having and len(pick) < n:
                pick.append(having[-1])
        for p in sorted(v, reverse=True):
            if len(pick) < n and p not in pick:
                pick.append(p)
        out.append((b0, b1, tuple(sorted(pick))))
    return out


def _write_bed(w: CueWriter, rng: np.random.Generator, palette: Palette, budget: Budget, voicer: Voicer, *, mood: str,
               band: str, vel: float, others: Instrument | None, layers: list[str]) -> str:
    """The sustaining layer every cue has (a pad, chorale, drone or tremolo): the learned voicing's
    tenor and alto (and bass, as the budget allows; two voices at least), or a tonic drone under
    them; returns which."""
    bed = choice(rng, BEDS[mood]) if others is None else "pad"
    n_chords = len(w.chord_spans())
    center = int(rng.integers(55, 65))
    bed_vel = vel - 14 - (6 if band == "low" else 0)
    step = 2.0 if w.bpm < 100 else float(w.bpb)
    if bed == "chorale" and not budget.fits(3 * (n_chords + w.end_beat / step)):
        bed = "pad"
    three = budget.fits(3 * n_chords) and band != "low"
    learned = voicer.spans(step if bed == "chorale" else None)
    if bed == "drone":
        # the tonic and its octave: an open fifth held that long pulls a sparse cue's key towards the
        # dominant (bench/eval_music.py's full-texture key)
        I_.drone(w, INSTRUMENTS["basses"], layer="Drone", velocity=bed_vel + 4, fifth=False)
        inst = INSTRUMENTS["slow strings"]
        if learned is not None:
            I_.voiced(w, inst, _with_third(w, learned, 2), layer="Pad", voices=(0, 1), velocity=bed_vel - 6,
                      writer=voicer.writer)
        else:
            I_.pad(w, inst, layer="Pad", voices=2, center=center + 3, velocity=bed_vel - 6)
        budget.take(2 * (w.end_beat / 16 + 1) + 2 * n_chords)
        layers.append("drone: basses, pad: slow strings")
        return bed
    if bed == "chorale":
        inst = pick(rng, palette.chorale)
        if learned is not None:
            budget.take(I_.voiced(w, inst, learned, layer="Chorale", voices=(0, 1, 2), velocity=bed_vel,
                                  writer=voicer.writer, legato=0.98))
        else:
            I_.chorale(w, inst, layer="Chorale", center=center - 3, velocity=bed_vel, step_beats=step)
            budget.take(4 * (n_chords + w.end_beat / step))
        layers.append(f"chorale: {inst.name}")
        return bed
    inst = INSTRUMENTS["tremolo strings"] if bed == "tremolo" else others or pick(rng, palette.pad)
    layer = "Tremolo" if bed == "tremolo" else "Pad"
    if learned is not None:
        budget.take(I_.voiced(w, inst, learned if three else _with_third(w, learned, 2), layer=layer,
                              voices=(0, 1, 2) if three else (0, 1), velocity=bed_vel, writer=voicer.writer))
    else:
        I_.pad(w, inst, layer=layer, voices=3 if three else 2, center=center - (5 if bed == "tremolo" else 0),
               velocity=bed_vel)
        budget.take((3 if three else 2) * n_chords)
    layers.append(f"{bed}: {inst.name}")
    return bed


def _write_bass(w: CueWriter, rng: np.random.Generator, palette: Palette, budget: Budget, voicer: Voicer, *, mood: str,
                band: str, vel: float, layers: list[str], pedal: bool = False) -> None:
    """The learned bass line (its notes held, or re-struck on the half bar or beat as the budget
    allows; the basses an octave under it), or a tonic pedal (``pedal``; and in some tense and
    sombre cues)."""
    inst = pick(rng, palette.bass)
    n_chords = len(w.chord_spans())
    steps = [s for s in ((1.0, 2.0) if band == "high" else (2.0,) if band == "mid" else ())
             if budget.fits(w.end_beat / s) and s * 60.0 / w.bpm >= 1.0 / inst.max_rate]
    if pedal or (mood in ("tense", "sombre") and rng.random() < 0.4):
        step = steps[0] if steps else 4.0
        I_.pedal(w, inst, layer="Bass", step_beats=step, velocity=vel - 6)
        budget.take(w.end_beat / step)
        layers.append(f"pedal: {inst.name}")
        return
    step = steps[0] if steps else None
    learned = voicer.spans()
    if learned is not None:
        under = -12 if inst.name == "basses" else 0
        budget.take(I_.voiced(w, inst, learned, layer="Bass", voices=(0,), velocity=vel - 6, writer=voicer.writer,
                              transpose=under, step_beats=step, legato=0.95))
    else:
        I_.bass(w, inst, layer="Bass", step_beats=step, velocity=vel - 6)
        budget.take(n_chords if step is None else w.end_beat / step)
    layers.append(f"bass: {inst.name}")


def _write_motion(w: CueWriter, rng: np.random.Generator, palette: Palette, budget: Budget, *, mood: str, band: str,
                  vel: float, rising: bool, layers: list[str]) -> str:
    """The moving layer (arpeggio, ostinato or pulse), at the finest subdivision its instrument and
    the budget allow; a rising build brings it in after the first third. Returns which ("none")."""
    motion = choice(rng, MOTIONS[(mood, band)])
    start = 0.0
    if rising:
        if motion == "none":
            motion = "pulse" if mood in ("tense", "sombre") else "arpeggio"
        start = float(w.cx.bars[len(w.cx.bars) // 3][0]) if len(w.cx.bars) >= 3 else 0.0
        layers.append("rising build")
    if motion == "none":
        return motion
    inst = pick(rng, getattr(palette, motion))
    finest = {"low": 2, "mid": 3 if motion == "arpeggio" else 2, "high": 4}[band]
    sub = I_.subdivision_for(inst, w.bpm, finest=finest, budget_per_beat=budget.left / max(w.end_beat - start, 1e-9))
    if sub is None:
        return "none"
    mv = vel - 16
    if motion == "arpeggio":
        pattern = list(I_.ARPEGGIO_PATTERNS)[int(rng.integers(len(I_.ARPEGGIO_PATTERNS)))]
        I_.arpeggio(w, inst, layer="Arpeggio", sub=sub, pattern=pattern, center=int(rng.integers(58, 68)),
                    velocity=mv, start=start)
        layers.append(f"arpeggio ({pattern}, {_sub_name(sub)}): {inst.name}")
    elif motion == "ostinato":
        cell, contour = int(rng.integers(len(I_.OSTINATO_CELLS))), int(rng.integers(len(I_.OSTINATO_CONTOURS)))
        I_.ostinato(w, inst, layer="Ostinato", sub=sub, cell=cell, contour=contour, center=int(rng.integers(48, 58)),
                    velocity=mv + 4, start=start)
        layers.append(f"ostinato (cell {cell + 1}, {_sub_name(sub)}): {inst.name}")
    else:
        I_.pulse(w, inst, layer="Pulse", sub=sub, center=int(rng.integers(40, 50)), velocity=mv + 2, start=start)
        layers.append(f"pulse ({_sub_name(sub)}): {inst.name}")
    budget.take(sub * (w.end_beat - start))
    return motion


def _thin(orch: Orchestra, w: CueWriter) -> None:
    """The last guard of :data:`MAX_NOTES_PER_SEC`: while the cue holds more, every other note of its
    busiest accompanying layer (not the melody, not an accent) goes."""
    t0, t1 = w.cue.start_sec, w.cue.end_sec
    limit = MAX_NOTES_PER_SEC * (t1 - t0)
    keep = {"Melody", "Melody double", "Melody accents", "Accents", "Percussion"}
    while len(mine := orch.notes_in(t0, t1, since=w.since)) > limit:
        counts: dict[tuple[str, int, bool], int] = {}
        for _, k in mine:
            if k[0] not in keep:
                counts[k] = counts.get(k, 0) + 1
        if not counts or max(counts.values()) < 2:
            return
        k = max(counts, key=lambda x: (counts[x], x))
        inside = sorted((n for n, key in mine if key == k), key=lambda n: n.start_sec)
        for n in inside[1::2]:
            lst = orch._by_pitch[(0 if k[2] else k[1], k[2], n.pitch)]
            orch._remove(next(i for i, e in enumerate(lst) if e[2] is n), lst)


def _sub_name(sub: float) -> str:
    return {4: "sixteenths", 3: "triplets", 2: "eighths", 1: "quarters", 0.5: "halves"}.get(sub, f"{sub}/beat")


def _named_instruments(cue: Cue) -> tuple[Instrument | None, bool, Instrument | None]:
    """From a prompt's orchestration ("solo cello", "piano and strings"): the melody's instrument,
    whether it plays alone, and the second instrument named (for the bed)."""
    if not cue.orchestration:
        return None, False, None
    from ..scoring.edits import INSTRUMENT_WORDS, instrument_of, orchestration_words

    words = orchestration_words(cue.orchestration)
    named = [INSTRUMENT_WORDS[i] for w in words if (i := instrument_of(w)) is not None]
    if not named:
        return None, "solo" in words, None
    return instrument(named[0]), "solo" in words, instrument(named[1]) if len(named) > 1 else None


def _doubling(line: Line, inst: Instrument, shift: int) -> tuple[Instrument, int] | None:
    """An octave doubling inside the doubling instrument's range: violins above (never past their
    :attr:`~Instrument.high`), else celli below; None when neither holds the line."""
    pitches = [p + shift for p in line.pitches]
    if not pitches:
        return None
    for name, k in (("violins", 12), ("flute", 12), ("celli", -12), ("horns", -12)):
        d = INSTRUMENTS[name]
        if d.program == inst.program and k > 0:
            continue
        if min(pitches) + k >= d.low and max(pitches) + k <= d.high and d.max_rate >= inst.max_rate * 0.6:
            return d, shift + k
    return None


def _counter_line(w: CueWriter, line: Line, shift: int, inst: Instrument, velocity: float) -> int:
    """Chord tones a tenth under the melody's notes that fall on a beat, held at least a beat."""
    n = 0
    for b, d, p in line.notes:
        if abs(b - round(b)) > 1e-9:
            continue
        chord = w.chord_at_beat(b)
        target = p + shift - 16
        cp = min((I_.nearest_pc(pc, target) for pc in chord.pcs), key=lambda x: abs(x - target))
        w.add("Counter-line", inst, b, max(d, 0.95), cp, velocity)
        n += 1
    return n


def _bridge_rests(w: CueWriter, line: Line, inst: Instrument, shift: int, velocity: float, writer: str) -> None:
    """A solo line's rests longer than 3 s are held through by the note before them (re-struck softly)."""
    notes = sorted(line.notes)
    for (b, d, p), nxt in zip(notes, notes[1:] + [(w.end_beat, 0.0, 0)]):
        gap = w.t(nxt[0]) - w.t(b + d)
        if gap > 3.0:
            w.add("Melody", inst, b + d, nxt[0] - (b + d), p + shift, velocity - 12, writer=writer)


def _rising(cx: CueContext) -> bool:
    """Whether the cue's picture grows: its last third 0.2 more intense than its first."""
    bi = cx.bar_intensity
    if not bi or len(bi) < 3:
        return False
    k = max(1, len(bi) // 3)
    return float(np.mean(bi[-k:]) - np.mean(bi[:k])) >= 0.2


def _build_dynamics(orch: Orchestra, w: CueWriter) -> None:
    """A rising build: the cue's notes other than its accents swell from 75 % to 110 % of their velocity."""
    t0, t1 = w.cue.start_sec, w.cue.end_sec
    for n, key in orch.notes_in(t0, t1, since=w.since):
        if key[0] not in ("Accents", "Melody accents", "Percussion"):
            x = (n.start_sec - t0) / max(t1 - t0, 1e-9)
            n.velocity = min(max(int(round(n.velocity * (0.75 + 0.35 * x))), 1), 127)


def _report(orch: Orchestra, w: CueWriter, cx: CueContext, report: dict[str, Any], accents: list[Accent],
            left: list[Accent], colours: list[str]) -> dict[str, Any]:
    cue = cx.cue
    shares = orch.shares(cue.start_sec, cue.end_sec, since=w.since)
    chords = []
    for k, (_, nb) in enumerate(cx.bars):
        row = [[0.0, list(cx.chord_at(k).pcs)]]
        row += [[float(b), list(ch.pcs)] for b, ch in (cx.changes or {}).get(k, []) if 0 < b < nb]
        chords.append(row)
    written = ", ".join(f"{w_} {v['notes']:.0%}" for w_, v in sorted(shares.items(), key=lambda kv: -kv[1]["notes"]))
    return {**report, "accented_hits": [a.hit.frame for a in accents], "hits_not_accented": [a.hit.frame for a in left],
            "accents": colours, "chords": chords, "writers": shares, "written": written,
            "notes_per_sec": round(orch.onsets(cue.start_sec, cue.end_sec, since=w.since)
                                   / max(cue.end_sec - cue.start_sec, 1e-9), 2)}


def bar_intensities(curve: list[float], rate_hz: float, bar_times: list[tuple[float, float]]) -> list[float] | None:
    """The mean of an intensity curve (sampled at ``rate_hz`` from 0 s) over each bar ``(start, end)`` in seconds."""
    if not curve or rate_hz <= 0:
        return None
    c = np.asarray(curve, float)
    cum = np.concatenate([[0.0], np.cumsum(c)])
    out = []
    for a, b in bar_times:
        i, j = int(a * rate_hz), max(int(a * rate_hz) + 1, int(np.ceil(b * rate_hz)))
        i, j = min(i, len(c) - 1), min(j, len(c))
        out.append(float((cum[j] - cum[i]) / (j - i)) if j > i else float(c[-1]))
    return out
