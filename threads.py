"""Native thread pools held to one thread while a stage runs (BLAS, OpenCV).

The stages' numpy matrix products (the generator's inference, the picture features' luma) and
OpenCV's resizes and colour conversions are small: split across a library's own pool of threads
they cost more CPU than they save, and the idle threads spin beside the decoder, the encoders
and each other. On two shared cores it is worse than waste: ``compose`` of a 2-minute cut took
16 s of wall time with OpenBLAS's threads on a loaded machine and 4 s with one (the same MIDI);
one OpenCV thread halves the CPU time of scaling a decoded 1080p frame (0.32 -> 0.15 ms).

Both libraries keep their thread count per process, so stages running in parallel threads (the
spotting page's workers, the render's encoders) share one limit: the first to enter sets it,
the last to leave restores it. The results are the same numbers: each value is computed by the
same code, only not split across threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["ONE_BLAS_THREAD", "ONE_OPENCV_THREAD", "ProcessLimit"]


class ProcessLimit:
    """A process-wide setting held while any ``with`` block using it runs (reference counted).

    Parameters
    ----------
    apply : callable
        Sets the limit; returns what ``restore`` needs to undo it.
    restore : callable
        ``restore(token)``: puts back what ``apply`` changed.
    """

    def __init__(self, apply: Callable[[], object], restore: Callable[[object], None]) -> None:
        self._apply, self._restore = apply, restore
        self._lock = threading.Lock()
        self._users = 0
        self._token: object = None

    def __enter__(self) -> None:
        with self._lock:
            if self._users == 0:
                self._token = self._apply()
            self._users += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                self._restore(self._token)
                self._token = None


def _blas_one() -> object:
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _blas_restore(limits: object) -> None:
    limits.restore_original_limits()  # type: ignore[attr-defined]


def _opencv_one() -> int:
    import cv2

    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    return before


def _opencv_restore(before: object) -> None:
    import cv2

    cv2.setNumThreads(int(before))  # type: ignore[arg-type]


#: One BLAS thread (OpenBLAS, MKL, BLIS) while any holder runs.
ONE_BLAS_THREAD = ProcessLimit(_blas_one, _blas_restore)
#: One OpenCV thread while any holder runs.
ONE_OPENCV_THREAD = ProcessLimit(_opencv_one, _opencv_restore)
