"""Heuristic valence/arousal per shot from picture and audio features.

Stands in when no CLIP weights are available, and says so: ``emotion_source = "heuristic"``.
After Hanjalic & Xu (2005), "Affective video content representation and modeling":
arousal rises with motion, cutting rate and sound energy; valence (a weaker, picture-only proxy
here) rises with brightness, colour saturation and warm colour.

All scales are absolute (not normalised per film), so a calm film reads calm.
"""

from __future__ import annotations

import math

import numpy as np

#: Weights of the arousal terms (sum to 1). Without production audio the audio weight is
#: redistributed over the picture terms.
AROUSAL_WEIGHTS = {"motion": 0.45, "cut_rate": 0.35, "loudness": 0.20}
#: Weights of the valence terms (sum to 1).
VALENCE_WEIGHTS = {"brightness": 0.5, "saturation": 0.3, "warmth": 0.2}

#: Mean abs grey difference between consecutive 64x36 thumbnails that counts as "full" motion
#: (a brisk pan or hand-held action; a static interview measures about 0.003).
MOTION_FULL = 0.04
#: Shot lengths (s) that map to cut-rate score 1 and 0.
SHOT_SEC_FAST, SHOT_SEC_SLOW = 0.8, 10.0
#: Levels (dBFS RMS) that map to loudness score 0 and 1.
LOUD_DB_QUIET, LOUD_DB_LOUD = -50.0, -15.0


def _unit(x: float) -> float:
    return float(min(1.0, max(0.0, x)))


def motion_score(motion: float) -> float:
    return _unit(motion / MOTION_FULL)


def cut_rate_score(shot_sec: float) -> float:
    """1 for shots of ``SHOT_SEC_FAST`` or shorter, 0 for ``SHOT_SEC_SLOW`` or longer, log in between."""
    shot_sec = max(shot_sec, 1e-3)
    return _unit(math.log(SHOT_SEC_SLOW / shot_sec) / math.log(SHOT_SEC_SLOW / SHOT_SEC_FAST))


def loudness_score(level_db: float) -> float:
    return _unit((level_db - LOUD_DB_QUIET) / (LOUD_DB_LOUD - LOUD_DB_QUIET))


def heuristic_emotion(
    *,
    motion: float,
    shot_sec: float,
    brightness: float,
    saturation: float,
    warmth: float,
    loudness_db: float | None,
) -> tuple[float, float]:
    """Valence and arousal in [-1, 1] for one shot from its mean features.

    Parameters
    ----------
    motion : float
        Mean absolute grey difference between consecutive frames, 0..1.
    shot_sec : float
        Shot length in seconds (local cutting rate).
    brightness, saturation : float
        Mean luma and HSV saturation, 0..1.
    warmth : float
        Mean (R - B), -1..1.
    loudness_db : float or None
        Mean production-audio RMS level in dBFS; ``None`` without audio.
    """
    terms = {"motion": motion_score(motion), "cut_rate": cut_rate_score(shot_sec)}
    weights = dict(AROUSAL_WEIGHTS)
    if loudness_db is None:
        weights.pop("loudness")
    else:
        terms["loudness"] = loudness_score(loudness_db)
    total = sum(weights.values())
    arousal01 = sum(weights[k] * terms[k] for k in weights) / total
    v_terms = {
        "brightness": _unit((brightness - 0.15) / 0.55),
        "saturation": _unit(saturation / 0.5),
        "warmth": _unit(0.5 + warmth * 2.5),
    }
    valence01 = sum(VALENCE_WEIGHTS[k] * v_terms[k] for k in VALENCE_WEIGHTS)
    return float(np.clip(2 * valence01 - 1, -1, 1)), float(np.clip(2 * arousal01 - 1, -1, 1))


def mood_label(valence: float, arousal: float) -> str:
    """Quadrant label of the circumplex model (Russell 1980)."""
    if arousal >= 0:
        return "excited" if valence >= 0 else "tense"
    return "serene" if valence >= 0 else "sombre"
