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
instead of 1.1 s.
"""

from __future__ import annotations

import functools
import logging

import numpy as np

log = logging.getLogger(__name__)

RT60_SEC = 1.8
PREDELAY_SEC = 0.018
#: Each input channel feeds the other side's reverb with this share (a wider, less lopsided hall).
CROSSFEED = 0.25


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
    from scipy.signal import butter, sosfilt

    rng = np.random.default_rng(seed)
    n = int(rt60_sec * sr)
    t = np.arange(n) / sr
    pre = int(PREDELAY_SEC * sr)
    lp = butter(2, 3000, "lowpass", fs=sr, output="sos")
    hp = butter(2, 90, "highpass", fs=sr, output="sos")
    top = butter(2, min(7000.0, 0.45 * sr), "lowpass", fs=sr, output="sos")
    ir = np.zeros((n, 2))
    for ch in range(2):
        noise = rng.standard_normal(n)
        low = sosfilt(lp, noise)
        high = noise - low
        decay = lambda rt: 10 ** (-3.0 * t / rt)  # noqa: E731 - amplitude, -60 dB at rt
        tail = low * decay(rt60_sec) + high * decay(0.5 * rt60_sec)
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


def apply_reverb(send: np.ndarray, *, sr: int, rt60_sec: float = RT60_SEC,
                 add_to: np.ndarray | None = None) -> np.ndarray:
    """The hall's return for a stereo send (same length as the send; the tail past its end is cut).

    Parameters
    ----------
    send : np.ndarray, shape (n, 2)
        What goes into the reverb (already scaled by the send levels).
    sr : int
        Sample rate, Hz (even).
    add_to : np.ndarray, shape (n, 2), float32, optional
        Add the return into this buffer (in place) instead of a new one.

    Returns
    -------
    np.ndarray, shape (n, 2), float32
        The return (``add_to`` itself when given).
    """
    from scipy.signal import oaconvolve

    x = np.asarray(send, np.float32)
    n = len(x)
    out = np.zeros((n, 2), np.float32) if add_to is None else add_to
    m = n // 2
    if m < 2:
        return out
    ir = hall_ir(sr // 2, rt60_sec)
    # decimate by 2 (mean of each pair of frames) and cross-feed in one product: (m, 4) @ (4, 2)
    a, b = 0.5 * (1 - CROSSFEED), 0.5 * CROSSFEED
    mixer = np.array([[a, b], [b, a], [a, b], [b, a]], np.float32)
    half = x[: 2 * m].reshape(m, 4) @ mixer
    if not np.any(half):
        return out
    # one FFT thread: a second worker bought nothing on 2 cores and stalls when the other core is busy
    ys = [oaconvolve(np.ascontiguousarray(half[:, ch]), ir[:, ch])[:m] for ch in range(2)]
    del half
    y = np.stack(ys, axis=1)
    del ys
    o4 = out[: 2 * m].reshape(m, 4)  # back to sr: linear interpolation between the decimated frames
    o4[:, 0:2] += y
    o4[:-1, 2:4] += 0.5 * (y[:-1] + y[1:])
    o4[-1, 2:4] += y[-1]
    if n > 2 * m:
        out[2 * m :] += y[-1]
    return out
