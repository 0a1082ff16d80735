"""Synthetic rough-cut analyses for benchmarks and tests of the render stage (no video needed).

:func:`synthetic_analysis` builds an :class:`~tempscore.contracts.Analysis` that looks like a
rough cut (long takes and quick cuts, calm and busy passages) from a seed, so the planner and
the composer can make a score of any length in well under a second. The render tests and
``bench/render_speed.py`` use it to get "generated scores" beside the real clips.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from tempscore.contracts import Analysis, AudioFeatures, Cut, FrameFeatures, Shot, VideoInfo


def synthetic_analysis(duration_sec: float, *, seed: int = 0, fps: Fraction | int = 25,
                       path: str = "synthetic.mp4") -> Analysis:
    """A plausible analysis of a rough cut of ``duration_sec`` seconds.

    Passages of 20-60 s alternate between calm (long shots, little motion) and busy (short shots,
    strong motion); each shot gets its own valence/arousal, so the planner makes several cues at
    different tempi, keys and intensities.

    Parameters
    ----------
    duration_sec : float
        Length of the imaginary video, seconds.
    seed : int
        Random seed (same seed, same analysis).
    fps : Fraction or int
        Exact frame rate.
    path : str
        Video path recorded in the analysis (need not exist).

    Returns
    -------
    Analysis
        No production audio (``audio.present`` is False).
    """
    rng = np.random.default_rng(seed)
    fps = Fraction(fps)
    total = int(round(duration_sec * fps))
    shots_f: list[tuple[int, int, float]] = []  # (start, end, busyness 0..1)
    f = 0
    while f < total:
        busy = float(rng.uniform(0.55, 1.0) if rng.random() < 0.5 else rng.uniform(0.0, 0.35))
        end_passage = min(total, f + int(rng.uniform(20, 60) * fps))
        while f < end_passage:
            shot_sec = rng.uniform(0.8, 2.5) if busy > 0.5 else rng.uniform(4.0, 12.0)
            g = min(end_passage, f + max(int(shot_sec * fps), 12))
            if total - g < 12:
                g = total
            shots_f.append((f, g, busy))
            f = g

    def sec(fr: int) -> float:
        return float(Fraction(fr) / fps)

    pts = [sec(i) for i in range(total)]
    motion = np.zeros(total)
    bright = np.zeros(total)
    shots: list[Shot] = []
    cuts: list[Cut] = []
    for k, (a, b, busy) in enumerate(shots_f):
        m = 0.04 * busy + 0.004 * rng.random()
        motion[a:b] = m
        br = float(rng.uniform(0.35, 0.7))
        bright[a:b] = br
        val = float(np.clip(rng.normal(0.3 if k % 3 else -0.4, 0.25), -1, 1))
        aro = float(np.clip(2 * busy - 1 + rng.normal(0, 0.15), -1, 1))
        shots.append(Shot(start_frame=a, end_frame=b, start_sec=sec(a), end_sec=sec(b), valence=round(val, 3),
                          arousal=round(aro, 3), motion=round(m, 4), brightness=round(br, 3), saturation=0.4,
                          warmth=0.0))
        if k:
            cuts.append(Cut(frame=a, time_sec=sec(a), kind="hard", strength=round(float(rng.uniform(0.5, 1.0)), 3)))
    info = VideoInfo(path=path, fps_num=fps.numerator, fps_den=fps.denominator, frame_count=total,
                     duration_sec=sec(total), width=1920, height=1080, time_base_num=fps.denominator,
                     time_base_den=fps.numerator, codec="h264")
    frames = FrameFeatures(pts_sec=pts, motion=[float(x) for x in motion], brightness=[float(x) for x in bright],
                           saturation=[0.4] * total, warmth=[0.0] * total)
    return Analysis(video=info, cuts=cuts, shots=shots, emotion_source="heuristic", frames=frames,
                    audio=AudioFeatures(present=False))
