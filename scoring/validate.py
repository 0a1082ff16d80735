"""One validation of a timeline at load, shared by every command that reads one.

``plan`` (with the previous timeline), ``compose``, ``render``, ``pick``, ``rate``, the spotting
page and the API all read ``<stem>.timeline.json`` through :func:`load_timeline` (or check a
timeline they hold with :func:`validate_timeline`), so a file one command accepts, every command
accepts, and a file that would break any of them is refused before anything is written: one
line naming the file, the field as a JSON path (``hit_points[3].time_sec``) and what to do.

What is checked, in this order:

1. the file: at most :data:`MAX_TIMELINE_BYTES`, UTF-8 JSON, an object of the timeline schema;
2. the JSON itself (:func:`check_json`): nesting at most :data:`MAX_JSON_DEPTH` levels, every
   number finite and within +-:data:`MAX_NUMBER` (so no sum or product of two of them overflows),
   text at most :data:`MAX_TEXT_CHARS` characters;
3. the contract's types (``cues[2].tempo_bpm: expected float, got str``);
4. bounds on every number the stages use (:func:`validate_timeline`): times inside the picture,
   frames inside it, strengths and intensities 0..1, tempi, metres, seeds within
   0..:data:`SEED_MAX`, and the sizes of the lists (cues, hit points, tempo changes, curve samples,
   a kept take's bars and notes) in proportion to the picture's length.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BadStageFile
from .edits import MOODS, SEED_MAX, edited_frames, one_line, orchestration_problem, take_problem, title_problem

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from ..contracts import Cue, Timeline

#: A timeline file larger than this is refused unread (a 2-hour film's is a few MB).
MAX_TIMELINE_BYTES = 256 * 1024 * 1024
#: Deepest nesting of arrays and objects (tempscore's own files nest 8 levels at most).
MAX_JSON_DEPTH = 32
#: Largest magnitude of any number: floats stay exact integers up to here, and no product of two
#: such numbers overflows a float.
MAX_NUMBER = 2**53
#: Longest text value.
MAX_TEXT_CHARS = 100_000
#: The longest picture a timeline may describe (timecode rolls over at 24 h; a few days is no film).
MAX_DURATION_SEC = 100 * 3600.0
#: List sizes, above anything the planner makes (a timeline it wrote is never refused) and far
#: below what would hang a stage: per second of picture, cues (one a beat at 300 BPM, the
#: fastest), hit points (one a 16th at 300 BPM), tempo changes (a ramp onto each hit, a bar line
#: per cue); per frame, lists of frames; each plus :data:`LIST_FLOOR`.
PER_SEC = {"cues": 5.0, "hit_points": 20.0, "tempo_map": 50.0}
PER_FRAME = ("auto_hit_frames", "suggestions", "edits.deleted_hit_frames", "markers")
LIST_FLOOR = 64


def list_limit(name: str, *, duration_sec: float, frame_count: int) -> int:
    """The most entries list ``name`` may hold for a picture of that length (see :data:`PER_SEC`)."""
    if name in PER_SEC:
        return LIST_FLOOR + int(PER_SEC[name] * min(duration_sec, MAX_DURATION_SEC))
    return LIST_FLOOR + min(int(frame_count), 2**31)
#: Tempo limits: a cue's tempo (as the planner and the page take it), and any tempo-map entry.
CUE_BPM = (20.0, 300.0)
MAP_BPM = (1.0, 1000.0)

_FIX = "correct it in the file, or re-plan from scratch with `tempscore plan --fresh`"


# ----------------------------------------------------------------------------- loading
def load_timeline(path: Path | str, *, raw: bytes | None = None) -> Timeline:
    """Read ``<stem>.timeline.json`` (a hand edit included) and check all of it.

    Parameters
    ----------
    path : path-like
        The file (named in every error).
    raw : bytes, optional
        Its bytes, already read (what is checked is then exactly what was read).

    Raises
    ------
    BadStageFile
        One line: the file, the field and what to do.
    """
    from ..contracts import TIMELINE_SCHEMA, Timeline, read_stage

    path = Path(path)
    _check_file_size(path, raw)

    def check(data: Any) -> None:
        check_sizes(data, path)  # first: it is cheap, and a list far too long need not be walked
        check_json(data, path)

    tl = read_stage(path, Timeline, TIMELINE_SCHEMA, raw=raw, check=check)
    validate_timeline(tl, path)
    return tl


def _check_file_size(path: Path, raw: bytes | None) -> None:
    """Refuse a file far larger than any timeline before reading it (or parsing ``raw``)."""
    try:
        size = len(raw) if raw is not None else path.stat().st_size
    except OSError:
        return  # read_stage says what is wrong
    if size > MAX_TIMELINE_BYTES:
        raise BadStageFile(f"{path}: {size / 2**20:.0f} MB is far larger than any timeline (at most "
                           f"{MAX_TIMELINE_BYTES // 2**20} MB); re-plan with `tempscore plan --fresh`")


def timeline_from_dict(data: dict[str, Any], *, source: str = "timeline") -> Timeline:
    """A timeline from parsed JSON (an API caller's dict), with the same checks as :func:`load_timeline`."""
    from ..contracts import TIMELINE_SCHEMA, ContractError, Timeline, from_dict

    check_sizes(data, source)
    check_json(data, source)
    if not isinstance(data, dict) or data.get("schema") != TIMELINE_SCHEMA:
        raise BadStageFile(f"{source}: schema: expected {TIMELINE_SCHEMA!r}; give a tempscore timeline")
    try:
        tl = from_dict(Timeline, data)
    except (ContractError, TypeError, ValueError) as exc:
        raise BadStageFile(f"{source}: {exc}; {_FIX}") from exc
    validate_timeline(tl, source)
    return tl


def check_json(data: Any, source: Path | str) -> None:
    """Nesting depth, finite numbers within +-:data:`MAX_NUMBER`, text length: every value of a parsed
    JSON document, without recursion (a document nested thousands deep is refused, not a crash).

    Raises
    ------
    BadStageFile
        Naming the first bad value by its JSON path.
    """
    # containers only are pushed, with (parent index, key) to spell the path of an error
    parents: list[tuple[int, Any]] = [(-1, None)]
    stack: list[tuple[Any, int, int]] = [(data, 0, 1)]

    def where(index: int, key: Any = None) -> str:
        keys = [key] if key is not None else []
        while index > 0:
            index, k = parents[index]
            keys.append(k)
        return _json_path(reversed(keys))

    def fail(index: int, key: Any, msg: str) -> BadStageFile:
        return BadStageFile(f"{source}: {where(index, key) or 'the document'}: {msg}; {_FIX}")

    if not isinstance(data, (dict, list)):
        _check_scalar(data, lambda msg: fail(0, None, msg))
        return
    while stack:
        value, index, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise fail(index, None, f"nested more than {MAX_JSON_DEPTH} levels deep")
        if isinstance(value, list) and _plain_numbers(value):  # curves, notes: checked at C speed
            continue
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, v in items:
            if isinstance(v, (dict, list)):
                parents.append((index, key))
                stack.append((v, len(parents) - 1, depth + 1))
            elif v is not None and not isinstance(v, bool):
                _check_scalar(v, lambda msg, k=key, i=index: fail(i, k, msg))


def check_sizes(data: Any, source: Path | str) -> None:
    """The lengths of a timeline document's lists against its picture's length, before anything is
    built from them (100,000 hit points are refused at once, not after building each)."""
    if not isinstance(data, dict) or not isinstance(data.get("video"), dict):
        return  # the contract's check names what is missing
    dur, n = data["video"].get("duration_sec"), data["video"].get("frame_count")
    if not _num(dur) or dur <= 0 or not isinstance(n, int) or n < 1:
        return
    edits = data.get("edits") if isinstance(data.get("edits"), dict) else {}
    for name in (*PER_SEC, *PER_FRAME):
        items = data.get(name) if "." not in name else edits.get(name.split(".")[1])
        if isinstance(items, list) and len(items) > list_limit(name, duration_sec=dur, frame_count=n):
            raise BadStageFile(_too_many(source, name, len(items), dur, n))


def _too_many(source: Path | str, name: str, count: int, dur: float, n: int) -> str:
    limit = list_limit(name, duration_sec=dur, frame_count=n)
    per = f"{PER_SEC[name]:g} a second" if name in PER_SEC else "one a frame"
    return f"{source}: {name}: {count} entries for {dur:g} s of picture is too many (at most {limit}: {per}); delete some"


def _plain_numbers(values: list) -> bool:
    """Whether ``values`` holds only finite ints and floats within +-:data:`MAX_NUMBER` (False: look
    at each, to name the bad one)."""
    if not values or not set(map(type, values)) <= {int, float}:
        return False
    try:
        return all(map(math.isfinite, values)) and min(values) >= -MAX_NUMBER and max(values) <= MAX_NUMBER
    except OverflowError:  # an int too large for a float
        return False


def _check_scalar(v: Any, fail: Callable[[str], BadStageFile]) -> None:
    if isinstance(v, float):
        if not math.isfinite(v):
            raise fail(f"{v!r} is not a number (NaN and Infinity are not JSON)")
        if abs(v) > MAX_NUMBER:
            raise fail(f"{v:g} is out of range (at most {MAX_NUMBER:.0e} either way)")
    elif isinstance(v, int) and abs(v) > MAX_NUMBER:
        raise fail(f"{_short(v)} is out of range (at most {MAX_NUMBER:.0e} either way)")
    elif isinstance(v, str) and len(v) > MAX_TEXT_CHARS:
        raise fail(f"text of {len(v)} characters is too long (at most {MAX_TEXT_CHARS})")


def _short(v: int) -> str:
    digits = len(str(abs(v))) if abs(v) < 10**4000 else 4000
    return str(v) if digits <= 20 else f"a {digits}-digit number"


def _json_path(keys: Iterable[str | int]) -> str:
    """``cues[2].hits[0].time_sec``; a key that is not a plain name is quoted (``edits["a\\nb"]``), so a
    path is always one line of visible text."""
    import json
    import re

    out = ""
    for k in keys:
        if isinstance(k, int):
            out += f"[{k}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,60}", k):
            out += f".{k}" if out else k
        else:
            out += f"[{json.dumps(k[:60])}]"
    return out


# ----------------------------------------------------------------------------- the fields
class _Checker:
    """Named checks on the fields of one timeline; each failure is one :class:`BadStageFile` line."""

    def __init__(self, tl: Timeline, path: Path | str) -> None:
        self.tl, self.path = tl, path
        v = tl.video
        self.fps = Fraction(v.fps_num, v.fps_den) if v.fps_num > 0 and v.fps_den > 0 else Fraction(1)
        self.n = v.frame_count
        self.dur = v.duration_sec
        self.slack = float(1 / self.fps) + 1e-6  # a time may sit up to a frame past the last one's start

    def bad(self, field: str, msg: str) -> BadStageFile:
        return BadStageFile(f"{self.path}: {field}: {msg}" + ("" if ";" in msg else f"; {_FIX}"))

    def number(self, field: str, x: Any, lo: float, hi: float, what: str = "") -> None:
        if not _num(x):
            raise self.bad(field, f"{x!r} is not a number")
        if not lo <= x <= hi:
            raise self.bad(field, f"{x:g} is outside {_g(lo)}..{_g(hi)}{what}")

    def whole(self, field: str, x: Any, lo: int, hi: int, what: str = "") -> None:
        if not isinstance(x, int) or isinstance(x, bool):
            raise self.bad(field, f"{x!r} must be a whole number")
        if not lo <= x <= hi:
            raise self.bad(field, f"{x} is outside {lo}..{hi}{what}")

    def time(self, field: str, x: Any) -> None:
        self.number(field, x, 0.0, self.dur + self.slack, " (seconds inside the picture)")

    def frame(self, field: str, x: Any, *, end: bool = False) -> None:
        self.whole(field, x, 0, self.n if end else self.n - 1, " (frames of the picture)")

    def size(self, field: str, items: list, per_sec: float | None = None) -> None:
        """At most :func:`list_limit` entries (``per_sec``: for a list of samples at that rate)."""
        if per_sec is not None:
            limit = LIST_FLOOR + int(per_sec * self.dur)
            if len(items) > limit:
                raise self.bad(field, f"{len(items)} samples for {self.dur:g} s is too many (at most {limit})")
        elif len(items) > list_limit(field, duration_sec=self.dur, frame_count=self.n):
            raise BadStageFile(_too_many(self.path, field, len(items), self.dur, self.n))

    def text(self, field: str, x: Any, *, limit: int = 200, empty: bool = True) -> None:
        """One line of visible text (it is printed in reports and messages), at most ``limit`` characters."""
        if not isinstance(x, str) or (not empty and not x.strip()) or len(x) > limit or not one_line(x):
            raise self.bad(field, f"{x!r:.60} must be one line of text of at most {limit} characters"
                                  + ("" if empty else ", not empty"))


def _num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _g(x: float) -> str:
    return f"{x:g}" if abs(x) < 1e6 else f"{x:.0f}"


def validate_timeline(tl: Timeline, path: Path | str = "timeline.json") -> None:
    """Check a timeline a user may have edited; raise :class:`BadStageFile` naming the bad field.
    Keys are put in the timeline's spelling (``"C#m"`` -> ``"C# minor"``) in place, moods in
    lower case."""
    from ..contracts import ContractError, check_types

    try:
        check_types(tl)
    except ContractError as exc:
        raise BadStageFile(f"{path}: {exc}; fix that field or re-run `tempscore plan`") from exc
    ck = _Checker(tl, path)
    _check_video(ck)
    _check_cues(ck)
    _check_hits(ck)
    _check_tempo_map(ck)
    _check_markers(ck)
    _check_rest(ck)


def _check_video(ck: _Checker) -> None:
    from .timecodes import start_offset_frames

    v = ck.tl.video
    fix = "; re-run `tempscore analyze` and `tempscore plan --fresh`"
    if v.fps_num <= 0 or v.fps_den <= 0 or v.frame_count < 1 or not v.duration_sec > 0:
        raise ck.bad("video", "fps, frame_count and duration_sec must be positive; re-run `tempscore analyze`")
    ck.whole("video.fps_num", v.fps_num, 1, 2**31 - 1)
    ck.whole("video.fps_den", v.fps_den, 1, 2**31 - 1)
    ck.whole("video.frame_count", v.frame_count, 1, 2**31 - 1)
    if v.duration_sec > MAX_DURATION_SEC:
        raise ck.bad("video.duration_sec", f"{v.duration_sec:g} s is longer than any picture tempscore scores "
                                           f"({MAX_DURATION_SEC / 3600:g} h){fix}")
    if v.frame_count > (v.duration_sec + 1) * float(ck.fps) * 4 + 16:  # frames the picture cannot hold
        raise ck.bad("video.frame_count", f"{v.frame_count} frames do not fit {v.duration_sec:g} s at "
                                          f"{float(ck.fps):g} fps{fix}")
    try:
        start_offset_frames(v.start_timecode, ck.fps)
    except (ValueError, TypeError, IndexError, ZeroDivisionError):
        raise ck.bad("video.start_timecode", f"{v.start_timecode!r} is not a timecode like 01:00:00:00") from None


def _check_cues(ck: _Checker) -> None:
    cues = ck.tl.cues
    if not cues:
        raise ck.bad("cues", "is empty; for no music anywhere set \"tacet\": true on the cues instead (or delete "
                             "the file and re-run `tempscore plan`)")
    ck.size("cues", cues)
    ids: set[str] = set()
    prev_end = -1.0
    for i, c in enumerate(cues):
        f = f"cues[{i}]"
        ck.text(f"{f}.id", c.id, limit=80, empty=False)
        if c.id in ids:
            raise ck.bad(f"{f}.id", f"{c.id!r} is not unique; give each cue its own id")
        ids.add(c.id)
        ck.time(f"{f}.start_sec", c.start_sec)
        ck.time(f"{f}.end_sec", c.end_sec)
        if not c.start_sec < c.end_sec:
            raise ck.bad(f"{f}.end_sec", f"{c.end_sec} is not after start_sec {c.start_sec}")
        if c.start_sec < prev_end - 1e-6:
            raise ck.bad(f"{f}.start_sec", f"{c.start_sec} overlaps the previous cue (ends {prev_end})")
        prev_end = c.end_sec
        ck.frame(f"{f}.start_frame", c.start_frame)
        ck.frame(f"{f}.end_frame", c.end_frame, end=True)
        if not c.start_frame < c.end_frame:
            raise ck.bad(f"{f}.end_frame", f"{c.end_frame} is not after start_frame {c.start_frame}")
        ck.number(f"{f}.tempo_bpm", c.tempo_bpm, *CUE_BPM, " BPM")
        ck.number(f"{f}.intensity", c.intensity, 0.0, 1.0)
        ck.number(f"{f}.valence", c.valence, -1.0, 1.0)
        ck.number(f"{f}.arousal", c.arousal, -1.0, 1.0)
        if isinstance(c.mood, str) and c.mood.strip().lower() in MOODS:  # "Tense", "tense ": as meant
            c.mood = c.mood.strip().lower()
        if c.mood not in MOODS:
            raise ck.bad(f"{f}.mood", f"{c.mood!r:.40} is not one of {', '.join(MOODS)}")
        _check_key(ck, f"{f}.key", c)
        if not isinstance(c.beats_per_bar, int) or isinstance(c.beats_per_bar, bool) or not 2 <= c.beats_per_bar <= 12:
            raise ck.bad(f"{f}.beats_per_bar", f"{c.beats_per_bar!r} must be a whole number of beats 2..12 (3 for 3/4)")
        max_beats = int((c.end_sec - c.start_sec) * MAP_BPM[1] / 60) + 2
        ck.whole(f"{f}.beats", c.beats, 0, max_beats, f" (whole beats in {c.end_sec - c.start_sec:g} s)")
        ck.whole(f"{f}.start_bar", c.start_bar, -1, 1 + int(ck.dur * MAP_BPM[1] / 60), "")
        ck.whole(f"{f}.seed", c.seed, -1, SEED_MAX, " (-1: the run's --seed)")
        _check_cue_words(ck, f, c, ids)
    _check_no_cue_covers_another(ck)


def _check_key(ck: _Checker, field: str, c: Cue) -> None:
    from ..harmony import normalize_key

    try:  # written as musicians write keys ("C#m", "Eb", "f sharp minor"): kept in one spelling
        c.key = normalize_key(c.key)
    except (ValueError, AttributeError, TypeError):
        raise ck.bad(field, f"{c.key!r:.40} is not a key; use e.g. 'D minor' or 'F major'") from None


def _check_cue_words(ck: _Checker, f: str, c: Cue, ids: set[str]) -> None:
    if not isinstance(c.recalls, str) or (c.recalls and c.recalls not in ids - {c.id}):
        earlier = sorted(ids - {c.id})
        raise ck.bad(f"{f}.recalls", f"{c.recalls!r:.40} is not the id of an earlier cue; " + (
            f"name one ({', '.join(earlier)}) or leave it empty" if earlier else "leave it empty (no cue comes before it)"))
    if (problem := title_problem(c.title)) is not None:
        raise ck.bad(f"{f}.title", problem)
    if not isinstance(c.orchestration, str) or (problem := orchestration_problem(c.orchestration)) is not None:
        raise ck.bad(f"{f}.orchestration", problem or f"{c.orchestration!r} must be text such as 'solo cello'")
    if c.take and (problem := take_problem(c.take, beats=max(c.beats, 1))) is not None:
        raise ck.bad(f"{f}.take", f"{problem}; delete \"take\" to have the cue's melody written again")


def _check_no_cue_covers_another(ck: _Checker) -> None:
    """An edge moved by hand (frames or seconds, see :func:`~tempscore.scoring.edits.edited_frames`)
    over the whole of another cue would silently swallow it: said, with the two ways out."""
    tl = ck.tl
    spans = [edited_frames(c, fps=float(ck.fps), frame_count=ck.n) if not c.locked else (c.start_frame, c.end_frame)
             for c in tl.cues]
    order = sorted(range(len(spans)), key=lambda k: (spans[k][0], -spans[k][1], k))
    widest = None  # the span reaching furthest so far: one that starts later and ends within it is covered
    for k in order:
        if widest is not None and spans[k][1] <= spans[widest][1]:
            (a0, a1), (b0, b1) = spans[widest], spans[k]
            c, other = tl.cues[widest], tl.cues[k]
            side = "start" if k < widest else "end"  # the edge moved over the other cue
            moved = getattr(c, f"{side}_frame") != (c.auto or {}).get(f"{side}_frame", getattr(c, f"{side}_frame"))
            unit = "frame" if moved or c.locked or not c.auto else "sec"
            raise ck.bad(f"cues[{widest}].{side}_{unit}", f"cue {c.id} now spans frames {a0}-{a1}, over the whole of cue {other.id} "
                                            f"({b0}-{b1}), which would vanish; move its edge back, or delete cue "
                                            f"{other.id} from the file to merge them (a stretch no cue covers is tacet)")
        if widest is None or spans[k][1] > spans[widest][1]:
            widest = k


def _check_hits(ck: _Checker) -> None:
    from .timecodes import parse_smpte

    tl, v = ck.tl, ck.tl.video
    ck.size("hit_points", tl.hit_points)
    for i, h in enumerate(tl.hit_points):
        f = f"hit_points[{i}]"
        ck.frame(f"{f}.frame", h.frame)
        ck.time(f"{f}.time_sec", h.time_sec)
        ck.text(f"{f}.kind", h.kind, limit=40, empty=False)
        ck.number(f"{f}.strength", h.strength, 0.0, 1.0)
        ck.whole(f"{f}.bar", h.bar, -1, 1 + int(ck.dur * MAP_BPM[1] / 60))
        ck.number(f"{f}.beat", h.beat, 0.0, 17.0)
        ck.number(f"{f}.offset_frames", h.offset_frames, -float(ck.n), float(ck.n))
        ck.text(f"{f}.cue_id", h.cue_id, limit=80)
        ck.text(f"{f}.how", h.how, limit=40)
        ck.text(f"{f}.timecode", h.timecode, limit=40)
        if h.timecode:  # typed by a person: it must read as one (it moves the hit, see edited_hit_frame)
            try:
                at = parse_smpte(h.timecode, ck.fps, start_timecode=v.start_timecode)
            except (ValueError, TypeError, IndexError) as exc:
                raise ck.bad(f"{f}.timecode", f"{exc}; or delete the field") from None
            if not 0 <= at < ck.n:
                raise ck.bad(f"{f}.timecode", f"{h.timecode} is outside the picture (frames 0..{ck.n - 1} from "
                                              f"{v.start_timecode}); or delete the field")


def _check_markers(ck: _Checker) -> None:
    """The editor's markers (``--markers``): a frame of the picture, a weight, one-line names."""
    from .markers import MARKER_WEIGHTS

    ck.size("markers", ck.tl.markers)
    for i, m in enumerate(ck.tl.markers):
        f = f"markers[{i}]"
        if not isinstance(m, dict):
            raise ck.bad(f, "must be an object; re-plan with --markers FILE")
        ck.frame(f"{f}.frame", m.get("frame"))
        if m.get("weight") not in MARKER_WEIGHTS:
            raise ck.bad(f"{f}.weight", f"{m.get('weight')!r} must be one of {', '.join(MARKER_WEIGHTS)}")
        for key in ("name", "colour", "file", "status", "cue", "reason", "timecode"):
            if key in m:
                ck.text(f"{f}.{key}", m[key], limit=400)


def _check_tempo_map(ck: _Checker) -> None:
    tm = ck.tl.tempo_map
    if not tm or abs(tm[0].time_sec) > 1e-6:
        raise ck.bad("tempo_map", "must start at time_sec 0; re-run `tempscore plan`")
    ck.size("tempo_map", tm)
    prev_t = -1.0
    for i, e in enumerate(tm):
        f = f"tempo_map[{i}]"
        ck.time(f"{f}.time_sec", e.time_sec)
        if e.time_sec < prev_t:
            raise ck.bad(f"{f}.time_sec", "tempo changes must be in time order")
        prev_t = e.time_sec
        ck.number(f"{f}.bpm", e.bpm, *MAP_BPM, " BPM")
        ck.whole(f"{f}.beats_per_bar", e.beats_per_bar, 1, 16)
        ck.whole(f"{f}.bar", e.bar, -1, 1 + int(ck.dur * MAP_BPM[1] / 60))


def _check_rest(ck: _Checker) -> None:
    tl = ck.tl
    cv = tl.curves
    ck.number("curves.rate_hz", cv.rate_hz, 0.01, 1000.0, " per second")
    for name in ("intensity", "arousal", "valence"):
        ck.size(f"curves.{name}", getattr(cv, name), cv.rate_hz)
    ck.size("auto_hit_frames", tl.auto_hit_frames)
    for i, x in enumerate(tl.auto_hit_frames):
        ck.whole(f"auto_hit_frames[{i}]", x, -1, ck.n)
    ck.size("suggestions", tl.suggestions)
    ed = tl.edits
    for key in ("locked_cues", "added_hits", "pinned_cues"):
        if key in ed and not (isinstance(ed[key], list) and all(isinstance(x, dict) for x in ed[key])):
            raise ck.bad(f"edits.{key}", "must be a list of objects; delete `edits` to drop the carried edits")
    if "deleted_hit_frames" in ed:
        dh = ed["deleted_hit_frames"]
        if not (isinstance(dh, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in dh)):
            raise ck.bad("edits.deleted_hit_frames", "must be a list of frame numbers; delete it to bring the hits back")
        ck.size("edits.deleted_hit_frames", dh)
    if "cue_overrides" in ed and not (isinstance(ed["cue_overrides"], dict)
                                      and all(isinstance(x, dict) for x in ed["cue_overrides"].values())):
        raise ck.bad("edits.cue_overrides", "must map cue ids to objects; delete `edits` to drop the carried edits")
    _check_reference(ck, (tl.settings or {}).get("reference"))


def _check_reference(ck: _Checker, ref: Any) -> None:
    """``settings.reference``, what a reference track measured (plan and render follow it)."""
    if not ref:
        return
    f = "settings.reference"
    fix = "; measure it again with --reference, or delete settings.reference to stop following it"
    if not isinstance(ref, dict):
        raise ck.bad(f, f"must be an object{fix}")
    bounds = {"duration_sec": (0.0, MAX_NUMBER), "tempo_bpm": (1.0, 1000.0), "tempo_confidence": (-1.0, 1.0),
              "beat_salience": (0.0, 1e6), "key_confidence": (-2.0, 2.0), "loudness_lufs": (-200.0, 30.0),
              "brightness_hz": (0.0, 1e6)}
    optional = {"tempo_confidence", "beat_salience", "key_confidence"}  # measured since: older files lack them
    for name, (lo, hi) in bounds.items():
        if name not in ref and name in optional | {"duration_sec"}:
            continue
        if name not in ref or not _num(ref[name]) or not lo <= ref[name] <= hi:
            raise ck.bad(f"{f}.{name}", f"{ref.get(name)!r:.40} must be a number in {_g(lo)}..{_g(hi)}{fix}")
    from ..harmony import normalize_key

    try:
        normalize_key(ref.get("key"))
    except (ValueError, AttributeError, TypeError):
        raise ck.bad(f"{f}.key", f"{ref.get('key')!r:.40} is not a key{fix}") from None
