"""Human-in-the-loop: validate a (possibly hand-edited) timeline and collect the edits to keep on re-plan."""

from __future__ import annotations

import logging
import math
import re
from fractions import Fraction
from typing import Any

from ..contracts import Cue, Timeline, to_dict

log = logging.getLogger(__name__)

MOODS = ("excited", "tense", "serene", "sombre")


def _num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _cue_grid(tl: Timeline, cue: Cue) -> dict[str, Any]:
    """A cue's beat grid as planned in ``tl``: its tempo events (seconds from the cue start) and
    its hit points, which a locked cue keeps as they are (:func:`tempscore.scoring.plan.plan`).
    Times are its frames' (as planned, in ``cue.auto``): seconds edited on a locked cue are not kept."""
    auto = cue.auto or {}
    start_sec, end_sec = cue.start_sec, cue.end_sec
    if ((cue.start_frame, cue.end_frame) == (auto.get("start_frame"), auto.get("end_frame"))
            and _num(auto.get("start_sec")) and _num(auto.get("end_sec"))):
        start_sec, end_sec = auto["start_sec"], auto["end_sec"]
    events = [[round(e.time_sec - start_sec, 9), e.bpm, e.beats_per_bar, e.bar_line] for e in tl.tempo_map
              if start_sec - 1e-6 <= e.time_sec < end_sec - 1e-6]
    hits = [{"frame": h.frame, "how": h.how, "offset_frames": h.offset_frames, "strength": h.strength}
            for h in tl.hit_points if h.cue_id == cue.id]
    return {"duration_sec": round(end_sec - start_sec, 9), "events": events, "hits": hits}


#: Characters that break a line or turn text around (bidi overrides and isolates) when printed.
_BREAKING = frozenset("\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def one_line(text: str) -> bool:
    """Whether ``text`` prints as one line, read left to right as written: no control characters
    (newlines, tabs, NUL), line separators or bidi overrides (emoji joiners are fine)."""
    import unicodedata

    return not any(ch in _BREAKING or unicodedata.category(ch) == "Cc" for ch in text)


def title_problem(title: Any) -> str | None:
    """What is wrong with a cue's ``title`` (one line of text, at most 80 characters), or None."""
    if not isinstance(title, str) or len(title.strip()) > 80 or not one_line(title):
        return f"{title!r} must be one line of text, at most 80 characters"
    return None


def orchestration_words(text: str) -> list[str]:
    """The words of a cue's ``orchestration``, lower case (split at spaces, commas, ``&``, ``+``, ``/``)."""
    return [w for w in re.split(r"[\s,&+/]+", text.lower()) if w]


def orchestration_problem(text: str) -> str | None:
    """What is wrong with a cue's ``orchestration`` (``"solo cello"``, ``"horn"``, ``"piano and
    strings"``: the first instrument named carries the melody, ``solo``: it plays alone), or None."""
    words = orchestration_words(text)
    unknown = [w for w in words if instrument_of(w) is None and w not in ("solo", *GLUE_WORDS, *INSTRUMENT_QUALIFIERS)]
    if unknown:
        return (f"{', '.join(repr(w) for w in unknown)} is not an instrument tempscore plays; use "
                f"{', '.join(INSTRUMENT_WORDS)} (optionally 'solo ' before it), or leave it empty")
    if words and not any(instrument_of(w) for w in words):
        return f"{text!r} names no instrument; use e.g. 'solo cello', or leave it empty"
    return None


def _int(x: Any, lo: int, hi: int) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and lo <= x <= hi


#: Seeds are 32-bit (a cue's own, a kept take's): 0..2**32 - 1 (-1 on a cue: the run's ``--seed``).
SEED_MAX = 2**32 - 1
#: Most notes a kept take may hold in one bar (16ths of a 16-beat bar).
MAX_TAKE_NOTES_PER_BAR = 64


def take_problem(take: Any, *, beats: int | None = None) -> str | None:
    """What is wrong with a cue's ``take`` (its kept melody, see :attr:`Cue.take`), or None.
    ``beats``: the cue's length in beats (a take has at most a bar per beat)."""
    if not isinstance(take, dict):
        return "must be an object"
    if not _int(take.get("seed"), 0, SEED_MAX):
        return f"seed must be a whole number 0..{SEED_MAX}"
    if not _int(take.get("frame"), 0, 2**31 - 1):
        return "frame must be a whole number >= 0"
    if not isinstance(take.get("for"), dict):
        return "\"for\" must be an object"
    bars = take.get("bars")
    if not isinstance(bars, list):
        return "bars must be a list"
    if beats is not None and len(bars) > beats + 1:
        return f"{len(bars)} bars do not fit the cue's {beats} beats"
    for i, bar in enumerate(bars):
        if not (isinstance(bar, dict) and _int(bar.get("chord"), -1, 6) and isinstance(bar.get("notes"), list)):
            return f"bars[{i}] must be {{\"chord\": -1..6, \"notes\": [...]}}"
        if len(bar["notes"]) > MAX_TAKE_NOTES_PER_BAR:
            return f"bars[{i}] has {len(bar['notes'])} notes, more than a bar holds ({MAX_TAKE_NOTES_PER_BAR})"
        for n in bar["notes"]:
            if not (isinstance(n, list) and len(n) == 3 and _int(n[0], 0, 63) and _int(n[1], 0, 127)
                    and _int(n[2], 1, 64)):
                return f"bars[{i}].notes: {n!r} is not [position 0..63 (16ths), pitch 0..127, duration 1..64 (16ths)]"
    return None


#: A cue's fields a hand edit changes for good (compared with the planner's value in ``cue.auto``).
EDITABLE_FIELDS = ("mood", "key", "tempo_bpm", "tacet", "intensity", "beats_per_bar", "recalls")
#: A cue's fields the planner works out again on every plan, with what to edit instead; a hand
#: edit of one is named back (:func:`edits_not_kept`), never silently dropped.
PLANNED_FIELDS = {
    "valence": "the picture's reading; steer with mood or intensity",
    "arousal": "the picture's reading; steer with mood or intensity",
    "beats": "follows from tempo_bpm and the cue's length",
    "start_bar": "counted from the first cue; follows from the tempi and metres before it",
}


def edited_frames(cue: Cue, *, fps: float, frame_count: int) -> tuple[int, int]:
    """The cue's ``(start_frame, end_frame)`` as the user left them: its frames, or, where a frame
    is as planned but its seconds (``start_sec``/``end_sec``) were edited, the frame at those
    seconds (a person edits the time they read; the frames win when both were changed)."""
    auto = cue.auto or {}
    out = []
    for side in ("start", "end"):
        frame, sec = getattr(cue, f"{side}_frame"), getattr(cue, f"{side}_sec")
        planned_sec = auto.get(f"{side}_sec")
        if (frame == auto.get(f"{side}_frame", frame) and _num(planned_sec) and abs(sec - planned_sec) > 1e-6
                and _num(sec)):
            frame = int(min(max(round(sec * fps), 0), frame_count))
        out.append(frame)
    return out[0], out[1]


def edited_hit_frame(hit: Any, tl: Timeline) -> int:
    """The frame of a hit point as the user left it: its ``frame``, or, where that is a frame the
    last plan wrote (a planned hit, or one the user had added) but its ``timecode`` (what a picture
    editor reads and types) or its ``time_sec`` was edited, the frame there (the timecode first). A
    hit moved is a hit deleted and one added. A hit added by hand is where its ``frame`` says."""
    from .timecodes import frame_to_smpte, parse_smpte

    placed = set(tl.auto_hit_frames) | {h.get("frame") for h in (tl.edits or {}).get("added_hits", [])
                                        if isinstance(h, dict)}
    if hit.frame not in placed:
        return hit.frame
    v = tl.video
    fps = Fraction(v.fps_num, v.fps_den)
    if hit.timecode and isinstance(hit.timecode, str):
        try:
            at = parse_smpte(hit.timecode, fps, start_timecode=v.start_timecode)
        except (ValueError, TypeError, IndexError):
            at = hit.frame
        if at != hit.frame and hit.timecode != frame_to_smpte(hit.frame, fps, start_timecode=v.start_timecode):
            return int(min(max(at, 0), v.frame_count - 1))
    if _num(hit.time_sec) and abs(hit.time_sec * float(fps) - hit.frame) > 0.5:
        return int(min(max(round(hit.time_sec * float(fps)), 0), v.frame_count - 1))
    return hit.frame


def unplanned_edits(tl: Timeline) -> list[str]:
    """Edits of a timeline that only a plan can carry out: a cue's tempo, metre or edges changed by
    hand since its beat grid was planned (``cue.auto``: its frames, and ``grid``, the tempo and metre
    the plan wrote). ``compose`` alone would ignore them; one line per cue, naming the fields."""
    fps = tl.video.fps_num / tl.video.fps_den
    lines = []
    for c in tl.cues:
        auto = c.auto or {}
        if c.locked or not auto:
            continue
        grid = auto.get("grid") if isinstance(auto.get("grid"), dict) else {}
        changed = []
        if _num(grid.get("tempo_bpm")) and abs(c.tempo_bpm - grid["tempo_bpm"]) > 5e-4:
            changed.append("tempo_bpm")
        if "beats_per_bar" in grid and c.beats_per_bar != grid["beats_per_bar"]:
            changed.append("beats_per_bar")
        planned = (auto.get("start_frame", c.start_frame), auto.get("end_frame", c.end_frame))
        if edited_frames(c, fps=fps, frame_count=tl.video.frame_count) != planned:
            changed.append("edges")
        if changed:
            lines.append(f"cue {c.id}: {', '.join(changed)}")
    return lines


def edits_not_kept(previous: Timeline) -> list[str]:
    """One line per cue whose fields the planner works out again (:data:`PLANNED_FIELDS`) were
    edited by hand: the next plan replaces them, and says so and what to edit instead. A locked
    cue is kept as it is written, so none of its edits is named."""
    lines = []
    for c in previous.cues:
        auto = c.auto or {}
        changed = [k for k in PLANNED_FIELDS if k in auto and _num(getattr(c, k)) and _num(auto[k])
                   and abs(getattr(c, k) - auto[k]) > 1e-6]
        if not c.locked and changed:
            lines.append(f"cue {c.id}: edited by hand but planned again, not kept: "
                         + "; ".join(f"{k} ({PLANNED_FIELDS[k]})" for k in changed))
        if renamed(c):
            lines.append(f"cue {c.id!r}: renamed by hand, but cues are numbered by the plan (from the picture "
                         f"start); " + ("the name is kept as its title" if not c.title.strip() else
                                        f"it keeps its title {c.title.strip()!r}"))
    return lines


def silent_plan(tl: Timeline) -> str | None:
    """A warning when the planner made every cue of the programme tacet (the leader and tail
    aside), so the score would be silence: a still, dark or quiet picture, or one measured wrong.
    None when some cue has music, or when the user made the cues tacet."""
    from .leader import LEADER_CUE_ID, TAIL_CUE_ID

    cues = [c for c in tl.cues if c.id not in (LEADER_CUE_ID, TAIL_CUE_ID)]
    if not cues or not all(c.tacet and (c.auto or {}).get("tacet", True) for c in cues):
        return None
    return ("every cue is tacet: the picture reads as still and quiet, or black, throughout, so the score is "
            "silence; for music set \"tacet\": false on a cue in the timeline and compose again, and check the "
            "picture")


def renamed(cue: Cue) -> bool:
    """Whether the user typed a name over an unlocked cue's number (a locked cue keeps its id)."""
    return not cue.locked and bool(cue.auto) and not re.fullmatch(r"\d+M\d+[A-Z]?|leader|tail", str(cue.id))


def collect_edits(previous: Timeline) -> dict[str, Any]:
    """The user's edits in ``previous`` (plus those it already carried), to re-apply on a new plan.

    Returns a dict with ``locked_cues`` (full cue dicts), ``pinned_cues`` (id and frames of cues
    whose edges are locked but whose music is re-planned), ``cue_overrides`` (cue id -> changed
    fields and span), ``deleted_hit_frames``, ``added_hits`` (hit dicts) and ``removed_spans``
    (``[start_frame, end_frame]`` no cue covers: a cue deleted from the file; the cue planned
    there is made tacet, which is then kept as an ordinary edit).
    """
    carried = previous.edits or {}
    locked = [{**to_dict(c), "grid": _cue_grid(previous, c)} for c in previous.cues if c.locked]
    fps = previous.video.fps_num / previous.video.fps_den
    frames = {c.id: edited_frames(c, fps=fps, frame_count=previous.video.frame_count) for c in previous.cues}
    # edges the user placed: on the spotting page (edges_locked), or by editing the frames (or the
    # seconds) by hand
    pinned = [{"id": c.id, "start_frame": frames[c.id][0], "end_frame": frames[c.id][1]} for c in previous.cues
              if not c.locked and (c.edges_locked or frames[c.id] != (
                  (c.auto or {}).get("start_frame", c.start_frame), (c.auto or {}).get("end_frame", c.end_frame)))]
    overrides: dict[str, dict[str, Any]] = {}
    for c in previous.cues:
        if c.locked or not c.auto:
            continue
        changed = {k: getattr(c, k) for k in EDITABLE_FIELDS if k in c.auto and getattr(c, k) != c.auto[k]}
        why = c.why if isinstance(c.why, dict) else {}
        edited = why.get("edited") if isinstance(why.get("edited"), list) else []
        if "tempo_bpm" in changed and not c.tempo_locked and "tempo_bpm" in edited:
            del changed["tempo_bpm"]  # a tempo the user had set, let go ("tempo_locked": false): the planner's again
        if "recalls" not in c.auto:  # a timeline from before auto kept it: the plan's reason names its own
            recall = why.get("recall") if isinstance(why.get("recall"), dict) else {}
            if c.recalls != (recall.get("cue") or ""):
                changed["recalls"] = c.recalls
        if c.orchestration:
            changed["orchestration"] = c.orchestration
        if c.title.strip():
            changed["title"] = c.title.strip()
        elif renamed(c):  # a name typed over the number: kept as the cue's title
            changed["title"] = str(c.id).strip()[:80]
        if c.seed >= 0:
            changed["seed"] = c.seed
            if c.take:
                changed["take"] = c.take
        if c.tempo_locked:
            changed["tempo_bpm"] = c.tempo_bpm
        if changed:
            overrides[c.id] = {**changed, "start_frame": frames[c.id][0], "end_frame": frames[c.id][1]}
    auto = set(previous.auto_hit_frames)
    hits = []  # (frame as the user left it, hit)
    for h in previous.hit_points:
        f = edited_hit_frame(h, previous)
        hits.append((f, to_dict(h) if f == h.frame else {**to_dict(h), "frame": f}))
    present = {f for f, _ in hits}
    deleted = (auto - present) | (set(carried.get("deleted_hit_frames", [])) - present)
    added = [d for f, d in hits if f not in auto]
    removed, at = [], 0  # stretches no cue covers: cues the user deleted from the file
    for f0, f1 in sorted(frames.values()):
        if f0 > at:
            removed.append([at, f0])
        at = max(at, f1)
    if at < previous.video.frame_count:
        removed.append([at, previous.video.frame_count])
    return {"locked_cues": locked, "pinned_cues": pinned, "cue_overrides": overrides,
            "deleted_hit_frames": sorted(deleted), "added_hits": added, "removed_spans": removed}


# ----------------------------------------------------------------------------- steering from the CLI
#: Words of a prompt that set the mood (the circumplex quadrant the composer is conditioned on).
MOOD_WORDS = {
    "sombre": ("melancholic", "melancholy", "sad", "sombre", "somber", "dark", "grief", "mournful", "elegiac", "bleak",
               "tragic", "lonely", "sorrowful", "funereal"),
    "tense": ("tense", "anxious", "suspense", "suspenseful", "menacing", "threatening", "ominous", "eerie", "urgent",
              "mysterious", "creepy", "scary", "nervous", "dread"),
    "excited": ("happy", "joyful", "triumphant", "energetic", "excited", "heroic", "playful", "exuberant", "bright",
                "epic", "uplifting", "driving", "joyous"),
    "serene": ("calm", "peaceful", "serene", "gentle", "tender", "warm", "hopeful", "romantic", "pastoral", "dreamy",
               "reflective", "lyrical", "intimate"),
}
#: Instruments a prompt (or a cue's ``orchestration``) may name, with their General MIDI programs;
#: plurals ("cellos", "celli") and "french horn", "double bass", "grand piano" are read too.
INSTRUMENT_WORDS = {"piano": 0, "celesta": 8, "harp": 46, "strings": 48, "violin": 40, "viola": 41, "cello": 42,
                    "bass": 43, "flute": 73, "oboe": 68, "clarinet": 71, "horn": 60, "horns": 60, "trumpet": 56,
                    "brass": 61, "trombone": 57}
#: Words that only qualify the instrument after them ("french horn").
INSTRUMENT_QUALIFIERS = ("french", "double", "grand", "string")
#: Words that join what a brief names ("solo cello and harp, in the key of D"): neither acted on nor named back.
GLUE_WORDS = ("and", "with", "the", "a", "an", "of", "in", "at", "for", "plus", "&", "+", "/")


def instrument_of(word: str) -> str | None:
    """The instrument a word names (``"cellos"`` -> ``"cello"``, ``"celli"`` -> ``"cello"``), or None."""
    w = word.lower()
    for cand in (w, w[:-1] if w.endswith("s") else "", w[:-2] if w.endswith("es") else "",
                 w[:-1] + "o" if w.endswith("i") else ""):
        if cand in INSTRUMENT_WORDS:
            return cand
    return None


#: Style presets: tempo range, and offsets on the cues' valence and intensity (documented in docs/FORMATS.md).
STYLES = {
    "thriller": {"tempo_range": (70.0, 130.0), "valence": -0.35, "intensity": 0.10},
    "drama": {"tempo_range": (56.0, 100.0), "valence": -0.10, "intensity": -0.05},
    "action": {"tempo_range": (100.0, 160.0), "valence": 0.05, "intensity": 0.25},
    "documentary": {"tempo_range": (70.0, 110.0), "valence": 0.25, "intensity": -0.10},
}


def find_cue(tl: Timeline, ref: str) -> int:
    """Index of a cue named by its id ("2M1", "leader", "tail") or 1-based number ("2", "cue 2";
    counted from the picture start: a leader before it and a tail after the picture end have none)."""
    from .leader import LEADER_CUE_ID, TAIL_CUE_ID

    r = ref.strip().lower().removeprefix("cue").strip()
    for i, c in enumerate(tl.cues):
        if c.id.lower() == r:
            return i
    numbered = [i for i, c in enumerate(tl.cues) if c.id not in (LEADER_CUE_ID, TAIL_CUE_ID)]
    if r.isdigit() and 1 <= int(r) <= len(numbered):
        return numbered[int(r) - 1]
    from ..errors import InvalidSettings

    raise InvalidSettings(f"cue {ref!r} does not exist; cues are {', '.join(c.id for c in tl.cues)} (or 1..{len(numbered)})")


def _as_key(phrase: str) -> str | None:
    """The phrase as a key in the timeline's spelling, or None when it is not one."""
    from ..harmony import normalize_key

    try:
        return normalize_key(phrase)
    except ValueError:
        return None


#: A tempo in a brief: "70 BPM", "70bpm", "tempo 70", "♩=70", "q = 70", "MM 70".
_TEMPO_RE = re.compile(r"(?P<bpm>\d+(?:\.\d+)?)\s*bpm\b|(?:tempo|bpm)\s*(?:of\s+)?(?P<bpm2>\d+(?:\.\d+)?)\b"
                       r"|(?:♩|q|m\.?m\.?)\s*=?\s*(?P<bpm3>\d+(?:\.\d+)?)\b")
#: A metre: "3/4", "in 3", "waltz" (quarter-note beats; another denominator is not understood).
_METRE_RE = re.compile(r"(?:in\s+)?(?P<num>\d{1,2})\s*/\s*(?P<den>\d{1,2})(?:\s+time)?\b"
                       r"|in\s+(?P<in>\d{1,2})(?![\d.]|\s*bpm)\b|(?P<waltz>waltz)\b")
#: A key: "C minor", "in F#", "in the key of Eb", "f sharp minor", "Am", "B♭ maj".
_KEY_RE = re.compile(r"(?P<pre>(?:in\s+)?(?:the\s+)?key\s+of\s+|in\s+)?(?P<note>[a-g])"
                     r"(?P<acc>\s*(?:#|♯|♭|-?\s*sharp\b|-?\s*flat\b)|b(?![a-z]))?"
                     r"(?P<mode>\s*(?:major|minor|maj|min)\b|m\b)?")


def parse_prompt(text: str) -> tuple[str, dict[str, Any], list[str]]:
    """``"cue 2: C minor, 70 BPM, 3/4, solo cello, melancholic"`` -> (cue ref, fields, words not
    understood).

    Read as composers brief each other, with or without commas: a key (``"in the key of Eb"``,
    ``"f sharp minor"``, ``"Am"``), a tempo (``"70 BPM"``, ``"♩=70"``, ``"tempo 70"``), a metre in
    quarter notes (``"3/4"``, ``"in 5"``, ``"waltz"``; ``6/8`` is named back), instruments (the
    first carries the melody; ``"solo"`` before it: it plays alone), a mood word, or ``tacet``.
    What is not understood is returned, per phrase, to be named back; joining words ("and",
    "with", "the") are neither.
    """
    import re

    from ..errors import InvalidSettings

    if ":" not in text:
        raise InvalidSettings(f"--prompt {text!r}: start with the cue, e.g. 'cue 2: C minor, 70 BPM, solo cello, melancholic'")
    ref, body = text.split(":", 1)
    fields: dict[str, Any] = {}
    unknown: list[str] = []
    instruments: list[str] = []
    solo = False
    for phrase in (p.strip() for p in re.split(r"[,;]", body) if p.strip()):
        low = phrase.lower()
        if low in ("tacet", "silence", "no music"):
            fields["tacet"] = True
            continue
        pos, understood, rest = 0, False, []
        while pos < len(low):
            if low[pos].isspace():
                pos += 1
                continue
            m = _TEMPO_RE.match(low, pos)
            if m:
                fields["tempo_bpm"] = float(m.group("bpm") or m.group("bpm2") or m.group("bpm3"))
                pos, understood = m.end(), True
                continue
            m = _METRE_RE.match(low, pos)
            if m and (m.group("den") in (None, "4")):
                fields["beats_per_bar"] = 3 if m.group("waltz") else int(m.group("num") or m.group("in"))
                pos, understood = m.end(), True
                continue
            m = _KEY_RE.match(low, pos)
            if m and m.group("note") and (m.end() == len(low) or not low[m.end()].isalnum()):
                note_at = m.start("note")
                bare = not (m.group("pre") or m.group("acc") or m.group("mode"))
                upper = phrase[note_at].isupper()
                # a bare lower-case letter is a word ("a little"), and so is a bare "A" before more words
                if (not bare or (upper and not (phrase[note_at] == "A" and low[m.end():].strip()))
                        or low.strip() == m.group(0).strip()):
                    key = _as_key(phrase[note_at:m.end()])
                    if key is not None:
                        fields["key"] = key
                        pos, understood = m.end(), True
                        continue
            m = re.compile(r"[^\s]+").match(low, pos)
            word, pos = m.group(0).strip(".!?()\"'"), m.end()
            nxt = low[pos:].split()[:1]
            if instrument_of(word):
                instruments.append(instrument_of(word))
                understood = True
            elif word == "solo":
                solo = understood = True
            elif word in INSTRUMENT_QUALIFIERS and nxt and instrument_of(nxt[0].strip(".!?()\"'")):
                continue  # "french" of "french horn": the instrument after it is what is read
            elif (mood := next((md for md, ws in MOOD_WORDS.items() if word in ws), None)) is not None:
                fields["mood"], understood = mood, True
            elif word not in GLUE_WORDS and word:
                rest.append(word)
        if rest:
            unknown.append(" ".join(rest) if understood else phrase)
    if instruments:
        fields["orchestration"] = ("solo " if solo else "") + " & ".join(dict.fromkeys(instruments))
    return ref, fields, unknown


def check_overrides(moods: list[str] = (), prompts: list[str] = ()) -> None:
    """What can be checked of ``--mood``/``--prompt`` without the cues (the syntax, the mood names,
    a prompt's tempo): the CLI calls it before the analysis, so a typo fails at once."""
    from ..errors import InvalidSettings

    for m in moods:
        if "=" not in m:
            raise InvalidSettings(f"--mood {m!r}: use 'cue 3=tense' (moods: {', '.join(MOODS)})")
        mood = m.split("=", 1)[1].strip().lower()
        if mood not in MOODS:
            raise InvalidSettings(f"--mood {m!r}: {mood!r} is not one of {', '.join(MOODS)}")
    for p in prompts:
        fields = parse_prompt(p)[1]
        if "tempo_bpm" in fields and not 20 <= fields["tempo_bpm"] <= 300:
            raise InvalidSettings(f"--prompt {p!r}: tempo {fields['tempo_bpm']:g} BPM is outside 20-300")
        if "beats_per_bar" in fields and not 2 <= fields["beats_per_bar"] <= 12:
            raise InvalidSettings(f"--prompt {p!r}: {fields['beats_per_bar']} beats in a bar is outside 2..12 "
                                  f"(e.g. 3/4, 5/4, 7/4)")


def apply_overrides(tl: Timeline, *, moods: list[str] = (), prompts: list[str] = ()) -> list[str]:
    """Apply ``--mood "cue 3=tense"`` and ``--prompt`` edits to a timeline (as if edited by hand).

    Returns the prompt words that were not understood (to name back to the user).
    """
    from ..errors import InvalidSettings

    check_overrides(moods, prompts)

    def unlocked(ref: str, option: str) -> Cue:
        cue = tl.cues[find_cue(tl, ref)]
        if cue.locked:  # its music is kept as it is: an override would silently re-write it
            raise InvalidSettings(f"{option}: cue {cue.id} is locked; unlock it first (\"locked\": false in the "
                                  f"timeline, or on the spotting page)")
        return cue

    unknown: list[str] = []
    said: dict[tuple[str, str], tuple[Any, str]] = {}  # (cue, field) -> (value, the option that set it)

    def put(cue: Cue, field: str, value: Any, option: str) -> None:
        before = said.get((cue.id, field))
        if before is not None and before[0] != value:  # two options disagree: the later one is used, and said
            log.warning("cue %s: %s sets %s %r, %s set %r; %r is used", cue.id, option, field.replace("_", " "),
                        value, before[1], before[0], value)
        said[(cue.id, field)] = (value, option)
        setattr(cue, field, value)

    for m in moods:
        ref, mood = (x.strip() for x in m.split("=", 1))
        put(unlocked(ref, f"--mood {m!r}"), "mood", mood.lower(), f"--mood {m!r}")
    for p in prompts:
        ref, fields, bad_words = parse_prompt(p)
        cue = unlocked(ref, f"--prompt {p!r}")
        if "tempo_bpm" in fields:
            cue.tempo_locked = True
        for k, v in fields.items():  # a mood without a key: the plan picks the home key of the mood's mode
            put(cue, k, v, f"--prompt {p!r}")
        unknown += bad_words
    return unknown
