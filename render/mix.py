"""Mix: cue-edge fades, loudness to a target (EBU R128 / ITU-R BS.1770), true-peak guard, WAV out."""

from __future__ import annotations

import logging
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..fileio import atomic_path

log = logging.getLogger(__name__)


@dataclass
class LoudnessReport:
    """What the loudness stage measured and did."""

    target_lufs: float
    measured_lufs: float | None  # before gain
    final_lufs: float | None
    gain_db: float
    true_peak_dbtp: float


def true_peak_dbtp(audio: np.ndarray, *, oversample: int = 4, block: int = 4800, margin_db: float = 6.0) -> float:
    """Estimated true peak (dBTP) by ``oversample``-x polyphase upsampling (BS.1770-4 annex 2 style).

    Only blocks whose sample peak lies within ``margin_db`` of the loudest sample are upsampled
    (an inter-sample peak of band-limited audio exceeds its sample peaks by far less than that),
    so a feature-length mix is measured in a fraction of a second.

    Parameters
    ----------
    audio : np.ndarray, shape (n,) or (n, channels)
    """
    from scipy.signal import resample_poly

    x = np.asarray(audio, np.float64)
    if x.size == 0:
        return -np.inf
    if x.ndim == 1:
        x = x[:, None]
    n = len(x)
    nb = int(np.ceil(n / block))
    pad = np.zeros((nb * block, x.shape[1]))
    pad[:n] = np.abs(x)
    block_peak = pad.reshape(nb, block, -1).max(axis=(1, 2))
    top = block_peak.max()
    if top <= 0:
        return -np.inf
    peak = top
    guard = 64  # samples of context each side for the interpolation filter
    for b in np.flatnonzero(block_peak >= top * 10 ** (-margin_db / 20)):
        a0, a1 = max(0, b * block - guard), min(n, (b + 1) * block + guard)
        up = resample_poly(x[a0:a1], oversample, 1, axis=0)
        peak = max(peak, float(np.abs(up).max()))
    return 20 * np.log10(peak)


def integrated_lufs(audio: np.ndarray, *, sr: int) -> float | None:
    """Integrated loudness (LUFS) via pyloudnorm; ``None`` for silence or clips under 0.4 s."""
    import pyloudnorm

    if len(audio) < int(0.4 * sr) + 1:
        return None
    value = pyloudnorm.Meter(sr).integrated_loudness(np.asarray(audio, np.float64))
    return float(value) if np.isfinite(value) else None


def normalize_loudness(audio: np.ndarray, *, sr: int, target_lufs: float = -23.0,
                       max_true_peak_dbtp: float = -1.0) -> tuple[np.ndarray, LoudnessReport]:
    """Gain ``audio`` to ``target_lufs`` integrated, then lower it if its true peak would exceed the ceiling.

    A plain gain (no limiter): when the peak ceiling binds, the result is quieter than the target
    and the report says so.
    """
    measured = integrated_lufs(audio, sr=sr)
    gain_db = 0.0 if measured is None else target_lufs - measured
    out = audio * np.float32(10 ** (gain_db / 20))
    tp = true_peak_dbtp(out)
    if tp > max_true_peak_dbtp:
        extra = max_true_peak_dbtp - tp - 0.05
        out = out * np.float32(10 ** (extra / 20))
        gain_db += extra
        tp = true_peak_dbtp(out)
        log.info("true-peak ceiling %.1f dBTP lowered the music by %.1f dB", max_true_peak_dbtp, -extra)
    final = None if measured is None else measured + gain_db  # BS.1770 loudness scales with gain
    return out.astype(np.float32), LoudnessReport(target_lufs, measured, final, round(gain_db, 2), round(tp, 2))


def apply_fades(audio: np.ndarray, *, sr: int, fade_in_sec: list[float], fade_out_end_sec: list[float],
                fade_sec: float = 0.05, tail_sec: float = 1.5) -> np.ndarray:
    """Short fade-ins at cue starts; fade-outs of ``tail_sec`` ending at the given times (film end)."""
    out = audio.copy()
    n = len(out)
    for t in fade_in_sec:
        a = int(round(t * sr))
        b = min(n, a + int(fade_sec * sr))
        if b > a:
            out[a:b] *= np.linspace(0, 1, b - a, dtype=np.float32)[:, None]
    for t in fade_out_end_sec:
        b = min(n, int(round(t * sr)))
        a = max(0, b - int(tail_sec * sr))
        if b > a:
            out[a:b] *= np.linspace(1, 0, b - a, dtype=np.float32)[:, None] ** 2
        out[b:] = 0
    return out


def write_wav(path: Path, audio: np.ndarray, *, sr: int, bits: int = 24, protect: tuple[Path, ...] = ()) -> Path:
    """Write PCM WAV (16 or 24 bit), atomically.

    Parameters
    ----------
    audio : np.ndarray, shape (n, channels), float in [-1, 1]
    """
    a = np.clip(np.asarray(audio, np.float64), -1.0, 1.0)
    if a.ndim == 1:
        a = a[:, None]
    if bits == 16:
        data = np.round(a * 32767).astype("<i2").tobytes()
    elif bits == 24:
        i32 = np.round(a * 8388607).astype("<i4")
        data = i32.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    else:
        raise ValueError("bits must be 16 or 24")
    with atomic_path(Path(path), protect=protect) as tmp:
        with wave.open(str(tmp), "wb") as w:
            w.setnchannels(a.shape[1])
            w.setsampwidth(bits // 8)
            w.setframerate(sr)
            w.writeframes(data)
    return Path(path)
