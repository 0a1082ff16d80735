"""Picture features against their definitions, value for value."""

from __future__ import annotations

import cv2
import numpy as np

from tempscore.vision.features import THUMB_SIZE, PictureFeatures


def test_saturation_and_brightness_are_their_definitions_on_the_thumbnails():
    rng = np.random.default_rng(5)
    frames = rng.integers(0, 256, size=(140, 72, 128, 3), dtype=np.uint8)
    frames[7] = 0  # black: saturation 0 there
    pf = PictureFeatures(25.0)
    for i, f in enumerate(frames):
        pf.add(i / 25, f)
    thumbs = np.stack([cv2.resize(f, THUMB_SIZE, interpolation=cv2.INTER_AREA) for f in frames])
    t = thumbs.astype(np.float32) * np.float32(1 / 255)
    mx, mn = t.max(axis=3), t.min(axis=3)  # the definition: HSV saturation (max - min) / max
    sat = np.where(mx > 1e-6, (mx - mn) / np.maximum(mx, 1e-6), 0.0).mean(axis=(1, 2), dtype=np.float64)
    gray = t @ np.array([0.114, 0.587, 0.299], np.float32)
    np.testing.assert_array_equal(pf.saturation, sat)
    np.testing.assert_array_equal(pf.brightness, gray.mean(axis=(1, 2), dtype=np.float64))
    assert pf.saturation[7] == 0
