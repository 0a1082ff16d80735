"""Is the music any good? The measurements of issue 23's "Done when", on real and generated cuts,
beside the same statistics of held-out real music from the music21 corpus.

    python bench/eval_music.py [--quick] [--out bench/results/eval_music.json] [--baseline-rev 9d46023]

Cuts: the bundled sample, the ``../shared/data`` clips with picture, and generated contrast
montages of 2+ minutes (dark slow openings, fast action, calm; lavfi sources through
:func:`tests/support/clips.make_cut_clip`), cached with their analyses under ``build/eval_music/``.
Each cut is analysed and planned with the default settings and composed with seeds 0, 1 and 2
(composer ``auto``); seed 0's score is written as MIDI and read back with pretty_midi for the
timing measurements.

Per cue (cues that are not tacet): melody bar repetition, interval 4-gram repeats, strong-beat
chord tones, notes per second (every part), crash cymbals, the longest stretch without a sounding
note, the share of sounding notes each writer (learned model or rules) wrote. Per cut: overlapping
same-pitch notes on one instrument, flams, automatic tacets, hits with a note within ±1 frame,
the home key. Across cuts: home keys, the melody overlap of two films' first cues, the share of
cues whose chords or accompaniment change with the seed, mode per valence/arousal quadrant,
density-vs-arousal Spearman, full-texture key, and the compose time of a generated 10-minute cut
beside the same for the code at ``--baseline-rev`` (run in the same process order, alternating).

Corpus reference (held out from the generator's training: its validation split of the Bach
chorales, Ryan's and O'Neill's tunes by the same name hash; and collections it never saw: Essen
folksongs, Haydn and Mozart string quartets): the same melody and texture statistics per piece
(or per 16-bar excerpt of a longer movement), cached in ``build/eval_music/corpus_v*.json``.

Definitions (the same code measures the cues and the corpus):

- *bar repetition*: of the melody's bars with two or more notes, the share whose rhythm (onsets
  on the 16th grid) and pitch sequence, up to a transposition, equal an earlier bar's;
- *interval 4-gram repeats*: of the melody's 4-interval windows, the share equal to an earlier one;
- *strong-beat chord tones*: of the melody notes on a strong beat (the downbeat, and the middle of
  a 4/4 or 6/8 bar), the share whose pitch class is in the chord: for the score the chord the
  arranger was given at that beat, for the corpus the triad or seventh chord that best covers what
  all parts sound then (:func:`fit_chord`; music with a melody alone is not counted);
- *notes per second*: note onsets of every part (a chord's notes each count) per second; the
  corpus has no tempi, so its rate is per quarter note (given too for the cues) and per second at
  quarter = 100.
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # tests/support: the footage makers
WORK = REPO / "build" / "eval_music"
SHARED = REPO.parent / "shared" / "data"
#: Bumped when a metric's definition changes (the corpus cache is keyed by it). 2: repeated notes.
METRICS_VERSION = 2
#: Krumhansl-Kessler key profiles (major, minor), tonic first.
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
#: Modes counted as major or minor when a key names a church mode.
MAJOR_FAMILY = {"major", "ionian", "lydian", "mixolydian"}
MINOR_FAMILY = {"minor", "aeolian", "dorian", "phrygian", "locrian"}
CRASH_PITCHES = (49, 57)  # GM crash cymbal 1 and 2
FLAM_SEC = 0.030
HOLE_LIMIT_SEC = 4.0
QUARTER_BPM_CORPUS = 100.0
#: Who writes what when the score does not say (a score from before the arranger reported it).
MELODY_LAYERS = ("Melody", "Melody double")

log = logging.getLogger("eval_music")


# ============================================================================ metrics (plain data)
def bar_repetition(bars: Sequence[Sequence[tuple[int, int]]], *, min_notes: int = 2, min_bars: int = 4) -> float | None:
    """Share of bars (with ``min_notes`` or more notes) that repeat an earlier bar up to a transposition.

    Parameters
    ----------
    bars : sequence of sequences of (onset_16th, pitch)
        The melody, bar by bar; onsets in 16ths from the bar line, in time order.
    min_bars : int
        Fewer eligible bars than this: None (too short to judge form).
    """
    eligible = [sorted(b) for b in bars if len(b) >= min_notes]
    if len(eligible) < min_bars:
        return None
    seen: set[tuple] = set()
    repeats = 0
    for b in eligible:
        sig = (tuple(p for p, _ in b), tuple(q - b[0][1] for _, q in b))
        repeats += sig in seen
        seen.add(sig)
    return repeats / len(eligible)


def interval_ngram_repeats(pitches: Sequence[int], *, n: int = 4, min_grams: int = 8) -> float | None:
    """Share of the melody's ``n``-interval windows equal to an earlier window (None when fewer than
    ``min_grams`` windows)."""
    iv = np.diff(np.asarray(pitches, int))
    grams = [tuple(iv[i:i + n]) for i in range(len(iv) - n + 1)]
    if len(grams) < min_grams:
        return None
    seen: set[tuple] = set()
    repeats = 0
    for g in grams:
        repeats += g in seen
        seen.add(g)
    return repeats / len(grams)


def repeated_notes(pitches: Sequence[int], *, min_intervals: int = 8) -> float | None:
    """Share of the melody's intervals that are unisons (the same pitch struck again; None when fewer
    than ``min_intervals`` intervals)."""
    iv = np.diff(np.asarray(pitches, int))
    return None if len(iv) < min_intervals else float(np.mean(iv == 0))


def longest_run(pitches: Sequence[int]) -> int:
    """The most notes in a row on one pitch (0 for no notes)."""
    best = run = 0
    for i, p in enumerate(pitches):
        run = run + 1 if i and p == pitches[i - 1] else 1
        best = max(best, run)
    return best


def strong_offsets(bar_quarters: float, *, compound: bool = False) -> tuple[float, ...]:
    """Strong beats of a bar, in quarter notes from the bar line: the downbeat, and the middle of a
    bar of four quarters or of a compound duple/quadruple bar (6/8, 12/8)."""
    if bar_quarters >= 4 - 1e-9 and abs(bar_quarters / 2 - round(bar_quarters / 2)) < 1e-9 or compound:
        return (0.0, bar_quarters / 2)
    return (0.0,)


def chord_tone_share(notes: Iterable[tuple[float, int, set[int] | None]]) -> tuple[int, int]:
    """(chord tones, counted) over strong-beat melody notes given as (offset, pitch, the chord's pitch
    classes or None when no chord is known there: not counted)."""
    hit = total = 0
    for _, pitch, chord in notes:
        if not chord:
            continue
        total += 1
        hit += (pitch % 12) in chord
    return hit, total


#: Chord shapes a sounding sonority is fitted to (intervals above the root): the triads and sevenths.
CHORD_SHAPES = ((0, 4, 7), (0, 3, 7), (0, 3, 6), (0, 4, 8), (0, 4, 7, 10), (0, 3, 7, 10), (0, 3, 6, 10),
                (0, 4, 7, 11), (0, 3, 6, 9))


def fit_chord(voices: Sequence[int]) -> set[int] | None:
    """The chord a sonority spells: ``voices`` are the MIDI pitches sounding (every part, the melody
    too), lowest first. The shape and root covering the most voices win, less half a voice per chord
    tone no voice sounds, a quarter more when the lowest voice is the root (a passing or suspended
    note is then left outside the chord)."""
    if not voices:
        return None
    pcs = Counter(p % 12 for p in voices)
    bass = min(voices) % 12
    best, best_score = None, -1e9
    for shape in CHORD_SHAPES:
        for root in range(12):
            chord = {(root + i) % 12 for i in shape}
            score = sum(n for pc, n in pcs.items() if pc in chord) - 0.5 * len(chord - set(pcs)) + 0.25 * (bass == root)
            if score > best_score + 1e-9:
                best, best_score = chord, score
    return best


def same_pitch_overlaps(notes: Sequence[tuple[float, float, int]], *, eps: float = 1e-6) -> int:
    """Notes of one instrument that start while a note of the same pitch is still sounding.

    ``notes``: (start_sec, end_sec, pitch).
    """
    count = 0
    last_end: dict[int, float] = {}
    for s, e, p in sorted(notes):
        if s < last_end.get(p, -np.inf) - eps:
            count += 1
        last_end[p] = max(last_end.get(p, -np.inf), e)
    return count


def flams(notes: Sequence[tuple[float, float, int]], *, within_sec: float = FLAM_SEC) -> int:
    """Same pitch struck twice on one instrument with onsets less than ``within_sec`` apart."""
    by_pitch: dict[int, list[float]] = {}
    for s, _, p in notes:
        by_pitch.setdefault(p, []).append(s)
    count = 0
    for onsets in by_pitch.values():
        onsets.sort()
        count += sum(1 for a, b in zip(onsets, onsets[1:]) if b - a < within_sec)
    return count


def longest_gap(intervals: Iterable[tuple[float, float]], spans: Iterable[tuple[float, float]]) -> float:
    """The longest stretch inside ``spans`` (start_sec, end_sec) covered by none of ``intervals``."""
    ivs = sorted(intervals)
    merged: list[list[float]] = []
    for s, e in ivs:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    worst = 0.0
    for a, b in spans:
        cursor = a
        for s, e in merged:
            if e <= cursor:
                continue
            if s >= b:
                break
            worst = max(worst, min(s, b) - cursor)
            cursor = max(cursor, e)
            if cursor >= b:
                break
        worst = max(worst, b - cursor)
    return float(worst)


#: First cues with fewer melody notes are left out of the overlap measured where it means something
#: (with free transposition any one shared onset is a third of a 3-note melody).
OVERLAP_MIN_NOTES = 8


def common_span(a: Sequence[tuple[int, int]], b: Sequence[tuple[int, int]], *, bar_16ths: int
                ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Two melodies cut to the whole bars both have (the shorter's last bar with a note, at most
    8 bars: a theme's length), so a long cue's melody is not searched for a short one's notes."""
    if not a or not b:
        return list(a), list(b)
    bars = min(max(o for o, _ in a), max(o for o, _ in b)) // bar_16ths + 1
    end = min(bars, 8) * bar_16ths
    return [n for n in a if n[0] < end], [n for n in b if n[0] < end]


def melody_overlap(a: Sequence[tuple[int, int]], b: Sequence[tuple[int, int]], *, over: str = "shorter") -> float:
    """Share of two melodies' notes (onset in 16ths from the cue start, pitch) that they have in
    common, at the transposition that shares most, over the shorter melody (``over="both"``: over
    the mean of both lengths, the Dice coefficient: a busy line is not credited with holding a
    sparse one's few notes by chance, as it is over the shorter)."""
    if not a or not b:
        return 0.0
    ca = Counter(a)
    best = 0
    for t in range(-11, 12):
        cb = Counter((o, p + t) for o, p in b)
        best = max(best, sum((ca & cb).values()))
    return best / (min(len(a), len(b)) if over == "shorter" else (len(a) + len(b)) / 2)


def key_estimate(pc_weights: Sequence[float]) -> tuple[int, str] | None:
    """Krumhansl-Schmuckler: the key (tonic pitch class, "major"/"minor") whose profile correlates best."""
    w = np.asarray(pc_weights, float)
    if w.sum() <= 0 or np.ptp(w) == 0:
        return None
    best = max(((np.corrcoef(w, np.roll(prof, k))[0, 1], k, m) for k in range(12)
                for prof, m in ((KK_MAJOR, "major"), (KK_MINOR, "minor"))), key=lambda x: x[0])
    return best[1], best[2]


#: The modal colours' key profiles: their family's Krumhansl-Kessler profile with the weight of the
#: degree the mode alters moved to the altered degree (lydian: the major profile's 4th weight on the
#: raised 4th and the other way round; mixolydian: the major 7th's and the flat 7th's; dorian: the
#: minor 6th's and the major 6th's; phrygian: the 2nd's and the flat 2nd's). A listener hears a
#: modal tonic through the same tonal hierarchy with the mode's own scale.
MODE_PROFILES = {mode: np.array(base, float) for mode, base in (("lydian", KK_MAJOR), ("mixolydian", KK_MAJOR),
                                                                ("dorian", KK_MINOR), ("phrygian", KK_MINOR))}
for _mode, (_a, _b) in {"lydian": (5, 6), "mixolydian": (11, 10), "dorian": (8, 9), "phrygian": (2, 1)}.items():
    MODE_PROFILES[_mode][[_a, _b]] = MODE_PROFILES[_mode][[_b, _a]]


def modal_key_estimate(pc_weights: Sequence[float], mode: str) -> tuple[int, str] | None:
    """The key (tonic, family) heard in a cue written in a church ``mode``: the best of the 24
    major/minor profiles and the mode's own profile (:data:`MODE_PROFILES`) on each of the 12
    tonics, the mode's read as its family (so a lydian cue heard on its own tonic is right, and one
    heard as the dominant's major key is not). For a major or minor cue, :func:`key_estimate`."""
    if mode not in MODE_PROFILES:
        return key_estimate(pc_weights)
    w = np.asarray(pc_weights, float)
    if w.sum() <= 0 or np.ptp(w) == 0:
        return None
    fam = "major" if mode in MAJOR_FAMILY else "minor"
    cands = [(KK_MAJOR, "major"), (KK_MINOR, "minor"), (MODE_PROFILES[mode], fam)]
    best = max(((np.corrcoef(w, np.roll(prof, k))[0, 1], k, m) for k in range(12) for prof, m in cands),
               key=lambda x: x[0])
    return best[1], best[2]


def mode_at(pc_weights: Sequence[float], tonic_pc: int) -> str | None:
    """"major" or "minor": which profile, rooted on ``tonic_pc``, correlates better."""
    w = np.asarray(pc_weights, float)
    if w.sum() <= 0 or np.ptp(w) == 0:
        return None
    ma = np.corrcoef(w, np.roll(KK_MAJOR, tonic_pc))[0, 1]
    mi = np.corrcoef(w, np.roll(KK_MINOR, tonic_pc))[0, 1]
    return "major" if ma >= mi else "minor"


def key_parts(key: str) -> tuple[int, str]:
    """``"F# dorian"`` -> (6, "minor"): tonic pitch class and mode family of a key as written."""
    names = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
    word = key.strip().split()
    name, mode = word[0], (word[1].lower() if len(word) > 1 else "major")
    pc = names[name[0].upper()] + name[1:].count("#") - name[1:].count("b")
    return pc % 12, "major" if mode in MAJOR_FAMILY else "minor"


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    from scipy.stats import spearmanr

    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(spearmanr(x, y).statistic)


def weighted_percentiles(values: Sequence[float], weights: Sequence[float], qs: Sequence[float]) -> list[float]:
    """Percentiles ``qs`` (0..100) of ``values`` where each value counts ``weight`` times (each corpus
    collection weighs the same, whatever its number of pieces)."""
    order = np.argsort(values)
    v = np.asarray(values, float)[order]
    w = np.asarray(weights, float)[order]
    cum = (np.cumsum(w) - 0.5 * w) / w.sum()
    return [float(np.interp(q / 100.0, cum, v)) for q in qs]


# ============================================================================ a melody, bar by bar
@dataclass
class LineStats:
    """The statistics of one melody (a cue's, or a corpus excerpt's) and its texture."""

    bars: int
    bar_repetition: float | None
    ngram_repeats: float | None
    chord_tones: tuple[int, int]
    notes_per_beat: float
    notes_per_sec: float | None = None
    repeated_notes: float | None = None
    longest_run: int = 0

    @property
    def chord_tone_share(self) -> float | None:
        return self.chord_tones[0] / self.chord_tones[1] if self.chord_tones[1] else None


def line_stats(melody: Sequence[tuple[float, int]], *, bar_quarters: float, n_bars: int, all_onsets: int,
               beats: float, chord_at: Callable[[float], set[int] | None] | None, compound: bool = False,
               seconds: float | None = None) -> LineStats:
    """Statistics of a melody given as (onset in quarter notes from the first bar line, pitch).

    ``chord_at(onset)``: the chord's pitch classes at an onset (None: unknown). ``all_onsets``:
    note onsets of every part in the stretch, over ``beats`` quarter notes (``seconds`` long).
    """
    line = _monophonic(melody)
    bars: list[list[tuple[int, int]]] = [[] for _ in range(max(n_bars, 1))]
    strong = strong_offsets(bar_quarters, compound=compound)
    tones = []
    for onset, pitch in line:
        k = int(np.floor(onset / bar_quarters + 1e-9))
        if not 0 <= k < len(bars):
            continue
        within = onset - k * bar_quarters
        bars[k].append((int(round(within * 4)), pitch))
        if chord_at is not None and any(abs(within - s) < 1e-3 for s in strong):
            tones.append((onset, pitch, chord_at(onset)))
    return LineStats(bars=len(bars), bar_repetition=bar_repetition(bars),
                     ngram_repeats=interval_ngram_repeats([p for _, p in line]), chord_tones=chord_tone_share(tones),
                     notes_per_beat=all_onsets / max(beats, 1e-9),
                     notes_per_sec=None if seconds is None else all_onsets / max(seconds, 1e-9),
                     repeated_notes=repeated_notes([p for _, p in line]), longest_run=longest_run([p for _, p in line]))


def _monophonic(notes: Sequence[tuple[float, int]]) -> list[tuple[float, int]]:
    """One note per onset (the highest), in time order."""
    top: dict[float, int] = {}
    for onset, pitch in notes:
        o = round(onset, 4)
        top[o] = max(pitch, top.get(o, -1))
    return sorted(top.items())


# ============================================================================ corpus reference
#: (label, collection folder in the music21 corpus, held-out rule)
CORPUS_SETS = (
    ("Bach chorales", "bach", "val"),
    ("Essen folksongs", "essenFolksong", "all"),
    ("Ryan's / O'Neill's tunes", "ryansMammoth", "val"),
    ("Ryan's / O'Neill's tunes", "oneills1850", "val"),
    ("Haydn / Mozart quartets", "haydn", "all"),
    ("Haydn / Mozart quartets", "mozart", "all"),
)
EXCERPT_BARS = 16


def held_out(collection: str, name: str) -> bool:
    """The generator's validation split (models/corpus.py: split_by_piece, 5 % by name hash)."""
    h = int(hashlib.sha1(f"{collection}/{name}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return h < 0.05


def corpus_paths(collection: str, rule: str, *, quick: bool) -> list[tuple[Path, list[int] | None]]:
    """(file, the opus members to use or None for all) of one held-out set."""
    from music21 import corpus

    paths = sorted(Path(p) for p in corpus.getPaths() if f"/corpus/{collection}/" in str(p))
    if collection in ("haydn", "mozart"):
        paths = [p for p in paths if p.suffix == ".mxl" and "k545" not in str(p)]  # quartets only (k545: a sonata)
    if rule == "val" and collection != "oneills1850":  # one piece a file: its name decides
        paths = [p for p in paths if held_out(collection, f"{p.stem}#0")]
        return [(p, None) for p in paths[: 6 if quick else None]]
    if quick:
        paths = paths[:: max(1, len(paths) // 3)][:3]
    return [(p, None) for p in paths]


def piece_parts(score) -> list[list[tuple[float, float, tuple[int, ...]]]]:  # music21 Score
    """Every part's notes as (start, end in quarter notes from the score's start, MIDI pitches), tie
    continuations merged into the note they continue."""
    out = []
    for part in score.parts:
        notes: list[tuple[float, float, tuple[int, ...]]] = []
        open_ties: dict[tuple[int, ...], int] = {}
        for el in part.flatten().notes:
            dur = float(el.duration.quarterLength)
            if dur <= 0:  # grace notes
                continue
            start = float(el.getOffsetInHierarchy(part))
            pitches = tuple(sorted(p.midi for p in el.pitches))
            tie = getattr(el, "tie", None)
            if tie is not None and tie.type in ("continue", "stop") and pitches in open_ties:
                i = open_ties[pitches]
                s0, _, ps = notes[i]
                notes[i] = (s0, start + dur, ps)
                if tie.type == "stop":
                    del open_ties[pitches]
                continue
            notes.append((start, start + dur, pitches))
            if tie is not None and tie.type == "start":
                open_ties[pitches] = len(notes) - 1
        out.append(notes)
    return out


def corpus_excerpts(score, *, label: str, name: str) -> list[dict[str, Any]]:
    """The statistics of a piece, per excerpt of :data:`EXCERPT_BARS` bars for a long movement."""
    from music21 import meter

    ts = next(iter(score.recurse().getElementsByClass(meter.TimeSignature)), None)
    bar_q = float(ts.barDuration.quarterLength) if ts is not None else 4.0
    compound = ts is not None and ts.denominator == 8 and ts.numerator in (6, 12)
    parts = piece_parts(score)
    if not parts or not parts[0]:
        return []
    melody_part = parts[0]
    # the first full bar starts at the first bar line after a pickup: offsets from the piece's start
    measures = list(score.parts[0].getElementsByClass("Measure"))[:2]
    pickup = 0.0
    if len(measures) == 2:  # a short first bar (an upbeat): the second bar line is where the grid starts
        pickup = float(measures[1].offset - measures[0].offset) % bar_q
    end = max(e for p in parts for _, e, _ in p) if any(parts) else 0.0
    total_bars = int(np.floor((end - pickup) / bar_q + 1e-9))
    if total_bars < 4:
        return []
    spans = ([(0, total_bars)] if total_bars <= EXCERPT_BARS + EXCERPT_BARS // 2 else
             [(b, min(b + EXCERPT_BARS, total_bars)) for b in range(0, total_bars, EXCERPT_BARS)
              if min(b + EXCERPT_BARS, total_bars) - b >= EXCERPT_BARS // 2])
    starts = [[n[0] for n in p] for p in parts]

    def sounding(t: float) -> set[int] | None:
        """The chord sounding at ``t``: :func:`fit_chord` over every part's notes then (None when the
        melody sounds alone)."""
        voices: list[int] = []
        for p, st in zip(parts, starts):
            i = bisect.bisect_right(st, t + 1e-9)
            for s, e, ps in p[max(0, i - 8):i]:
                if s <= t + 1e-9 < e:
                    voices += ps
        return fit_chord(voices) if len(voices) >= 3 else None

    out = []
    for b0, b1 in spans:
        t0, t1 = pickup + b0 * bar_q, pickup + b1 * bar_q
        mel = [(s - t0, max(ps)) for s, _, ps in melody_part if t0 - 1e-9 <= s < t1 - 1e-9]
        onsets = sum(len(ps) for p in parts for s, _, ps in p if t0 - 1e-9 <= s < t1 - 1e-9)
        st = line_stats(mel, bar_quarters=bar_q, n_bars=b1 - b0, all_onsets=onsets, beats=t1 - t0,
                        chord_at=(lambda o, t0=t0: sounding(o + t0)) if len(parts) > 1 else None, compound=compound,
                        seconds=(t1 - t0) * 60.0 / QUARTER_BPM_CORPUS)
        if len(mel) < 8:
            continue
        out.append({"set": label, "piece": name, "bars": [b0, b1], "bar_repetition": st.bar_repetition,
                    "ngram_repeats": st.ngram_repeats, "chord_tones": list(st.chord_tones),
                    "repeated_notes": st.repeated_notes, "longest_run": st.longest_run,
                    "notes_per_beat": round(st.notes_per_beat, 4), "notes_per_sec_q100": round(st.notes_per_sec or 0, 4)})
    return out


def performed(score):  # music21 Score
    """The piece as played: its repeats written out (a film cue has no repeat signs), or as written
    when music21 cannot expand them."""
    try:
        return score.expandRepeats()
    except Exception:  # music21 raises several kinds on irregular repeat marks
        return score


def corpus_reference(*, quick: bool) -> dict[str, Any]:
    """Per-excerpt statistics of the held-out corpus (cached), and their ranges."""
    from music21 import __version__ as m21_version
    from music21 import converter, stream

    cache = WORK / f"corpus_v{METRICS_VERSION}{'_quick' if quick else ''}.json"
    if cache.is_file():
        data = json.loads(cache.read_text())
        if data.get("music21") == m21_version:
            return summarise_corpus(data["excerpts"])
    rows: list[dict[str, Any]] = []
    t = time.perf_counter()
    for label, coll, rule in CORPUS_SETS:
        for path, _ in corpus_paths(coll, rule, quick=quick):
            try:
                parsed = converter.parse(str(path))
            except Exception as exc:  # a broken corpus file is skipped, and said
                log.warning("corpus: %s does not parse (%s)", path.name, exc)
                continue
            scores = list(parsed.scores) if isinstance(parsed, stream.Opus) else [parsed]
            for i, sc in enumerate(scores):
                name = f"{path.stem}#{i}"
                if rule == "val" and not held_out(coll, name):
                    continue
                if coll == "essenFolksong" and i % (20 if quick else 4):  # a quarter of each Essen book
                    continue
                try:
                    rows += corpus_excerpts(performed(sc), label=label, name=f"{coll}/{name}")
                except Exception as exc:
                    log.warning("corpus: %s#%d skipped (%s)", path.name, i, exc)
        log.info("corpus: %s: %d excerpts so far (%.0f s)", label, len(rows), time.perf_counter() - t)
    WORK.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"music21": m21_version, "excerpts": rows}))
    return summarise_corpus(rows)


def summarise_corpus(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """5/50/95 % per set and pooled (each set weighing the same) of every statistic."""
    sets = sorted({r["set"] for r in rows})
    n_of = Counter(r["set"] for r in rows)
    out: dict[str, Any] = {"excerpts": dict(n_of), "per_set": {}, "pooled": {}}

    def values(rs: list[dict], key: str) -> list[float]:
        if key == "chord_tones":
            return [r[key][0] / r[key][1] for r in rs if r[key][1] >= 4]
        return [r[key] for r in rs if r.get(key) is not None]

    keys = ("bar_repetition", "ngram_repeats", "chord_tones", "notes_per_beat", "notes_per_sec_q100", "repeated_notes",
            "longest_run")
    for s in sets:
        rs = [r for r in rows if r["set"] == s]
        out["per_set"][s] = {k: _pcts(values(rs, k)) for k in keys}
    out["zero_share"] = {}
    for k in keys:
        vals, wts = [], []
        for s in sets:
            v = values([r for r in rows if r["set"] == s], k)
            vals += v
            wts += [1.0 / len(v)] * len(v) if v else []
        out["pooled"][k] = [round(x, 3) for x in weighted_percentiles(vals, wts, (5, 50, 95))] if vals else None
        # how much of real music has none at all (the 5 % bound of the repetition measures is 0)
        out["zero_share"][k] = round(float(np.dot(np.asarray(vals) <= 1e-9, wts) / sum(wts)), 3) if vals else None
    return out


def _pcts(v: list[float]) -> list[float] | None:
    return [round(float(np.percentile(v, q)), 3) for q in (5, 50, 95)] if v else None


# ============================================================================ the cuts
@dataclass
class CutSpec:
    """A cut to score: a file, or a montage to generate (sections of (look, shot lengths in seconds))."""

    name: str
    path: Path
    fps: str = "25"
    #: (looks, shot lengths in seconds, production-audio level in dBFS or None for silence)
    sections: list[tuple[list[str], list[float], float | None]] = field(default_factory=list)
    what: str = ""


DARK_STILL = ["gradients=speed=0.01:c0=#101820:c1=#040608:seed=3", "color=c=0x182430",
              "gradients=speed=0.015:c0=#1a1020:c1=#060408:seed=11"]
DARK_MOVING = ["life=life_color=#405060:death_color=#080a10:mold=10:seed=4:ratio=0.3",
               "life=life_color=#ffb060:death_color=#603020:mold=5:seed=8",
               "gradients=speed=0.2:c0=#203040:c1=#000000:seed=12"]
BRIGHT_SLOW = ["gradients=speed=0.01:c0=#ffe0a0:c1=#a0c080:seed=6", "gradients=speed=0.02:c0=#ffc070:c1=#ff9040:seed=5",
               "gradients=speed=0.01:c0=#c0e0ff:c1=#fff0c0:seed=13"]
BRIGHT_ACTION = ["zoneplate=ku=512:kv=100:kt2=20", "cellauto=rule=110:seed=7", "sierpinski=seed=9:jump=10",
                 "testsrc2", "mandelbrot"]
MIXED = ["mandelbrot", "testsrc2", "gradients=speed=0.03:c0=#80a0c0:c1=#405060:seed=14", BRIGHT_SLOW[0],
         "life=life_color=#c0c0a0:death_color=#404040:mold=3:seed=15"]


def _shots(rng: np.random.Generator, seconds: float, lo: float, hi: float) -> list[float]:
    out: list[float] = []
    while sum(out) < seconds - 1e-9:
        out.append(float(rng.uniform(lo, hi)))
    out[-1] -= sum(out) - seconds
    if out[-1] < lo / 2 and len(out) > 1:
        out[-2] += out.pop()
    return out


def montages() -> list[CutSpec]:
    """Generated contrast montages of 2+ minutes (seeded: the same clips on every run)."""
    rng = np.random.default_rng(23)

    def sec(looks: list[str], seconds: float, lo: float, hi: float, db: float | None = None) -> tuple:
        return looks, _shots(rng, seconds, lo, hi), db

    specs = [
        ("dark_opening", "24", "sombre slow opening, tense dark cutting, bright action, calm end",
         [sec(DARK_STILL, 36, 10, 14), sec(DARK_MOVING, 30, 0.6, 1.4), sec(BRIGHT_ACTION, 30, 0.5, 1.2),
          sec(BRIGHT_SLOW, 34, 9, 13)]),
        ("action_first", "25", "fast bright action, calm, dark chase, action (production audio: loud, quiet, loud)",
         [sec(BRIGHT_ACTION, 45, 0.4, 1.0, -18), sec(BRIGHT_SLOW, 35, 8, 12, -42), sec(DARK_MOVING, 30, 0.5, 1.2, -20),
          sec(BRIGHT_ACTION, 22, 0.6, 1.5, -16)]),
        ("calm_documentary", "30000/1001", "documentary pacing: 4-9 s shots of mixed looks, quiet room tone",
         [sec(MIXED, 150, 4, 9, -38)]),
        ("night", "25", "dark throughout: tense cutting, a long still passage, tense again",
         [sec(DARK_MOVING, 50, 0.5, 1.5), sec(DARK_STILL, 45, 8, 16), sec(DARK_MOVING, 35, 0.7, 1.6)]),
        ("slow_burn", "24000/1001", "calm and bright, cutting faster and faster, darker and louder at the end",
         [sec(BRIGHT_SLOW, 30, 7, 10, -40), sec(MIXED, 40, 2.5, 4.5, -32), sec(BRIGHT_ACTION, 35, 0.9, 1.8, -24),
          sec(DARK_MOVING, 30, 0.4, 0.9, -16)]),
    ]
    return [CutSpec(name, WORK / "cuts" / f"{name}.mp4", fps, secs, what) for name, fps, what, secs in specs]


def cut_specs(*, quick: bool) -> list[CutSpec]:
    cuts = [CutSpec("rough_cut", REPO / "samples" / "rough_cut.mp4", what="the bundled sample")]
    for name in ("bikes", "bigbuckbunny", "testvideo", "counter"):
        if (SHARED / f"{name}.mp4").is_file():
            cuts.append(CutSpec(name, SHARED / f"{name}.mp4", what="../shared/data"))
    gen = montages()
    if quick:
        return [c for c in cuts if c.name in ("rough_cut", "bikes", "testvideo")] + gen[:1]
    return cuts + gen


def make_montage(spec: CutSpec) -> Path:
    """The montage's clip (generated once; cached under build/): the picture by
    ``tests/support/clips.make_cut_clip``, and where a section has a level, production audio made
    here (noise at that level, a thump at each cut) muxed beside it."""
    from tempscore.media import run_ffmpeg

    from support.clips import make_cut_clip

    if spec.path.is_file() or not spec.sections:
        return spec.path
    fps = Fraction(spec.fps)
    looks: list[str] = []
    frames: list[int] = []
    levels: list[float | None] = []
    for pool, shots, db in spec.sections:
        for i, s in enumerate(shots):
            looks.append(pool[i % len(pool)])
            frames.append(max(2, int(round(s * fps))))
            levels.append(db)
    log.info("generating %s (%d shots, %.0f s)", spec.path.name, len(frames), sum(frames) / fps)
    if all(db is None for db in levels):
        make_cut_clip(spec.path, frames, fps=fps, looks=looks, audio=False)
        return spec.path
    import soundfile as sf

    picture = spec.path.with_suffix(".picture.mp4")
    make_cut_clip(picture, frames, fps=fps, looks=looks, audio=False)
    sr = 48000
    starts = np.concatenate([[0], np.cumsum(frames)]) / float(fps)
    audio = np.zeros(int(np.ceil(starts[-1] * sr)))
    rng = np.random.default_rng(5)
    for a, b, db in zip(starts, starts[1:], levels):
        i, j = int(a * sr), int(b * sr)
        if db is not None:
            audio[i:j] = rng.standard_normal(j - i) * 10 ** (db / 20)
            audio[i:i + sr // 20] += np.sin(2 * np.pi * 60 * np.arange(min(sr // 20, j - i)) / sr) * 10 ** ((db + 12) / 20)
    wav = spec.path.with_suffix(".wav")
    sf.write(str(wav), np.column_stack([audio, audio]), sr)
    run_ffmpeg(["-i", str(picture), "-i", str(wav), "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac",
                "-b:a", "128k", "-shortest", str(spec.path)], what=f"muxing {spec.path.name}")
    picture.unlink()
    wav.unlink()
    return spec.path


def ten_minute_cut() -> Path:
    """A generated 10-minute cut (passages of long takes and quick cuts, quiet and loud) for compose speed."""
    rng = np.random.default_rng(10)
    pools = [DARK_STILL, DARK_MOVING, BRIGHT_SLOW, BRIGHT_ACTION, MIXED]
    sections = []
    total = 0.0
    while total < 600.0 - 1e-9:
        pool = pools[int(rng.integers(len(pools)))]
        fast = pool in (DARK_MOVING, BRIGHT_ACTION)
        seconds = min(float(rng.uniform(20, 60)), 600.0 - total)
        shots = _shots(rng, seconds, *((0.5, 1.6) if fast else (4, 12)))
        sections.append((pool, shots, -20.0 if fast else -40.0))
        total += sum(shots)
    return make_montage(CutSpec("ten_minutes", WORK / "cuts" / "ten_minutes.mp4", "25", sections))


# ============================================================================ scoring a cut
def analyse_and_plan(path: Path, name: str):  # (Analysis, Timeline)
    from tempscore.scoring import plan

    try:
        from tempscore.api import analyze
    except ImportError:  # the code before the library API (a baseline revision)
        from tempscore.pipeline import run_analyze

        return (analysis := run_analyze(path, WORK / "out" / name)[0]), plan(analysis)
    return (analysis := analyze(path, WORK / "out" / name).analysis), plan(analysis)


def melody_tracks(score) -> list:  # Score -> list[Part]
    from tempscore.models.arranger import layer_of

    return [p for p in score.parts if layer_of(p.name, is_drum=p.is_drum) == "Melody"]


def cue_chords(score, cue, tmap, beat0: float):
    """``chord_at(onset in beats from the cue start) -> pitch classes``: the chords the arranger reports
    for the cue (``report[cue]["chords"]``: per bar ``[[beat_in_bar, [pcs]], ...]``); a score from
    before that report has the mood's progression of the old planner (one diatonic triad a bar)."""
    rep = (score.report or {}).get(cue.id, {})
    bpb = max(1, cue.beats_per_bar)
    if "chords" in rep:
        bars = rep["chords"]

        def chord_at(onset: float) -> set[int] | None:
            k = min(int(np.floor(onset / bpb + 1e-9)), len(bars) - 1)
            if k < 0:
                return None
            within = onset - k * bpb
            pcs = None
            for b, ch in bars[k]:
                if b <= within + 1e-6:
                    pcs = set(ch)
            return pcs
        return chord_at
    from tempscore.harmony import PROGRESSIONS, chord_pitches, parse_key

    tonic, mode = parse_key(cue.key)
    n_bars = (cue.beats + bpb - 1) // bpb
    prog = PROGRESSIONS.get(cue.mood, PROGRESSIONS["serene"])
    degrees = [prog[i % len(prog)] for i in range(n_bars)]
    if n_bars > 1:
        degrees[-1] = 0
    return lambda onset: set(chord_pitches(tonic, mode, degrees[min(int(onset // bpb), n_bars - 1)]))


def writer_shares(score, cue, notes_in_cue: dict[str, list]) -> dict[str, dict[str, float]]:
    """Share of the cue's sounding notes (by count and by sounding time) per writer: as the score
    reports it (``report[cue]["writers"]``), else the melody layers to the composer, the rest to rules."""
    rep = (score.report or {}).get(cue.id, {}).get("writers")
    if rep:
        return rep
    from tempscore.models.arranger import layer_of

    model = score.composer.split("+")[0] if "transformer" in score.composer else "rules"
    count: Counter = Counter()
    secs: Counter = Counter()
    for track, notes in notes_in_cue.items():
        who = model if layer_of(track) in MELODY_LAYERS else "rules"
        count[who] += len(notes)
        secs[who] += sum(e - s for s, e, _ in notes)
    n, t = sum(count.values()) or 1, sum(secs.values()) or 1.0
    return {w: {"notes": round(count[w] / n, 4), "sounding": round(secs[w] / t, 4)} for w in count}


def accompaniment_signature(score, cue, tmap, beat0: float) -> str:
    """What the cue's accompaniment is, humanisation aside, as a digest: (layer, 16th from the cue
    start, pitch) of every note outside the melody, and the chords reported."""
    from tempscore.models.arranger import layer_of

    sig = []
    for p in score.parts:
        layer = layer_of(p.name, is_drum=p.is_drum)
        if layer in MELODY_LAYERS:
            continue
        for n in p.notes:
            if cue.start_sec - 0.02 <= n.start_sec < cue.end_sec - 1e-6:
                sig.append((layer, int(round((tmap.time_to_beats(n.start_sec) - beat0) * 4)), n.pitch))
    chords = (score.report or {}).get(cue.id, {}).get("chords")
    return hashlib.sha1(json.dumps([sorted(sig), chords]).encode()).hexdigest()[:12]


def _starts_in(cue, start: float) -> bool:
    """Whether a note starting at ``start`` belongs to the cue (humanisation may pull it 20 ms early)."""
    return cue.start_sec - 0.02 <= start < cue.end_sec - 1e-6


def compose_seeds(tl, generator: Any, seeds: Sequence[int]) -> tuple[dict[int, Any], dict[int, float]]:
    """The cut composed with each seed, and how long each compose took."""
    from tempscore.models import compose

    scores = {}
    compose_sec = {}
    for sd in seeds:
        t = time.perf_counter()
        scores[sd] = compose(tl, seed=sd, generator=generator)
        compose_sec[sd] = time.perf_counter() - t
    return scores, compose_sec


def write_score_midi(spec: CutSpec, score, tl, generator: Any, seed: int,
                     determinism: bool) -> tuple[Path, bool | None]:
    """The score as MIDI under ``WORK/out/<cut>``, and (with ``determinism``) whether composing it again
    with the same seed writes the same bytes."""
    from tempscore.models import compose
    from tempscore.render.midi import write_midi

    out_dir = WORK / "out" / spec.name
    out_dir.mkdir(parents=True, exist_ok=True)
    mid = write_midi(score, out_dir / f"{spec.name}.score.mid", timeline=tl)
    identical = None
    if determinism:
        again = write_midi(compose(tl, seed=seed, generator=generator), out_dir / f"{spec.name}.again.mid", timeline=tl)
        identical = mid.read_bytes() == again.read_bytes()
        again.unlink()
    return mid, identical


def cue_pitch_class_weights(score, in_cue: dict[str, list]) -> np.ndarray:
    """Seconds sounded per pitch class in the cue, drums aside."""
    pcw = np.zeros(12)
    for p in score.parts:
        if p.is_drum:
            continue
        for s, e, pitch in in_cue.get(p.name, []):
            pcw[pitch % 12] += e - s
    return pcw


def cue_key_measures(cue, pcw: np.ndarray) -> dict[str, Any]:
    """The mode expected from the valence, the one planned, and the key heard in the full texture."""
    tonic, family = key_parts(cue.key)
    est = key_estimate(pcw)
    est_modal = modal_key_estimate(pcw, cue.key.split()[-1].lower())
    return {
        "mode_expected": "major" if cue.valence >= 0 else "minor", "mode_planned": family,
        "mode_measured": mode_at(pcw, tonic), "key_measured": None if est is None else list(est),
        "key_right": est == (tonic, family),
        "key_measured_modal": None if est_modal is None else list(est_modal),
        "key_right_modal": est_modal == (tonic, family),
    }


def cue_crashes(score, cue) -> int:
    """Crash cymbals struck in the cue."""
    return sum(1 for p in score.parts if p.is_drum for n in p.notes
               if n.pitch in CRASH_PITCHES and cue.start_sec - 1e-6 <= n.start_sec < cue.end_sec)


def score_cue(cue, score, scores: dict[int, Any], seeds: Sequence[int], tracks: dict[str, list],
              tmap) -> dict[str, Any]:
    """Every per-cue measurement of one cue of seed ``seeds[0]``'s score."""
    beat0 = tmap.time_to_beats(cue.start_sec)
    bpb = max(1, cue.beats_per_bar)
    in_cue = {name: [n for n in notes if _starts_in(cue, n[0])] for name, notes in tracks.items()}
    # on the 16th grid (the humanisation moves onsets by up to 12 ms)
    mel = [(round((tmap.time_to_beats(n.start_sec) - beat0) * 4) / 4, n.pitch) for p in melody_tracks(score)
           for n in p.notes if _starts_in(cue, n.start_sec)]
    n_onsets = sum(len(v) for v in in_cue.values())
    dur = cue.end_sec - cue.start_sec
    st = line_stats(mel, bar_quarters=bpb, n_bars=(cue.beats + bpb - 1) // bpb, all_onsets=n_onsets,
                    beats=cue.beats, chord_at=cue_chords(score, cue, tmap, beat0), seconds=dur)
    crashes = cue_crashes(score, cue)
    ivs = [(s, e) for notes in in_cue.values() for s, e, _ in notes]
    return {
        "cue": cue.id, "mood": cue.mood, "key": cue.key, "bpm": cue.tempo_bpm, "beats_per_bar": bpb,
        "valence": cue.valence, "arousal": cue.arousal, "intensity": cue.intensity,
        "start_sec": round(cue.start_sec, 3), "sec": round(dur, 3), "bars": st.bars,
        "melody_notes": len(mel),
        "bar_repetition": _r(st.bar_repetition), "ngram_repeats": _r(st.ngram_repeats),
        "chord_tones": list(st.chord_tones), "notes_per_sec": _r(st.notes_per_sec),
        "repeated_notes": _r(st.repeated_notes), "longest_run": st.longest_run,
        "notes_per_beat": _r(st.notes_per_beat), "crashes": crashes,
        "crashes_per_min": round(crashes * 60.0 / dur, 2),
        "longest_gap_sec": round(longest_gap(ivs, [(cue.start_sec, cue.end_sec)]), 3),
        **cue_key_measures(cue, cue_pitch_class_weights(score, in_cue)),
        "writers": writer_shares(score, cue, in_cue),
        "idiom": (score.report or {}).get(cue.id, {}).get("idiom"),
        "melody_16ths": [(int(round(o * 4)), p) for o, p in _monophonic(mel)],
        "accompaniment": [accompaniment_signature(scores[sd], cue, tmap, beat0) for sd in seeds],
    }


def score_hits(tl, score, music_cues: list, onsets_all: np.ndarray, fps: float) -> list[dict[str, Any]]:
    """Each hit point: whether its cue accented it, and how many frames off the nearest note onset is."""
    hits = []
    for h in tl.hit_points:
        rep = (score.report or {}).get(h.cue_id, {})
        in_music = any(c.id == h.cue_id for c in music_cues)
        accented = in_music and (h.frame in rep["accented_hits"] if "accented_hits" in rep else True)
        i = np.searchsorted(onsets_all, h.time_sec)
        near = [abs(onsets_all[j] - h.time_sec) * fps for j in (i - 1, i) if 0 <= j < len(onsets_all)]
        hits.append({"frame": h.frame, "cue": h.cue_id, "strength": h.strength, "accented": accented,
                     "nearest_onset_frames": round(min(near), 3) if near else None})
    return hits


def score_cut(spec: CutSpec, generator: Any, *, seeds: Sequence[int] = (0, 1, 2), determinism: bool = True) -> dict[str, Any]:
    """Every per-cue and per-cut measurement of one cut."""
    import pretty_midi

    from tempscore.contracts import TempoEvent
    from tempscore.scoring.leader import LEADER_CUE_ID, TAIL_CUE_ID
    from tempscore.scoring.tempo import TempoMap

    path = make_montage(spec)
    analysis, tl = analyse_and_plan(path, spec.name)
    fps = tl.video.fps_num / tl.video.fps_den
    tmap = TempoMap([TempoEvent(**vars(e)) for e in tl.tempo_map])
    scores, compose_sec = compose_seeds(tl, generator, seeds)
    score = scores[seeds[0]]
    mid, identical = write_score_midi(spec, score, tl, generator, seeds[0], determinism)
    pm = pretty_midi.PrettyMIDI(str(mid))
    onsets_all = np.array(sorted(n.start for ins in pm.instruments for n in ins.notes))

    music_cues = [c for c in tl.cues if not c.tacet and c.beats > 0 and c.id not in (LEADER_CUE_ID, TAIL_CUE_ID)]
    auto_tacets = [c.id for c in tl.cues if c.tacet and c.id not in (LEADER_CUE_ID, TAIL_CUE_ID)]
    tracks = {p.name: [(n.start_sec, n.end_sec, n.pitch) for n in p.notes] for p in score.parts}
    cues_out = [score_cue(cue, score, scores, seeds, tracks, tmap) for cue in music_cues]
    overlaps = {name: same_pitch_overlaps(notes) for name, notes in tracks.items()}
    flam_n = {name: flams(notes) for name, notes in tracks.items()}
    hits = score_hits(tl, score, music_cues, onsets_all, fps)
    spans = [(c.start_sec, c.end_sec) for c in music_cues]
    all_ivs = [(s, e) for notes in tracks.values() for s, e, _ in notes]
    keys = Counter()
    for c in music_cues:
        keys[c.key] += c.end_sec - c.start_sec
    return {
        "cut": spec.name, "what": spec.what, "fps": f"{tl.video.fps_num}/{tl.video.fps_den}",
        "duration_sec": round(tl.video.duration_sec, 3), "composer": score.composer,
        "cues": cues_out, "tacet_cues": auto_tacets, "music_sec": round(sum(b - a for a, b in spans), 3),
        "home_key": keys.most_common(1)[0][0] if keys else None, "keys": sorted(keys),
        "overlaps": sum(overlaps.values()), "overlaps_by_track": {k: v for k, v in overlaps.items() if v},
        "flams": sum(flam_n.values()), "flams_by_track": {k: v for k, v in flam_n.items() if v},
        "longest_gap_sec": round(longest_gap(all_ivs, spans), 3) if spans else 0.0,
        "hits": hits, "midi_identical": identical,
        "compose_sec": {str(k): round(v, 3) for k, v in compose_sec.items()},
    }


def _key_name(key: list | None) -> str:
    """``[2, "minor"]`` -> ``"D minor"``."""
    if not key:
        return "–"
    return f"{('C', 'C#', 'D', 'Eb', 'E', 'F', 'F#', 'G', 'Ab', 'A', 'Bb', 'B')[key[0]]} {key[1]}"


def _r(x: float | None) -> float | None:
    return None if x is None else round(float(x), 4)


# ============================================================================ compose speed
SPEED_SCRIPT = r"""
import json, sys, time
from pathlib import Path
from tempscore.contracts import ANALYSIS_SCHEMA, Analysis, read_stage
from tempscore.models import compose
from tempscore.models.generator import Generator
from tempscore.scoring import plan
a = read_stage(Path(sys.argv[1]), Analysis, ANALYSIS_SCHEMA)
tl = plan(a)
g = Generator.load()
compose(tl, seed=0, generator=g)  # warm: imports, first calls
times, cpu = [], []
for _ in range(int(sys.argv[2])):
    t, c = time.perf_counter(), time.process_time()
    s = compose(tl, seed=0, generator=g)
    times.append(time.perf_counter() - t); cpu.append(time.process_time() - c)
rules = []  # the same without the model: what the arrangement itself costs (the rule melody is cheap)
for _ in range(5):
    t = time.perf_counter(); compose(tl, seed=0, composer="rules"); rules.append(time.perf_counter() - t)
print(json.dumps({"sec": times, "cpu_sec": cpu, "rules_min_sec": min(rules), "cues": sum(1 for c in tl.cues if not c.tacet),
                  "notes": sum(len(p.notes) for p in s.parts), "composer": s.composer}))
"""


def baseline_tree(rev: str) -> Path:
    """The package as it was at ``rev`` (git archive), importable from the returned folder."""
    root = WORK / "baseline" / rev
    if not (root / "tempscore" / "__init__.py").is_file():
        (root / "tempscore").mkdir(parents=True, exist_ok=True)
        arch = subprocess.run(["git", "-C", str(REPO), "archive", rev], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(root / "tempscore")], input=arch, check=True)
    return root


def compose_speed(rev: str | None, *, rounds: int = 3, repeats: int = 2) -> dict[str, Any]:
    """Compose time of a generated 10-minute cut (its own plan, melody cache off, model loaded
    first), this code and ``rev``'s, alternating, in fresh processes. On a shared machine the wall
    time swings several-fold with the other jobs: the comparison is on the fastest wall time and
    on the median CPU time (what the process itself spent)."""
    path = ten_minute_cut()
    analysis, _ = analyse_and_plan(path, "ten_minutes")
    apath = WORK / "out" / "ten_minutes" / "ten_minutes.analysis.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    runs: dict[str, list[float]] = {"this": [], **({"baseline": []} if rev else {})}
    cpu: dict[str, list[float]] = {k: [] for k in runs}
    info: dict[str, Any] = {}
    for _ in range(rounds):
        for who in runs:
            e = dict(env)
            if who == "baseline":
                e["PYTHONPATH"] = str(baseline_tree(rev))
            r = subprocess.run([sys.executable, "-c", SPEED_SCRIPT, str(apath), str(repeats)], capture_output=True,
                               text=True, env=e, cwd=str(WORK))
            if r.returncode != 0:
                raise SystemExit(f"compose speed ({who}) failed:\n{r.stderr[-3000:]}")
            d = json.loads(r.stdout.strip().splitlines()[-1])
            runs[who] += d["sec"]
            cpu[who] += d["cpu_sec"]
            rules_min = min(d["rules_min_sec"], info.get(who, {}).get("rules_min_sec", np.inf))
            info[who] = {**{k: v for k, v in d.items() if k not in ("sec", "cpu_sec")}, "rules_min_sec": round(rules_min, 3)}
    out = {"cut_sec": analysis.video.duration_sec, "cuts": len(analysis.cuts)}
    for who, secs in runs.items():
        out[who] = {"min_sec": round(min(secs), 3), "median_sec": round(statistics.median(secs), 3),
                    "median_cpu_sec": round(statistics.median(cpu[who]), 3), "runs_sec": [round(s, 3) for s in secs],
                    "runs_cpu_sec": [round(s, 3) for s in cpu[who]], **info[who]}
    if rev:
        out["baseline_rev"] = rev
        out["ratio_min_wall"] = round(out["this"]["min_sec"] / out["baseline"]["min_sec"], 3)
        out["ratio_median_cpu"] = round(out["this"]["median_cpu_sec"] / out["baseline"]["median_cpu_sec"], 3)
        out["ratio_rules_min"] = round(out["this"]["rules_min_sec"] / out["baseline"]["rules_min_sec"], 3)
    return out


# ============================================================================ summary
def inside_corpus_range(cues: list[dict[str, Any]], corpus: dict[str, Any] | None, key: str) -> dict[str, Any]:
    """One melody statistic over the cues beside the corpus's: its median, the share at zero, and the
    share of cues inside the corpus's 5-95 % range (the target)."""
    rng = (corpus or {}).get("pooled", {}).get(key)
    vals = [c[key] for c in cues if c[key] is not None]
    share = None if not rng or not vals else sum(rng[0] <= v <= rng[2] for v in vals) / len(vals)
    return {"median": _r(statistics.median(vals)) if vals else None, "cues_measured": len(vals),
            "share_at_zero": _r(sum(v <= 1e-9 for v in vals) / len(vals)) if vals else None,
            "corpus_share_at_zero": (corpus or {}).get("zero_share", {}).get(key),
            "cues_too_short": len(cues) - len(vals), "corpus_5_50_95": rng,
            "share_inside_corpus_range": _r(share), "target": ">= 0.8 of cues inside the corpus 5-95 % range",
            "ok": share is not None and share >= 0.8}


def _pair_overlaps(firsts: list[tuple], *, same_meter: bool = False, **overlap: Any) -> list[tuple[str, str, float]]:
    """(cut, cut, overlap) for each pair of first-cue melodies; with ``same_meter``, only pairs of one
    meter, measured over the bars both have (``overlap`` goes to :func:`melody_overlap`)."""
    if not same_meter:
        return [(a[0], b[0], melody_overlap(a[1], b[1])) for i, a in enumerate(firsts) for b in firsts[i + 1:]]
    return [(a[0], b[0], melody_overlap(*common_span(a[1], b[1], bar_16ths=4 * a[2]), **overlap))
            for i, a in enumerate(firsts) for b in firsts[i + 1:] if a[2] == b[2]]


def _max_overlap(pairs: list[tuple[str, str, float]]) -> float:
    return max((p[2] for p in pairs), default=0.0)


def _worst_pair(pairs: list[tuple[str, str, float]]) -> tuple[str, str] | None:
    return max(pairs, key=lambda p: p[2])[:2] if pairs else None


def first_cue_melody_overlap(cuts: list[dict[str, Any]]) -> dict[str, Any]:
    """How much the first cues of two cuts share their melody: every pair, the pairs of long melodies,
    and those over the bars both have (shorter melody's share, and Dice over both)."""
    firsts = [(cut["cut"], [tuple(n) for n in cut["cues"][0]["melody_16ths"]], cut["cues"][0]["beats_per_bar"])
              for cut in cuts if cut["cues"]]
    pairs = _pair_overlaps(firsts)
    # where the measure means something: melodies of OVERLAP_MIN_NOTES or more, over the bars both have
    long_firsts = [f for f in firsts if len(f[1]) >= OVERLAP_MIN_NOTES]
    long_pairs = _pair_overlaps(long_firsts)
    same_span = _pair_overlaps(long_firsts, same_meter=True)
    both = _pair_overlaps(long_firsts, same_meter=True, over="both")
    return {"max": _r(_max_overlap(pairs)), "worst_pair": _worst_pair(pairs),
            "pairs": len(pairs), "target": "<= 0.25", "ok": _max_overlap(pairs) <= 0.25,
            "min_notes": OVERLAP_MIN_NOTES,
            "long_max": _r(_max_overlap(long_pairs)), "long_worst_pair": _worst_pair(long_pairs),
            "long_pairs": len(long_pairs),
            "same_span_max": _r(_max_overlap(same_span)), "same_span_worst_pair": _worst_pair(same_span),
            "same_span_median": _r(statistics.median(p[2] for p in same_span)) if same_span else None,
            "same_span_over_025": sum(p[2] > 0.25 for p in same_span),
            "both_max": _r(_max_overlap(both)), "both_worst_pair": _worst_pair(both),
            "both_median": _r(statistics.median(p[2] for p in both)) if both else None}


def texture_summary(cues: list[dict[str, Any]], pooled: dict[str, Any], music_min: float) -> dict[str, Any]:
    """Strong-beat chord tones, notes per second and crash cymbals over every cue."""
    ct_hit = sum(c["chord_tones"][0] for c in cues)
    ct_n = sum(c["chord_tones"][1] for c in cues)
    crashes = sum(c["crashes"] for c in cues)
    calm_crashes = sum(c["crashes"] for c in cues if c["mood"] in ("serene", "sombre"))
    nps = [c["notes_per_sec"] for c in cues]
    return {
        "strong_beat_chord_tones": {"share": _r(ct_hit / ct_n) if ct_n else None, "notes": ct_n,
                                    "corpus_5_50_95": pooled.get("chord_tones"), "target": ">= 0.75",
                                    "ok": bool(ct_n) and ct_hit / ct_n >= 0.75},
        "notes_per_sec": {"max": max(nps) if nps else None, "median": _r(statistics.median(nps)) if nps else None,
                          "cues_over_16": sum(v > 16 for v in nps),
                          "corpus_notes_per_beat_5_50_95": pooled.get("notes_per_beat"),
                          "corpus_notes_per_sec_at_q100_5_50_95": pooled.get("notes_per_sec_q100"),
                          "target": "<= 16 in every cue", "ok": bool(nps) and max(nps) <= 16},
        "crashes_per_min": {"overall": round(crashes / max(music_min, 1e-9), 2), "in_serene_or_sombre": calm_crashes,
                            "target": "<= 6 a minute; none in serene or sombre cues",
                            "ok": crashes / max(music_min, 1e-9) <= 6 and calm_crashes == 0},
    }


def per_cut_faults(cuts: list[dict[str, Any]]) -> dict[str, Any]:
    """Same-pitch overlaps, flams, the longest hole and automatic tacets over the cuts, and their home keys."""
    home = [cut["home_key"] for cut in cuts if cut["home_key"]]
    return {
        "same_pitch_overlaps": {"count": sum(cut["overlaps"] for cut in cuts), "target": 0,
                                "ok": sum(cut["overlaps"] for cut in cuts) == 0},
        "flams": {"count": sum(cut["flams"] for cut in cuts), "target": 0, "ok": sum(cut["flams"] for cut in cuts) == 0},
        "longest_gap_sec": {"max": max((cut["longest_gap_sec"] for cut in cuts), default=0.0),
                            "by_cut": {cut["cut"]: cut["longest_gap_sec"] for cut in cuts}, "target": "<= 4 s",
                            "ok": max((cut["longest_gap_sec"] for cut in cuts), default=0.0) <= HOLE_LIMIT_SEC},
        "automatic_tacets": {"count": sum(len(cut["tacet_cues"]) for cut in cuts),
                             "by_cut": {cut["cut"]: cut["tacet_cues"] for cut in cuts if cut["tacet_cues"]},
                             "target": 0, "ok": sum(len(cut["tacet_cues"]) for cut in cuts) == 0},
        "home_keys": {"distinct": len(set(home)), "keys": dict(Counter(home)), "target": ">= 5 across the cuts",
                      "ok": len(set(home)) >= 5},
    }


def seed_changes(cues: list[dict[str, Any]]) -> dict[str, Any]:
    """The share of cues whose chords or accompaniment differ for every seed."""
    changed = [len(set(c["accompaniment"])) == len(c["accompaniment"]) for c in cues]
    return {"share": _r(float(np.mean(changed))) if changed else None,
            "target": ">= 0.8", "ok": bool(changed) and np.mean(changed) >= 0.8}


def mode_per_quadrant(cues: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per valence/arousal quadrant, the share of cues whose measured mode is the one expected."""
    quadrants: dict[str, list[bool]] = {}
    for c in cues:
        q = ("V+" if c["valence"] >= 0 else "V-") + (" A+" if c["arousal"] >= 0 else " A-")
        quadrants.setdefault(q, []).append(c["mode_measured"] == c["mode_expected"])
    return {q: {"right": _r(float(np.mean(v))), "cues": len(v)} for q, v in sorted(quadrants.items())}


def density_vs_arousal(cues: list[dict[str, Any]]) -> dict[str, Any]:
    """Spearman's rho of notes per second (and per beat) against arousal."""
    rho = _r(spearman([c["arousal"] for c in cues], [c["notes_per_sec"] for c in cues]))
    return {"rho": rho,
            "notes_per_beat_rho": _r(spearman([c["arousal"] for c in cues], [c["notes_per_beat"] for c in cues])),
            "target": ">= 0.8", "ok": rho is not None and rho >= 0.8}


def hits_within_1_frame(cuts: list[dict[str, Any]]) -> dict[str, Any]:
    """Hits with a note onset within ±1 frame: the accented ones (the target) and all."""
    hits = [h for cut in cuts for h in cut["hits"]]
    acc = [h for h in hits if h["accented"]]
    accented_within = sum(1 for h in acc if h["nearest_onset_frames"] is not None
                          and h["nearest_onset_frames"] <= 1.0 + 1e-3)
    return {"accented": len(acc), "of_hits": len(hits), "accented_within": accented_within,
            "all_with_a_note_within": sum(1 for h in hits if h["nearest_onset_frames"] is not None
                                          and h["nearest_onset_frames"] <= 1.0 + 1e-3),
            "ok": accented_within == len(acc)}


def full_texture_key_right(cuts: list[dict[str, Any]], cues: list[dict[str, Any]]) -> dict[str, Any]:
    """The share of cues whose key heard in the full texture is the planned one (and the modal one), and the misses."""
    share = _r(float(np.mean([c["key_right"] for c in cues]))) if cues else None
    return {"share": share, "target": ">= 0.95",
            "modal_share": _r(float(np.mean([c["key_right_modal"] for c in cues]))) if cues else None,
            "wrong": [f"{cut['cut']} {c['cue']} {c['key']}" for cut in cuts for c in cut["cues"] if not c["key_right"]],
            "wrong_modal": [f"{cut['cut']} {c['cue']} {c['key']}" for cut in cuts
                            for c in cut["cues"] if not c["key_right_modal"]],
            "ok": share is not None and share >= 0.95}


def melody_runs(cues: list[dict[str, Any]], pooled: dict[str, Any]) -> dict[str, Any]:
    """The longest run of one pitch in a melody, beside the corpus's."""
    return {"max": max((c["longest_run"] for c in cues), default=0),
            "cues_over_corpus_95": sum(c["longest_run"] > ((pooled.get("longest_run") or [0, 0, 1e9])[2])
                                       for c in cues),
            "corpus_5_50_95": pooled.get("longest_run")}


def learned_share_of_notes(cues: list[dict[str, Any]]) -> dict[str, Any]:
    """The share of each cue's notes the learned model wrote: median, min and max over the cues."""
    learned = [sum(v["notes"] for w, v in c["writers"].items() if not w.startswith("rule")) for c in cues]
    return {"median": _r(statistics.median(learned)) if learned else None,
            "min": _r(min(learned)) if learned else None, "max": _r(max(learned)) if learned else None}


def summarise(cuts: list[dict[str, Any]], corpus: dict[str, Any] | None, speed: dict[str, Any] | None) -> dict[str, Any]:
    """The "Done when" numbers over every cue of every cut, each beside its target and the corpus."""
    cues = [c for cut in cuts for c in cut["cues"]]
    pooled = (corpus or {}).get("pooled", {})
    music_min = sum(cut["music_sec"] for cut in cuts) / 60.0
    out = {
        "cuts": len(cuts), "cues": len(cues), "music_minutes": round(music_min, 2),
        "bar_repetition": inside_corpus_range(cues, corpus, "bar_repetition"),
        "ngram_repeats": inside_corpus_range(cues, corpus, "ngram_repeats"),
        **texture_summary(cues, pooled, music_min),
        **per_cut_faults(cuts),
        "first_cue_melody_overlap": first_cue_melody_overlap(cuts),
        "seed_changes_chords_or_accompaniment": seed_changes(cues),
        "mode_per_quadrant": mode_per_quadrant(cues),
        "density_vs_arousal_spearman": density_vs_arousal(cues),
        "hits_within_1_frame": hits_within_1_frame(cuts),
        "full_texture_key_right": full_texture_key_right(cuts, cues),
        "repeated_notes": inside_corpus_range(cues, corpus, "repeated_notes"),
        "longest_run": melody_runs(cues, pooled),
        "learned_share_of_notes": learned_share_of_notes(cues),
        "midi_identical_on_rerun": all(cut["midi_identical"] is not False for cut in cuts),
        "compose_10_min": speed,
    }
    out["mode_per_quadrant_ok"] = all(v["right"] == 1.0 for v in out["mode_per_quadrant"].values())
    if speed and "ratio_min_wall" in speed:
        speed["ok"] = speed["ratio_min_wall"] <= 1.0 and speed["ratio_median_cpu"] <= 1.0
    return out


def _fmt(x: Any) -> str:
    """A table cell: 2 decimals for a float, ``a / b`` for a list, ``–`` for nothing."""
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.2f}"
    if isinstance(x, list):
        return " / ".join(_fmt(v) for v in x)
    return str(x)


Row = tuple[str, Any, str, str, Any]


def melody_texture_rows(s: dict[str, Any]) -> list[Row]:
    """The melody statistics beside the corpus's, the texture's density, and the faults that should not happen."""
    return [
        ("melody bar repetition: cues inside corpus 5-95 %", s["bar_repetition"]["share_inside_corpus_range"],
         f"median {_fmt(s['bar_repetition']['median'])}, {_fmt(s['bar_repetition']['share_at_zero'])} at 0; corpus "
         f"{_fmt(s['bar_repetition']['corpus_5_50_95'])}, {_fmt(s['bar_repetition']['corpus_share_at_zero'])} at 0", ">= 0.80",
         s["bar_repetition"]["ok"]),
        ("interval 4-gram repeats: cues inside corpus 5-95 %", s["ngram_repeats"]["share_inside_corpus_range"],
         f"median {_fmt(s['ngram_repeats']['median'])}, {_fmt(s['ngram_repeats']['share_at_zero'])} at 0; corpus "
         f"{_fmt(s['ngram_repeats']['corpus_5_50_95'])}, {_fmt(s['ngram_repeats']['corpus_share_at_zero'])} at 0", ">= 0.80",
         s["ngram_repeats"]["ok"]),
        ("strong-beat chord tones", s["strong_beat_chord_tones"]["share"],
         f"corpus {_fmt(s['strong_beat_chord_tones']['corpus_5_50_95'])}", ">= 0.75", s["strong_beat_chord_tones"]["ok"]),
        ("notes per second, max over cues", s["notes_per_sec"]["max"],
         f"median {_fmt(s['notes_per_sec']['median'])}; corpus per beat {_fmt(s['notes_per_sec']['corpus_notes_per_beat_5_50_95'])}, "
         f"per s at q=100 {_fmt(s['notes_per_sec']['corpus_notes_per_sec_at_q100_5_50_95'])}", "<= 16", s["notes_per_sec"]["ok"]),
        ("crash cymbals per minute", s["crashes_per_min"]["overall"],
         f"{s['crashes_per_min']['in_serene_or_sombre']} in serene/sombre cues", "<= 6; 0 calm", s["crashes_per_min"]["ok"]),
        ("overlapping same-pitch notes", s["same_pitch_overlaps"]["count"], "", "0", s["same_pitch_overlaps"]["ok"]),
        ("flams (same pitch < 30 ms)", s["flams"]["count"], "", "0", s["flams"]["ok"]),
        ("longest stretch without a note (s)", s["longest_gap_sec"]["max"], "", "<= 4", s["longest_gap_sec"]["ok"]),
        ("automatic tacets", s["automatic_tacets"]["count"], "", "0", s["automatic_tacets"]["ok"]),
    ]


def variety_rows(s: dict[str, Any]) -> list[Row]:
    """Home keys, how much the first cues' melodies share, what the seed changes, mode and density."""
    return [
        ("home keys across the cuts", s["home_keys"]["distinct"], _fmt(", ".join(sorted(s["home_keys"]["keys"]))), ">= 5",
         s["home_keys"]["ok"]),
        ("first cues' melody overlap, worst pair", s["first_cue_melody_overlap"]["max"],
         _fmt(s["first_cue_melody_overlap"]["worst_pair"]), "<= 0.25", s["first_cue_melody_overlap"]["ok"]),
        (f"... first cues of {s['first_cue_melody_overlap']['min_notes']}+ notes: worst pair; over the bars both have",
         f"{_fmt(s['first_cue_melody_overlap']['long_max'])}; {_fmt(s['first_cue_melody_overlap']['same_span_max'])}",
         f"{_fmt(s['first_cue_melody_overlap']['long_worst_pair'])}; {_fmt(s['first_cue_melody_overlap']['same_span_worst_pair'])}"
         f" (median {_fmt(s['first_cue_melody_overlap']['same_span_median'])}, "
         f"{s['first_cue_melody_overlap']['same_span_over_025']} pairs over 0.25)", "<= 0.25", None),
        ("... the same over both melodies' lengths (Dice), bars both have",
         s["first_cue_melody_overlap"].get("both_max"),
         f"{_fmt(s['first_cue_melody_overlap'].get('both_worst_pair'))} (median "
         f"{_fmt(s['first_cue_melody_overlap'].get('both_median'))})", "<= 0.25", None),
        ("cues whose chords/accompaniment change with seeds 0/1/2", s["seed_changes_chords_or_accompaniment"]["share"],
         "", ">= 0.80", s["seed_changes_chords_or_accompaniment"]["ok"]),
        ("mode right per quadrant", ", ".join(f"{q} {v['right']:.2f} ({v['cues']})" for q, v in s["mode_per_quadrant"].items()),
         "", "1.00 each", s["mode_per_quadrant_ok"]),
        ("density vs arousal (Spearman, notes/s)", s["density_vs_arousal_spearman"]["rho"],
         f"per beat {_fmt(s['density_vs_arousal_spearman']['notes_per_beat_rho'])}", ">= 0.8",
         s["density_vs_arousal_spearman"]["ok"]),
    ]


def fit_rows(s: dict[str, Any]) -> list[Row]:
    """Hits, the key heard, repeated notes, who wrote the notes, and determinism."""
    return [
        ("accented hits with a note within ±1 frame",
         f"{s['hits_within_1_frame']['accented_within']}/{s['hits_within_1_frame']['accented']}",
         f"{s['hits_within_1_frame']['of_hits']} hits; {s['hits_within_1_frame']['all_with_a_note_within']} with any note",
         "all", s["hits_within_1_frame"]["ok"]),
        ("full-texture key right", s["full_texture_key_right"]["share"],
         f"wrong: {', '.join(s['full_texture_key_right']['wrong']) or 'none'}", ">= 0.95",
         s["full_texture_key_right"]["ok"]),
        ("... modal cues judged against their modal tonic", s["full_texture_key_right"]["modal_share"],
         f"wrong: {', '.join(s['full_texture_key_right']['wrong_modal']) or 'none'}", ">= 0.95", None),
        ("repeated notes (unison share of melody intervals): cues inside corpus 5-95 %",
         s["repeated_notes"]["share_inside_corpus_range"],
         f"median {_fmt(s['repeated_notes']['median'])}; corpus {_fmt(s['repeated_notes']['corpus_5_50_95'])}", "reported",
         None),
        ("longest run of one pitch in a melody", s["longest_run"]["max"],
         f"{s['longest_run']['cues_over_corpus_95']} cues over the corpus's 95 %; corpus "
         f"{_fmt(s['longest_run']['corpus_5_50_95'])}", "reported", None),
        ("learned share of sounding notes (median, min-max)", s["learned_share_of_notes"]["median"],
         f"{_fmt(s['learned_share_of_notes']['min'])}-{_fmt(s['learned_share_of_notes']['max'])}", "reported", None),
        ("same MIDI on a second compose", s["midi_identical_on_rerun"], "", "True", s["midi_identical_on_rerun"]),
    ]


def compose_speed_rows(s: dict[str, Any]) -> list[Row]:
    """The 10-minute compose time beside the baseline's, when it was measured."""
    rows = []
    sp = s.get("compose_10_min")
    if sp:
        base = sp.get("baseline", {})
        rows.append(("compose of a 10-minute cut: fastest wall / median CPU (s)",
                     f"{sp['this']['min_sec']:.2f} / {sp['this']['median_cpu_sec']:.2f}",
                     f"baseline {sp.get('baseline_rev', '')}: {_fmt(base.get('min_sec'))} / {_fmt(base.get('median_cpu_sec'))}",
                     "<= baseline", sp.get("ok")))
    return rows


def cue_table(cuts: list[dict[str, Any]]) -> list[str]:
    """One Markdown row per cue."""
    lines = ["", "| cut | cue | mood | key | BPM | s | bars | bar rep | 4-gram | unisons | chord tones | notes/s | crashes "
             "| gap s | key heard | learned | idiom |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for cut in cuts:
        for c in cut["cues"]:
            ct = c["chord_tones"]
            learned = sum(v["notes"] for w, v in c["writers"].items() if not w.startswith("rule"))
            lines.append(f"| {cut['cut']} | {c['cue']} | {c['mood']} | {c['key']} | {c['bpm']:.1f} | {c['sec']:.1f} | "
                         f"{c['bars']} | {_fmt(c['bar_repetition'])} | {_fmt(c['ngram_repeats'])} | {_fmt(c.get('repeated_notes'))} | "
                         f"{ct[0]}/{ct[1]} | {_fmt(c['notes_per_sec'])} | {c['crashes']} | {c['longest_gap_sec']:.1f} | "
                         f"{_key_name(c['key_measured'])} | {learned:.2f} | {c['idiom'] or '–'} |")
    return lines


def corpus_table(corpus: dict[str, Any]) -> list[str]:
    """The corpus reference per set, 5 / 50 / 95 %, and pooled."""
    lines = ["", "Corpus (held out), 5 / 50 / 95 %:", "",
             "| set | excerpts | bar rep | 4-gram | unisons | longest run | chord tones | notes per beat |",
             "|---|---|---|---|---|---|---|---|"]
    for name, v in corpus["per_set"].items():
        lines.append(f"| {name} | {corpus['excerpts'][name]} | {_fmt(v['bar_repetition'])} | {_fmt(v['ngram_repeats'])} | "
                     f"{_fmt(v.get('repeated_notes'))} | {_fmt(v.get('longest_run'))} | "
                     f"{_fmt(v['chord_tones'])} | {_fmt(v['notes_per_beat'])} |")
    p = corpus["pooled"]
    lines.append(f"| pooled (sets weigh the same) | {sum(corpus['excerpts'].values())} | {_fmt(p['bar_repetition'])} | "
                 f"{_fmt(p['ngram_repeats'])} | {_fmt(p.get('repeated_notes'))} | {_fmt(p.get('longest_run'))} | "
                 f"{_fmt(p['chord_tones'])} | {_fmt(p['notes_per_beat'])} |")
    return lines


def table(summary: dict[str, Any], cuts: list[dict[str, Any]], corpus: dict[str, Any] | None) -> str:
    """The summary and the per-cue numbers as Markdown."""
    s = summary
    rows = melody_texture_rows(s) + variety_rows(s) + fit_rows(s) + compose_speed_rows(s)
    lines = [f"{s['cuts']} cuts, {s['cues']} cues, {s['music_minutes']} minutes of music", "",
             "| measurement | this code | beside | target | ok |", "|---|---|---|---|---|"]
    lines += [f"| {a} | {_fmt(b)} | {c} | {d} | {'yes' if e else '–' if e is None else 'NO'} |" for a, b, c, d, e in rows]
    lines += cue_table(cuts)
    if corpus:
        lines += corpus_table(corpus)
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="4 cuts, a corpus sample, no 10-minute compose timing")
    ap.add_argument("--out", type=Path, default=None, help="JSON (default bench/results/eval_music[_quick].json); "
                                                           "the Markdown table goes beside it")
    ap.add_argument("--baseline-rev", default="9d46023",
                    help="the code whose compose time is today's (git revision; '' to skip)")
    ap.add_argument("--no-speed", action="store_true", help="skip the 10-minute compose timing")
    ap.add_argument("--speed-only", action="store_true", help="only the 10-minute compose timing (its JSON beside --out)")
    ap.add_argument("--no-corpus", action="store_true")
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("tempscore").setLevel(logging.ERROR)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    out = a.out or REPO / "bench" / "results" / f"eval_music{'_quick' if a.quick else ''}.json"
    if a.speed_only:
        speed = compose_speed(a.baseline_rev or None)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_name(out.stem + "_speed.json").write_text(json.dumps(speed, indent=1))
        print(json.dumps(speed, indent=1))
        return
    from tempscore.models.generator import DEFAULT_CHECKPOINT, Generator

    generator = Generator.load() if DEFAULT_CHECKPOINT.is_file() else None
    t0 = time.perf_counter()
    corpus = None if a.no_corpus else corpus_reference(quick=a.quick)
    cuts = []
    for spec in cut_specs(quick=a.quick):
        t = time.perf_counter()
        cuts.append(score_cut(spec, generator, determinism=not a.quick or spec.name == "rough_cut"))
        log.info("%s: %d cues, %.1f s", spec.name, len(cuts[-1]["cues"]), time.perf_counter() - t)
    speed = None if a.quick or a.no_speed else compose_speed(a.baseline_rev or None)
    summary = summarise(cuts, corpus, speed)
    result = {"summary": summary, "corpus": corpus, "cuts": cuts,
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
              "metrics_version": METRICS_VERSION, "seconds": round(time.perf_counter() - t0, 1)}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=_plain))
    text = table(summary, cuts, corpus)
    out.with_suffix(".md").write_text(text)
    print(text)


def _plain(o: Any) -> Any:
    if isinstance(o, (np.integer, np.floating, np.bool_)):
        return o.item()
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(type(o).__name__)


if __name__ == "__main__":
    main()
