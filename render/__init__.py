"""Timeline + notes -> MIDI, audio (soundfont synthesis), mix, mux.

:func:`render_audio` is the audio half of the render stage: synthesis per section and cue
(:mod:`.synth`), reverb sends (:mod:`.reverb`), the film-end fade, ducking under dialogue,
loudness to a target with a true-peak limiter (:mod:`.mix`), and the mix with the production
audio. :func:`mux` puts the result on the picture.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..contracts import Timeline
from .midi import score_to_midi, write_midi
from .mix import (LoudnessReport, apply_end_fade, cue_segments, duck_gain, integrated_lufs, limit_true_peak,
                  loudness_gain, true_peak_dbtp, write_wav)
from .mux import MUX_MODES, mux
from .sections import PLACEMENT, SECTIONS
from .spill import DEFAULT_SPILL_ABOVE_MB, Spill
from .synth import default_soundfont, iter_sections, synthesize_midi

log = logging.getLogger(__name__)

__all__ = ["RenderSettings", "RenderResult", "render_audio", "score_to_midi", "write_midi", "mux", "MUX_MODES",
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
    #: Programme-length buffers of at least this many MiB are mapped from files in the project's
    #: cache folder rather than held in RAM (:mod:`.spill`; the same result); 0: all of them.
    spill_above_mb: int = DEFAULT_SPILL_ABOVE_MB

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
        if self.spill_above_mb < 0:
            raise InvalidSettings(f"spill_above_mb {self.spill_above_mb}: use 0 or more MiB")
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


def _production_audio(video: Path, *, sr: int, bed: str = "", cache=None,  # noqa: ANN001
                      spill: Spill | None = None) -> np.ndarray | None:
    """The picture's production audio (``bed``: which streams, VideoInfo.production_audio), stereo at
    ``sr``, aligned to frame 0 (decoded once per video file and kept in the cache; a re-render reads
    it back)."""
    from ..vision.audio import read_audio

    st = video.stat()
    key = {"video": str(video.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sr": sr, "bed": bed}
    if cache is None:
        got = read_audio(video, sr=sr, mono=False, alloc=spill.zeros if spill is not None else None)
        return None if got is None else np.ascontiguousarray(got[0], np.float32)
    hit = cache.get_array("production", key, mapped=True)
    if hit is not None:
        return hit
    with cache.array_made_in_place("production", key) as entry:  # decoded into the entry: written once
        got = read_audio(video, sr=sr, mono=False, alloc=entry.alloc)
        return None if got is None else entry.commit(got[0])


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
                 cache=None, fonts: dict | None = None,  # noqa: ANN001
                 music_ready: Callable[[np.ndarray], None] | None = None,
                 progress: Callable[[str, float, float], None] | None = None) -> RenderResult:
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

    Returns
    -------
    RenderResult
    """
    s = settings or RenderSettings()
    sr = s.sr
    clock = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 3)
        clock = now

    def step(phase: str, done: float = 0, total: float = 1) -> None:
        if progress is not None:
            progress(phase, done, total)

    sf = default_soundfont(s.soundfont)
    dur = timeline.video.duration_sec
    n = int(round(dur * sr))
    segments = cue_segments(timeline.cues, timeline.tempo_map, dur)
    dry: np.ndarray | None = None
    send: np.ndarray | None = None
    stems: dict[str, np.ndarray] = {}
    parts: dict[str, list[str]] = {}
    spans: list[tuple[str, int, int, str]] | None = [] if cache is not None else None
    premaster = None
    if spans is not None and not s.stems:  # the last render's music before its gain: only what changed is mixed again
        from .mix import FILM_END_FADE_SEC
        from .premaster import Premaster
        from .reverb import HALL_DESIGN, RT60_SEC

        premaster = Premaster.open(cache, sr=sr, n=n, rt60_sec=RT60_SEC if s.reverb else None,
                                   key=[round(dur, 9), FILM_END_FADE_SEC, HALL_DESIGN])
    spill = Spill(Path(cache.root) if cache is not None else None, above_bytes=s.spill_above_mb << 20)
    dry = spill.zeros((n, 2))
    if not s.stems:  # each section's segments go straight into the dry mix and the reverb send
        send = spill.zeros((n, 2)) if s.reverb else None

        def into(section: str) -> list[tuple[np.ndarray, float]]:
            g = float(np.float32(10 ** (PLACEMENT[section].reverb_send_db / 20)))
            return [(dry, 1.0)] + ([(send, g)] if send is not None else [])
    else:  # each section into its own stem (file-backed when long) and the dry mix; its send is the stem at its level

        def into(section: str) -> list[tuple[np.ndarray, float]]:
            stems[section] = spill.zeros((n, 2))
            return [(stems[section], 1.0), (dry, 1.0)]

    step("synthesising", 0, len(SECTIONS))
    for section, audio, names in iter_sections(midi_path, sr=sr, duration_sec=dur, segments=segments, soundfont=sf,
                                               cache=cache, spans_out=spans, fonts=fonts, into=into,
                                               window=premaster.window if premaster is not None else None):
        parts[section] = names
        step("synthesising", len(parts), len(SECTIONS))
    lap("synth")
    if s.reverb:
        step("reverb")
        from .reverb import apply_reverb

        if s.stems:  # the hall is linear: each stem gets its own return, and they sum to the whole
            _reverb_stems(stems, dry, spans, sr=sr, cache=cache)
        elif send is not None and spans is not None:  # piece by piece: unchanged cues' returns come from the cache
            from .reverb import apply_reverb_pieces, hall_feeds, hall_pieces

            pieces = hall_pieces(hall_feeds(spans), len(send))
            apply_reverb_pieces(send, premaster.sounding(pieces) if premaster is not None else pieces, sr=sr,
                                cache=cache, add_to=dry)
        elif send is not None:
            apply_reverb(send, sr=sr, add_to=dry)
        send = None
        lap("reverb")
    music = apply_end_fade(dry, sr=sr, end_sec=dur)
    if premaster is not None:
        music = premaster.assemble(music)  # the last render's outside the ranges mixed again
        dry = None
        premaster.keep(music)  # stored as it is (behind): the gain goes in once it is written
    step("loudness")
    regions = [(float(a), float(b)) for a, b in (speech or []) if b > a]
    duck = None
    if regions and s.duck_depth_db > 0:  # applied after the limiter: exactly as deep as asked
        duck = duck_gain(n, sr=sr, regions=regions, depth_db=s.duck_depth_db, attack_sec=s.duck_attack_sec,
                         release_sec=s.duck_release_sec, alloc=spill.zeros)
    target = music_target_lufs(s, timeline)
    gain_key = ["music-gain", sr, n, target, s.max_true_peak_dbtp]  # the previous render's gain, to hold
    held = cache.get_json("gain", gain_key) if cache is not None and s.loudness_hold_lu > 0 else None
    power = _chunk_power(music, sr=sr, cache=cache, spill=spill) if cache is not None else None
    music, gain, report = loudness_gain(music, sr=sr, target_lufs=target, max_true_peak_dbtp=s.max_true_peak_dbtp,
                                        post_gain=duck, hold_gain_db=(held or {}).get("gain_db"),
                                        hold_tolerance_lu=s.loudness_hold_lu, chunk_power=power, in_place=True,
                                        before_in_place=cache.flush if premaster is not None else None,
                                        alloc=spill.zeros)
    dry = duck = power = None  # ``music`` is that array, now at its gain; the rest is not needed again
    if cache is not None and not report.gain_held:
        cache.put_json("gain", gain_key, {"gain_db": report.static_gain_db})
    for section, audio in stems.items():
        apply_end_fade(audio, sr=sr, end_sec=dur)
        audio *= gain[:, None]
    gain = None
    lap("loudness")
    if music_ready is not None:
        music_ready(music)
    remixed = premaster.report() if premaster is not None else {}
    mix = None
    mix_gr = 0.0
    if production_audio and timeline.video.audio_streams and Path(timeline.video.path).is_file():
        step("production mix")
        prod = _production_audio(Path(timeline.video.path), sr=sr, bed=timeline.video.production_audio, cache=cache,
                                 spill=spill)
        if prod is not None and len(prod):
            mix = spill.zeros(music.shape)  # written once: the sum where there is production audio, the music after
            k = min(n, len(prod))
            np.add(music[:k], prod[:k], out=mix[:k])
            mix[k:] = music[k:]
            mix, mix_gr = limit_true_peak(mix, sr=sr, ceiling_dbtp=s.max_true_peak_dbtp, in_place=True)
        lap("mix")
    return RenderResult(music=music, mix=mix, loudness=report, soundfont=str(sf), stems=stems, parts=parts,
                        speech_regions=regions, mix_limiter_gr_db=round(mix_gr, 2), timings_sec=timings,
                        premaster=remixed, spilled_mb=round(spill.spilled_bytes / 2**20, 1))
