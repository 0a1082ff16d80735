"""The read-ahead decode thread gives exactly the frames of the plain decode loop, and stops when left."""

import threading

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tempscore.vision.decode import decimated_area, iter_frames, iter_frames_ahead


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


@settings(max_examples=60, deadline=None)
@given(k=st.sampled_from([1, 2, 3, 4, 5, 6]), rows=st.integers(2, 90), cols=st.integers(1, 60),
       extra=st.integers(0, 5), seed=st.integers(0, 2**32 - 1), smooth=st.booleans())
def test_decimated_area_equals_the_sliced_plane(k: int, rows: int, cols: int, extra: int, seed: int,
                                                smooth: bool) -> None:
    """Every k-th pixel of every k-th row, area-averaged: the same bytes whichever way it is read
    (grouped as channels for k = 3, 4; sliced otherwise), on random and on smooth planes, with
    the stride a decoder's padded rows give."""
    import cv2

    rng = np.random.default_rng(seed)
    width = cols * k + extra  # extra: a width k does not divide (the sliced path)
    padded = rng.integers(0, 256, (rows * k, width + 32), dtype=np.uint8)
    if smooth:
        padded = cv2.GaussianBlur(padded, (9, 9), 3)
    plane = padded[:, :width]  # a decoder's plane: rows longer than the picture
    dec_w, dec_h = -(-width // k), -(-plane.shape[0] // k)
    size = (max(1, dec_w // 2), max(1, dec_h // 2))
    expected = cv2.resize(np.ascontiguousarray(plane[::k, ::k]), size, interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(decimated_area(plane, k, size), expected)
