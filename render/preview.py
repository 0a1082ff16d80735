"""The first cue's music ahead of the render: what the spotting page plays while the rest renders.

:func:`first_cue_music` runs the render's own steps over one cue only: the synthesis windowed to
the cue (:func:`~.synth.iter_sections` with a ``window``), the hall's pieces that ring into it
(:func:`~.reverb.apply_reverb_pieces`), the film-end fade, ducking, loudness and the true-peak
limiter (:func:`~.mix.loudness_gain`). Its segments and hall pieces go into the same cache entries
the render reads, so the render does not synthesise or convolve them again, and inside the cue the
music before its gain is the render's, sample for sample (the same segments and returns, added in
the render's order).

The gain is what differs: the render sets it from the loudness of the whole programme, which is
known only once every cue is synthesised. The cue is brought to the same loudness target on its
own (or given the gain the last render of this programme kept, which the render holds while the
loudness stays within its tolerance), so the preview equals the final cue times one factor, the
ratio of the programme's loudness to the cue's.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..threads import ONE_BLAS_THREAD

if TYPE_CHECKING:
    from ..cache import StageCache
    from ..contracts import Cue, Timeline
    from . import RenderSettings
    from .mix import LoudnessReport
    from .spill import Spill

__all__ = ["CueMusic", "first_cue_music", "first_sounding_cue", "MAX_SEC"]

#: A longer first cue is heard for its first this many seconds (its music, its WAV and the loudness
#: arrays stay a few tens of MB whatever the cue's length; the render synthesises it whole anyway).
MAX_SEC = 180.0

Span = tuple[str, int, int, str]  # (section, start_sample, end_sample, digest), as iter_sections gives them
Piece = tuple[int, int, list[str]]  # (start_sample, end_sample, ids), as reverb.hall_pieces gives them


@dataclass
class CueMusic:
    """One cue's music as the render makes it, brought to the loudness target.

    ``audio`` has shape ``(n, 2)``, float32 at ``sr``: the programme's samples
    ``[round(start_sec * sr), round(end_sec * sr))`` (the cue's first :data:`MAX_SEC` at most).
    """

    cue_id: str
    start_sec: float
    end_sec: float
    sr: int
    audio: np.ndarray
    loudness: LoudnessReport
    gain_held: bool  # the last render's gain, not one of its own


def first_sounding_cue(timeline: Timeline) -> Cue | None:
    """The first cue (in time) that has music: not tacet and at least a frame long; None if none."""
    cues = sorted(timeline.cues, key=lambda c: c.start_sec)
    return next((c for c in cues if not c.tacet and c.end_sec > c.start_sec), None)


def first_cue_music(midi_path: Path, timeline: Timeline, *, settings: RenderSettings | None = None,
                    speech: list[tuple[float, float]] | None = None, cache: StageCache,
                    fonts: dict | None = None) -> CueMusic | None:
    """The first sounding cue's music, made as :func:`~tempscore.render.render_audio` makes it
    (see the module's docstring), its segments and hall pieces left in ``cache`` for the render.

    Parameters
    ----------
    midi_path : Path
        ``<stem>.score.mid``, as the render will read it.
    timeline : Timeline
        The cues, the tempo map and the picture's duration.
    speech : list of (start_sec, end_sec), optional
        Dialogue regions the music ducks under (the render's).
    cache : StageCache
        The project's cache: the render reads back what is made here.
    fonts : dict, optional
        Soundfonts already loaded (see :func:`~tempscore.render.synth.iter_sections`).

    Returns
    -------
    CueMusic or None
        None when no cue has music (every cue tacet).
    """
    from . import RenderSettings
    from .spill import Spill, ram_budget_bytes

    s = settings or RenderSettings()
    cue = first_sounding_cue(timeline)
    n = int(round(timeline.video.duration_sec * s.sr))
    if cue is None:
        return None
    a = min(n, int(round(cue.start_sec * s.sr)))
    b = min(n, int(round(cue.end_sec * s.sr)), a + int(round(MAX_SEC * s.sr)))
    if b <= a:
        return None
    # the buses as the render holds them: in RAM within its budget, else mapped from files whose
    # pages are given back as they are written (a long first cue's segments are mixed whole)
    spill = Spill(Path(cache.root), ram_bytes=ram_budget_bytes(s.ram_buffers_mb))
    buses = _Buses(s, n, spill)
    # one BLAS thread, as the render has (tempscore.threads): the hall's small products split across
    # OpenBLAS's threads made this 2-3x slower on two loaded cores, for the same numbers
    with spill.trimming(), ONE_BLAS_THREAD, cache.writing_behind():  # the cache entries: all written at its end
        spans = _synthesise(midi_path, timeline, s, buses, a, b, cache=cache, fonts=fonts)
        if s.reverb:
            _reverb(buses, spans, a, b, sr=s.sr, cache=cache)
        music, report, held = _at_loudness(buses.premaster(timeline.video.duration_sec, a, b), timeline, s, a, b,
                                           speech=speech or [], cache=cache)
    return CueMusic(cue_id=cue.id, start_sec=a / s.sr, end_sec=b / s.sr, sr=s.sr, audio=music, loudness=report,
                    gain_held=held)


class _Buses:
    """The render's buses over the whole programme (from ``spill``: only the pages the cue's
    segments touch are ever written): the dry mix and the reverb send, or each section's stem and
    the dry mix (``--stems``), each section added as the render adds it."""

    def __init__(self, s: RenderSettings, n: int, spill: Spill) -> None:
        self.s, self.n, self.spill = s, n, spill
        self.dry = spill.zeros((n, 2))
        self.send = spill.zeros((n, 2)) if not s.stems and s.reverb else None
        self.stems: dict[str, np.ndarray] = {}

    def into(self, section: str) -> list[tuple[np.ndarray, float]]:
        """What the render's ``_Mixdown._into`` gives: the buses a section is added into, with gains."""
        from .sections import section_buses

        if self.s.stems:
            self.stems[section] = self.spill.zeros((self.n, 2))
        return section_buses(section, dry=self.dry, send=self.send, stem=self.stems.get(section))

    def premaster(self, duration_sec: float, a: int, b: int) -> np.ndarray:
        """The music before its gain over ``[a, b)``, a copy: the dry mix with the film-end fade."""
        from .mix import apply_end_fade

        return np.array(apply_end_fade(self.dry, sr=self.s.sr, end_sec=duration_sec)[a:b], np.float32)


def _synthesise(midi_path: Path, timeline: Timeline, s: RenderSettings, buses: _Buses, a: int, b: int, *,
                cache: StageCache, fonts: dict | None) -> list[Span]:
    """Every segment sounding in ``[a, b)`` or feeding a hall piece that rings into it, into the
    buses (and the cache); returns every section's spans (the whole programme's)."""
    from .mix import cue_segments
    from .synth import default_soundfont, iter_sections

    spans: list[Span] = []

    def window(every: list[Span]) -> list[tuple[int, int]]:
        # the send of a piece ringing into the cue must be whole: mix from the earliest such piece on
        pieces = [p for group in _piece_groups(every, buses.n, stems=s.stems) for p in group]
        starts = [p[0] for p in _ringing_into(pieces, a, b, n=buses.n, sr=s.sr)] if s.reverb else []
        return [(min([a, *starts]), b)]

    segments = cue_segments(timeline.cues, timeline.tempo_map, timeline.video.duration_sec)
    # run for its effect (the buses filled, the spans listed): each section yields no buffer of its own
    deque(iter_sections(midi_path, sr=s.sr, duration_sec=timeline.video.duration_sec, segments=segments,
                        soundfont=default_soundfont(s.soundfont), cache=cache, spans_out=spans, fonts=fonts,
                        into=buses.into, window=window), maxlen=0)
    return spans


def _piece_groups(spans: list[Span], n: int, *, stems: bool) -> list[list[Piece]]:
    """The hall's pieces as the render cuts them: over every section's spans together, or (stems)
    over each section's own, in the render's order of sections."""
    from .reverb import hall_feeds, hall_pieces

    if not stems:
        return [hall_pieces(hall_feeds(spans), n)]
    sections = list(dict.fromkeys(sp[0] for sp in spans))
    return [hall_pieces(hall_feeds([sp for sp in spans if sp[0] == sec]), n) for sec in sections]


def _ringing_into(pieces: list[Piece], a: int, b: int, *, n: int, sr: int) -> list[Piece]:
    """The pieces whose return sounds in ``[a, b)`` (they start before ``b`` and ring past ``a``), in order."""
    from .reverb import piece_end

    return [p for p in pieces if p[0] < b and piece_end(p[1], n, sr=sr) > a]


def _reverb(buses: _Buses, spans: list[Span], a: int, b: int, *, sr: int, cache: StageCache) -> None:
    """The hall's returns that ring into ``[a, b)``, added as the render adds them: into the dry
    mix from the send, or (stems) into each stem and the dry mix from that stem at its level. The
    pieces left out start after ``b`` or have died away before ``a``, so inside the cue the sum is
    the render's, in the render's order."""
    from .reverb import apply_reverb_pieces
    from .sections import PLACEMENT

    groups = _piece_groups(spans, buses.n, stems=buses.s.stems)
    if not buses.s.stems:
        apply_reverb_pieces(buses.send, _ringing_into(groups[0], a, b, n=buses.n, sr=sr), sr=sr, cache=cache,
                            add_to=buses.dry)
        return
    for (section, stem), pieces in zip(buses.stems.items(), groups):
        g = float(np.float32(10 ** (PLACEMENT[section].reverb_send_db / 20)))
        apply_reverb_pieces(stem, _ringing_into(pieces, a, b, n=buses.n, sr=sr), sr=sr, cache=cache,
                            add_to=(stem, buses.dry), send_gain=g)


def _at_loudness(music: np.ndarray, timeline: Timeline, s: RenderSettings, a: int, b: int, *,
                 speech: list[tuple[float, float]], cache: StageCache) -> tuple[np.ndarray, LoudnessReport, bool]:
    """``music`` (the programme's ``[a, b)``) ducked under ``speech``, at the loudness target under
    the true-peak ceiling, in place; with the last render's gain for this programme when the cache
    has it (what the render would hold)."""
    from . import music_target_lufs
    from .mix import duck_gain, loudness_gain

    duck = None
    if speech and s.duck_depth_db > 0:  # the render's curve over [0, b), where it is the same: ramps end at b
        duck = duck_gain(b, sr=s.sr, regions=speech, depth_db=s.duck_depth_db, attack_sec=s.duck_attack_sec,
                         release_sec=s.duck_release_sec)[a:]
    n = int(round(timeline.video.duration_sec * s.sr))
    target = music_target_lufs(s, timeline)
    kept = cache.get_json("gain", ["music-gain", s.sr, n, target, s.max_true_peak_dbtp]) if s.loudness_hold_lu > 0 else None
    held_db = (kept or {}).get("gain_db")
    out, _, report = loudness_gain(music, sr=s.sr, target_lufs=target, max_true_peak_dbtp=s.max_true_peak_dbtp,
                                   post_gain=duck, hold_gain_db=held_db,
                                   hold_tolerance_lu=math.inf if held_db is not None else 0.0, in_place=True)
    return out, report, bool(report.gain_held)
