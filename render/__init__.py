"""Timeline + notes -> MIDI, audio (soundfont synthesis), mix, mux.

:func:`render_audio` is the audio half of the render stage: synthesis per section and cue
(:mod:`.synth`), reverb sends (:mod:`.reverb`), the film-end fade, ducking under dialogue,
loudness to a target with a true-peak limiter (:mod:`.mix`), and the mix with the production
audio. :func:`mux` puts the result on the picture.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..contracts import Timeline
from .midi import score_to_midi, write_midi
from .mix import (
    LoudnessReport,
    apply_end_fade,
    cue_segments,
    duck_gain,
    integrated_lufs,
    limit_true_peak,
    loudness_gain,
    true_peak_dbtp,
    write_wav,
)
from .mux import MUX_MODES, mux
from .sections import PLACEMENT, SECTIONS, section_buses
from .spill import Spill, ram_budget_bytes
from .synth import default_soundfont, iter_sections, synthesize_midi

if TYPE_CHECKING:
    from ..cache import StageCache
    from ..vision.audio import AudioCopy
    from .premaster import Premaster

log = logging.getLogger(__name__)

__all__ = ["RenderSettings", "RenderResult", "render_audio", "production_audio_made_early", "score_to_midi", "write_midi", "mux", "MUX_MODES",
           "default_soundfont", "synthesize_midi", "true_peak_dbtp", "integrated_lufs", "write_wav", "SECTIONS"]


DEFAULT_LUFS = -23.0  # EBU R128 programme loudness


@dataclass
class RenderSettings:
    """How to render and mix.

    ``duck_*``: how far (dB) and how fast (seconds) the music goes down under dialogue;
    ``stems``: also return each section's audio; ``mux_tracks``: which audio tracks the scored
    video gets (see :data:`tempscore.render.mux.MUX_MODES`).
    """

    sr: int = 48000
    target_lufs: float | None = None  # music alone; None: the reference track's (scoring.reference), else -23 (EBU R128)
    max_true_peak_dbtp: float = -1.0
    soundfont: str | None = None  # "fluidr3", "timgm6mb", "auto" or a .sf2 path; None: $TEMPSCORE_SOUNDFONT or auto
    reverb: bool = True
    duck_depth_db: float = 10.0
    duck_attack_sec: float = 0.3
    duck_release_sec: float = 0.8
    stems: bool = False
    mux_tracks: str = "all"
    #: On a re-render, the previous render's music gain is kept while the loudness stays within this
    #: many LU of the target (EBU R128 permits ±0.5 LU), so the unchanged stretches come out as before
    #: and only the changed ones are encoded again; 0: normalised exactly every time.
    loudness_hold_lu: float = 0.5
    #: Programme-length buffers held in RAM, in MiB at most; the rest are mapped from files in the
    #: project's cache folder (:mod:`.spill`; the same result). None: chosen from the free memory
    #: (:func:`~tempscore.render.spill.ram_budget_bytes`); 0: every such buffer in a file.
    ram_buffers_mb: int | None = None

    def validate(self) -> None:
        """Raise :class:`~tempscore.errors.InvalidSettings` for out-of-range values."""
        from ..errors import InvalidSettings

        if self.target_lufs is not None and not -70 <= self.target_lufs <= 0:
            raise InvalidSettings(f"--lufs {self.target_lufs:g} is outside -70..0 LUFS; EBU R128 is -23")
        if not -20 <= self.max_true_peak_dbtp <= 0:
            raise InvalidSettings(f"--true-peak {self.max_true_peak_dbtp:g} is outside -20..0 dBTP; EBU R128 is -1")
        if not 0 <= self.duck_depth_db <= 60:
            raise InvalidSettings(f"--duck-depth {self.duck_depth_db:g} is outside 0..60 dB")
        if not (0 <= self.duck_attack_sec <= 5 and 0 <= self.duck_release_sec <= 10):
            raise InvalidSettings("--duck-attack must be 0..5 s and --duck-release 0..10 s")
        if self.mux_tracks not in MUX_MODES:
            raise InvalidSettings(f"--tracks {self.mux_tracks!r}: use one of {', '.join(MUX_MODES)}")
        if not 0 <= self.loudness_hold_lu <= 1:
            raise InvalidSettings(f"--loudness-hold {self.loudness_hold_lu:g} is outside 0..1 LU (EBU R128 permits 0.5)")
        if self.ram_buffers_mb is not None and self.ram_buffers_mb < 0:
            raise InvalidSettings(f"ram_buffers_mb {self.ram_buffers_mb}: use 0 or more MiB (None: from the free memory)")
        if self.sr not in (44100, 48000, 96000):
            raise InvalidSettings(f"sample rate {self.sr}: use 44100, 48000 or 96000")


@dataclass
class RenderResult:
    """The rendered audio (all ``(n, 2)`` float32 at ``sr``) and what was measured on it."""

    music: np.ndarray  # the score alone: ducked, on the loudness target, under the true-peak ceiling
    mix: np.ndarray | None  # production audio + score (true-peak limited); None without production audio
    loudness: LoudnessReport
    soundfont: str
    stems: dict[str, np.ndarray] = field(default_factory=dict)  # section -> audio; they sum to ``music``
    parts: dict[str, list[str]] = field(default_factory=dict)  # section -> instrument names
    speech_regions: list[tuple[float, float]] = field(default_factory=list)
    mix_limiter_gr_db: float = 0.0
    timings_sec: dict[str, float] = field(default_factory=dict)
    premaster: dict = field(default_factory=dict)  # what was mixed again (render.premaster.Premaster.report)
    spilled_mb: float = 0.0  # programme-length buffers mapped from files, not RAM (see .spill)


def production_audio_key(video: Path, *, sr: int, bed: str = "") -> dict:
    """The cache key of the picture's production audio as the render mixes it (``bed``: which
    streams, :attr:`~tempscore.contracts.VideoInfo.production_audio`): the file (path, size,
    modification time) and the rendition."""
    st = Path(video).stat()
    return {"video": str(Path(video).resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sr": sr, "bed": bed}


@contextlib.contextmanager
def production_audio_made_early(cache, video: Path, *, sr: int, bed: str = "",  # noqa: ANN001 - StageCache
                                spill: Spill | None = None) -> Iterator[AudioCopy | None]:
    """The render's production audio made by someone else (the analysis, from the frames it
    decodes: :class:`~tempscore.vision.audio.AudioCopy`) into its cache entry, so the render reads
    it instead of decoding the sound again. Yields the copy to fill (None when the entry is there
    already); it becomes the entry when the block ends with the whole file decoded. ``spill``:
    whose :meth:`~.spill.Spill.trimming` gives the entry's pages back as they are written."""
    from ..vision.audio import AudioCopy

    key = production_audio_key(video, sr=sr, bed=bed)
    if cache.has("production", key):
        yield None
        return
    watch = spill.watch if spill is not None else (lambda a: a)
    with cache.array_made_in_place("production", key) as entry:
        copy = AudioCopy(sr=sr, stereo=True, alloc=lambda shape, dtype=np.float32: watch(entry.alloc(shape, dtype)))
        yield copy
        if copy.result is not None:
            entry.commit(copy.result[0])


def _production_audio(video: Path, *, sr: int, bed: str = "", cache=None,  # noqa: ANN001
                      spill: Spill | None = None) -> np.ndarray | None:
    """The picture's production audio (``bed``: which streams, VideoInfo.production_audio), stereo at
    ``sr``, aligned to frame 0 (decoded once per video file and kept in the cache, by the analysis
    of ``score`` when it ran, see :func:`production_audio_made_early`; a re-render reads it back)."""
    from ..vision.audio import read_audio

    if cache is None:
        got = read_audio(video, sr=sr, mono=False, alloc=spill.zeros if spill is not None else None)
        return None if got is None else np.ascontiguousarray(got[0], np.float32)
    key = production_audio_key(video, sr=sr, bed=bed)
    watch = spill.watch if spill is not None else (lambda a: a)  # its pages given back as it is read
    hit = cache.get_array("production", key, mapped=True)
    if hit is not None:
        return watch(hit)
    with cache.array_made_in_place("production", key) as entry:  # decoded into the entry: written once
        got = read_audio(video, sr=sr, mono=False, alloc=lambda shape, dtype=np.float32: watch(entry.alloc(shape, dtype)))
        return None if got is None else watch(entry.commit(got[0]))


def music_target_lufs(settings: RenderSettings, timeline: Timeline) -> float:
    """``--lufs`` when given; else the level of the timeline's reference track (within -31..-14 LUFS,
    see :func:`tempscore.scoring.reference.follow_reference`); else -23 LUFS (EBU R128)."""
    if settings.target_lufs is not None:
        return float(settings.target_lufs)
    ref = (timeline.settings or {}).get("reference") or {}
    if ref.get("loudness_lufs") is not None:
        from ..scoring.reference import follow_reference

        return float(follow_reference(ref)["music_lufs"])
    return DEFAULT_LUFS


def _chunk_power(music: np.ndarray, *, sr: int, cache, spill: Spill | None = None) -> np.ndarray:  # noqa: ANN001
    """The music's K-weighted power per 1 ms chunk, filtered again only where it changed since the
    last render (its fingerprints and powers are kept in the cache)."""
    import io

    from .aacsplice import keep_latest, latest_made_from
    from .mix import k_weighted_chunk_power_update

    key = [sr, len(music)]
    old_fp, old = latest_made_from(cache, "k-weighted", key, ".npy")
    try:
        previous = (old_fp, np.load(old, allow_pickle=False)) if old is not None else None
    except (OSError, ValueError):  # a broken entry: measured whole
        previous = None
    power, fp, share = k_weighted_chunk_power_update(music, sr=sr, previous=previous,
                                                     alloc=spill.zeros if spill is not None else None)
    if share > 0:
        buf = io.BytesIO()
        np.save(buf, power, allow_pickle=False)
        keep_latest(cache, "k-weighted", key, ".npy", fp, buf.getvalue(), previous_fp=old_fp)
    return power


def _reverb_stems(stems: dict[str, np.ndarray], dry: np.ndarray,
                  spans: list[tuple[str, int, int, str]] | None, *, sr: int, cache) -> None:  # noqa: ANN001
    """Each stem's hall return, at its section's send level, added into the stem and into ``dry``
    (their sum), in place. With the synthesis ``spans`` (a cache), piece by piece over each
    section's own segments (one piece in memory at a time, unchanged pieces from the cache);
    without, whole."""
    from .reverb import apply_reverb, apply_reverb_pieces, hall_feeds, hall_pieces

    for section, audio in stems.items():
        g = float(np.float32(10 ** (PLACEMENT[section].reverb_send_db / 20)))
        if spans is None:
            wet = apply_reverb(audio * np.float32(g), sr=sr)
            audio += wet
            dry += wet
            continue
        pieces = hall_pieces(hall_feeds([sp for sp in spans if sp[0] == section]), len(audio))
        apply_reverb_pieces(audio, pieces, sr=sr, cache=cache, add_to=(audio, dry), send_gain=g)


def render_audio(midi_path: Path, timeline: Timeline, *, settings: RenderSettings | None = None,
                 speech: list[tuple[float, float]] | None = None, production_audio: bool = True,
                 cache: StageCache | None = None, fonts: dict | None = None,
                 music_ready: Callable[[np.ndarray], None] | None = None,
                 progress: Callable[[str, float, float], None] | None = None,
                 spill: Spill | None = None) -> RenderResult:
    """Synthesise the MIDI score to exactly the picture's length and mix it.

    Parameters
    ----------
    midi_path : Path
        ``<stem>.score.mid`` (possibly edited in a DAW).
    timeline : Timeline
        The picture's duration and path, the cues (segments and crossfades) and the tempo map.
    speech : list of (start_sec, end_sec), optional
        Dialogue regions to duck the music under (none: no ducking).
    production_audio : bool
        Read the picture's production audio (when it has one) for the mixed track.
    cache : StageCache, optional
        Per-cue synthesis cache (cues whose notes did not change are not synthesised again).
    fonts : dict, optional
        Soundfonts already loaded, reused (see :func:`~tempscore.render.synth.iter_sections`).
    music_ready : callable, optional
        Called with the final music ``(n, 2)`` as soon as its loudness is set, before the
        production mix (e.g. to start encoding it); the array is not changed afterwards.
    progress : callable, optional
        ``progress(phase, done, total)`` as it goes: ``("synthesising", sections done, of the
        orchestra's sections)``, then ``"reverb"``, ``"loudness"`` and ``"production mix"`` (each
        0 of 1 as it starts).
    spill : Spill, optional
        Where the programme-length buffers come from, its mapped pages given back by the caller
        (:meth:`~tempscore.render.spill.Spill.trimming`, as :func:`~tempscore.render.produce.produce`
        does while it also writes and encodes them); default: one of its own for this call.

    Returns
    -------
    RenderResult
    """
    s = settings or RenderSettings()
    if spill is None:
        spill = Spill(Path(cache.root) if cache is not None else None, ram_bytes=ram_budget_bytes(s.ram_buffers_mb))
        with spill.trimming():
            return render_audio(midi_path, timeline, settings=s, speech=speech, production_audio=production_audio,
                                cache=cache, fonts=fonts, music_ready=music_ready, progress=progress, spill=spill)
    m = _Mixdown(s, timeline, cache=cache, progress=progress, spill=spill)
    sf = default_soundfont(m.s.soundfont)
    parts = m.synthesise(midi_path, sf, fonts=fonts)
    if m.s.reverb:
        m.reverb()
    music = m.premastered()
    regions = [(float(a), float(b)) for a, b in (speech or []) if b > a]
    music, report = m.loudness(music, regions)
    if music_ready is not None:
        music_ready(music)
    remixed = m.premaster.report() if m.premaster is not None else {}
    mix, mix_gr = m.production_mix(music, production_audio)
    return RenderResult(music=music, mix=mix, loudness=report, soundfont=str(sf), stems=m.stems, parts=parts,
                        speech_regions=regions, mix_limiter_gr_db=round(mix_gr, 2), timings_sec=m.timings,
                        premaster=remixed, spilled_mb=round(m.spill.spilled_bytes / 2**20, 1))


class _Mixdown:
    """The buses of one render and the steps over them, in order: synthesis into the dry mix (or the
    stems) and the reverb send, the hall, the film-end fade and what the last render kept, loudness
    (with ducking and the true-peak limiter), the mix with the production audio. Programme-length
    buffers come from :class:`.spill.Spill` and are let go as soon as a step is done with them."""

    def __init__(self, s: RenderSettings, timeline: Timeline, *, cache: StageCache | None,
                 progress: Callable[[str, float, float], None] | None, spill: Spill) -> None:
        self.s, self.sr, self.timeline, self.cache, self.progress = s, s.sr, timeline, cache, progress
        self.dur = timeline.video.duration_sec
        self.n = int(round(self.dur * self.sr))
        self.timings: dict[str, float] = {}
        self._clock = time.perf_counter()
        self.stems: dict[str, np.ndarray] = {}
        self.spans: list[tuple[str, int, int, str]] | None = [] if cache is not None else None
        self.spill = spill
        self.premaster = self._open_premaster() if self.spans is not None and not s.stems else None
        self.dry: np.ndarray | None = self.spill.zeros((self.n, 2))
        # each section's segments go straight into the dry mix and the reverb send (or its own stem)
        self.send = self.spill.zeros((self.n, 2)) if not s.stems and s.reverb else None

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = round(now - self._clock, 3)
        self._clock = now

    def step(self, phase: str, done: float = 0, total: float = 1) -> None:
        if self.progress is not None:
            self.progress(phase, done, total)

    def _open_premaster(self) -> Premaster:
        """The last render's music before its gain: only what changed is mixed again."""
        from .mix import FILM_END_FADE_SEC
        from .premaster import Premaster
        from .reverb import HALL_DESIGN, RT60_SEC

        pm = Premaster.open(self.cache, sr=self.sr, n=self.n, rt60_sec=RT60_SEC if self.s.reverb else None,
                            key=[round(self.dur, 9), FILM_END_FADE_SEC, HALL_DESIGN])
        for block in (pm.previous[1] or []) if pm.previous is not None else []:  # mapped: given back as read
            self.spill.watch(block)
        return pm

    def _into(self, section: str) -> list[tuple[np.ndarray, float]]:
        """The buses a section's audio is added into, each with its gain."""
        if self.s.stems:  # each section into its own stem (file-backed when long) and the dry mix
            self.stems[section] = self.spill.zeros((self.n, 2))
        return section_buses(section, dry=self.dry, send=self.send, stem=self.stems.get(section))

    def synthesise(self, midi_path: Path, sf: Path, *, fonts: dict | None) -> dict[str, list[str]]:
        """Every section of the MIDI into its buses; returns section -> instrument names."""
        segments = cue_segments(self.timeline.cues, self.timeline.tempo_map, self.dur)
        parts: dict[str, list[str]] = {}
        self.step("synthesising", 0, len(SECTIONS))
        for section, _audio, names in iter_sections(
                midi_path, sr=self.sr, duration_sec=self.dur, segments=segments, soundfont=sf, cache=self.cache,
                spans_out=self.spans, fonts=fonts, into=self._into,
                window=self.premaster.window if self.premaster is not None else None):
            parts[section] = names
            self.step("synthesising", len(parts), len(SECTIONS))
        self.lap("synth")
        return parts

    def reverb(self) -> None:
        """The hall: into the dry mix (and each stem); piece by piece where a cache keeps the pieces."""
        from .reverb import apply_reverb

        self.step("reverb")
        if self.s.stems:  # the hall is linear: each stem gets its own return, and they sum to the whole
            _reverb_stems(self.stems, self.dry, self.spans, sr=self.sr, cache=self.cache)
        elif self.send is not None and self.spans is not None:  # unchanged cues' returns come from the cache
            from .reverb import apply_reverb_pieces, hall_feeds, hall_pieces

            pieces = hall_pieces(hall_feeds(self.spans), len(self.send))
            apply_reverb_pieces(self.send, self.premaster.sounding(pieces) if self.premaster is not None else pieces,
                                sr=self.sr, cache=self.cache, add_to=self.dry)
        elif self.send is not None:
            apply_reverb(self.send, sr=self.sr, add_to=self.dry)
        self.send = None
        self.lap("reverb")

    def premastered(self) -> np.ndarray:
        """The music before its gain: faded out at the film's end; the last render's outside the
        ranges mixed again (then stored, behind, for the next render)."""
        music = apply_end_fade(self.dry, sr=self.sr, end_sec=self.dur)
        if self.premaster is not None:
            music = self.premaster.assemble(music)
            self.dry = None
            self.premaster.keep(music)  # stored as it is (behind): the gain goes in once it is written
        return music

    def loudness(self, music: np.ndarray, regions: list[tuple[float, float]]) -> tuple[np.ndarray, LoudnessReport]:
        """The music at the loudness target under the true-peak ceiling, ducked under ``regions``
        (after the limiter: exactly as deep as asked), in place; the stems get the same gain. The
        previous render's gain is held while the loudness stays within the tolerance."""
        s, cache = self.s, self.cache
        self.step("loudness")
        duck = None
        if regions and s.duck_depth_db > 0:
            duck = duck_gain(self.n, sr=self.sr, regions=regions, depth_db=s.duck_depth_db,
                             attack_sec=s.duck_attack_sec, release_sec=s.duck_release_sec, alloc=self.spill.zeros)
        target = music_target_lufs(s, self.timeline)
        gain_key = ["music-gain", self.sr, self.n, target, s.max_true_peak_dbtp]  # the previous render's gain, to hold
        held = cache.get_json("gain", gain_key) if cache is not None and s.loudness_hold_lu > 0 else None
        power = _chunk_power(music, sr=self.sr, cache=cache, spill=self.spill) if cache is not None else None
        music, gain, report = loudness_gain(music, sr=self.sr, target_lufs=target,
                                            max_true_peak_dbtp=s.max_true_peak_dbtp, post_gain=duck,
                                            hold_gain_db=(held or {}).get("gain_db"),
                                            hold_tolerance_lu=s.loudness_hold_lu, chunk_power=power, in_place=True,
                                            before_in_place=cache.flush if self.premaster is not None else None,
                                            alloc=self.spill.zeros)
        self.dry = duck = power = None  # ``music`` is that array, now at its gain; the rest is not needed again
        if cache is not None and not report.gain_held:
            cache.put_json("gain", gain_key, {"gain_db": report.static_gain_db})
        for audio in self.stems.values():
            apply_end_fade(audio, sr=self.sr, end_sec=self.dur)
            audio *= gain[:, None]
        self.lap("loudness")
        return music, report

    def production_mix(self, music: np.ndarray, production_audio: bool) -> tuple[np.ndarray | None, float]:
        """Production audio + music, true-peak limited (None without production audio), and the
        limiter's largest gain reduction in dB."""
        video = self.timeline.video
        if not (production_audio and video.audio_streams and Path(video.path).is_file()):
            return None, 0.0
        self.step("production mix")
        prod = _production_audio(Path(video.path), sr=self.sr, bed=video.production_audio, cache=self.cache,
                                 spill=self.spill)
        mix, mix_gr = None, 0.0
        if prod is not None and len(prod):
            mix = self.spill.zeros(music.shape)  # written once: the sum where there is production audio, the music after
            k = min(self.n, len(prod))
            np.add(music[:k], prod[:k], out=mix[:k])
            mix[k:] = music[k:]
            mix, mix_gr = limit_true_peak(mix, sr=self.sr, ceiling_dbtp=self.s.max_true_peak_dbtp, in_place=True)
        self.lap("mix")
        return mix, mix_gr
