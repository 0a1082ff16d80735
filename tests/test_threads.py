"""tempscore.threads: native pools held to one thread while any holder runs, restored after."""

from __future__ import annotations

import threading

import cv2
import numpy as np
from threadpoolctl import threadpool_info

from tempscore.threads import ONE_BLAS_THREAD, ONE_OPENCV_THREAD, ProcessLimit
from tempscore.vision.features import PictureFeatures


def _blas_threads() -> list[int]:
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def test_limits_hold_while_any_holder_runs_and_are_restored():
    np.ones((4, 4)) @ np.ones(4)  # BLAS loaded
    before_blas, before_cv = _blas_threads(), cv2.getNumThreads()
    with ONE_BLAS_THREAD, ONE_OPENCV_THREAD:
        assert set(_blas_threads()) <= {1}
        assert cv2.getNumThreads() == 1
        with ONE_BLAS_THREAD:  # a second holder (another stage's thread) does not restore on leaving
            pass
        assert set(_blas_threads()) <= {1}
    assert _blas_threads() == before_blas
    assert cv2.getNumThreads() == before_cv


def test_overlapping_holders_in_threads_restore_once_the_last_leaves():
    calls: list[str] = []
    limit = ProcessLimit(lambda: calls.append("apply") or "token", lambda tok: calls.append(f"restore {tok}"))
    first_in, second_in, release = threading.Event(), threading.Event(), threading.Event()

    def hold(entered: threading.Event) -> None:
        with limit:
            entered.set()
            release.wait(5)

    threads = [threading.Thread(target=hold, args=(e,)) for e in (first_in, second_in)]
    for t in threads:
        t.start()
    assert first_in.wait(5) and second_in.wait(5)
    assert calls == ["apply"]
    release.set()
    for t in threads:
        t.join()
    assert calls == ["apply", "restore token"]


def test_picture_features_are_the_same_with_one_opencv_and_blas_thread():
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 256, size=(300, 90, 160, 3), dtype=np.uint8)

    def measure() -> dict:
        pf = PictureFeatures(25.0)
        for i, f in enumerate(frames):
            pf.add(i / 25, f)
        return {k: getattr(pf, k).tobytes() for k in ("change", "motion", "frame_change", "brightness",
                                                       "saturation", "warmth")}

    many = measure()
    with ONE_BLAS_THREAD, ONE_OPENCV_THREAD:
        assert measure() == many
