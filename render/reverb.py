"""A cheap stereo hall: FFT convolution with a synthetic, seeded impulse response.

TinySoundFont has no reverb. The mix sends each section to one shared hall at its own level
(:data:`tempscore.render.sections.PLACEMENT`), as a mixing desk does with an aux send; the
convolution is linear, so a stem's reverb is the hall applied to that stem's send alone, and the
stems' reverbs sum to the full mix's.

The impulse response: 18 ms pre-delay, a dozen early reflections over the next 70 ms, then
decorrelated (independent per channel) Gaussian noise under an exponential decay whose high band
(above 3 kHz) dies about twice as fast as the rest (air and wall absorption), band-limited to
90 Hz - 7 kHz (the bass stays dry, the hall is dark), cut at -60 dB. Each channel has unit
energy, so a send at 0 dB gives a reverb return about as loud as the dry signal.

Speed: the hall returns nothing above 7 kHz, so it runs at half the sample rate (pairs averaged
on the way in, linear interpolation on the way out, both far above the hall's band edge in
effect): two FFT convolutions of half the length, about 0.5 s for a 5-minute stereo send
instead of 1.1 s. With a cache the return is built piece by piece (:func:`apply_reverb_pieces`),
so a re-render after a one-cue change convolves only around that cue.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING

import numpy as np

from ..dsp import fft_convolve

if TYPE_CHECKING:
    from ..cache import StageCache

log = logging.getLogger(__name__)

RT60_SEC = 1.8
PREDELAY_SEC = 0.018
#: Each input channel feeds the other side's reverb with this share (a wider, less lopsided hall).
CROSSFEED = 0.25
#: Names the impulse response's design, pre-delay and cross-feed in cache keys: change it with them.
HALL_DESIGN = "hall-1: 18 ms pre-delay, 12 early reflections, 2-band decay, 90 Hz-7 kHz, crossfeed 0.25"


def _decay(t_sec: np.ndarray, rt60_sec: float) -> np.ndarray:
    """Amplitude envelope at times ``t_sec``: -60 dB at ``rt60_sec``."""
    return 10 ** (-3.0 * t_sec / rt60_sec)


@functools.lru_cache(maxsize=4)
def hall_ir(sr: int, rt60_sec: float = RT60_SEC, *, seed: int = 20240611) -> np.ndarray:
    """Stereo impulse response of the hall.

    Parameters
    ----------
    sr : int
        Sample rate, Hz.
    rt60_sec : float
        Time for the (low band of the) tail to decay by 60 dB, seconds.

    Returns
    -------
    np.ndarray, shape (n, 2), float32
        Unit energy per channel; read-only (cached).
    """
    from ..dsp import butter2_sos
    from ..dsp import sos_filter as sosfilt

    rng = np.random.default_rng(seed)
    n = int(rt60_sec * sr)
    t = np.arange(n) / sr
    pre = int(PREDELAY_SEC * sr)
    lp = butter2_sos(3000, "lowpass", sr=sr)
    hp = butter2_sos(90, "highpass", sr=sr)
    top = butter2_sos(min(7000.0, 0.45 * sr), "lowpass", sr=sr)
    ir = np.zeros((n, 2))
    for ch in range(2):
        noise = rng.standard_normal(n)
        low = sosfilt(lp, noise)
        high = noise - low
        tail = low * _decay(t, rt60_sec) + high * _decay(t, 0.5 * rt60_sec)
        tail *= np.clip((t - 0.02) / 0.06, 0, 1)  # the diffuse tail builds up after the early reflections
        er_t = np.sort(rng.uniform(0.004, 0.075, 12))
        er = np.zeros(n)
        er[(er_t * sr).astype(int)] = rng.choice([-1.0, 1.0], 12) * 3.0 * 10 ** (-3.0 * er_t / rt60_sec) / (1 + 8 * er_t)
        h = np.zeros(n)
        h[pre:] = (tail + er)[: n - pre]
        h = sosfilt(top, sosfilt(hp, h))
        h[-int(0.05 * sr):] *= np.linspace(1, 0, int(0.05 * sr))
        ir[:, ch] = h / np.sqrt(np.sum(h**2))
    ir = ir.astype(np.float32)
    ir.setflags(write=False)
    return ir


def _hall_half(x: np.ndarray, ir: np.ndarray) -> np.ndarray:
    """The hall's return at half the sample rate: pairs of frames averaged and cross-fed, then
    convolved with the (half-rate) impulse response; shape ``(len(x) // 2, 2)``, float32."""
    m = len(x) // 2
    a, b = 0.5 * (1 - CROSSFEED), 0.5 * CROSSFEED
    mixer = np.array([[a, b], [b, a], [a, b], [b, a]], np.float32)  # decimate and cross-feed in one product
    half = np.asarray(x[: 2 * m], np.float32).reshape(m, 4) @ mixer
    if m < 2 or not np.any(half):
        return np.zeros((m, 2), np.float32)
    return fft_convolve(half, ir, n_out=m)


def _add_upsampled(y: np.ndarray, out: np.ndarray) -> None:
    """Add a half-rate return ``y`` (m, 2) into ``out`` (n, 2), ``n // 2 == m``: linear
    interpolation between the decimated frames."""
    m = len(y)
    if m == 0:
        return
    o4 = out[: 2 * m].reshape(m, 4)
    o4[:, 0:2] += y
    o4[:-1, 2:4] += 0.5 * (y[:-1] + y[1:])
    o4[-1, 2:4] += y[-1]
    if len(out) > 2 * m:
        out[2 * m :] += y[-1]


def apply_reverb(send: np.ndarray, *, sr: int, rt60_sec: float = RT60_SEC,
                 add_to: np.ndarray | None = None, ir: np.ndarray | None = None) -> np.ndarray:
    """The hall's return for a stereo send (same length as the send; the tail past its end is cut).

    Parameters
    ----------
    send : np.ndarray, shape (n, 2)
        What goes into the reverb (already scaled by the send levels).
    sr : int
        Sample rate, Hz (even).
    add_to : np.ndarray, shape (n, 2), float32, optional
        Add the return into this buffer (in place) instead of a new one.
    ir : np.ndarray, shape (m, 2), optional
        ``hall_ir(sr // 2, rt60_sec)`` when the caller has it (e.g. from a cache).

    Returns
    -------
    np.ndarray, shape (n, 2), float32
        The return (``add_to`` itself when given).
    """
    x = np.asarray(send, np.float32)
    n = len(x)
    out = np.zeros((n, 2), np.float32) if add_to is None else add_to
    if n // 2 < 2 or not np.any(x):
        return out
    _add_upsampled(_hall_half(x, hall_ir(sr // 2, rt60_sec) if ir is None else ir), out)
    return out


def hall_feeds(spans: list[tuple[str, int, int, str]]) -> list[tuple[int, int, str]]:
    """What feeds the hall, for :func:`hall_pieces`: each synthesised segment's ``(section, start,
    end, digest)`` as ``(start, end, id)``, the id naming its audio and its section's send level."""
    from .sections import PLACEMENT

    return [(a, b, f"{sec}@{PLACEMENT[sec].reverb_send_db:g}dB:{d}") for sec, a, b, d in spans]


def hall_pieces(spans: list[tuple[int, int, str]], n: int) -> list[tuple[int, int, list[str]]]:
    """Cut ``[0, n)`` at every span's start; each piece with the ids of the spans sounding in it
    (and ending where the last of them ends).

    Parameters
    ----------
    spans : list of (start_sample, end_sample, id)
        What feeds the hall: one entry per synthesised segment (its body and tail) and section.
    n : int
        Length of the programme, samples.

    Returns
    -------
    list of (start_sample, end_sample, ids)
        Silent pieces are left out. The send is the sum of the pieces, so (the hall being linear)
        its return is the sum of the pieces' returns, each ringing on past its piece's end.
    """
    cuts = sorted({0, n, *(min(max(int(a), 0), n) for a, _, _ in spans)})
    out = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        inside = [(s1, i) for s0, s1, i in spans if s0 < b and s1 > a]
        if inside:  # up to where the last of them ends (silence after it is no work)
            out.append((a, min(b, max(s1 for s1, _ in inside)), sorted(i for _, i in inside)))
    return out


def piece_end(b: int, n: int, *, sr: int, rt60_sec: float = RT60_SEC) -> int:
    """Where the return of a piece ending at sample ``b`` stops (it rings for the impulse
    response's length, cut at the programme's end ``n``)."""
    return min(n, b + int(rt60_sec * (sr // 2)) * 2)


def hall_piece_key(a: int, b: int, end: int, ids: list[str], *, sr: int, rt60_sec: float = RT60_SEC) -> dict:
    """The cache key of a piece's return (what :func:`apply_reverb_pieces` stores it under)."""
    return {"ids": ids, "span": [a, b, end], "sr": sr, "rt60": rt60_sec, "design": HALL_DESIGN}


def apply_reverb_pieces(send: np.ndarray, pieces: list[tuple[int, int, list[str]]], *, sr: int,
                        cache: StageCache | None,
                        add_to: np.ndarray | tuple[np.ndarray, ...], send_gain: float = 1.0,
                        rt60_sec: float = RT60_SEC) -> None:
    """Add the hall's return of ``send`` into ``add_to``, piece by piece, each piece's return read
    from ``cache`` (a :class:`~tempscore.cache.StageCache`) when what feeds it is unchanged.

    A one-cue change then convolves only the pieces that cue sounds in (its own and the one its
    tail rings into), not the whole programme. The return of each piece is stored at half rate
    (the hall's band ends at 7 kHz), half the disk of the audio it came from. Only one piece's
    audio is in memory at a time, whatever the programme's length.

    Parameters
    ----------
    send : np.ndarray, shape (n, 2)
    pieces : from :func:`hall_pieces`, over the same ``n``
    add_to : np.ndarray, shape (n, 2), float32, or a tuple of them
        Where the return is added. ``send`` itself may be one of them (a stem and its own hall):
        the pieces are then taken last to first, so that each is read before any return rings
        into it (a piece's return starts where the piece starts).
    send_gain : float
        The send's level (``send`` is read times this), linear.
    """
    n = len(send)
    targets = add_to if isinstance(add_to, tuple) else (add_to,)
    order = reversed(pieces) if any(np.may_share_memory(send, t) for t in targets) else pieces
    ir = None
    for a, b, ids in order:
        end = piece_end(b, n, sr=sr, rt60_sec=rt60_sec)
        m = (end - a) // 2
        key = hall_piece_key(a, b, end, ids, sr=sr, rt60_sec=rt60_sec)
        y = cache.get_array("hall", key, mapped=True) if cache is not None else None
        if y is None or y.shape != (m, 2):
            if ir is None:
                ir = cached_hall_ir(sr // 2, rt60_sec, cache)
            x = np.zeros((end - a, 2), np.float32)
            x[: b - a] = send[a:b]
            if send_gain != 1.0:
                x[: b - a] *= np.float32(send_gain)
            y = _hall_half(x, ir)
            if cache is not None:
                cache.put_array("hall", key, y)
        for t in targets:
            _add_upsampled(y, t[a:end])


def cached_hall_ir(sr: int, rt60_sec: float, cache: StageCache | None) -> np.ndarray:
    """:func:`hall_ir`, kept in ``cache`` (designing it takes ~0.1 s)."""
    key = {"sr": sr, "rt60": rt60_sec, "design": HALL_DESIGN}
    ir = cache.get_array("hall_ir", key, count=False) if cache is not None else None
    if ir is None or ir.ndim != 2 or ir.shape[1] != 2:
        ir = hall_ir(sr, rt60_sec)
        if cache is not None:
            cache.put_array("hall_ir", key, ir)
    return ir
