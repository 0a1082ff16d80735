"""A reference track ("temp love"): what the director liked, measured so the score can follow it.

``analyze_reference(path)`` reads any audio (or video) file the way the analysis reads production
audio (PyAV), then measures with the field's tools:

- tempo: librosa's tempogram estimate (``librosa.feature.tempo``) on the onset-strength envelope,
  in BPM, with its pulse clarity (the envelope's normalised autocorrelation at that beat period:
  about 0.6 for a steady beat, under 0.1 for held chords or noise) and its beat salience (the mean
  onset strength on the beats ``librosa.beat.beat_track`` finds, over the mean: 6 and more for a
  beat, under 2 for a pad whose sample loop ripples periodically): no tempo to follow without both;
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
(never louder than -14 LUFS: a temp score sits under picture and dialogue; never quieter than -31
LUFS, 8 LU under EBU R128: a reference measured quieter is mostly quiet passages, not its level).
A tempo without a clear pulse (:data:`MIN_PULSE_CLARITY`) or a key hardly better than the
runner-up (:data:`MIN_KEY_CONFIDENCE`) is not followed, and the plan's summary says so.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import BadStageFile, InvalidSettings

log = logging.getLogger(__name__)

PITCH_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
#: Tonic names as key signatures spell them (the fewer accidentals; F# major, C# minor, G# minor).
MAJOR_TONICS = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MINOR_TONICS = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B")
#: Krumhansl-Kessler probe-tone profiles (Krumhansl 1990), C major / C minor.
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
LOUDEST_MUSIC_LUFS = -14.0
#: The quietest level a reference's loudness sets the music to (8 LU under EBU R128's -23).
QUIETEST_MUSIC_LUFS = -31.0
#: A tempo is followed when the onset envelope's normalised autocorrelation at its beat period is
#: at least this (steady beats: ~0.6; drones, held chords, noise, tempo changes: under 0.1) ...
MIN_PULSE_CLARITY = 0.2
#: ... and the beats stand out: their mean onset strength at least this many times the mean
#: (drums, plucked or struck chords: 6-30; pads, noise: 1.3-1.6).
MIN_BEAT_SALIENCE = 3.0
#: A key is followed when its Krumhansl correlation beats the runner-up's by at least this
#: (tonal music with a clear centre: 0.1-0.3; a lone tone or a cluster: ~0).
MIN_KEY_CONFIDENCE = 0.06
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
    tempo_confidence: float  # pulse clarity at the tempo's beat period, -1..1 (see MIN_PULSE_CLARITY)
    beat_salience: float  # mean onset strength on the beats over the mean (see MIN_BEAT_SALIENCE)
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
            names = MAJOR_TONICS if mode == "major" else MINOR_TONICS
            scores.append((float(np.corrcoef(c, np.roll(prof, tonic))[0, 1]), f"{names[tonic]} {mode}"))
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
    clarity = pulse_clarity(onset, tempo_bpm=tempo, sr=sr)
    _, beats = librosa.beat.beat_track(onset_envelope=onset, sr=sr, bpm=tempo)
    salience = float(np.mean(onset[beats]) / np.mean(onset)) if len(beats) >= 4 and np.mean(onset) > 0 else 0.0
    chroma = librosa.feature.chroma_cqt(y=y, sr=sr).mean(axis=1)
    key, conf = estimate_key(chroma)
    centroid = float(np.median(librosa.feature.spectral_centroid(y=y, sr=sr)))
    return ReferenceTrack(path=str(path.resolve()), duration_sec=round(dur, 3), tempo_bpm=round(tempo, 2),
                          tempo_confidence=round(clarity, 3), beat_salience=round(salience, 2), key=key,
                          key_confidence=conf, loudness_lufs=round(lufs, 2),
                          brightness_hz=round(centroid, 1))


def pulse_clarity(onset_envelope: np.ndarray, *, tempo_bpm: float, sr: int, hop_length: int = 512) -> float:
    """How steady the beat at ``tempo_bpm`` is: the normalised autocorrelation of the (mean-removed)
    onset-strength envelope at the beat period, best within ±5 %.

    Parameters
    ----------
    onset_envelope : np.ndarray, shape (n_frames,)
        ``librosa.onset.onset_strength`` at ``sr`` and ``hop_length``.

    Returns
    -------
    float
        -1..1; 0 when the envelope is flat or the period does not fit in it.
    """
    import librosa

    o = np.asarray(onset_envelope, np.float64) - float(np.mean(onset_envelope))
    if tempo_bpm <= 0 or not np.any(o):
        return 0.0
    ac = librosa.autocorrelate(o)
    if ac[0] <= 0:
        return 0.0
    lag = 60.0 * sr / (hop_length * tempo_bpm)
    lo, hi = max(1, int(np.floor(lag * 0.95))), int(np.ceil(lag * 1.05)) + 1
    if lo >= len(ac):
        return 0.0
    return float(np.max(ac[lo:hi]) / ac[0])


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
    """(major key, minor key) sharing the reference's key signature, spelled as key signatures are,
    e.g. "A minor" -> ("C major", "A minor"), "E major" -> ("E major", "C# minor")."""
    from ..harmony import parse_key

    pc, mode = parse_key(key)
    if mode == "major":  # six sharps (F# major, D# minor) or six flats (Gb major, Eb minor): one family
        major, minor = MAJOR_TONICS[pc], MINOR_TONICS[(pc + 9) % 12]
        return f"{major} major", f"{'D#' if major == 'F#' else minor} minor"
    major, minor = MAJOR_TONICS[(pc + 3) % 12], MINOR_TONICS[pc]
    return f"{'Gb' if minor == 'Eb' else major} major", f"{minor} minor"


def register_bias(brightness_hz: float) -> int:
    """-1 (dark: melody lower), 0, or +1 (bright: melody higher) from the median spectral centroid.

    Bounds: below 1200 Hz most energy is in the low mids (pads, low strings); above 2800 Hz it is
    in the presence range (brass, cymbals, bright synths)."""
    return -1 if brightness_hz < 1200 else 1 if brightness_hz > 2800 else 0


def follow_reference(ref: dict) -> dict:
    """What the score takes from a reference (stored in the timeline's settings): ``tempo_bpm``
    (None: no steady pulse), ``keys`` (None: no clear key), ``register_bias``, ``music_lufs``, and
    ``not_followed``: one line per measure left out, saying why. A reference measured before
    confidences were kept is followed as it was."""
    tempo_ok = (float(ref.get("tempo_confidence", 1.0)) >= MIN_PULSE_CLARITY
                and float(ref.get("beat_salience", MIN_BEAT_SALIENCE)) >= MIN_BEAT_SALIENCE)
    key_ok = float(ref.get("key_confidence", 1.0)) >= MIN_KEY_CONFIDENCE
    not_followed = []
    if not tempo_ok:
        not_followed.append(f"tempo {ref['tempo_bpm']:.1f} BPM: no steady beat (pulse clarity "
                            f"{float(ref.get('tempo_confidence', 1.0)):.2f}, beat salience {float(ref.get('beat_salience', 0)):.1f}; "
                            f"a beat has at least {MIN_PULSE_CLARITY} and {MIN_BEAT_SALIENCE:g}); the cut rate sets the tempo")
    if not key_ok:
        not_followed.append(f"key {ref['key']}: hardly clearer than the next key (confidence "
                            f"{float(ref['key_confidence']):.3f} < {MIN_KEY_CONFIDENCE}); the usual keys are kept")
    lufs = float(ref["loudness_lufs"])
    if lufs < QUIETEST_MUSIC_LUFS:
        not_followed.append(f"loudness {lufs:.1f} LUFS: quieter than {QUIETEST_MUSIC_LUFS:g} LUFS (mostly quiet "
                            f"passages); the music is set to {QUIETEST_MUSIC_LUFS:g} LUFS")
    if lufs > LOUDEST_MUSIC_LUFS:
        not_followed.append(f"loudness {lufs:.1f} LUFS: louder than {LOUDEST_MUSIC_LUFS:g} LUFS (a temp score sits "
                            f"under dialogue); the music is set to {LOUDEST_MUSIC_LUFS:g} LUFS")
    major, minor = relative_keys(ref["key"])
    return {"tempo_bpm": float(ref["tempo_bpm"]) if tempo_ok else None,
            "keys": {"major": major, "minor": minor} if key_ok else None,
            "register_bias": register_bias(ref["brightness_hz"]),
            "music_lufs": round(float(np.clip(lufs, QUIETEST_MUSIC_LUFS, LOUDEST_MUSIC_LUFS)), 1),
            "not_followed": not_followed}
