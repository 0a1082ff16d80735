"""Training data and fitting of the chord-progression model (:mod:`tempscore.models.progression`).

::

    python -m tempscore.models.train_harmony prepare   # music21 corpus -> build/harmony_corpus.json (~3 min)
    python -m tempscore.models.train_harmony fit       # -> models/harmony.safetensors + harmony.json, held-out table

**Data.** Phrases of Roman numerals, in their local key, from

* the Bach four-part chorales of the music21 corpus (371, Riemenschneider numbering), analysed
  here: each beat's sounding pitch classes (all four voices, weighted by duration) are matched to
  the best triad or seventh-chord template, the bass is the lowest note at the beat; each phrase
  (up to a fermata) gets its local key from a Krumhansl-Kessler profile among the global key and
  its closely related keys (a different key only when it fits clearly better and the phrase
  cadences on its tonic or dominant); music21 names the chord in that key
  (``roman.romanNumeralFromChord``, secondary dominants preferred). Chorales that have an
  expert analysis in the corpus (the 20 ``choraleAnalyses``, Tymoczko et al.) are used in that
  form instead, and measure this analysis: the share of beats whose numeral agrees;
* the expert Roman-numeral analyses of Monteverdi's madrigals (books 3-5, 48 files), phrases
  split at their marked phrase ends and at key changes.

Repeated chords are merged (the model predicts chord *changes*); the harmonic rhythm is the
composer's (:mod:`tempscore.models.form`). Only token sequences are kept (~420 kB), so ``fit``
runs without music21; they stay under ``build/`` (not shipped: the expert analyses come with the
corpus without a licence of their own; the checkpoint holds only counts, as the generator's
weights do).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

from .progression import KK_MAJOR, KK_MINOR, split_of  # noqa: F401 - the training split, the key profiles

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
CORPUS_PATH = HERE.parent / "build" / "harmony_corpus.json"

#: Chord templates: intervals above the root.
TEMPLATES = {"maj": (0, 4, 7), "min": (0, 3, 7), "dim": (0, 3, 6), "aug": (0, 4, 8), "dom7": (0, 4, 7, 10),
             "min7": (0, 3, 7, 10), "maj7": (0, 4, 7, 11), "hdim7": (0, 3, 6, 10), "dim7": (0, 3, 6, 9)}


def recognise(weights: np.ndarray, bass_pc: int | None) -> tuple[int, str] | None:
    """The chord (root pitch class, template name) that best explains a beat's pitch-class
    weights (shape (12,)): covered weight minus uncovered weight, a small bonus for the bass on the
    root and a small cost per tone; a seventh chord only when its seventh sounds. None when the beat
    holds fewer than three pitch classes or no root-and-third (an open fifth, a unison)."""
    total = float(weights.sum())
    present = weights > 0.05 * total if total > 0 else np.zeros(12, bool)
    if total <= 0 or present.sum() < 2:
        return None
    best, best_score = None, -np.inf
    for root in range(12):
        for name, iv in TEMPLATES.items():
            pcs = [(root + i) % 12 for i in iv]
            if not (present[pcs[0]] and present[pcs[1]]):
                continue
            if len(iv) == 4 and weights[pcs[3]] < 0.25 * total:
                continue
            covered = float(weights[pcs].sum())
            score = covered - (total - covered) - 0.04 * total * len(iv) + (0.15 * total if bass_pc == root else 0)
            if name == "aug":
                score -= 0.1 * total  # rare in this repertoire: only when nothing else fits
            if score > best_score:
                best, best_score = (root, name), score
    return best


def key_fit(weights: np.ndarray, tonic: int, mode: str) -> float:
    """Correlation of pitch-class weights with the Krumhansl-Kessler profile of a key."""
    prof = np.roll(KK_MAJOR if mode == "major" else KK_MINOR, tonic)
    if weights.std() == 0:
        return 0.0
    return float(np.corrcoef(weights, prof)[0, 1])


def related_keys(tonic: int, mode: str) -> list[tuple[int, str]]:
    """The key itself and its closely related keys (one accidental apart: V, IV, relative and
    theirs)."""
    rel = (tonic + 9) % 12 if mode == "major" else (tonic + 3) % 12
    major = tonic if mode == "major" else rel
    out = [(major, "major"), ((major + 7) % 12, "major"), ((major + 5) % 12, "major"),
           ((major + 9) % 12, "minor"), ((major + 4) % 12, "minor"), ((major + 2) % 12, "minor")]
    if mode == "minor":
        out.append(((tonic + 7) % 12, "major"))  # a minor key's dominant major (its V as a key)
    first = (tonic, mode)
    return [first] + [k for k in out if k != first]


#: The triad a seventh chord extends (its class, for the agreement measure).
TRIAD_OF = {"maj": "maj", "min": "min", "dim": "dim", "aug": "aug", "dom7": "maj", "min7": "min", "maj7": "maj",
            "hdim7": "dim", "dim7": "dim"}


def chord_token(root: int, quality: str, bass: int, tonic: int) -> tuple[str, int]:
    """A chord in a key as (token, inversion): the token is the root's interval above the tonic
    and the template (``"7:dom7"`` is V7 in any key, ``"2:maj"`` V/V in major), the inversion 0
    (root in the bass) .. 3 (seventh in the bass), by the bass's place in the chord."""
    iv = TEMPLATES[quality]
    rel = (bass - root) % 12
    inv = iv.index(rel) if rel in iv else 0
    return f"{(root - tonic) % 12}:{quality}", inv


def token_of(rn) -> tuple[str, int]:  # noqa: ANN001 - music21 RomanNumeral
    """An expert's music21 Roman numeral as :func:`chord_token` writes it (its root, the template
    its pitch classes make, its bass), in its own key."""
    root = rn.root().pitchClass
    rel = tuple(sorted({(pc - root) % 12 for pc in rn.pitchClasses}))
    quality = next((q for q, iv in TEMPLATES.items() if tuple(sorted(iv)) == rel), None)
    if quality is None:  # an augmented sixth, an added note: its triad, else left out
        quality = next((q for q in ("maj", "min", "dim") if set(TEMPLATES[q]) <= set(rel)), None)
        if quality is None:
            raise ValueError(f"no template for {rn.figure}")
    return chord_token(root, quality, rn.bass().pitchClass, rn.key.tonic.pitchClass)


def chorale_phrases(score) -> tuple[list[dict], list[tuple[float, str]]]:  # noqa: ANN001 - music21 Score
    """Phrases of a chorale, analysed as the module docstring says: ``[{"mode", "tonic", "chords":
    [[token, inversion], ...]}]``, and every beat's (offset, token) for the agreement measure."""
    from music21 import expressions

    parts = list(score.parts)
    notes = []  # (onset, end, midi, fermata)
    for p in parts:
        for n in p.flatten().notes:
            if n.isRest:
                continue
            ferm = any(isinstance(e, expressions.Fermata) for e in n.expressions)
            for pch in n.pitches:
                notes.append((float(n.offset), float(n.offset + n.quarterLength), pch.midi, ferm))
    if not notes:
        return [], []
    end = max(n[1] for n in notes)
    beats = np.arange(0.0, np.ceil(end - 1e-9))
    weights = np.zeros((len(beats), 12))
    bass = np.full(len(beats), -1)
    fermata = np.zeros(len(beats), bool)
    for on, off, midi, ferm in notes:
        for b in range(int(np.floor(on)), int(np.ceil(off - 1e-9))):
            if 0 <= b < len(beats):
                weights[b, midi % 12] += max(0.0, min(off, b + 1) - max(on, b))
        b0 = int(np.floor(on))
        if ferm and 0 <= b0 < len(beats):
            fermata[b0] = True
    for b in range(len(beats)):  # the bass: the lowest note sounding at the beat
        low = [m for on, off, m, _ in notes if on <= beats[b] + 1e-9 < off]
        bass[b] = min(low) % 12 if low else -1
    # phrases end at the last beat of each fermata run
    ends = [b for b in range(len(beats)) if fermata[b] and (b + 1 >= len(beats) or not fermata[b + 1])]
    if not ends or ends[-1] != len(beats) - 1:
        ends.append(len(beats) - 1)
    gkey = score.analyze("key")
    g = (gkey.tonic.pitchClass, gkey.mode)
    if g[1] not in ("major", "minor"):
        return [], []
    phrases, per_beat, start = [], [], 0
    for k, e in enumerate(ends):
        span = range(start, e + 1)
        start = e + 1
        w = weights[list(span)].sum(axis=0)
        chords = []
        for b in span:
            rec = recognise(weights[b], int(bass[b]) if bass[b] >= 0 else None)
            chords.append((b, rec))
        tonic, mode = _phrase_key(w, g, chords, last=(k == len(ends) - 1))
        seq = []
        chords = _resolve_diminished_sevenths(chords)
        for b, rec in chords:
            if rec is None:
                continue
            tok, inv = chord_token(rec[0], rec[1], int(bass[b]) if bass[b] >= 0 else rec[0], tonic)
            per_beat.append((float(beats[b]), tok))
            if not seq or seq[-1][0] != tok:
                seq.append([tok, inv])
        if len(seq) >= 2:
            phrases.append({"tonic": tonic, "mode": mode, "chords": seq})
    return phrases, per_beat


def _resolve_diminished_sevenths(chords: list) -> list:
    """A diminished seventh has four roots for the same sound: the one a semitone under the next
    chord's root (the leading tone it resolves as), else the first as found."""
    out = list(chords)
    for i, (b, rec) in enumerate(out):
        if rec is None or rec[1] != "dim7":
            continue
        nxt = next((r for _, r in out[i + 1:] if r is not None and r[1] != "dim7"), None)
        if nxt is not None:
            for k in range(4):
                cand = (rec[0] + 3 * k) % 12
                if (nxt[0] - cand) % 12 == 1:
                    out[i] = (b, (cand, "dim7"))
                    break
    return out


#: How much better (correlation) a related key must fit a phrase to be its local key.
KEY_MARGIN = 0.05


def _phrase_key(w: np.ndarray, g: tuple[int, str], chords: list, *, last: bool) -> tuple[int, str]:
    """The local key of a phrase: the global key unless a closely related key fits its pitch
    classes clearly better (correlation + 0.05) and the phrase cadences on that key's tonic or
    dominant; the last phrase is in the global key."""
    if last:
        return g
    final = next((rec for _, rec in reversed(chords) if rec is not None), None)
    best, best_fit = g, key_fit(w, *g) + KEY_MARGIN
    for k in related_keys(*g)[1:]:
        f = key_fit(w, *k)
        if f > best_fit and final is not None and final[0] in (k[0], (k[0] + 7) % 12):
            best, best_fit = k, f
    return best


def expert_phrases(score) -> tuple[list[dict], list[tuple[float, str]]]:  # noqa: ANN001 - music21 Score (romanText)
    """Phrases of an expert Roman-numeral analysis (``.rntxt``): split at its phrase marks (``||``)
    and key changes; and every chord's (offset, token)."""
    from music21 import roman

    phrases: list[dict] = []
    per: list[tuple[float, str]] = []
    cur: dict | None = None
    for el in score.recurse():
        if type(el).__name__ == "RomanTextUnprocessedToken" and "||" in str(getattr(el, "src", el)):
            if cur is not None and len(cur["chords"]) >= 2:
                phrases.append(cur)
            cur = None
            continue
        if not isinstance(el, roman.RomanNumeral) or el.key is None:
            continue
        k = (el.key.tonic.pitchClass, el.key.mode)
        if k[1] not in ("major", "minor"):
            continue
        try:
            tok, inv = token_of(el)
        except Exception:  # an unparsable figure: left out
            continue
        per.append((float(el.getOffsetInHierarchy(score)), tok))
        if cur is None or (cur["tonic"], cur["mode"]) != k:
            if cur is not None and len(cur["chords"]) >= 2:
                phrases.append(cur)
            cur = {"tonic": k[0], "mode": k[1], "chords": []}
        if not cur["chords"] or cur["chords"][-1][0] != tok:
            cur["chords"].append([tok, inv])
    if cur is not None and len(cur["chords"]) >= 2:
        phrases.append(cur)
    return phrases, per


def numeral(tok: str) -> str:
    """A token's root and triad (``"7:dom7"`` -> ``"7:maj"``), for the agreement measure: the same
    chord whatever its seventh."""
    root, _, quality = tok.partition(":")
    return f"{root}:{TRIAD_OF[quality]}"


def prepare(out: Path = CORPUS_PATH) -> dict:
    """Analyse the corpus (module docstring) and write the phrases to ``out``."""
    from music21 import corpus

    t0 = time.perf_counter()
    expert = {}
    for p in corpus.getCorePaths():
        s = str(p)
        if s.endswith(".rntxt") and "riemenschneider" in s:
            expert[int(Path(s).stem.replace("riemenschneider", ""))] = s
    pieces, agree, compared = [], 0, 0
    names = list(corpus.chorales.Iterator(numberingSystem="riemenschneider", returnType="filename"))
    for number, name in enumerate(names, 1):
        try:
            score = corpus.parse(name)
            auto, auto_beats = chorale_phrases(score)
        except Exception as exc:  # a file music21 cannot read: left out, counted
            log.warning("%s: %s", name, exc)
            continue
        if number in expert:
            ex, ex_beats = expert_phrases(corpus.parse(expert[number]))
            a, c = _agreement(auto_beats, ex_beats)
            agree, compared = agree + a, compared + c
            pieces.append({"name": f"bach/riemenschneider{number:03d}", "collection": "bach-expert", "phrases": ex})
        else:
            pieces.append({"name": name, "collection": "bach", "phrases": auto})
    for p in sorted(str(x) for x in corpus.getCorePaths() if str(x).endswith(".rntxt") and "monteverdi" in str(x)):
        try:
            ex, _ = expert_phrases(corpus.parse(p))
        except Exception as exc:
            log.warning("%s: %s", p, exc)
            continue
        pieces.append({"name": "monteverdi/" + Path(p).stem, "collection": "monteverdi", "phrases": ex})
    data = {"source": "music21 corpus (see models/MODEL_CARD.md)", "pieces": pieces,
            "analysis_agreement": {"beats_compared": compared, "numeral_agreement": round(agree / max(compared, 1), 4)},
            "seconds": round(time.perf_counter() - t0, 1)}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, separators=(",", ":")))
    log.info("%d pieces, %d phrases; analysis agrees with the experts on %.1f %% of %d beats (%.0f s)", len(pieces),
             sum(len(p["phrases"]) for p in pieces), 100 * agree / max(compared, 1), compared, data["seconds"])
    return data


def _agreement(auto: list[tuple[float, str]], expert: list[tuple[float, str]]) -> tuple[int, int]:
    """Beats (whole quarter offsets) where the automatic numeral equals the expert's sounding one."""
    if not expert:
        return 0, 0
    offs = [o for o, _ in expert]
    hits = n = 0
    for o, tok in auto:
        i = int(np.searchsorted(offs, o + 1e-6)) - 1
        if i < 0:
            continue
        n += 1
        hits += numeral(tok) == numeral(expert[i][1])
    return hits, n


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["prepare", "fit"])
    a = ap.parse_args(argv)
    if a.command == "prepare":
        prepare()
    else:
        from .progression import fit_and_save

        fit_and_save(json.loads(CORPUS_PATH.read_text()))


if __name__ == "__main__":
    main()
