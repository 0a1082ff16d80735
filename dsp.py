"""Signal primitives for the render stage in plain numpy: FFT convolution, the BS.1770
K-weighting filter, and 4x polyphase upsampling for true-peak metering.

Why not ``scipy.signal`` for all of it: importing it costs 0.4-0.6 s (scipy 1.17 parses every
docstring at import), which is most of a one-cue re-render of a short film. The maths is the
same: :func:`kaiser_lowpass` is ``scipy.signal.firwin(..., window=("kaiser", beta))``,
:func:`upsample` is ``scipy.signal.upfirdn`` trimmed as ``resample_poly`` trims it, and
:func:`sos_filter` is ``scipy.signal.sosfilt`` (FFmpeg's recursive ``biquad`` filter in double
precision, through PyAV, already loaded for the audio tracks; short signals, or an FFmpeg without
that filter, by FFT convolution with the filter's impulse response, cut where it has decayed below
1e-13 of its peak), :class:`StreamingSosFilter` is ``lfilter`` with carried state (the
analysis' loudness) and :func:`butter2_sos` is ``scipy.signal.butter(2, ...)`` (the hall). The
tests check each against scipy.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Iterator

import numpy as np

log = logging.getLogger(__name__)

#: Signals at least this long (samples per channel) are IIR-filtered by FFmpeg's recursive
#: ``biquad`` (a filter graph costs ~0.3 ms to set up); shorter ones by FFT.
FFMPEG_SOS_FROM_SAMPLES = 1 << 13
#: An IIR filter's impulse response is cut where it has decayed to this fraction of its peak.
IR_DECAY = 1e-13


def next_fast_len(n: int) -> int:
    """Smallest 5-smooth integer (2^a 3^b 5^c) >= ``n``: a size numpy's FFT handles fast."""
    if n <= 6:
        return max(1, n)
    best = 1 << (n - 1).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:  # times the smallest power of two that reaches n
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def fft_convolve(x: np.ndarray, h: np.ndarray, *, n_out: int | None = None) -> np.ndarray:
    """Linear convolution of each column of ``x`` with the matching column of ``h``, by FFT
    (overlap-add in blocks when ``x`` is much longer than ``h``: cache-sized transforms).

    Parameters
    ----------
    x : np.ndarray, shape (n,) or (n, channels)
    h : np.ndarray, shape (m,) or (m, channels)
    n_out : int, optional
        Samples to return (default ``n + m - 1``, the full convolution).

    Returns
    -------
    np.ndarray, shape (n_out,) or (n_out, channels), float32 for float32 inputs
    """
    x = np.asarray(x)
    h = np.asarray(h)
    n, m = len(x), len(h)
    full = n + m - 1
    n_out = full if n_out is None else int(n_out)
    dtype = np.result_type(x, h, np.float32)
    if n == 0 or m == 0:
        return np.zeros((n_out,) + x.shape[1:], dtype)
    one = x.ndim == 1
    xs = x[None, :] if one else np.ascontiguousarray(x.T)  # (channels, n): transforms along the last axis
    hs = h[None, :] if h.ndim == 1 else np.ascontiguousarray(h.T)
    keep = min(n_out, full)
    size = 1 << max(14, (4 * m - 1).bit_length())  # overlap-add transform: >= 4 filter lengths
    if n <= 2 * size:  # one transform of the whole
        size = next_fast_len(full)
        y = np.fft.irfft(np.fft.rfft(xs, size, axis=-1) * np.fft.rfft(hs, size, axis=-1), size, axis=-1)[:, :keep]
    else:
        block = size - m + 1
        nb = -(-n // block)
        hf = np.fft.rfft(hs, size, axis=-1)[:, None, :]
        y = np.zeros((xs.shape[0], nb * block + size), dtype)
        group = max(1, (1 << 22) // size)  # blocks per batch (bounded memory)
        for g0 in range(0, nb, group):
            g1 = min(nb, g0 + group)
            seg = np.zeros((xs.shape[0], (g1 - g0) * block), xs.dtype)
            part = xs[:, g0 * block : g1 * block]
            seg[:, : part.shape[1]] = part
            yb = np.fft.irfft(np.fft.rfft(seg.reshape(xs.shape[0], g1 - g0, block), size, axis=-1) * hf, size,
                              axis=-1)
            for k in range(g1 - g0):
                a = (g0 + k) * block
                y[:, a : a + size] += yb[:, k]
        y = y[:, :keep]
    out = y.T if not one else y[0]
    if n_out > full:
        out = np.concatenate([out, np.zeros((n_out - full,) + out.shape[1:], out.dtype)])
    return np.ascontiguousarray(out, dtype=dtype)


# --------------------------------------------------------------------------- IIR (second-order sections)
def k_weighting_sos(sr: int) -> tuple[np.ndarray, float]:
    """ITU-R BS.1770 K-weighting at ``sr`` as second-order sections, and its passband gain.

    The two stages as pyloudnorm designs them (RBJ cookbook): a +4 dB high shelf at 1500 Hz
    (Q 1/sqrt 2) and a high-pass at 38 Hz (Q 0.5). The tests check the coefficients equal
    ``pyloudnorm.Meter(sr)._filters``.

    Returns
    -------
    sos : np.ndarray, shape (2, 6)
        ``[b0, b1, b2, 1, a1, a2]`` per stage (normalised by ``a0``).
    gain : float
        Product of the stages' passband gains (1.0 for these two).
    """
    def stage(kind: str, gain_db: float, q: float, fc: float) -> list[float]:
        a = 10 ** (gain_db / 40.0)
        w0 = 2.0 * math.pi * fc / sr
        cw, alpha = math.cos(w0), math.sin(w0) / (2.0 * q)
        if kind == "high_shelf":
            b = [a * ((a + 1) + (a - 1) * cw + 2 * math.sqrt(a) * alpha), -2 * a * ((a - 1) + (a + 1) * cw),
                 a * ((a + 1) + (a - 1) * cw - 2 * math.sqrt(a) * alpha)]
            den = [(a + 1) - (a - 1) * cw + 2 * math.sqrt(a) * alpha, 2 * ((a - 1) - (a + 1) * cw),
                   (a + 1) - (a - 1) * cw - 2 * math.sqrt(a) * alpha]
        else:  # high_pass
            b = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2]
            den = [1 + alpha, -2 * cw, 1 - alpha]
        return [b[0] / den[0], b[1] / den[0], b[2] / den[0], 1.0, den[1] / den[0], den[2] / den[0]]

    sos = np.array([stage("high_shelf", 4.0, 1 / math.sqrt(2), 1500.0), stage("high_pass", 0.0, 0.5, 38.0)])
    return sos, 1.0


def butter2_sos(cutoff_hz: float, kind: str, *, sr: int) -> np.ndarray:
    """Second-order Butterworth low- or high-pass as one second-order section:
    ``scipy.signal.butter(2, cutoff_hz, kind, fs=sr, output="sos")`` (the bilinear transform with
    the cutoff pre-warped, which is the RBJ cookbook's filter at Q = 1/sqrt 2).

    Parameters
    ----------
    cutoff_hz : float
        -3 dB frequency, Hz (0 < cutoff_hz < sr / 2).
    kind : {"lowpass", "highpass"}
    sr : int
        Sample rate, Hz.

    Returns
    -------
    np.ndarray, shape (1, 6)
        ``[b0, b1, b2, 1, a1, a2]``.
    """
    if not 0 < cutoff_hz < sr / 2:
        raise ValueError(f"cutoff {cutoff_hz} Hz is not between 0 and half of {sr} Hz")
    w0 = 2.0 * math.pi * cutoff_hz / sr
    cw, alpha = math.cos(w0), math.sin(w0) / math.sqrt(2.0)  # sin(w0) / (2 Q), Q = 1/sqrt(2)
    if kind == "lowpass":
        b = [(1 - cw) / 2, 1 - cw, (1 - cw) / 2]
    elif kind == "highpass":
        b = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2]
    else:
        raise ValueError(f"kind must be lowpass or highpass, not {kind!r}")
    den = [1 + alpha, -2 * cw, 1 - alpha]
    return np.array([[b[0] / den[0], b[1] / den[0], b[2] / den[0], 1.0, den[1] / den[0], den[2] / den[0]]])


def sos_impulse_response(sos: np.ndarray) -> np.ndarray:
    """Impulse response (float64, read-only) of a cascade of stable second-order sections ``(k, 6)``,
    cut where it has decayed below :data:`IR_DECAY` of its peak; ValueError for an unstable one."""
    return _sos_impulse_response(tuple(np.asarray(sos, np.float64).ravel().tolist()))


class StreamingSosFilter:
    """:func:`sos_filter` over consecutive blocks of one signal, the state carried across them
    (``scipy.signal.lfilter`` with ``zi``): each block is convolved with the filter's impulse
    response together with the input before it that the response still reaches (overlap-save), so
    the output equals filtering the whole signal at once (to :data:`IR_DECAY`).

    Parameters
    ----------
    sos : np.ndarray, shape (k, 6)
        Second-order sections, ``a0 == 1``; stable.
    """

    def __init__(self, sos: np.ndarray) -> None:
        self._h = sos_impulse_response(sos)
        self._history = np.zeros(len(self._h) - 1)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The filtered block, shape ``(n,)`` float64, for the next ``n`` input samples ``x``."""
        x = np.asarray(x, np.float64).reshape(-1)
        if not len(x):
            return x
        buf = np.concatenate([self._history, x])
        y = fft_convolve(buf, self._h, n_out=len(buf))[len(self._history):]
        if len(self._history):
            self._history = buf[len(buf) - len(self._history):]
        return y


@functools.lru_cache(maxsize=8)
def _sos_impulse_response(sos_key: tuple[float, ...]) -> np.ndarray:
    """Impulse response (float64) of a cascade of stable second-order sections, cut at
    :data:`IR_DECAY` of its peak (the slowest pole sets the length)."""
    sos = np.asarray(sos_key, np.float64).reshape(-1, 6)
    radius = max(float(np.max(np.abs(np.roots(s[3:])))) for s in sos)
    if not radius < 1.0:
        raise ValueError("unstable filter (a pole on or outside the unit circle)")
    length = 64 if radius == 0 else int(math.ceil(math.log(IR_DECAY) / math.log(radius))) + 64
    h = [0.0] * length
    h[0] = 1.0
    for b0, b1, b2, _, a1, a2 in sos.tolist():  # direct form I, one sample at a time (a few ms, once)
        x1 = x2 = y1 = y2 = 0.0
        for i, x0 in enumerate(h):
            y0 = b0 * x0 + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2
            x2, x1, y2, y1 = x1, x0, y1, y0
            h[i] = y0
    out = np.asarray(h)
    out.setflags(write=False)
    return out


def sos_filter(sos: np.ndarray, x: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    """Filter the columns of ``x`` by the second-order sections ``sos`` (zero initial state).

    The recursion runs in FFmpeg's ``biquad`` filter (libavfilter, through PyAV, in double
    precision: about 10 ns a sample, ~1e-15 of ``scipy.signal.sosfilt`` in float64); where that
    filter is not available, by FFT convolution with the impulse response (~1e-7).

    Parameters
    ----------
    sos : np.ndarray, shape (k, 6)
        ``[b0, b1, b2, a0, a1, a2]`` per section, ``a0 == 1``.
    x : np.ndarray, shape (n,) or (n, channels)
    out : np.ndarray, optional
        Where the result goes (shape of ``x``; float32 for float32 input, else float64), e.g. a
        file-backed buffer (:mod:`tempscore.render.spill`); by FFmpeg's filter it is written
        directly, by FFT it is copied in.

    Returns
    -------
    np.ndarray, like ``x``, float32 for float32 input (float64 otherwise); ``out`` when given
    """
    x = np.asarray(x)
    sos = np.asarray(sos, np.float64)
    h = _sos_impulse_response(tuple(sos.ravel().tolist()))  # also refuses an unstable filter
    dtype = np.float32 if x.dtype == np.float32 else np.float64
    if out is not None and (out.shape != x.shape or out.dtype != dtype):
        raise ValueError(f"out is {out.dtype} {out.shape}; the result is {np.dtype(dtype)} {x.shape}")
    if len(x) >= FFMPEG_SOS_FROM_SAMPLES:
        y = _ffmpeg_sos_filter(sos, x, out=out)
        if y is not None:
            return y
    return _fft_sos_filter(h, x, out=out)


def _fft_sos_filter(h: np.ndarray, x: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    """:func:`sos_filter` by FFT convolution with the filter's impulse response ``h``."""
    if x.ndim == 2:
        h = h[:, None]
    if x.dtype == np.float32:  # float32 FFT: ~1e-6 relative, half the time
        y = fft_convolve(x, h.astype(np.float32), n_out=len(x))
    else:
        y = fft_convolve(x.astype(np.float64), h, n_out=len(x))
    if out is None:
        return y
    np.copyto(out, y)
    return out


def _ffmpeg_sos_filter(sos: np.ndarray, x: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray | None:
    """:func:`sos_filter` by a chain of FFmpeg ``biquad`` filters (``precision=f64``), one mono
    graph per channel; None when this FFmpeg has no such filter (the caller convolves instead)."""
    blocks = _ffmpeg_sos_blocks(sos, x)
    if blocks is None:
        return None
    dtype = np.float32 if x.dtype == np.float32 else np.float64
    result = np.empty(x.shape, dtype) if out is None else out
    cols = result.reshape(len(x), -1)  # a view (the result is C-contiguous): written in place
    try:
        for start, y in blocks:
            cols[start : start + len(y)] = y
    except _ShortOutput as exc:
        log.debug("%s: filtering by FFT", exc)
        return None
    return result


class _ShortOutput(ValueError):
    """FFmpeg's biquad chain gave back fewer samples than it was given."""


#: Samples pushed through FFmpeg's biquad chain at a time (per channel).
SOS_BLOCK_SAMPLES = 1 << 16


def _ffmpeg_sos_blocks(sos: np.ndarray, x: np.ndarray) -> Iterator[tuple[int, np.ndarray]] | None:
    """The columns of ``x`` through FFmpeg's biquad chain, one graph per channel run side by side:
    an iterator of ``(start_sample, y)`` with ``y`` of shape ``(m, channels)``, in order and
    contiguous; None when the filter is not available. It raises :class:`_ShortOutput` at the
    end if FFmpeg returned fewer samples than it was given."""
    from fractions import Fraction

    import av
    import av.filter

    dbl = x.dtype != np.float32
    fmt, dtype = ("dbl", np.float64) if dbl else ("flt", np.float32)
    cols = np.asarray(x).reshape(len(x), -1)
    graphs = []
    for _ in range(cols.shape[1]):
        try:
            g = av.filter.Graph()
            node = g.add_abuffer(format=fmt, sample_rate=48000, layout="mono", time_base=Fraction(1, 48000))
            for b0, b1, b2, a0, a1, a2 in np.asarray(sos, np.float64).tolist():
                f = g.add("biquad", f"b0={b0!r}:b1={b1!r}:b2={b2!r}:a0={a0!r}:a1={a1!r}:a2={a2!r}:precision=f64")
                node.link_to(f)
                node = f
            fmt_out = g.add("aformat", f"sample_fmts={fmt}")
            node.link_to(fmt_out)
            sink = g.add("abuffersink")
            fmt_out.link_to(sink)
            g.configure()
        except (av.error.FFmpegError, ValueError) as exc:
            log.debug("FFmpeg's biquad filter is not usable here (%s): filtering by FFT", exc)
            return None
        graphs.append(g)

    def run() -> Iterator[tuple[int, np.ndarray]]:
        got: list[list[np.ndarray]] = [[] for _ in graphs]  # per channel: pulled, not yet handed out
        have = [0] * len(graphs)
        sent = 0

        def drain(ch: int) -> None:
            while True:
                try:
                    frame = graphs[ch].pull()
                except (av.error.BlockingIOError, av.error.EOFError):
                    return
                a = frame.to_ndarray().reshape(-1)
                got[ch].append(a)
                have[ch] += len(a)

        def take() -> np.ndarray | None:  # what every channel has, as (m, channels)
            nonlocal sent
            m = min(have) - sent
            if m <= 0:
                return None
            y = np.empty((m, len(graphs)), dtype)
            for ch, parts in enumerate(got):
                flat = np.concatenate(parts) if len(parts) > 1 else parts[0]
                y[:, ch] = flat[:m]
                got[ch] = [flat[m:]] if len(flat) > m else []
            sent += m
            return y

        for i in range(0, len(cols), SOS_BLOCK_SAMPLES):
            for ch, g in enumerate(graphs):
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(cols[i : i + SOS_BLOCK_SAMPLES, ch], dtype)[None],
                                                   format=fmt, layout="mono")
                frame.sample_rate = 48000  # the coefficients carry the rate; this only labels the frames
                frame.pts = i
                g.push(frame)
                drain(ch)
            start = sent
            if (y := take()) is not None:
                yield start, y
        for ch, g in enumerate(graphs):
            g.push(None)
            drain(ch)
        start = sent
        if (y := take()) is not None:
            yield start, y
        if sent != len(cols):
            raise _ShortOutput(f"FFmpeg's biquad returned {sent} of {len(cols)} samples")

    return run()


def sos_filter_blocks(sos: np.ndarray, x: np.ndarray, *,
                      alloc: Callable[[tuple[int, ...]], np.ndarray] | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """:func:`sos_filter` a block at a time: an iterator of ``(start_sample, y)``, ``y`` of shape
    ``(m, channels)`` (float32 for float32 input, else float64), in order and contiguous, the
    same values as :func:`sos_filter`'s, without a programme-length result. Where FFmpeg's
    filter is not available (or fails), the whole result is computed first (into ``alloc(shape)``
    when given) and handed out in one block."""
    x = np.asarray(x)
    h = _sos_impulse_response(tuple(np.asarray(sos, np.float64).ravel().tolist()))  # refuses an unstable filter first
    blocks = _ffmpeg_sos_blocks(sos, x) if len(x) >= FFMPEG_SOS_FROM_SAMPLES else None
    if blocks is not None:
        sent = 0
        try:
            for start, y in blocks:
                sent = start + len(y)
                yield start, y
            return
        except _ShortOutput as exc:
            log.debug("%s: filtering the rest by FFT", exc)
        whole = _fft_sos_filter(h, x)  # ~1e-7 of FFmpeg's values; what was handed out stays
        yield sent, whole.reshape(len(x), -1)[sent:]
        return
    y = sos_filter(sos, x, out=alloc(x.shape) if alloc is not None else None)
    yield 0, y.reshape(len(x), -1)


# --------------------------------------------------------------------------- FIR interpolation
@functools.lru_cache(maxsize=8)
def kaiser_lowpass(numtaps: int, cutoff: float, beta: float) -> np.ndarray:
    """Windowed-sinc low-pass FIR, unit gain at DC: ``scipy.signal.firwin(numtaps, cutoff,
    window=("kaiser", beta))`` (``cutoff`` relative to Nyquist, 0 < cutoff < 1).

    Returns
    -------
    np.ndarray, shape (numtaps,), float64, read-only
    """
    m = np.arange(numtaps) - (numtaps - 1) / 2.0
    h = cutoff * np.sinc(cutoff * m) * np.kaiser(numtaps, beta)
    h /= h.sum()
    h.setflags(write=False)
    return h


def upsample(x: np.ndarray, h: np.ndarray, up: int) -> np.ndarray:
    """Insert ``up - 1`` zeros between samples and FIR-filter by ``h`` (odd length, linear phase),
    delay removed: ``scipy.signal.upfirdn(h, x, up, 1, axis=0)[half : half + len(x) * up]``.

    Parameters
    ----------
    x : np.ndarray, shape (n,) or (n, channels)
    h : np.ndarray, shape (taps,)

    Returns
    -------
    np.ndarray, shape (n * up,) or (n * up, channels), float32
    """
    x = np.asarray(x, np.float32)
    one = x.ndim == 1
    x2 = x[:, None] if one else x
    n, taps = len(x2), len(h)
    half = (taps - 1) // 2
    phases = [np.asarray(h[r::up], np.float32) for r in range(up)]
    rows = n + len(phases[0]) - 1  # the longest phase's full convolution
    full = np.zeros((rows, up, x2.shape[1]), np.float32)  # full[i, r] = output sample i * up + r
    for ch in range(x2.shape[1]):
        col = x2[:, ch]
        for r, hr in enumerate(phases):
            if len(hr) and n:
                c = np.convolve(col, hr)
                full[: len(c), r, ch] = c
    y = full.reshape(rows * up, x2.shape[1])[half : half + n * up]
    return y[:, 0] if one else y
