"""Sessions for the tools editors and music editors open: the picture, the score and its stems at
the right offset, with cue and hit markers.

- **Premiere Pro / DaVinci Resolve** (``<stem>.premiere.xml``, FCP 7 xmeml): OpenTimelineIO's
  ``fcp_xml`` adapter; markers on the sequence.
- **Final Cut Pro X** (``<stem>.fcpxml``, FCPXML 1.8): written here with exact rational times
  (OpenTimelineIO's ``fcpx_xml`` adapter truncates 23.976 and 29.97 to whole rates: measured, it
  put a clip 10 frames in at 9/29 s); the picture in the spine, the score and stems as connected
  clips on lanes below, markers on the picture clip.
- **Pro Tools / Media Composer** (``<stem>.aaf``): OpenTimelineIO's AAF adapter on pyaaf2. It
  writes a composition with a picture track and one audio track per file, each clip at its
  offset, with new (empty) MobIDs: the media is not embedded or linked, so the tool asks to
  relink the files beside it; the adapter writes no markers (they are in the other sessions, the
  EDL and the MIDI).
- **REAPER** (``<stem>.rpp``, the ``rpp`` package): tracks for the video, the score, each stem and
  the MIDI, the tempo map as a tempo envelope, a region per cue and a marker per hit; media paths
  relative to the project, so it opens ready to play beside them.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentimelineio import opentime, schema
    from rpp import Element

    from ..contracts import Timeline

__all__ = ["SessionMedia", "session_timeline", "write_aaf", "write_fcpxml", "write_rpp", "write_xmeml"]


@dataclass
class SessionMedia:
    """The files a session places: the picture (or None), the score WAV, the stems, the MIDI."""

    video: Path | None
    score: Path
    stems: list[Path]
    midi: Path | None = None


def _marks(timeline: Timeline) -> list[tuple[int, str, str]]:
    """(frame, name, OTIO colour) per cue start and hit point."""
    from ..scoring.report import MARKER_COLORS, cue_name

    out = [(c.start_frame, f"{cue_name(c)} {'tacet' if c.tacet else f'{c.mood} {c.key} {c.tempo_bpm:.2f} BPM'}",
            MARKER_COLORS["cue"]) for c in timeline.cues]
    out += [(h.frame, f"H{i} {h.kind} bar {h.bar} beat {h.beat:g}", "RED" if h.how in ("user", "marker") else
             MARKER_COLORS.get(h.kind, "RED")) for i, h in enumerate(timeline.hit_points, 1)]
    return sorted(out)


def session_timeline(timeline: Timeline, media: SessionMedia, *, rate: float | None = None) -> schema.Timeline:
    """An OpenTimelineIO timeline: V1 the picture, A1 the score, A2.. the stems, all from frame 0;
    the markers on the sequence (its stack). ``rate``: the float the adapter takes (default the picture's)."""
    import opentimelineio as otio

    from ..scoring.timecodes import start_offset_frames

    info = timeline.video
    fps = Fraction(info.fps_num, info.fps_den)
    r = rate if rate is not None else float(fps)

    def rt(f: float) -> opentime.RationalTime:
        return otio.opentime.RationalTime(f, r)

    n = info.frame_count
    tl = otio.schema.Timeline(name=f"{Path(info.path).stem} temp score")
    tl.global_start_time = rt(start_offset_frames(info.start_timecode, fps))

    def track(name: str, kind: str, path: Path) -> None:
        t = otio.schema.Track(name=name, kind=kind)
        ref = otio.schema.ExternalReference(target_url=path.resolve().as_uri(),
                                            available_range=otio.opentime.TimeRange(rt(0), rt(n)))
        t.append(otio.schema.Clip(name=path.name, media_reference=ref,
                                  source_range=otio.opentime.TimeRange(rt(0), rt(n))))
        tl.tracks.append(t)

    if media.video is not None:
        track("V1", otio.schema.TrackKind.Video, media.video)
    track("Score", otio.schema.TrackKind.Audio, media.score)
    for p in media.stems:
        track(p.name.split(".")[-2].removeprefix("stem-"), otio.schema.TrackKind.Audio, p)
    for frame, name, colour in _marks(timeline):
        tl.tracks.markers.append(otio.schema.Marker(name=name, color=colour,
                                                    marked_range=otio.opentime.TimeRange(rt(frame), rt(0))))
    return tl


def write_xmeml(timeline: Timeline, media: SessionMedia, path: Path, *, protect: tuple[Path, ...] = ()) -> Path:
    """Premiere Pro / Resolve: FCP 7 XML through OpenTimelineIO's ``fcp_xml`` adapter, atomically."""
    import opentimelineio as otio

    from ..fileio import write_text_atomic

    return write_text_atomic(path, otio.adapters.write_to_string(session_timeline(timeline, media), "fcp_xml"),
                             protect=protect)


def write_aaf(timeline: Timeline, media: SessionMedia, path: Path, *, protect: tuple[Path, ...] = ()) -> Path:
    """Pro Tools / Media Composer: AAF through OpenTimelineIO's AAF adapter (see the module's docstring)."""
    import opentimelineio as otio

    from ..fileio import atomic_path

    tl = session_timeline(timeline, media)
    tl.tracks.markers.clear()  # the adapter writes none; said in the summary
    with atomic_path(path, protect=protect) as tmp:
        tmp.unlink()  # pyaaf2 creates the file itself
        otio.adapters.write_to_file(tl, str(tmp), "AAF", use_empty_mob_ids=True)
    return path


def _rational(sec: Fraction) -> str:
    sec = Fraction(sec)
    return "0s" if sec == 0 else f"{sec.numerator}/{sec.denominator}s"


def fcpxml_text(timeline: Timeline, media: SessionMedia) -> str:
    """FCPXML 1.8: a project whose spine holds the picture, the score and stems connected below it."""
    import xml.etree.ElementTree as ET

    from ..scoring.timecodes import start_seconds

    info = timeline.video
    fps = Fraction(info.fps_num, info.fps_den)
    fd = 1 / fps
    dur = info.frame_count * fd
    root = ET.Element("fcpxml", version="1.8")
    res = ET.SubElement(root, "resources")
    ET.SubElement(res, "format", id="r1", frameDuration=_rational(fd), width=str(info.width), height=str(info.height),
                  name=f"FFVideoFormat{info.height}p{float(fps):.2f}")
    files = ([media.video] if media.video is not None else []) + [media.score, *media.stems]
    for i, p in enumerate(files, 2):
        video = media.video is not None and i == 2
        ET.SubElement(res, "asset", id=f"r{i}", name=p.name, src=p.resolve().as_uri(), start="0s",
                      duration=_rational(dur), hasVideo="1" if video else "0", hasAudio="0" if video else "1",
                      format="r1")
    lib = ET.SubElement(root, "library")
    event = ET.SubElement(lib, "event", name="tempscore")
    project = ET.SubElement(event, "project", name=f"{Path(info.path).stem} temp score")
    seq = ET.SubElement(project, "sequence", format="r1", duration=_rational(dur),
                        tcStart=_rational(start_seconds(info.start_timecode, fps)),
                        tcFormat="DF" if info.start_timecode.find(";") >= 0 else "NDF")
    spine = ET.SubElement(seq, "spine")
    if media.video is not None:
        main = ET.SubElement(spine, "asset-clip", ref="r2", name=media.video.name, offset="0s", start="0s",
                             duration=_rational(dur))
        first_audio = 3
    else:
        main = ET.SubElement(spine, "gap", name="Gap", offset="0s", start="0s", duration=_rational(dur))
        first_audio = 2
    for lane, p in enumerate([media.score, *media.stems], 1):
        ET.SubElement(main, "asset-clip", ref=f"r{first_audio + lane - 1}", name=p.name, lane=str(-lane),
                      offset="0s", start="0s", duration=_rational(dur))
    for frame, name, _colour in _marks(timeline):
        ET.SubElement(main, "marker", start=_rational(frame * fd), duration=_rational(fd), value=name)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE fcpxml>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_fcpxml(timeline: Timeline, media: SessionMedia, path: Path, *, protect: tuple[Path, ...] = ()) -> Path:
    from ..fileio import write_text_atomic

    return write_text_atomic(path, fcpxml_text(timeline, media), protect=protect)


def rpp_project(timeline: Timeline, media: SessionMedia, *, folder: Path) -> Element:
    """The REAPER project as an ``rpp`` element tree (paths relative to ``folder``)."""
    from rpp import Element

    from ..scoring.tempo import TempoMap

    info = timeline.video
    fps = Fraction(info.fps_num, info.fps_den)
    dur = float(Fraction(info.frame_count) / fps)
    tmap = TempoMap(timeline.tempo_map)
    first = timeline.tempo_map[0]

    def rel(p: Path) -> str:
        return str(Path(p).resolve().relative_to(folder.resolve())) if Path(p).resolve().is_relative_to(
            folder.resolve()) else str(Path(p).resolve())

    proj = Element("REAPER_PROJECT", ["0.1", "6.0", "0"])
    proj.append(["TEMPO", f"{first.bpm:.6f}", str(first.beats_per_bar), "4"])
    proj.append(["SMPTESYNC", "0", f"{float(fps):.6f}", "100", "40", "1000", "300", "0", "0", "1", "0", "0"])
    env = Element("TEMPOENVEX", [])
    env.append(["ACT", "1", "-1"])
    for e in tmap.events:  # PT time bpm shape(1: square) [timesig: 65536 * 4 + beats, only on bar lines]
        pt = ["PT", f"{e.time_sec:.9f}", f"{e.bpm:.6f}", "1"]
        if e.bar_line:
            pt.append(str(65536 * 4 + e.beats_per_bar))
        env.append(pt)
    proj.append(env)
    idx = 0
    for c in timeline.cues:  # a region per cue
        idx += 1
        proj.append(["MARKER", str(idx), f"{c.start_sec:.9f}", f"{c.id} {c.title}".strip() + (" tacet" if c.tacet else ""),
                     "1"])
        proj.append(["MARKER", str(idx), f"{c.end_sec:.9f}", "", "1"])
    for i, h in enumerate(timeline.hit_points, 1):  # a marker per hit
        idx += 1
        proj.append(["MARKER", str(idx), f"{h.time_sec:.9f}", f"H{i} {h.kind}", "0"])

    def track(name: str, kind: str, p: Path) -> None:
        t = Element("TRACK", [])
        t.append(["NAME", name])
        item = Element("ITEM", [])
        item.append(["POSITION", "0"])
        item.append(["LENGTH", f"{dur:.9f}"])
        item.append(["NAME", p.name])
        src = Element("SOURCE", [kind])
        src.append(["FILE", rel(p)])
        item.append(src)
        t.append(item)
        proj.append(t)

    if media.video is not None:
        track("Picture", "VIDEO", media.video)
    track("Score", "WAVE", media.score)
    for p in media.stems:
        track(p.name.split(".")[-2].removeprefix("stem-"), "WAVE", p)
    if media.midi is not None:
        track("MIDI (muted)", "MIDI", media.midi)
        proj.children[-1].append(["MUTESOLO", "1", "0", "0"])  # the score WAV is what plays; the MIDI to re-voice
    return proj


def write_rpp(timeline: Timeline, media: SessionMedia, path: Path, *, protect: tuple[Path, ...] = (),
              folder: Path | None = None) -> Path:
    """REAPER: the project (see :func:`rpp_project`); ``folder``: where it will live (media paths relative to it)."""
    import rpp

    from ..fileio import write_text_atomic

    return write_text_atomic(path, rpp.dumps(rpp_project(timeline, media, folder=folder or Path(path).parent)),
                             protect=protect)
