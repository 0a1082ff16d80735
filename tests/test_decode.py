"""The read-ahead decode thread gives exactly the frames of the plain decode loop, and stops when left."""

import threading

import numpy as np
from tempscore.vision.decode import iter_frames, iter_frames_ahead


def test_read_ahead_equals_plain_decode(clip25):
    plain = list(iter_frames(clip25.path))
    ahead = list(iter_frames_ahead(clip25.path, ahead=3))
    assert [(f.index, f.pts_sec) for f in ahead] == [(f.index, f.pts_sec) for f in plain]
    assert all(np.array_equal(a.bgr, b.bgr) for a, b in zip(ahead, plain))


def test_leaving_early_stops_the_thread(clip25):
    before = {t.ident for t in threading.enumerate()}
    gen = iter_frames_ahead(clip25.path, ahead=2)
    assert next(gen).index == 0
    gen.close()
    assert not [t for t in threading.enumerate() if t.ident not in before and t.name == "tempscore-decode"]
