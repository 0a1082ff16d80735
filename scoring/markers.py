"""The editor's own markers as hit points: read from the marker exports editors have.

Formats (told apart by their content, not their names):

- **CMX 3600 EDL**: ``* LOC: 01:00:05:10 RED  name`` locators (Avid, OpenTimelineIO) and
  DaVinci Resolve's marker EDL, one event per marker with ``|C:ResolveColorRed |M:name |D:1``;
- **Final Cut Pro X XML** (``<fcpxml>``): ``<marker>`` (a to-do marker is a must-hit) and
  ``<chapter-marker>``, read with exact rational times;
- **Premiere Pro / Final Cut 7 XML** (``<xmeml>``): sequence and clip markers, read with
  OpenTimelineIO's ``fcp_xml`` adapter;
- **Avid marker list** (tab-separated text: user, timecode, track, colour, comment, duration);
- **OpenTimelineIO** (``.otio`` JSON): every marker, at its place in the timeline;
- **CSV**: a column ``timecode`` (or ``frame``, or ``time_sec``), and optionally ``name``,
  ``weight`` (``must``/``should``) and ``colour``.

Each marker is a hit with a weight: ``must`` (it wins in the tempo fit) or ``should`` (a strong
cut's weight). The weight comes from a ``weight`` column where there is one, else from the colour
(red: must), else from the name (``!`` in front, or the word ``must``), else ``should``.
A file that cannot be read this way is refused in one line naming the file and the line.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BadMarkerFile
from .timecodes import parse_smpte, rate_name, timecode_format

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

    from opentimelineio import opentime, schema

    from ..contracts import VideoInfo

__all__ = ["MARKER_WEIGHTS", "MAX_MARKER_BYTES", "MUST_COLOURS", "EditorMarker", "marker_format", "read_markers"]

#: Colours that make a marker a must-hit (as the editor's convention: red is "hit this").
MUST_COLOURS = ("red",)
#: The weights a marker may have.
MARKER_WEIGHTS = ("must", "should")
#: A marker file larger than this is refused unread (a feature's markers are a few hundred KB).
MAX_MARKER_BYTES = 32 * 1024 * 1024
#: Most markers one file may hold.
MAX_MARKERS = 10_000
_TC = r"\d{1,2}:\d{2}:\d{2}[:;.]\d{2,3}"


@dataclass
class EditorMarker:
    """One marker of the editor's, placed on the video's frames.

    ``frame``: 0-based frame of the video; ``weight``: ``"must"`` or ``"should"``; ``line``: where
    it is in its file (1-based; 0 when the format does not say).
    """

    frame: int
    name: str
    weight: str
    colour: str = ""
    line: int = 0
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def marker_format(text: str) -> str:
    """Which marker format ``text`` is: ``"otio"``, ``"fcpxml"``, ``"xmeml"``, ``"edl"``, ``"avid"``,
    ``"csv"``, or ``""`` when none."""
    head = text.lstrip("\ufeff \t\r\n")[:4096]
    if head.startswith("{") and "OTIO_SCHEMA" in head:
        return "otio"
    if head.startswith("<"):
        return "fcpxml" if "<fcpxml" in head else "xmeml" if "<xmeml" in head else ""
    lines = [ln for ln in head.splitlines() if ln.strip()]
    if any(ln.startswith(("TITLE:", "FCM:")) for ln in lines) or any(re.match(r"\d{3,6}\s+\S+\s+\S+\s+\S+\s+" + _TC, ln)
                                                                     for ln in lines):
        return "edl"
    if any(len(cols := ln.split("\t")) >= 3 and re.fullmatch(_TC, cols[1].strip()) for ln in lines):
        return "avid"
    if lines and any(k in lines[0].lower() for k in ("timecode", "frame", "time_sec", "time")):
        return "csv"
    return ""


def read_markers(path: Path | str, video: VideoInfo) -> list[EditorMarker]:
    """The markers of ``path`` on ``video``'s frames, in time order.

    Parameters
    ----------
    path : path-like
        A marker export (see the module's docstring for the formats).
    video : VideoInfo
        The picture they mark: its exact frame rate, start timecode and frame count.

    Raises
    ------
    BadMarkerFile
        One line naming the file and the line: an unknown format, another frame rate, a timecode
        outside the picture, garbage.
    """
    path = Path(path)
    text = _read_text(path)
    fmt = marker_format(text)
    if not fmt:
        raise BadMarkerFile(f"{path}: not a marker file tempscore reads (CMX 3600 EDL, FCPXML, Premiere/FCP7 XML, "
                            f"Avid marker list, OTIO, or a CSV with a timecode column); export the markers in one of "
                            f"those")
    reader = {"otio": _read_otio, "fcpxml": _read_fcpxml, "xmeml": _read_xmeml, "edl": _read_edl, "avid": _read_avid,
              "csv": _read_csv}[fmt]
    ctx = _Context(path, text, video)
    markers = reader(ctx)
    if not markers:
        raise BadMarkerFile(f"{path}: holds no markers ({fmt}); export the sequence's markers, not only its edits")
    for m in markers:
        m.source = fmt
        if not 0 <= m.frame < video.frame_count:
            raise BadMarkerFile(f"{path} line {m.line}: marker {m.name!r} at frame {m.frame} is outside the picture "
                                f"(frames 0-{video.frame_count - 1}, {ctx.tc(0)}-{ctx.tc(video.frame_count - 1)}); "
                                f"check that it marks this cut and the sequence's start timecode")
    return sorted(markers, key=lambda m: (m.frame, m.line))


# ----------------------------------------------------------------------------- helpers
class _Context:
    """The file being read and the picture it marks."""

    def __init__(self, path: Path, text: str, video: VideoInfo) -> None:
        self.path, self.text, self.video = path, text, video
        self.fps = Fraction(video.fps_num, video.fps_den)
        self.start_tc = video.start_timecode or "00:00:00:00"

    def tc(self, frame: int) -> str:
        from .timecodes import frame_to_smpte

        return frame_to_smpte(frame, self.fps, start_timecode=self.start_tc)

    def frame_of_tc(self, text: str, line: int, *, start_tc: str | None = None) -> int:
        """The video frame of a timecode in the file (counted from ``start_tc``, else the video's)."""
        try:
            return parse_smpte(text.strip(), self.fps, start_timecode=start_tc or self.start_tc)
        except ValueError as exc:
            raise self.error(line, f"{exc} (the picture is {rate_name(self.fps)} fps); export the markers at the "
                                   f"picture's frame rate") from None

    def frame_of_sec(self, sec: Fraction, line: int, what: str) -> int:
        """The frame showing at ``sec`` from the picture's first frame; off the frame grid by more than a
        thousandth of a frame is another frame rate."""
        pos = sec * self.fps
        if abs(pos - round(pos)) > Fraction(1, 1000):
            raise self.error(line, f"{what} at {float(sec):.6f} s falls between the picture's frames "
                                   f"({rate_name(self.fps)} fps): the markers are at another frame rate; export them "
                                   f"at the picture's")
        return int(round(pos))

    def error(self, line: int, what: str) -> BadMarkerFile:
        return BadMarkerFile(f"{self.path}{f' line {line}' if line else ''}: {what}")

    def line_of(self, needle: str, after: int = 0) -> int:
        """1-based line of the first ``needle`` in the file after line ``after`` (0: not found)."""
        for i, ln in enumerate(self.text.splitlines()[after:], after + 1):
            if needle and needle in ln:
                return i
        return 0

    def check_rate(self, fps: Fraction, line: int, where: str) -> None:
        if fps != self.fps:
            raise self.error(line, f"{where} is {rate_name(fps)} fps, the picture {rate_name(self.fps)} fps; export "
                                   f"the markers from a sequence at the picture's frame rate")


def _read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise BadMarkerFile(f"--markers {path}: file not found") from None
    except OSError as exc:
        raise BadMarkerFile(f"--markers {path}: cannot read it ({exc.strerror or exc})") from None
    if not path.is_file():
        raise BadMarkerFile(f"--markers {path}: not a file; give the marker export (EDL, XML, TXT, OTIO or CSV)")
    if size > MAX_MARKER_BYTES:
        raise BadMarkerFile(f"{path}: {size / 2**20:.0f} MB is far larger than any marker export (at most "
                            f"{MAX_MARKER_BYTES // 2**20} MB); give the markers file itself")
    raw = path.read_bytes()
    if b"\0" in raw[:4096]:
        raise BadMarkerFile(f"{path}: a binary file, not a marker export; export the markers as text (EDL, XML, TXT, "
                            f"OTIO or CSV)")
    for enc in ("utf-8-sig", "utf-16") if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    raise BadMarkerFile(f"{path}: not text in a known encoding (UTF-8, UTF-16, Windows-1252); export it again")


def weight_of(*, explicit: str = "", colour: str = "", name: str = "") -> str:
    """A marker's weight: the ``explicit`` one, else by ``colour`` (red: must), else by ``name``
    (``!`` in front or the word "must"), else should."""
    e = explicit.strip().lower()
    if e in ("must", "must-hit", "hit", "1", "yes", "true"):
        return "must"
    if e in ("should", "should-hit", "soft", "0", "no", "false"):
        return "should"
    if colour.strip().lower().removeprefix("resolvecolor") in MUST_COLOURS:
        return "must"
    if name.strip().startswith("!") or re.search(r"\bmust\b", name, re.IGNORECASE):
        return "must"
    return "should"


def _add(out: list[EditorMarker], ctx: _Context, marker: EditorMarker) -> None:
    if len(out) >= MAX_MARKERS:
        raise ctx.error(marker.line, f"more than {MAX_MARKERS} markers; give the markers of one reel")
    out.append(marker)


# ----------------------------------------------------------------------------- EDL
def _read_edl(ctx: _Context) -> list[EditorMarker]:
    """CMX 3600 ``* LOC:`` locators (at the event's record time) and Resolve's marker events."""
    out: list[EditorMarker] = []
    event: tuple[int, int, int] | None = None  # (src_in, rec_in, line) of the event above, in video frames
    for n, raw in enumerate(ctx.text.splitlines(), 1):
        ln = raw.rstrip()
        if not ln.strip():
            continue
        if ln.startswith("FCM:"):
            _check_fcm(ctx, ln[4:].strip().upper(), n)
            continue
        if ln.startswith("TITLE:"):
            continue
        m = re.match(r"(\d{3,6})\s+(\S+)\s+(\S+)\s+(\S+)\s+(?:\d+\s+)?(" + _TC + r")\s+(" + _TC + r")\s+(" + _TC
                     + r")\s+(" + _TC + r")", ln)
        if m:
            src_in, rec_in = ctx.frame_of_tc(m.group(5), n), ctx.frame_of_tc(m.group(7), n)
            event = (src_in, rec_in, n)
            continue
        loc = re.match(r"\*\s*LOC:\s*(" + _TC + r")\s+(\S+)\s*(.*)", ln)
        if loc:
            at = ctx.frame_of_tc(loc.group(1), n)
            if event is not None:  # a locator is in the event's source time: to record time
                at = event[1] + (at - event[0])
            colour = loc.group(2).strip()
            name = loc.group(3).strip()
            _add(out, ctx, EditorMarker(at, name, weight_of(colour=colour, name=name),
                                        colour.lower(), n))
            continue
        res = re.search(r"\|C:(\S+)", ln)
        if res and event is not None and ln.lstrip().startswith("|"):  # Resolve: the marker is the event above
            name_m = re.search(r"\|M:(.*?)(?=\s*\|[A-Z]:|$)", ln)
            name = name_m.group(1).strip() if name_m else ""
            colour = res.group(1).removeprefix("ResolveColor")
            _add(out, ctx, EditorMarker(event[1], name, weight_of(colour=colour, name=name),
                                        colour.lower(), n))
            continue
        if ln.startswith(("*", ">>>", "M2")) or re.match(r"\d{3,6}\s", ln):
            continue  # comments, motion effects, other event lines
        raise ctx.error(n, f"{ln.strip()[:60]!r} is not a line of a CMX 3600 EDL; export the markers again")
    return out


def _check_fcm(ctx: _Context, fcm: str, line: int) -> None:
    drop = "NON" not in fcm and "DROP" in fcm
    if drop and not timecode_format(ctx.fps).drop_frame:
        raise ctx.error(line, f"the EDL is drop-frame ({fcm}), the picture {rate_name(ctx.fps)} fps has no drop-frame "
                              f"timecode; export the markers from a sequence at the picture's frame rate")
    if not drop and "NON" in fcm and timecode_format(ctx.fps).drop_frame:
        raise ctx.error(line, f"the EDL is non-drop ({fcm}), the picture's timecode is drop-frame "
                              f"({rate_name(ctx.fps)} fps); export the markers in drop-frame timecode")


# ----------------------------------------------------------------------------- Avid
def _read_avid(ctx: _Context) -> list[EditorMarker]:
    """Media Composer's marker list: ``user<TAB>timecode<TAB>track<TAB>colour<TAB>comment[<TAB>duration]``."""
    out: list[EditorMarker] = []
    for n, raw in enumerate(ctx.text.splitlines(), 1):
        if not raw.strip():
            continue
        cols = [c.strip() for c in raw.split("\t")]
        if len(cols) < 3 or not re.fullmatch(_TC, cols[1]):
            raise ctx.error(n, f"{raw.strip()[:60]!r} is not a line of an Avid marker list (user, timecode, track, "
                               f"colour, comment, tab-separated); export the markers again")
        colour = cols[3] if len(cols) > 3 else ""
        name = cols[4] if len(cols) > 4 else cols[0]
        _add(out, ctx, EditorMarker(ctx.frame_of_tc(cols[1], n), name, weight_of(colour=colour, name=name),
                                    colour.lower(), n))
    return out


# ----------------------------------------------------------------------------- CSV
_CSV_ALIASES = {"timecode": ("timecode", "tc", "record tc", "record in", "rec in", "time code"),
                "frame": ("frame", "frames"), "time_sec": ("time_sec", "seconds", "time", "sec"),
                "name": ("name", "marker", "comment", "note", "description", "title"),
                "weight": ("weight", "priority", "must", "kind"), "colour": ("colour", "color")}


def _read_csv(ctx: _Context) -> list[EditorMarker]:
    """A CSV with a ``timecode``, ``frame`` or ``time_sec`` column (comma, semicolon or tab)."""
    lines = ctx.text.splitlines()
    try:
        dialect = csv.Sniffer().sniff(lines[0], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader(io.StringIO(ctx.text), dialect))
    header = [h.strip().lower() for h in rows[0]]
    col = {k: next((header.index(a) for a in aliases if a in header), None) for k, aliases in _CSV_ALIASES.items()}
    if col["timecode"] is None and col["frame"] is None and col["time_sec"] is None:
        raise ctx.error(1, "no timecode, frame or time_sec column in the header; name the column that holds the "
                           "marker times")
    out: list[EditorMarker] = []
    for n, row in enumerate(rows[1:], 2):
        if not any(c.strip() for c in row):
            continue

        def cell(key: str, row: list[str] = row) -> str:
            i = col[key]
            return row[i].strip() if i is not None and i < len(row) else ""

        frame = _csv_frame(ctx, cell, n)
        name = cell("name")
        weight = cell("weight").lower()
        if weight and weight_of(explicit=weight) != weight and weight not in ("hit", "soft", "yes", "no", "true",
                                                                               "false", "0", "1", "must-hit",
                                                                               "should-hit"):
            raise ctx.error(n, f"weight {weight!r}: use must or should")
        _add(out, ctx, EditorMarker(frame, name, weight_of(explicit=weight, colour=cell("colour"), name=name),
                                    cell("colour").lower(), n))
    return out


def _csv_frame(ctx: _Context, cell: Any, n: int) -> int:
    if cell("timecode"):
        return ctx.frame_of_tc(cell("timecode"), n)
    if cell("frame"):
        try:
            return int(cell("frame"))
        except ValueError:
            raise ctx.error(n, f"frame {cell('frame')!r} is not a whole number") from None
    if cell("time_sec"):
        try:
            sec = Fraction(cell("time_sec"))
        except (ValueError, ZeroDivisionError):
            raise ctx.error(n, f"time_sec {cell('time_sec')!r} is not a number of seconds") from None
        return int(sec * ctx.fps + Fraction(1, 10**6))  # the frame showing then
    raise ctx.error(n, "no time in this row; give its timecode, frame or time_sec")


# ----------------------------------------------------------------------------- FCPXML
def _fcpx_time(text: str | None) -> Fraction:
    """``"1001/24000s"``, ``"3s"``, ``"0s"`` -> seconds."""
    t = (text or "0s").strip().removesuffix("s")
    return Fraction(t) if t else Fraction(0)


def _read_fcpxml(ctx: _Context) -> list[EditorMarker]:
    """Markers of the (first) project's sequence, at their place in it: a marker inside a clip is at
    ``offset + (marker start - clip start)`` of each clip above it."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(ctx.text.encode("utf-8"))
    except ET.ParseError as exc:
        raise ctx.error(exc.position[0], f"not well-formed XML ({exc}); export the FCPXML again") from None
    formats = {f.get("id"): f for f in root.iter("format")}
    seq = next(root.iter("sequence"), None)
    if seq is None:
        raise ctx.error(0, "no <sequence> in this FCPXML; export a project (File > Export XML), not an event")
    fmt = formats.get(seq.get("format"))
    if fmt is not None and fmt.get("frameDuration"):
        fd = _fcpx_time(fmt.get("frameDuration"))
        ctx.check_rate(1 / fd, ctx.line_of("frameDuration"), f"the sequence ({fmt.get('name') or 'format'})")
    from .timecodes import start_seconds

    # sequence time 0 is the sequence's tcStart; the video's frame 0 is its start timecode
    shift = _fcpx_time(seq.get("tcStart")) - start_seconds(ctx.start_tc, ctx.fps)
    out: list[EditorMarker] = []
    seen_line = 0

    def walk(el: Element, base: Fraction, start: Fraction) -> None:
        """``el``'s children; a time ``t`` of ``el``'s own is ``base + t - start`` in the sequence."""
        nonlocal seen_line
        for child in el:
            if child.tag in ("marker", "chapter-marker"):
                at = base + _fcpx_time(child.get("start")) - start
                name = child.get("value", "")
                seen_line = ctx.line_of(f'value="{name}"', seen_line) or seen_line
                todo = child.tag == "marker" and child.get("completed") == "0"
                weight = "must" if todo else weight_of(name=name)
                frame = ctx.frame_of_sec(shift + at, seen_line, f"marker {name!r}")
                _add(out, ctx, EditorMarker(frame, name, weight, "to-do" if todo else "", seen_line))
            elif child.tag == "spine":  # a storyline: its items' offsets are in the parent's time
                walk(child, base, start)
            elif child.tag in _FCPX_ITEMS:  # a clip: its own time starts at ``start``, placed at ``offset``
                walk(child, base + _fcpx_time(child.get("offset")) - start, _fcpx_time(child.get("start")))

    walk(seq, Fraction(0), Fraction(0))
    return out


#: FCPXML story elements that hold markers (directly or inside them).
_FCPX_ITEMS = ("gap", "clip", "asset-clip", "ref-clip", "sync-clip", "mc-clip", "video", "audio", "title")


# ----------------------------------------------------------------------------- xmeml / OTIO
def _read_xmeml(ctx: _Context) -> list[EditorMarker]:
    """Premiere Pro / Final Cut 7 XML, through OpenTimelineIO's ``fcp_xml`` adapter."""
    import xml.etree.ElementTree as ET

    try:
        ET.fromstring(ctx.text.encode("utf-8"))
    except ET.ParseError as exc:
        raise ctx.error(exc.position[0], f"not well-formed XML ({exc}); export the XML again") from None
    # FCP 7 XML keeps no marker colour (the adapter gives every marker one): the name says must
    return _otio_markers(ctx, _otio_timeline(ctx, "fcp_xml"), colours=False)


def _read_otio(ctx: _Context) -> list[EditorMarker]:
    return _otio_markers(ctx, _otio_timeline(ctx, "otio_json"))


def _otio_timeline(ctx: _Context, adapter: str) -> schema.Timeline:
    import opentimelineio as otio

    try:
        got = otio.adapters.read_from_string(ctx.text, adapter)
    except Exception as exc:  # the adapters raise anything on a broken file
        raise ctx.error(0, f"cannot be read as {adapter.replace('_', ' ')} ({type(exc).__name__}: {str(exc)[:120]}); "
                           f"export it again") from None
    if isinstance(got, otio.schema.Timeline):
        return got
    tls = list(got.find_children(descended_from_type=otio.schema.Timeline)) if hasattr(got, "find_children") else []
    if not tls:
        raise ctx.error(0, "holds no sequence (timeline); export the sequence with its markers")
    return tls[0]


def _otio_markers(ctx: _Context, tl: schema.Timeline, *, colours: bool = True) -> list[EditorMarker]:
    """Every marker of the timeline (its stack's, its tracks', its items'), at its place in the
    timeline, counted from the timeline's start time (else the video's start timecode)."""
    from .timecodes import start_seconds

    start = Fraction(0)
    if tl.global_start_time is not None:
        start = _rt_sec(tl.global_start_time)
    else:
        start = start_seconds(ctx.start_tc, ctx.fps)
    video_start = start_seconds(ctx.start_tc, ctx.fps)
    out: list[EditorMarker] = []
    seen = 0
    placed: list[tuple[Fraction, Any]] = [(Fraction(0), m) for m in tl.tracks.markers]
    for track in tl.tracks:
        placed += [(Fraction(0), m) for m in track.markers]
        for item in track:
            if not getattr(item, "markers", None):
                continue
            in_parent = item.range_in_parent().start_time
            trimmed = item.trimmed_range().start_time
            for m in item.markers:  # a clip's marker is in the clip's source time
                placed.append((_rt_sec(in_parent) - _rt_sec(trimmed), m))
    for shift, m in placed:
        rate = Fraction(m.marked_range.start_time.rate).limit_denominator(1001)
        seen = ctx.line_of(m.name, seen) or seen
        if rate != ctx.fps and abs(float(rate) - float(ctx.fps)) > 1e-3:
            ctx.check_rate(rate, seen, f"marker {m.name!r}")
        at = shift + _rt_sec(m.marked_range.start_time)
        frame = ctx.frame_of_sec(start + at - video_start, seen, f"marker {m.name!r}")
        colour = str(m.color or "").lower() if colours else ""
        _add(out, ctx, EditorMarker(frame, m.name, weight_of(explicit=str((m.metadata or {}).get("weight", "")),
                                                             colour=colour, name=m.name), colour, seen))
    return out


def _rt_sec(rt: opentime.RationalTime) -> Fraction:
    """A RationalTime in exact seconds (NTSC rates are stored as floats: 23.976... -> 24000/1001)."""
    rate = Fraction(rt.rate).limit_denominator(1001)
    value = Fraction(rt.value).limit_denominator(1000)
    return value / rate
