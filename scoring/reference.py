"""A reference track ("temp love"): what the director liked, measured so the score can follow it.

``analyze_reference(path)`` reads any audio (or video) file the way the analysis reads production
audio (PyAV), then measures with the field's tools:

- tempo: librosa's tempogram estimate (``librosa.feature.tempo``) on the onset-strength envelope,
  in BPM;
- key: the Krumhansl-Kessler key profiles (Krumhansl 1990) correlated with the track's mean
  constant-Q chroma (``librosa.feature.chroma_cqt``); the best of 24 keys, with the correlation
  margin to the runner-up as a confidence;
- loudness: integrated loudness, ITU-R BS.1770 (pyloudnorm), in LUFS;
- brightness: median spectral centroid (``librosa.feature.spectral_centroid``), in Hz.

``follow_reference`` turns that into planning and composing choices "where the picture allows":
the tempo becomes every cue's *target* (folded by octaves into the tempo range; the hit search
still moves it up to ±tempo_tolerance to land the cuts), the reference's key and its relative
replace the home keys (each cue keeps the mode its picture asks for), brightness sets the
melody's register bias, and loudness becomes the music's loudness target unless ``--lufs`` is given
(never louder than -14 LUFS: a temp score sits under picture and dialogue).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import BadStageFile, InvalidSettings

log = logging.getLogger(__name__)

PITCH_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
#: Krumhansl-Kessler probe-tone profiles (Krumhansl 1990), C major / C minor.
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
LOUDEST_MUSIC_LUFS = -14.0
MIN_REFERENCE_SEC = 5.0
#: A reference quieter than this is refused: it holds no music to follow (and following its
#: loudness would set the score at that level).
QUIETEST_REFERENCE_LUFS = -60.0


@dataclass
class ReferenceTrack:
    """What was measured on a reference track (units in the names)."""

    path: str
    duration_sec: float
    tempo_bpm: float
    key: str  # e.g. "A minor"
    key_confidence: float  # correlation margin of the best key over the runner-up, 0..~0.5
    loudness_lufs: float
    brightness_hz: float  # median spectral centroid

    def to_dict(self) -> dict:
        return asdict(self)


def estimate_key(chroma: np.ndarray) -> tuple[str, float]:
    """Best key for a mean chroma vector (Krumhansl-Schmuckler).

    Parameters
    ----------
    chroma : np.ndarray, shape (12,)
        Energy per pitch class, C first.

    Returns
    -------
    (key, confidence)
        ``"A minor"``-style name; confidence is the correlation of the best key minus the runner-up's.
    """
    c = np.asarray(chroma, float)
    if c.shape != (12,) or not np.isfinite(c).all() or c.std() == 0:
        return "C major", 0.0
    scores = []
    for mode, prof in (("major", KK_MAJOR), ("minor", KK_MINOR)):
        for tonic in range(12):
            scores.append((float(np.corrcoef(c, np.roll(prof, tonic))[0, 1]), f"{PITCH_NAMES[tonic]} {mode}"))
    scores.sort(reverse=True)
    return scores[0][1], round(scores[0][0] - scores[1][0], 3)


def analyze_reference(path: Path, *, sr: int = 22050) -> ReferenceTrack:
    """Measure tempo, key, loudness and brightness of a reference track.

    Parameters
    ----------
    path : Path
        Any audio file FFmpeg reads (wav, mp3, m4a, flac, ...) or a video with an audio track.
    sr : int
        Analysis sample rate in Hz.

    Raises
    ------
    InvalidSettings
        The file is missing, has no audio, or is shorter than 5 s.
    """
    import librosa
    import pyloudnorm

    from ..vision.audio import read_audio

    path = Path(path)
    if not path.is_file():
        raise InvalidSettings(f"--reference {path}: file not found")
    try:
        got = read_audio(path, sr=sr, mono=True)
    except (BadStageFile, ValueError, OSError) as exc:  # PyAV's errors are ValueError/OSError subclasses
        raise InvalidSettings(f"--reference {path}: not a readable audio file ({exc})") from exc
    if got is None or len(got[0]) == 0:
        raise InvalidSettings(f"--reference {path}: has no audio track; give a music file (wav, mp3, m4a, flac)")
    y = np.asarray(got[0], np.float32).reshape(-1)
    dur = len(y) / sr
    if dur < MIN_REFERENCE_SEC:
        raise InvalidSettings(f"--reference {path}: only {dur:.1f} s of audio; give at least {MIN_REFERENCE_SEC:g} s")
    lufs = float(pyloudnorm.Meter(sr).integrated_loudness(y.astype(np.float64)))
    if not np.isfinite(lufs) or lufs < QUIETEST_REFERENCE_LUFS:  # its "loudness" would mute the score
        level = f"{lufs:.0f} LUFS" if np.isfinite(lufs) else "digital silence"
        raise InvalidSettings(f"--reference {path}: is silent or nearly ({level}); give the music itself")
    onset = librosa.onset.onset_strength(y=y, sr=sr)
    tempo = float(np.atleast_1d(librosa.feature.tempo(onset_envelope=onset, sr=sr))[0])
    chroma = librosa.feature.chroma_cqt(y=y, sr=sr).mean(axis=1)
    key, conf = estimate_key(chroma)
    centroid = float(np.median(librosa.feature.spectral_centroid(y=y, sr=sr)))
    return ReferenceTrack(path=str(path.resolve()), duration_sec=round(dur, 3), tempo_bpm=round(tempo, 2), key=key,
                          key_confidence=conf, loudness_lufs=round(lufs, 2),
                          brightness_hz=round(centroid, 1))


def fold_tempo(tempo_bpm: float, *, bpm_min: float, bpm_max: float) -> float:
    """The reference tempo moved by octaves (x2, /2) into ``[bpm_min, bpm_max]`` (clipped if no
    octave fits: a narrow range wins over the reference)."""
    t = float(tempo_bpm)
    if t <= 0:
        return (bpm_min + bpm_max) / 2
    while t > bpm_max and t / 2 >= bpm_min:
        t /= 2
    while t < bpm_min and t * 2 <= bpm_max:
        t *= 2
    return float(np.clip(t, bpm_min, bpm_max))


def relative_keys(key: str) -> tuple[str, str]:
    """(major key, minor key) sharing the reference's key signature, e.g. "A minor" -> ("C major", "A minor")."""
    name, mode = key.split()
    pc = PITCH_NAMES.index(name)
    if mode == "major":
        return key, f"{PITCH_NAMES[(pc + 9) % 12]} minor"
    return f"{PITCH_NAMES[(pc + 3) % 12]} major", key


def register_bias(brightness_hz: float) -> int:
    """-1 (dark: melody lower), 0, or +1 (bright: melody higher) from the median spectral centroid.

    Bounds: below 1200 Hz most energy is in the low mids (pads, low strings); above 2800 Hz it is
    in the presence range (brass, cymbals, bright synths)."""
    return -1 if brightness_hz < 1200 else 1 if brightness_hz > 2800 else 0


def follow_reference(ref: dict) -> dict:
    """What the score takes from a reference (stored in the timeline's settings)."""
    major, minor = relative_keys(ref["key"])
    return {"keys": {"major": major, "minor": minor}, "register_bias": register_bias(ref["brightness_hz"]),
            "music_lufs": round(min(LOUDEST_MUSIC_LUFS, ref["loudness_lufs"]), 1)}
