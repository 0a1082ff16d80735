import numpy as np
from tempscore.scoring.cues import segment_cues


def test_split_where_affect_jumps():
    start = np.arange(0, 60, 5.0)
    end = start + 5
    feats = np.r_[np.full(6, 0.1), np.full(6, 0.8)][:, None]
    assert segment_cues(start, end, feats, min_cue_sec=5) == [(0, 6), (6, 12)]


def test_uniform_affect_is_one_cue():
    start = np.arange(0, 60, 5.0)
    assert segment_cues(start, start + 5, np.full((12, 2), 0.4)) == [(0, 12)]


def test_minimum_cue_length_is_respected():
    rng = np.random.default_rng(0)
    start = np.cumsum(np.r_[0, rng.uniform(0.5, 4, 59)])
    end = np.r_[start[1:], start[-1] + 2]
    feats = rng.uniform(0, 1, (60, 3))
    segs = segment_cues(start, end, feats, min_cue_sec=8, change_penalty=0.01)
    assert segs[0][0] == 0 and segs[-1][1] == 60
    assert all(a[1] == b[0] for a, b in zip(segs, segs[1:]))
    for i, j in segs:
        assert end[j - 1] - start[i] >= 8 - 1e-9
    assert len(segs) > 1


def test_max_cue_length_forces_splits():
    start = np.arange(0, 600, 10.0)
    segs = segment_cues(start, start + 10, np.zeros((60, 1)), max_cue_sec=120)
    assert all(start[j - 1] + 10 - start[i] <= 120 for i, j in segs)
