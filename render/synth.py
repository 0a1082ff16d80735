"""Soundfont synthesis of a MIDI file to stereo audio, one buffer per orchestral section.

TinySoundFont renders each section (see :mod:`tempscore.render.sections`) cue by cue: a cue's
notes start from silence on its first downbeat, and its release tails ring on past the cue end
for ``tail_sec`` with a raised-cosine fade, overlapping the next cue (the crossfade on the beat).
Each note is panned by its section's placement (one synthesiser channel per pan position);
reverb is added later by the mix.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import BadStageFile, InvalidSettings, ToolMissing
from .sections import SECTIONS, section_of, slot_of, slot_pan

if TYPE_CHECKING:
    from io import BytesIO

    from pretty_midi import Instrument, PrettyMIDI
    from tinysoundfont._tinysoundfont import SoundFont

    from ..cache import StageCache
    from .synthworker import SynthJob, SynthWorker

log = logging.getLogger(__name__)

#: Debian's FluidR3 General MIDI soundfont (``apt-get install fluid-soundfont-gm``).
FLUIDR3_PATHS: tuple[str, ...] = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/soundfonts/FluidR3_GM.sf2")
#: Debian's MuseScore General soundfont, uncompressed (``apt-get install musescore-general-soundfont-lossless``;
#: 467 MB installed): ``--soundfont musescore``. Not the default: it measured no better here (docs/ARCHITECTURE.md).
MUSESCORE_PATHS: tuple[str, ...] = ("/usr/share/sounds/sf2/MuseScore_General_Full.sf2",)
#: Global synthesiser gain, dB (headroom for dense passages; the mix sets the final level).
SYNTH_GAIN_DB = -6.0
#: Controllers replayed from the MIDI file (volume, expression, sustain). Pan (10) and the effect
#: sends (91, 93) are not: placement and reverb come from the section table.
REPLAYED_CC = (7, 11, 64)


def timgm6mb_path() -> Path | None:
    """pretty_midi's bundled TimGM6mb.sf2 (6 MB, GPL-2), or None when missing."""
    import pretty_midi

    p = Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
    return p if p.is_file() else None


def fluidr3_path() -> Path | None:
    """Debian's FluidR3_GM.sf2 (141 MB, MIT) when installed, else None."""
    return next((Path(p) for p in FLUIDR3_PATHS if Path(p).is_file()), None)


def musescore_path() -> Path | None:
    """Debian's MuseScore_General_Full.sf2 (467 MB, MIT) when installed, else None."""
    return next((Path(p) for p in MUSESCORE_PATHS if Path(p).is_file()), None)


def default_soundfont(choice: str | None = None) -> Path:
    """Resolve the soundfont to use.

    Parameters
    ----------
    choice : str, optional
        ``"fluidr3"``, ``"timgm6mb"``, ``"musescore"``, ``"auto"`` or a path to a ``.sf2`` file. Default:
        ``$TEMPSCORE_SOUNDFONT``, else ``"auto"``: Debian's FluidR3 GM when installed (``make setup``
        installs it where apt is available), else pretty_midi's TimGM6mb. See docs/ARCHITECTURE.md,
        "Render choices", for the measurements behind this.

    Raises
    ------
    ToolMissing
        The named soundfont is not installed.
    """
    choice = choice or os.environ.get("TEMPSCORE_SOUNDFONT") or "auto"
    if choice.lower() == "auto":
        choice = "fluidr3" if fluidr3_path() is not None else "timgm6mb"
    key = choice.lower()
    if key == "timgm6mb":
        p = timgm6mb_path()
        if p is None:
            raise ToolMissing("no soundfont found (pretty_midi's TimGM6mb.sf2 is missing); reinstall pretty_midi "
                              "or pass --soundfont PATH.sf2")
        return p
    if key == "fluidr3":
        p = fluidr3_path()
        if p is None:
            raise ToolMissing("the FluidR3 soundfont is not installed; run `apt-get install fluid-soundfont-gm` "
                              "(or `make setup` as root), or use --soundfont timgm6mb")
        return p
    if key == "musescore":
        p = musescore_path()
        if p is None:
            raise ToolMissing("the MuseScore General soundfont is not installed; run `apt-get install "
                              "musescore-general-soundfont-lossless`, or use --soundfont fluidr3")
        return p
    p = Path(choice)
    if not p.is_file():
        raise ToolMissing(f"{choice}: no such soundfont; give a .sf2 file, 'fluidr3', 'timgm6mb', 'musescore' or 'auto'")
    return p


@dataclass(frozen=True)
class Segment:
    """A span rendered from silence (a cue): notes starting in ``[start_sec, end_sec)`` belong to it.

    After ``end_sec`` its sound rings on for ``tail_sec`` under a raised-cosine fade to zero.
    """

    start_sec: float
    end_sec: float
    tail_sec: float


@dataclass
class SectionAudio:
    """Dry (reverb-free), panned audio of each section that has notes."""

    sr: int
    audio: dict[str, np.ndarray]  # section -> (n, 2) float32
    parts: dict[str, list[str]]  # section -> instrument names in it
    soundfont: str


def fade_out_curve(n: int) -> np.ndarray:
    """Raised-cosine fade from 1 to 0 over ``n`` samples (float32; first value 1, then towards 0)."""
    if n <= 0:
        return np.zeros(0, np.float32)
    return (0.5 + 0.5 * np.cos(np.pi * (np.arange(n) + 1) / (n + 1))).astype(np.float32)


def _load_midi(midi_path: Path) -> PrettyMIDI:
    """The MIDI file as pretty_midi reads it; a file timed in SMPTE frames (the header's division
    negative: frames per second and ticks per frame, as some DAWs and picture tools write) is
    converted to beats at 60 BPM first (pretty_midi reads beat-timed files only)."""
    import pretty_midi

    try:
        with open(midi_path, "rb") as fh:
            head = fh.read(14)
        check_midi_head(midi_path, head)
        if len(head) == 14 and head[:4] == b"MThd" and head[12] & 0x80:
            return pretty_midi.PrettyMIDI(_smpte_to_beats(Path(midi_path)))
        return pretty_midi.PrettyMIDI(str(midi_path))
    except (OSError, ValueError, EOFError, KeyError, IndexError) as exc:
        raise BadStageFile(f"{midi_path}: not a readable MIDI file ({str(exc) or type(exc).__name__}); re-run compose "
                           f"or export it again from the DAW") from exc


def check_midi_head(midi_path: Path, head: bytes | None = None) -> None:
    """Raise :class:`BadStageFile` when the file does not start like a MIDI file (a video, WAV or
    timeline given to render)."""
    if head is None:
        try:
            with open(midi_path, "rb") as fh:
                head = fh.read(4)
        except OSError as exc:
            raise BadStageFile(f"{midi_path}: cannot be read ({exc.strerror}); check the path") from exc
    if not head.startswith(b"MThd") and not head.startswith(b"RIFF"):  # (RMID: a MIDI file in RIFF)
        raise BadStageFile(f"{midi_path}: is not a MIDI file; render takes <stem>.score.mid (written by compose, "
                           f"or exported from a DAW)")


def _smpte_to_beats(midi_path: Path) -> BytesIO:
    """A SMPTE-timed MIDI file re-timed in beats: ``fps x ticks_per_frame`` ticks per beat at one
    beat per second (29.97 drop-frame: 30 frames per beat of 1.001 s); its tempo events, which
    SMPTE timing ignores, are dropped."""
    import io

    import mido

    raw = Path(midi_path).read_bytes()
    fps_code, ticks_per_frame = -int.from_bytes(raw[12:13], "big", signed=True), raw[13]
    if fps_code not in (24, 25, 29, 30) or ticks_per_frame == 0:
        raise ValueError(f"SMPTE division {fps_code} fps x {ticks_per_frame} ticks is not valid")
    frames_per_beat = 30 if fps_code == 29 else fps_code
    beat_us = round(1e6 * (1.001 if fps_code == 29 else 1.0))
    fixed = bytearray(raw)
    fixed[12:14] = (frames_per_beat * ticks_per_frame).to_bytes(2, "big")
    mf = mido.MidiFile(file=io.BytesIO(bytes(fixed)))
    for track in mf.tracks:
        carry = 0
        kept = []
        for msg in track:
            if msg.type == "set_tempo":
                carry += msg.time
                continue
            kept.append(msg.copy(time=msg.time + carry))
            carry = 0
        track[:] = kept
    mf.tracks[0].insert(0, mido.MetaMessage("set_tempo", tempo=beat_us, time=0))
    out = io.BytesIO()
    mf.save(file=out)
    out.seek(0)
    return out


def _load_soundfont(sf: Path, sr: int, data: bytes | None = None, *, path: Path | None = None) -> SoundFont:
    """TinySoundFont instance of ``sf`` (or of ``data``, an SF2 image cut from it, or of the file
    ``path`` holding such a cut), set up for ``sr``."""
    try:
        from tinysoundfont import _tinysoundfont as tsf
    except ImportError as exc:
        raise ToolMissing("tinysoundfont is not installed; run `pip install --no-deps tinysoundfont` (or `make setup`)") from exc
    try:
        font = tsf.SoundFont(data if data is not None else str(path or sf))
    except Exception as exc:  # the extension raises plain RuntimeError/ValueError
        raise InvalidSettings(f"{sf}: not a readable SoundFont 2 file ({exc}); pass another --soundfont") from exc
    font.set_output(tsf.OutputMode.StereoInterleaved, sr, SYNTH_GAIN_DB)
    font.set_max_voices(256)
    return font


#: Soundfonts of this size and more are loaded cut down to the presets a section plays
#: (:mod:`tempscore.render.sf2subset`): TinySoundFont converts every sample on loading, 0.3 s for
#: FluidR3's 141 MB, against ~0.01 s for one section's presets. Smaller files load whole.
SUBSET_MIN_BYTES = 24 * 2**20
#: Cut-down soundfonts kept per file (``--watch`` re-runs reuse them; each holds a few presets).
_KEEP_SUBSETS = 32


class _FontSource:
    """One soundfont file, loaded per set of presets: whole when small, else cut down to those presets.

    A preset the file lacks falls back to piano (or drum kit 0), so that fallback is put in the cut.
    Notes render the same from the cut as from the whole file (to float rounding of the sample
    position, < 1e-5 of full scale: the samples sit at other offsets).
    """

    def __init__(self, sf: Path, sr: int, font_id: list) -> None:
        """``font_id``: the file's ``[resolved path, size, mtime_ns]`` (as the synthesis cache keys it)."""
        self._sf, self._sr, self._font_id = sf, sr, list(font_id)
        self.path = sf
        self._subset = font_id[1] >= SUBSET_MIN_BYTES
        self._fonts: dict[frozenset[tuple[int, int]] | None, SoundFont] = {}

    def font(self, presets: frozenset[tuple[int, int]], cache: StageCache | None = None) -> SoundFont:
        """The loaded font for ``presets``; ``cache`` (a StageCache) keeps the cut files for later runs."""
        key = presets if self._subset else None
        font = self._fonts.get(key)
        if font is None:
            font = self._load(presets, cache) if self._subset else _load_soundfont(self._sf, self._sr)
            if len(self._fonts) >= _KEEP_SUBSETS:
                self._fonts.pop(next(iter(self._fonts)))
            self._fonts[key] = font
        return font

    def _load(self, presets: frozenset[tuple[int, int]], cache: StageCache | None = None) -> SoundFont:
        from .sf2subset import SUBSET_FORMAT, subset_soundfont

        key = {"font": self._font_id, "presets": sorted(presets), "format": SUBSET_FORMAT}
        stored = cache.get_file("soundfont", key, ".sf2") if cache is not None else None
        if stored is not None:  # cut by an earlier run (0.03-0.05 s for FluidR3's strings)
            try:
                return _load_soundfont(self._sf, self._sr, path=stored)
            except InvalidSettings:
                log.debug("cached soundfont cut %s unreadable; cutting again", stored.name)
        try:
            cut = subset_soundfont(self._sf, presets)
            if cut.missing:  # what _programs will fall back to
                cut = subset_soundfont(self._sf, presets | {(128, 0) if b == 128 else (0, 0) for b, _ in cut.missing})
            if not cut.presets:
                raise InvalidSettings(f"{self._sf}: has none of the presets {sorted(presets)}")
        except InvalidSettings as exc:  # a file TinySoundFont may still read: load it whole
            log.info("loading the whole soundfont (%s)", exc)
            self._subset = False
            return _load_soundfont(self._sf, self._sr)
        log.debug("soundfont %s cut to %d presets, %.1f MB", self._sf.name, len(cut.presets), len(cut.data) / 1e6)
        if cache is not None:
            cache.put_file("soundfont", key, ".sf2", cut.data)
        return _load_soundfont(self._sf, self._sr, cut.data)


class _LazyFont:
    """The soundfont for one section's presets, loaded on first use (a fully cached render never does)."""

    def __init__(self, source: _FontSource, presets: frozenset[tuple[int, int]], cache: StageCache | None = None) -> None:
        self._source, self._presets, self._cache, self._font = source, presets, cache, None

    @property
    def presets(self) -> frozenset[tuple[int, int]]:
        """The (bank, program) pairs it is loaded with."""
        return self._presets

    @property
    def source_path(self) -> Path:
        """The soundfont file."""
        return self._source.path

    def __getattr__(self, name: str) -> Any:
        if self._font is None:
            self._font = self._source.font(self._presets, self._cache)
        return getattr(self._font, name)


def iter_sections(
    midi_path: Path,
    *,
    sr: int = 48000,
    duration_sec: float | None = None,
    segments: list[Segment] | None = None,
    soundfont: Path | None = None,
    cache: StageCache | None = None,
    spans_out: list[tuple[str, int, int, str]] | None = None,
    fonts: dict | None = None,
    into: Callable[[str], list[tuple[np.ndarray, float]]] | None = None,
    window: Callable[[list[tuple[str, int, int, str]]], list[tuple[int, int]] | None] | None = None,
) -> Iterator[tuple[str, np.ndarray | None, list[str]]]:
    """Render a MIDI file section by section (only one section's buffer is alive at a time).

    Parameters
    ----------
    midi_path : Path
        Standard MIDI file (tempo map honoured via pretty_midi).
    sr : int
        Sample rate in Hz.
    duration_sec : float, optional
        Exact output length in seconds; default: the last note end + 2 s.
    segments : list of Segment, optional
        Cue spans, in time order; default: one segment over the whole file with a 2 s tail.
    soundfont : Path, optional
        .sf2 file; default :func:`default_soundfont`.
    cache : StageCache, optional
        Per-cue audio cache: unchanged segments are read back instead of synthesised.
    spans_out : list, optional
        With a ``cache``: receives ``(section, start_sample, end_sample, digest)`` for every
        segment that sounds (body and tail), ``digest`` naming exactly what it plays (the key of
        its cache entry); the reverb caches its returns by these.
    fonts : dict, optional
        Loaded soundfonts to reuse across calls (``tempscore score --watch`` keeps them): loading
        FluidR3 whole takes ~0.3 s, cut to one section's presets ~0.02 s. Keyed by file, size,
        modification time and sample rate.
    into : callable, optional
        ``into(section) -> [(buffer, gain), ...]``: add each section's segments straight into these
        ``(n, 2)`` float32 buffers (e.g. the dry mix at 1 and the reverb send at the section's
        level) instead of a buffer of its own; ``audio`` is then None. Saves two passes over the
        whole programme per section (a 10-minute re-render reads most cues from the cache).
    window : callable, optional
        With a ``cache``: ``window(spans)`` is called once with every section's spans (as
        ``spans_out`` gets them) before anything is mixed, and returns the ``[start, stop)``
        sample ranges to mix, or None for all. Only the segments sounding in those ranges are
        mixed (or synthesised); inside the ranges the buffers come out exactly as a whole render's
        (the same segments, added in the same order), outside them they are incomplete: the
        caller has that audio from an earlier render.

    Yields
    ------
    (section, audio, instrument_names)
        ``audio`` has shape ``(round(duration_sec * sr), 2)``, float32: dry, panned. Sections
        without notes are skipped.
    """
    pm = _load_midi(Path(midi_path))
    sf = Path(soundfont) if soundfont else default_soundfont()
    st = sf.stat()
    font_id = [str(sf.resolve()), st.st_size, st.st_mtime_ns]
    pool = {} if fonts is None else fonts
    source = pool.setdefault((*font_id, sr), _FontSource(sf, sr, font_id))
    end_note = max((n.end for i in pm.instruments for n in i.notes), default=0.0)
    dur = float(duration_sec) if duration_sec is not None else end_note + 2.0
    total = int(round(dur * sr))
    if not segments:
        segments = [Segment(0.0, dur, 2.0)]
    seg_starts = np.array([s.start_sec for s in segments])
    by_section: dict[str, list[Instrument]] = {}
    from .click import CLICK_TRACK

    for inst in pm.instruments:
        if inst.notes and inst.name != CLICK_TRACK:  # the click is for headphones, not the score
            by_section.setdefault(section_of(inst.program, inst.is_drum), []).append(inst)
    sections = [(sec, by_section[sec]) for sec in SECTIONS if by_section.get(sec)]
    # every section's events and cache keys first: their spans decide what the window mixes
    prepared = {sec: _prepare_section(sec, insts, segments, seg_starts, total, sr, font_id, cache is not None)
                for sec, insts in sections}
    if cache is not None and (spans_out is not None or window is not None):
        spans = [span for sec, _ in sections for span in prepared[sec].spans]
        if spans_out is not None:
            spans_out.extend(spans)
        ranges = window(spans) if window is not None else None
    else:
        ranges = None
    from .synthworker import SynthWorker

    with SynthWorker() as worker:  # a process of its own, started when a section is worth sharing
        for section, insts in sections:
            buf = _Targets(into(section), total) if into is not None else _shared_zeros(total)
            font = _LazyFont(source, frozenset((128, 0) if i.is_drum else (0, i.program) for i in insts), cache)
            _render_section(font, section, insts, segments, seg_starts, buf, sr, cache, font_id,
                            prepared.pop(section), ranges, worker=worker)  # its events let go once rendered
            yield section, (None if into is not None else buf), [i.name for i in insts]


def synthesize_sections(midi_path: Path, *, sr: int = 48000, duration_sec: float | None = None,
                        segments: list[Segment] | None = None, soundfont: Path | None = None,
                        cache: StageCache | None = None, fonts: dict | None = None) -> SectionAudio:
    """All sections of :func:`iter_sections` at once (see there for the parameters)."""
    sf = Path(soundfont) if soundfont else default_soundfont()
    audio: dict[str, np.ndarray] = {}
    parts: dict[str, list[str]] = {}
    for section, buf, names in iter_sections(midi_path, sr=sr, duration_sec=duration_sec, segments=segments,
                                             soundfont=sf, cache=cache, fonts=fonts):
        audio[section], parts[section] = buf, names
    return SectionAudio(sr=sr, audio=audio, parts=parts, soundfont=str(sf))


def _shared_zeros(n: int) -> np.ndarray:
    """(n, 2) float32 zeros in an anonymous shared mapping (a forked child's writes are seen here)."""
    import mmap

    if n == 0:
        return np.zeros((0, 2), np.float32)
    return np.frombuffer(mmap.mmap(-1, n * 8), np.float32).reshape(n, 2)


def _channel_plan(insts: list[Instrument]) -> list[dict[int, int]]:
    """Assign one synthesiser channel per (instrument, pan slot) in use; program and pan set on each.

    Returns, per instrument, ``{slot: channel}``. With more than 16 (instrument, slot) pairs the
    later ones share their instrument's nearest channel.
    """
    plan: list[dict[int, int]] = []
    ch = 0
    for inst in insts:
        used = sorted({slot_of(n.pitch) for n in inst.notes})
        slots: dict[int, int] = {}
        for s in used:
            if ch < 16:
                slots[s] = ch
                ch += 1
        if not slots:  # out of channels: share the last one
            slots[used[0]] = 15
        for s in used:
            if s not in slots:
                slots[s] = slots[min(slots, key=lambda k: abs(k - s))]
        plan.append(slots)
    return plan


def _programs(font: _LazyFont, insts: list[Instrument]) -> list[tuple[int, int]]:
    """(bank, program) per instrument, falling back to piano / kit 0 when the soundfont lacks it."""
    out = []
    for inst in insts:
        bank, program = (128, 0) if inst.is_drum else (0, inst.program)
        if font.get_preset_index(bank, program) < 0:
            log.warning("soundfont lacks %s %d; using %s", "drum kit" if inst.is_drum else "program", program,
                        "kit 0" if inst.is_drum else "piano")
            program = 0
        out.append((bank, program))
    return out


def _setup_channels(font: _LazyFont, section: str, insts: list[Instrument], plan: list[dict[int, int]],
                    programs: list[tuple[int, int]]) -> None:
    for inst, slots, (bank, program) in zip(insts, plan, programs):
        for slot, ch in slots.items():
            font.channel_set_bank(ch, bank)
            font.channel_set_preset_number(ch, program, inst.is_drum)
            font.channel_set_pan(ch, 0.5 + 0.5 * slot_pan(section, slot))


Event = tuple[int, int, int, int, int, float]  # (sample, order, kind, channel, key/controller, velocity/value)
#: What a segment is rendered from (:func:`_segment_inputs`): its events, the controllers chased from
#: before it, start, end and tail (samples).
SegmentInputs = tuple[list[Event], dict[tuple[int, int], int], int, int, int]


def _section_events(insts: list[Instrument], plan: list[dict[int, int]], seg_starts: np.ndarray, sr: int,
                    ) -> tuple[list[list[Event]], list[tuple[float, list[int], int, int]]]:
    """Note events per segment (a note belongs to the segment its start falls in) and controllers."""
    per_seg: list[list[Event]] = [[] for _ in seg_starts]
    ccs: list[tuple[float, list[int], int, int]] = []  # (time, channels, number, value)
    for inst, slots in zip(insts, plan):
        for n in inst.notes:
            k = max(0, int(np.searchsorted(seg_starts, n.start, side="right")) - 1)
            ch = slots[slot_of(n.pitch)]
            a = int(round(n.start * sr))
            b = max(int(round(n.end * sr)), a + 1)
            per_seg[k].append((a, 2, 1, ch, n.pitch, n.velocity / 127.0))  # order: off 0, cc 1, on 2
            per_seg[k].append((b, 0, 0, ch, n.pitch, 0.0))
        chans = sorted(set(slots.values()))
        for c in inst.control_changes:
            if c.number in REPLAYED_CC:
                ccs.append((c.time, chans, c.number, c.value))
    ccs.sort(key=lambda c: c[0])
    return per_seg, ccs


@dataclass
class _Prepared:
    """One section's channel plan, events per segment and (with a cache) each sounding segment's
    inputs, cache key and span, worked out once for the presence check, the window and the render."""

    plan: list[dict[int, int]]
    programs: list[tuple[int, int]]
    per_seg: list[list[Event]]
    ccs: list[tuple[float, list[int], int, int]]
    inputs: dict[int, tuple[SegmentInputs, dict]]  # segment index -> (_segment_inputs, _cache_key), those that sound
    spans: list[tuple[str, int, int, str]]  # (section, start, end incl. tail, digest of the key), in that order


def _prepare_section(section: str, insts: list[Instrument], segments: list[Segment], seg_starts: np.ndarray, total: int,
                     sr: int, font_id: list, with_keys: bool) -> _Prepared:
    plan = _channel_plan(insts)
    programs = [(128, 0) if i.is_drum else (0, i.program) for i in insts]  # resolved on the first render
    per_seg, ccs = _section_events(insts, plan, seg_starts, sr)
    inputs: dict[int, tuple[SegmentInputs, dict]] = {}
    spans: list[tuple[str, int, int, str]] = []
    if with_keys:
        from ..cache import digest

        cc_times = np.array([c[0] for c in ccs])
        for k, (seg, ev) in enumerate(zip(segments, per_seg)):
            prep = _segment_inputs(seg, ev, ccs, cc_times, total, sr)
            if prep is None:
                continue
            key = _cache_key(font_id or [], sr, section, insts, plan, programs, prep)
            inputs[k] = (prep, key)
            spans.append((section, prep[2], prep[3] + prep[4], digest(key)))
    return _Prepared(plan, programs, per_seg, ccs, inputs, spans)


def _render_section(font: _LazyFont, section: str, insts: list[Instrument], segments: list[Segment],
                    seg_starts: np.ndarray, buf: np.ndarray, sr: int, cache: StageCache | None, font_id: list,
                    prepared: _Prepared,
                    ranges: list[tuple[int, int]] | None = None, *, worker: SynthWorker | None = None) -> None:
    """Render every segment of one section into ``buf`` (float32, (n, 2)), in place (with a cache
    and ``ranges``: only the segments sounding in those sample ranges).

    With two or more CPUs the later segments (about half the work) are rendered by a second
    process: segments render from silence, so they are independent. With a cache, that is the
    ``worker`` (:class:`~tempscore.render.synthworker.SynthWorker`, a process of its own that
    stores them in the cache; :func:`_render_shared_via_cache`); without one, a forked child
    writing into the same shared buffer, where only the parent's last tail, which overlaps the
    child's first segment, is added after the child has finished.
    """
    plan, programs, per_seg, ccs = prepared.plan, prepared.programs, prepared.per_seg, prepared.ccs
    args = (font, section, insts, plan, programs, segments, per_seg, ccs, buf, sr, cache, font_id or [],
            prepared.inputs if cache is not None else None)
    if cache is not None:  # all in the cache: read back here, no soundfont, no second process
        wanted = [(k, key) for (k, (_, key)), (_, a, b, _) in zip(prepared.inputs.items(), prepared.spans)
                  if ranges is None or any(a < hi and b > lo for lo, hi in ranges)]
        ks = [k for k, _ in wanted]
        present = [cache.has("synth", key) for _, key in wanted]
        for hit in present:  # counted here, in this process (a forked child's counts would be lost)
            cache.count("synth", hit)
        if all(present):
            for start, tail in _render_segments(*args, ks, defer_from=None):
                _mix_into(buf, start, tail)
            return
        # segments outside the ranges are left out as if read back: no work for either process
        cached = {k for k, hit in zip(ks, present) if hit} | (set(range(len(segments))) - set(ks))
    else:
        ks = list(range(len(segments)))
        cached = set()
    split = _split_point(per_seg, sr, cached=cached) if _can_fork() else 0
    if split <= 0:
        for start, tail in _render_segments(*args, ks, defer_from=None):
            _mix_into(buf, start, tail)
        return
    if cache is not None:
        _render_shared_via_cache(args, ks, split, cached, prepared, worker)
        return
    targets = None
    if isinstance(buf, _Targets):  # a forked child writes into shared memory: a section buffer, added at the end
        targets, buf = buf, _shared_zeros(len(buf))
        args = (*args[:8], buf, *args[9:])
    split_sample = int(round(segments[split].start_sec * sr))
    font.reset()  # load the soundfont once, before the fork, rather than in both processes
    pid = os.fork()
    if pid == 0:  # child: the later segments; never logs or returns into the caller
        code = 0
        try:
            for start, tail in _render_segments(*args, range(split, len(segments)), defer_from=None):
                buf[start : start + len(tail)] += tail
        except BaseException:  # report through the exit status only
            code = 1
        finally:
            os._exit(code)
    deferred = _render_segments(*args, range(split), defer_from=split_sample)
    _, status = os.waitpid(pid, 0)
    if not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0):  # render the child's share here instead
        log.warning("parallel synthesis worker failed (status %d); rendering its share serially", status)
        buf[split_sample:] = 0
        deferred += _render_segments(*args, range(split, len(segments)), defer_from=None)
    for start, tail in deferred:
        buf[start : start + len(tail)] += tail
    if targets is not None:
        targets.add(0, buf)


def _render_shared_via_cache(args: tuple, ks: list[int], split: int, cached: set[int], prepared: _Prepared,
                             worker: SynthWorker | None) -> None:
    """The two-process render when there is a cache: the ``worker`` synthesises the uncached
    segments from ``split`` on and only stores them in the cache; this process renders the others
    and then mixes every segment in order, the worker's read back from the cache (memory-mapped).
    Nothing full-length is allocated or added (a shared section buffer cost two passes over the
    whole programme per section), and the sum is the serial render's, bit for bit (same order).
    Without a worker (none given, or it cannot take the job), every segment is rendered here."""
    from .synthworker import SynthJob

    font, section, insts, buf, cache = args[0], args[1], args[2], args[8], args[10]
    child_ks = [k for k in ks if k >= split and k not in cached]
    font.reset()  # this process's font, loaded first: its cut of the soundfont is stored for the worker
    cache.flush()  # every entry put so far (the cut among them) on disk before the worker looks
    job = SynthJob(soundfont=str(font.source_path), font_id=list(args[11]), sr=args[9], section=section,
                   presets=font.presets, instruments=[(int(i.program), bool(i.is_drum)) for i in insts],
                   plan=prepared.plan, programs=prepared.programs, inputs={k: prepared.inputs[k] for k in child_ks},
                   ks=child_ks, total=len(buf), cache_root=str(cache.root))
    waiting = worker is not None and worker.submit(job)
    try:
        for k in ks:  # the serial order: the same sum
            if waiting and k >= child_ks[0]:  # the worker's first segment: from here on, in the cache
                worker.wait()  # its segments not stored are synthesised here
                waiting = False
            for start, tail in _render_segments(*args, [k], defer_from=None):
                _mix_into(buf, start, tail)
    finally:
        if waiting:  # interrupted before the worker's share was in: do not leave it running
            worker.close(kill=True)


#: Estimated work (note-seconds, plus one per note for its release) below which a section is
#: synthesised in this process alone.
FORK_MIN_NOTE_SEC = 150.0


def _can_fork() -> bool:
    if os.environ.get("TEMPSCORE_SYNTH_PROCS", "2") == "1" or not hasattr(os, "fork"):
        return False
    try:
        return len(os.sched_getaffinity(0)) >= 2
    except AttributeError:
        return (os.cpu_count() or 1) >= 2


def _split_point(per_seg: list[list[Event]], sr: int, *, cached: set[int] = frozenset()) -> int:  # type: ignore[assignment]
    """Segment index that halves the estimated work (note-seconds plus a second of release each;
    nothing for ``cached`` segments, which are read back); 0 when the section is too small to be
    worth a second process (under :data:`FORK_MIN_NOTE_SEC` to synthesise: forking a big process
    costs ~40 ms, while TinySoundFont renders a note-second in well under a millisecond)."""
    cost = np.array([0.0 if k in cached else sum((e[0] - on[0]) / sr + 1.0 for on, e in _pairs(ev))
                     for k, ev in enumerate(per_seg)])
    total = cost.sum()
    if total < FORK_MIN_NOTE_SEC or len(per_seg) < 2:
        return 0
    k = int(np.searchsorted(np.cumsum(cost), total / 2))
    return min(max(k, 1), len(per_seg) - 1) if cost[max(k, 1):].sum() > 0 else 0


def _pairs(events: list[Event]) -> list[tuple[Event, Event]]:
    """(note_on, note_off) pairs of a segment's note events (as appended by _section_events)."""
    return [(events[i], events[i + 1]) for i in range(0, len(events) - 1, 2) if events[i][2] == 1]


def _render_segments(font: _LazyFont, section: str, insts: list[Instrument], plan: list[dict[int, int]],
                     programs: list[tuple[int, int]], segments: list[Segment], per_seg: list[list[Event]],
                     ccs: list[tuple[float, list[int], int, int]], buf: np.ndarray, sr: int,
                     cache: StageCache | None, font_id: list,
                     inputs: dict[int, tuple[SegmentInputs, dict]] | None, ks: range | list[int], *,
                     defer_from: int | None) -> list[tuple[int, np.ndarray]]:
    """Render segments ``ks`` (each from silence into its own buffer, tail faded) and mix them into
    ``buf``; tails that reach ``defer_from`` are returned as ``(start_sample, audio)`` for the caller
    to add. With a ``cache`` (:class:`~tempscore.cache.StageCache`), a segment whose events,
    programs, controller state, span and soundfont are unchanged is read back, not re-rendered
    (``inputs``: each sounding segment's inputs and key, as :func:`_prepare_section` found them)."""
    total = len(buf)
    cc_times = np.array([c[0] for c in ccs])
    row = 2 * 4  # bytes per stereo float32 frame
    out: list[tuple[int, np.ndarray]] = []
    resolved: list[tuple[int, int]] | None = None
    flush = np.zeros((int(0.02 * sr), 2), np.float32)
    mv_flush = memoryview(flush).cast("B")

    def render(mv: memoryview, a: int, b: int, mix: bool) -> None:
        if b > a:
            font.render(mv[a * row : b * row], mix)

    for k in ks:
        if inputs is not None:
            if k not in inputs:  # silent
                continue
            prep, key = inputs[k]
        else:
            prep = _segment_inputs(segments[k], per_seg[k], ccs, cc_times, total, sr)
            if prep is None:
                continue
            key = _cache_key(font_id, sr, section, insts, plan, programs, prep) if cache is not None else None
        events, latest, s0, s1, tail = prep
        if cache is not None:
            seg_audio = cache.get_array("synth", key, count=False, mapped=True)  # counted in _render_section
            if seg_audio is not None and seg_audio.shape == (s1 - s0 + tail, 2):
                _add_segment(buf, seg_audio, s0, s1, tail, defer_from, out)
                continue
        if resolved is None:  # first segment to synthesise: load the font, check its presets
            resolved = _programs(font, insts)
        font.reset()  # note: TinySoundFont lets the voices still sounding fade over 10 ms ...
        render(mv_flush, 0, len(flush), False)  # ... so render that away, never into a cue
        _setup_channels(font, section, insts, plan, resolved)
        for (ch, num), val in latest.items():
            font.channel_midi_control(ch, num, val)
        seg_audio = np.zeros((s1 - s0 + tail, 2), np.float32)
        _play_events(font, events, memoryview(seg_audio).cast("B"), s0=s0, end=s1 + tail, render=render)
        if tail > 0:
            seg_audio[s1 - s0 :] *= fade_out_curve(tail)[:, None]
        if cache is not None:
            cache.put_array("synth", key, seg_audio)
        _add_segment(buf, seg_audio, s0, s1, tail, defer_from, out)
    return out


def _play_events(font: _LazyFont, events: list[Event], mv: memoryview, *, s0: int, end: int,
                 render: Callable[[memoryview, int, int, bool], None]) -> None:
    """Synthesise a segment into ``mv`` (its buffer, from sample ``s0``) up to sample ``end``: the
    synthesiser runs up to each event, then the event (note on, note off, controller) is applied."""
    pos = s0

    def run_to(target: int) -> None:
        nonlocal pos
        target = min(target, end)
        if target > pos:
            render(mv, pos - s0, target - s0, False)
            pos = target

    for sample, _, kind, ch, num, val in events:
        if sample >= end:
            break
        run_to(max(sample, s0))
        if kind == 1:
            font.channel_note_on(ch, num, val)
        elif kind == 0:
            font.channel_note_off(ch, num)
        else:
            font.channel_midi_control(ch, num, int(val))
    run_to(end)


def _segment_inputs(seg: Segment, seg_events: list[Event], ccs: list[tuple[float, list[int], int, int]],
                    cc_times: np.ndarray, total: int, sr: int) -> SegmentInputs | None:
    """What a segment is rendered from: (events incl. its controllers, controllers chased from
    before it, start, end, tail in samples); None for an empty or out-of-range segment."""
    events = list(seg_events)
    if not events:
        return None
    s0 = int(round(seg.start_sec * sr))
    s1 = min(total, int(round(seg.end_sec * sr)))
    tail = min(total - s1, int(round(seg.tail_sec * sr)))
    if s0 >= total:
        return None
    # chase the controllers set before the segment (latest value per channel and number)
    i0 = int(np.searchsorted(cc_times, seg.start_sec, side="left"))
    i1 = int(np.searchsorted(cc_times, seg.end_sec + seg.tail_sec, side="left"))
    # only channels that play in this segment: a controller on a silent channel changes nothing
    # here (the segment starts from silence), and leaving it out keeps the cache key to what is heard
    playing = {e[3] for e in events}
    latest: dict[tuple[int, int], int] = {}
    for _, chans, num, val in ccs[:i0]:
        for ch in chans:
            if ch in playing:
                latest[(ch, num)] = val
    for t, chans, num, val in ccs[i0:i1]:
        for ch in chans:
            if ch in playing:
                events.append((int(round(t * sr)), 1, 2, ch, num, float(val)))
    events.sort()
    return events, latest, s0, s1, tail


def _cache_key(font_id: list, sr: int, section: str, insts: list[Instrument], plan: list[dict[int, int]],
               programs: list[tuple[int, int]], prep: SegmentInputs) -> dict:
    events, latest, s0, s1, tail = prep
    return {"font": font_id, "sr": sr, "span": [s0, s1, tail],
            **_segment_key(events, latest, _channel_setup(section, insts, plan, programs))}


def _channel_setup(section: str, insts: list[Instrument], plan: list[dict[int, int]], programs: list[tuple[int, int]]
                   ) -> dict[int, tuple[int, int, bool, float]]:
    """What each channel is set to by :func:`_setup_channels`: (bank, program, drum, pan); last write wins."""
    out: dict[int, tuple[int, int, bool, float]] = {}
    for inst, slots, (bank, program) in zip(insts, plan, programs):
        for slot, ch in slots.items():
            out[ch] = (bank, program, bool(inst.is_drum), round(0.5 + 0.5 * slot_pan(section, slot), 6))
    return out


def _segment_key(events: list[Event], chase: dict[tuple[int, int], int],
                 setup: dict[int, tuple[int, int, bool, float]]) -> dict:
    """Everything a segment's sound depends on, with channels renumbered by first use: the channel
    numbers themselves do not matter (only which events share a channel and how it is set up), so
    a change elsewhere in the section that shifts the channel plan does not invalidate this cue."""
    local: dict[int, int] = {}
    ev = []
    for sample, order, kind, ch, num, val in events:
        ev.append((sample, order, kind, local.setdefault(ch, len(local)), num, val))
    return {"events": ev, "channels": [setup.get(ch) for ch in local],
            "chase": sorted((local[ch], num, val) for (ch, num), val in chase.items() if ch in local)}


class _Targets:
    """Where a section is mixed when it has no buffer of its own: several ``(n, 2)`` buffers,
    each taking the audio at its own gain."""

    def __init__(self, targets: list[tuple[np.ndarray, float]], n: int) -> None:
        self.targets = targets
        self.n = n

    def __len__(self) -> int:
        return self.n

    def add(self, start: int, audio: np.ndarray) -> None:
        for arr, gain in self.targets:
            if gain == 1.0:
                arr[start : start + len(audio)] += audio
            else:
                arr[start : start + len(audio)] += audio * np.float32(gain)


def _mix_into(buf: np.ndarray | _Targets, start: int, audio: np.ndarray) -> None:
    if isinstance(buf, _Targets):
        buf.add(start, audio)
    else:
        buf[start : start + len(audio)] += audio


def _add_segment(buf: np.ndarray | _Targets, seg_audio: np.ndarray, s0: int, s1: int, tail: int,
                 defer_from: int | None, out: list[tuple[int, np.ndarray]]) -> None:
    """Mix a rendered segment (body ``[s0, s1)`` then its faded tail) into ``buf``; a tail that
    reaches ``defer_from`` (another process's share) is returned through ``out`` instead."""
    if tail > 0 and defer_from is not None and s1 + tail > defer_from:
        _mix_into(buf, s0, seg_audio[: s1 - s0])
        out.append((s1, seg_audio[s1 - s0 :]))
    else:  # body and tail are contiguous
        _mix_into(buf, s0, seg_audio[: s1 - s0 + max(tail, 0)])


def synthesize_midi(
    midi_path: Path,
    *,
    sr: int = 48000,
    duration_sec: float | None = None,
    soundfont: Path | None = None,
    segments: list[Segment] | None = None,
    cache: StageCache | None = None,
    fonts: dict | None = None,
) -> np.ndarray:
    """Render a MIDI file to one dry stereo buffer (the sum of :func:`synthesize_sections`; ``cache``
    and ``fonts`` as in :func:`iter_sections`).

    Returns
    -------
    np.ndarray, shape (n_samples, 2), float32
        Stereo audio, unnormalised, without reverb.
    """
    res = synthesize_sections(midi_path, sr=sr, duration_sec=duration_sec, segments=segments, soundfont=soundfont,
                              cache=cache, fonts=fonts)
    if not res.audio:
        end = duration_sec if duration_sec is not None else 2.0
        return np.zeros((int(round(end * sr)), 2), np.float32)
    return np.sum(list(res.audio.values()), axis=0, dtype=np.float32)


# --------------------------------------------------------------------------- the synthesis worker's side
@dataclass(frozen=True)
class _Instrument:
    """What synthesis reads of an instrument once its events are made (its notes are in the inputs)."""

    program: int
    is_drum: bool


def _run_job(job: SynthJob, sources: dict) -> None:
    """Synthesise ``job``'s segments into the cache (``sources``: the soundfonts loaded by earlier
    jobs, by file and rate)."""
    from ..cache import StageCache

    cache = StageCache(Path(job.cache_root))
    source = sources.setdefault((*job.font_id, job.sr), _FontSource(Path(job.soundfont), job.sr, job.font_id))
    font = _LazyFont(source, job.presets, cache)
    instruments = [_Instrument(program, is_drum) for program, is_drum in job.instruments]
    _render_segments(font, job.section, instruments, job.plan, job.programs, [], [], [], _Targets([], job.total),
                     job.sr, cache, job.font_id, job.inputs, job.ks, defer_from=None)


def serve_jobs(fd: int) -> None:
    """The synthesis worker (:class:`~tempscore.render.synthworker.SynthWorker`, ``python -m
    tempscore.render.synth FD``): serve :class:`~tempscore.render.synthworker.SynthJob` s from the
    pipe ``fd`` until it closes, answering each with None or what went wrong."""
    from multiprocessing.connection import Connection

    conn = Connection(fd)
    sources: dict = {}
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):  # the render is over, or its process is gone
            return
        try:
            _run_job(job, sources)
            error = None
        except Exception as exc:  # reported to the render, which does the work itself
            error = f"{type(exc).__name__}: {exc}"
        try:
            conn.send(error)
        except OSError:
            return


if __name__ == "__main__":  # the synthesis worker's process
    import sys

    serve_jobs(int(sys.argv[1]))
