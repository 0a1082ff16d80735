"""Standard MIDI file for a DAW: the full tempo map, meters, keys, SMPTE offset, cue and hit
markers, one named track per instrument with its program, pan, reverb send, and expression
(CC11) / dynamics (CC1) automation following the picture's intensity curve."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..contracts import Score, Timeline
from ..fileio import atomic_path
from ..scoring.tempo import TempoMap
from .sections import PLACEMENT, section_of

if TYPE_CHECKING:
    from collections.abc import Callable

    from mido import MetaMessage, MidiFile, MidiTrack

    from ..contracts import Part

log = logging.getLogger(__name__)

TICKS_PER_BEAT = 960
#: Expression (CC11) spans this range with the intensity 0..1: a gentle swell on top of the
#: velocities (which already follow each cue's intensity), about -4.4 dB at intensity 0.
CC11_RANGE = (76, 127)
#: Dynamics (CC1, the modulation wheel: what orchestral sample libraries crossfade layers with).
CC1_RANGE = (20, 127)
#: A controller value is written when it moves by at least this much.
CC_STEP = 2


def _smpte_offset(timeline: Timeline) -> MetaMessage | None:
    """The picture's start timecode as a MIDI SMPTE offset (so a DAW lines the MIDI up with the video).
    At a rate SMPTE has no timecode for (12, 240, 0.5 fps ...) the start time at 25 fps, with
    sub-frames (hundredths of a frame) for the rest."""
    from fractions import Fraction

    import mido

    from ..scoring.timecodes import start_seconds, timecode_format

    fps = Fraction(timeline.video.fps_num, timeline.video.fps_den)
    try:
        fmt = timecode_format(fps)
        sec = start_seconds(timeline.video.start_timecode, fps)
    except ValueError:
        return None
    if fmt.kind != "smpte":
        whole, part = divmod(sec * 25, 25)
        frames, sub = divmod(part, 1)
        return mido.MetaMessage("smpte_offset", frame_rate=25, hours=int(whole) // 3600 % 24,
                                minutes=int(whole) // 60 % 60, seconds=int(whole) % 60, frames=int(frames),
                                sub_frames=int(sub * 100))
    tc = timeline.video.start_timecode.replace(";", ":").replace(".", ":").split(":")
    try:
        hh, mm, ss, ff = (int(x) for x in tc)
    except ValueError:
        return None
    rate = float(fps)
    if rate > 31:  # 50 / 59.94 / 60: MIDI counts frames at half the rate
        rate, ff = rate / 2, ff // 2
    rate = min((24, 25, 29.97, 30), key=lambda r: abs(r - rate))
    return mido.MetaMessage("smpte_offset", frame_rate=rate, hours=hh % 24, minutes=mm, seconds=ss,
                            frames=min(ff, int(rate) - 1), sub_frames=0)


def _key_signature(key: str) -> str | None:
    """``"D minor"`` -> ``"Dm"``, ``"F major"`` -> ``"F"`` (mido's names); a mode is written with its
    parent scale's signature in its family (``"D dorian"`` -> ``"Am"``, ``"G mixolydian"`` -> ``"C"``);
    None if not a valid MIDI key."""
    from mido.midifiles.meta import _key_signature_encode

    from ..harmony import PITCH_CLASSES, parse_key, signature_tonic

    parts = key.split()
    if len(parts) != 2:
        return None
    if parts[1] not in ("major", "minor"):
        try:
            pc, mode = signature_tonic(*parse_key(key))
        except ValueError:
            return None
        flat = {1: "Db", 3: "Eb", 6: "F#", 8: "Ab", 10: "Bb"} if mode == "major" else {1: "C#", 3: "Eb", 6: "F#", 8: "G#", 10: "Bb"}
        parts = [flat.get(pc) or next(n for n, v in PITCH_CLASSES.items() if v == pc and len(n) == 1), mode]
    suffix = "m" if parts[1] == "minor" else ""
    other = {"C#": "Db", "Db": "C#", "D#": "Eb", "Eb": "D#", "F#": "Gb", "Gb": "F#", "G#": "Ab", "Ab": "G#",
             "A#": "Bb", "Bb": "A#"}.get(parts[0])
    for name in (parts[0] + suffix, (other or "") + suffix):  # A# major has no signature: Bb's
        if name in _key_signature_encode:
            return name
    return None


def _intensity_points(timeline: Timeline) -> list[tuple[float, float]]:
    """(time_sec, intensity 0..1) inside the non-tacet cues: the timeline's curve, else each cue's value."""
    curve = np.asarray(timeline.curves.intensity, float)
    rate = timeline.curves.rate_hz
    pts: list[tuple[float, float]] = []
    for cue in timeline.cues:
        if cue.tacet:
            continue
        if len(curve) and rate > 0:
            a = int(np.floor(cue.start_sec * rate))
            b = max(a + 1, int(np.ceil(cue.end_sec * rate)))
            for k in range(a, min(b, len(curve))):
                pts.append((max(cue.start_sec, k / rate), float(curve[k])))
        else:
            pts.append((cue.start_sec, float(cue.intensity)))
    return pts


def _cc_events(points: list[tuple[float, float]], number: int, lo: int, hi: int) -> list[tuple[float, int, int]]:
    """(time_sec, controller, value) for an automation lane, thinned to steps of ``CC_STEP``."""
    out: list[tuple[float, int, int]] = []
    last = None
    for t, x in points:
        v = int(round(lo + (hi - lo) * float(np.clip(x, 0, 1))))
        if last is None or abs(v - last) >= CC_STEP:
            out.append((t, number, v))
            last = v
    return out


def score_to_midi(score: Score, *, timeline: Timeline | None = None, ticks_per_beat: int = TICKS_PER_BEAT,
                  click: bool = False) -> MidiFile:
    """Build a type-1 :class:`mido.MidiFile` from a :class:`Score`.

    Track 0 (conductor) holds a text event naming the composer, the SMPTE offset of the picture,
    the tempo and time-signature changes of the tempo map, a key signature per cue, and markers
    (cue starts and ends, hits). Then one named track per part on its own channel (drums on
    channel 10) with bank select and program change, volume (CC7), pan (CC10, the section's
    centre), reverb send (CC91) and, given the timeline, expression (CC11) and dynamics (CC1)
    automation following the intensity curve inside the cues where the part plays.

    Parameters
    ----------
    score : Score
    timeline : Timeline, optional
        For the SMPTE offset, the keys, cue ends and the intensity automation.
    click : bool
        Also a click track (:data:`~tempscore.render.click.CLICK_TRACK`, count-ins included; needs
        ``timeline``), last; the render leaves it out of the audio.
    """
    import mido

    tmap = TempoMap([type(e)(**vars(e)) for e in score.tempo_map])

    def tick(t: float) -> int:
        return int(round(tmap.time_to_beats(t) * ticks_per_beat))

    mid = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat)
    conductor = _conductor_events(score, tmap, timeline, tick)
    mid.tracks.append(_track_from(conductor, "tempscore conductor"))
    automation: list[tuple[float, int, int]] = []
    if timeline is not None:
        pts = _intensity_points(timeline)
        automation = _cc_events(pts, 11, *CC11_RANGE) + _cc_events(pts, 1, *CC1_RANGE)
    channels = [c for c in range(16) if c != 9]
    for i, part in enumerate(score.parts):
        ch = 9 if part.is_drum else channels[i % len(channels)]
        ev = _part_events(part, ch, timeline, automation, tick)
        mid.tracks.append(_track_from(ev, part.name))
    if click and timeline is not None:
        from .click import CLICK_TRACK, click_midi_track

        mid.tracks.append(_track_from(click_midi_track(timeline, tick), CLICK_TRACK))
    return mid


def _track_from(events: list[tuple[int, int, object]], name: str) -> MidiTrack:
    """A named track of ``(absolute tick, order within the tick, message)`` events, in delta times."""
    import mido

    tr = mido.MidiTrack()
    tr.append(mido.MetaMessage("track_name", name=name, time=0))
    now = 0
    for abs_tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
        tr.append(msg.copy(time=abs_tick - now))  # type: ignore[attr-defined]
        now = abs_tick
    tr.append(mido.MetaMessage("end_of_track", time=0))
    return tr


def _conductor_events(score: Score, tmap: TempoMap, timeline: Timeline | None,
                      tick: Callable[[float], int]) -> list[tuple[int, int, object]]:
    """Track 0: what made the score, the SMPTE offset, tempo and metre changes, key signatures, markers."""
    import mido

    conductor: list[tuple[int, int, object]] = [
        (0, 0, mido.MetaMessage("text", text=f"tempscore score, composer: {score.composer}, seed {score.seed}")),
    ]
    if timeline is not None:
        digests = " ".join(f"{k}={v}" for k, v in cue_digests(timeline).items())
        conductor.append((0, 0, mido.MetaMessage("text", text=CUES_TEXT + digests)))
    if timeline is not None and (smpte := _smpte_offset(timeline)) is not None:
        conductor.append((0, 0, smpte))
    prev = None
    for e in tmap.events:
        t = tick(e.time_sec)
        if prev is None or prev.bpm != e.bpm:
            conductor.append((t, 1, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(e.bpm))))
        if e.bar_line and (prev is None or prev.beats_per_bar != e.beats_per_bar):
            conductor.append((t, 1, mido.MetaMessage("time_signature", numerator=e.beats_per_bar, denominator=4)))
        prev = e
    for m in score.markers:
        conductor.append((tick(m.time_sec), 2, mido.MetaMessage("marker", text=m.text)))
    if timeline is not None:
        last_key = None
        for cue in timeline.cues:
            ks = None if cue.tacet else _key_signature(cue.key)
            if ks and ks != last_key:
                conductor.append((tick(cue.start_sec), 1, mido.MetaMessage("key_signature", key=ks)))
                last_key = ks
            conductor.append((tick(cue.end_sec), 2, mido.MetaMessage("marker", text=f"{cue.id} end")))
    return conductor


def _part_events(part: Part, ch: int, timeline: Timeline | None, automation: list[tuple[float, int, int]],
                 tick: Callable[[float], int]) -> list[tuple[int, int, object]]:
    """One part's track: its set-up (bank, program, volume, pan, reverb send), automation, notes."""
    import mido

    place = PLACEMENT[section_of(part.program, part.is_drum)]
    pan = int(np.clip(round(64 + 63 * place.centre), 0, 127))
    send = int(np.clip(round(127 * 10 ** (place.reverb_send_db / 20) * 2), 0, 127))
    ev: list[tuple[int, int, object]] = [
        (0, 0, mido.MetaMessage("instrument_name", name=part.name)),
        (0, 0, mido.Message("control_change", channel=ch, control=0, value=0)),  # bank select (GM)
        (0, 0, mido.Message("control_change", channel=ch, control=32, value=0)),
        (0, 0, mido.Message("program_change", channel=ch, program=part.program)),
        (0, 0, mido.Message("control_change", channel=ch, control=7, value=100)),
        (0, 0, mido.Message("control_change", channel=ch, control=10, value=pan)),
        (0, 0, mido.Message("control_change", channel=ch, control=91, value=send)),
    ]
    # automation only inside the cues where this part plays: a part added to one cue leaves
    # every other cue's MIDI untouched (and a DAW shows no lanes where the part is silent)
    spans = [(c.start_sec, c.end_sec) for c in (timeline.cues if timeline is not None else [])
             if any(c.start_sec - 1e-6 <= n.start_sec < c.end_sec for n in part.notes)]
    for t, num, val in automation:
        if any(a - 1e-6 <= t < b for a, b in spans):
            ev.append((tick(t), 1, mido.Message("control_change", channel=ch, control=num, value=val)))
    for n in part.notes:
        a, b = tick(n.start_sec), max(tick(n.end_sec), tick(n.start_sec) + 1)
        ev.append((a, 2, mido.Message("note_on", channel=ch, note=n.pitch, velocity=n.velocity)))
        ev.append((b, 1, mido.Message("note_off", channel=ch, note=n.pitch, velocity=0)))
    return ev


#: Prefix of the conductor's text event listing what each cue was composed from (see :func:`cue_digests`).
CUES_TEXT = "tempscore cues "


def cue_digests(timeline: Timeline) -> dict[str, str]:
    """Per cue, a short digest of what its music is made from: the cue's fields (edges, mood, key,
    tempo, metre, intensity, tacet, lead, theme, seed, take ...), its slice of the tempo map and its
    hit points. ``compose`` writes them into the MIDI file; ``render`` compares them with the
    timeline it reads, to say when the MIDI was composed from an earlier version."""
    import hashlib
    import json

    from ..contracts import to_dict

    out = {}
    for cue in timeline.cues:
        fields = {k: v for k, v in to_dict(cue).items() if k not in ("why", "auto")}
        grid = [[e.time_sec, e.bpm, e.beats_per_bar, e.bar_line] for e in timeline.tempo_map
                if cue.start_sec - 1e-6 <= e.time_sec < cue.end_sec - 1e-6]
        hits = [[h.frame, h.offset_frames, h.strength] for h in timeline.hit_points if h.cue_id == cue.id]
        text = json.dumps([fields, grid, hits], sort_keys=True, default=str)
        out[cue.id] = hashlib.sha256(text.encode()).hexdigest()[:10]
    return out


def conductor_texts(path: Path) -> list[str] | None:
    """The text events of a MIDI file's first track (where ``compose`` writes the composer, seed and
    cue digests); None when the file does not read."""
    import mido

    try:
        mf = mido.MidiFile(str(path))
    except (OSError, ValueError, EOFError, KeyError, IndexError):
        return None
    return [msg.text for msg in (mf.tracks[0] if mf.tracks else []) if msg.is_meta and msg.type == "text"]


def midi_cue_digests(path: Path) -> dict[str, str] | None:
    """The digests ``compose`` wrote into a MIDI file (None: a file from elsewhere, or one a DAW
    saved without its text events)."""
    for text in conductor_texts(path) or []:
        if text.startswith(CUES_TEXT):
            pairs = (item.split("=", 1) for item in text[len(CUES_TEXT):].split() if "=" in item)
            return {k: v for k, v in pairs}
    return None


def write_midi(score: Score, path: Path, *, timeline: Timeline | None = None, protect: tuple[Path, ...] = (),
               click: bool = False) -> Path:
    """Write the score as a Standard MIDI File, atomically (see :func:`score_to_midi`)."""
    mid = score_to_midi(score, timeline=timeline, click=click)
    with atomic_path(Path(path), protect=protect) as tmp:
        mid.save(str(tmp))
    return Path(path)
