"""Production audio: decode once to mono, level curve and integrated loudness."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..contracts import AudioFeatures

log = logging.getLogger(__name__)

SILENCE_DB = -90.0


def read_audio(path: Path, *, sr: int = 16000, mono: bool = True) -> tuple[np.ndarray, float] | None:
    """Decode the first audio stream, resampled, aligned to the first video frame.

    Parameters
    ----------
    path : Path
        Media file.
    sr : int
        Output sample rate in Hz.
    mono : bool
        Down-mix to one channel (else stereo).

    Returns
    -------
    (samples, offset_sec) or None
        ``samples`` is float32, shape ``(n,)`` for mono or ``(n, 2)`` for stereo. The audio is
        shifted so that sample 0 plays with the first video frame (``offset_sec`` is how much
        later the audio stream started). ``None`` when the file has no audio stream.
    """
    import av

    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
        a = container.streams.audio[0]
        v = container.streams.video[0] if container.streams.video else None
        a_start = float(a.start_time * Fraction(a.time_base)) if a.start_time is not None else 0.0
        v_start = float(v.start_time * Fraction(v.time_base)) if v is not None and v.start_time is not None else 0.0
        layout = "mono" if mono else "stereo"
        resampler = av.AudioResampler(format="flt", layout=layout, rate=sr)
        chunks: list[np.ndarray] = []
        try:
            for frame in container.decode(a):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as exc:
            log.warning("%s: audio decoding stopped early (%s)", path, exc)
    data = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    if not mono:
        data = data.reshape(-1, 2)
    offset = a_start - v_start
    shift = int(round(offset * sr))
    if shift > 0:
        pad = np.zeros((shift,) + data.shape[1:], np.float32)
        data = np.concatenate([pad, data])
    elif shift < 0:
        data = data[-shift:]
    return data, offset


def level_curve_db(samples: np.ndarray, *, sr: int, rate_hz: float = 10.0) -> np.ndarray:
    """RMS level in dBFS on a regular grid of ``rate_hz`` values per second.

    Parameters
    ----------
    samples : np.ndarray, shape (n,)
        Mono audio.
    sr : int
        Sample rate, Hz.
    rate_hz : float
        Output rate; value ``k`` covers ``[k / rate_hz, (k + 1) / rate_hz)``.

    Returns
    -------
    np.ndarray, shape (ceil(n / sr * rate_hz),)
    """
    hop = int(round(sr / rate_hz))
    n = int(np.ceil(len(samples) / hop)) if len(samples) else 0
    padded = np.zeros(n * hop, np.float32)
    padded[: len(samples)] = samples
    rms = np.sqrt(np.mean(padded.reshape(n, hop) ** 2, axis=1) + 1e-12)
    return np.maximum(20 * np.log10(rms), SILENCE_DB)


def analyze_audio(path: Path, *, rate_hz: float = 10.0, sr: int = 16000) -> AudioFeatures:
    """Level curve and integrated loudness (ITU-R BS.1770 via pyloudnorm) of the production audio."""
    got = read_audio(path, sr=sr)
    if got is None or len(got[0]) == 0:
        return AudioFeatures(present=False, rate_hz=rate_hz)
    samples, _ = got
    curve = level_curve_db(samples, sr=sr, rate_hz=rate_hz)
    lufs: float | None = None
    if len(samples) > sr // 2:
        import pyloudnorm

        value = pyloudnorm.Meter(sr).integrated_loudness(samples.astype(np.float64))
        lufs = round(float(value), 2) if np.isfinite(value) else None
    return AudioFeatures(present=True, rate_hz=rate_hz, loudness_db=[round(float(x), 2) for x in curve],
                         integrated_lufs=lufs)
