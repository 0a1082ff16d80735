"""Programme-length buffers kept in files on the output disk rather than in RAM (out of core).

A render holds a few full-length stereo float32 buffers at once (the dry mix and the reverb send,
the music, the production audio, the mix): 1.4 GB each per hour of picture, so ~4.7 GB at the
peak for a one-hour film and twice that for a feature. Buffers over a size are therefore mapped
from files in the project's cache folder (:class:`Spill`): the kernel keeps what fits in its page
cache and writes the rest to disk under memory pressure, where anonymous memory would have to be
swapped (none here) or the process killed. The arrays behave exactly as in-memory ones (the same
values, the same operations); only where their pages live differs.

Each file's space is reserved up front (``posix_fallocate``: on a full disk the buffer stays in
memory, rather than a later write failing with ``SIGBUS``) and its name removed at once: nothing is left behind by any
exit, a kill included, and the space is returned when the array is garbage-collected. Where that
cannot be done (no ``posix_fallocate``, e.g. macOS), buffers stay in memory.
"""

from __future__ import annotations

import errno
import logging
import mmap
import os
import tempfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

#: Buffers of at least this many MiB go to files by default (22 minutes of 48 kHz stereo float32):
#: a short film's render is untouched; a feature's stays within a few GB of RAM.
DEFAULT_SPILL_ABOVE_MB = 512


class Spill:
    """Allocates arrays: in memory below ``above_bytes``, else mapped from a file in ``folder``.

    Parameters
    ----------
    folder : Path or None
        Where the backing files go (the project's cache folder: on the output disk, never ``/tmp``,
        which is often RAM itself); ``None``: everything in memory.
    above_bytes : int
        Arrays of at least this many bytes are file-backed (0: all of them).
    """

    def __init__(self, folder: Path | None, *, above_bytes: int) -> None:
        self.folder = Path(folder) if folder is not None else None
        self.above_bytes = int(above_bytes)
        self.spilled_bytes = 0  # what went to files (for the render's summary)

    def zeros(self, shape: tuple[int, ...], dtype: np.dtype | type = np.float32) -> np.ndarray:
        """A new zero-filled array of ``shape`` and ``dtype``."""
        dt = np.dtype(dtype)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
        if self.folder is None or nbytes < max(self.above_bytes, 1) or not hasattr(os, "posix_fallocate"):
            return np.zeros(shape, dt)
        mapped = self._map(nbytes)
        if mapped is None:
            return np.zeros(shape, dt)
        self.spilled_bytes += nbytes
        return np.frombuffer(mapped, dt).reshape(shape)  # the mapping lives as long as the array

    def copy(self, a: np.ndarray) -> np.ndarray:
        """A copy of ``a`` (file-backed when large)."""
        out = self.zeros(a.shape, a.dtype)
        np.copyto(out, a)
        return out

    def _map(self, nbytes: int) -> mmap.mmap | None:
        """A shared, writable, zero-filled mapping of ``nbytes`` whose file has no name any more;
        ``None`` (with a log line) where the file cannot be made."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=".spill-", suffix=".f32", dir=self.folder)
        except OSError as exc:
            log.info("render buffers in memory: cannot write in %s (%s)", self.folder, exc)
            return None
        try:
            os.unlink(name)  # the open descriptor and the mapping keep the file; no name, no leftover
            os.posix_fallocate(fd, 0, nbytes)
            return mmap.mmap(fd, nbytes, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):  # RAM may still hold it: the render goes on
                log.warning("%s: no room for %.1f GB of the render's working audio; keeping it in memory",
                            self.folder.parent, nbytes / 2**30)
            else:
                log.info("render buffers in memory: cannot map a file in %s (%s)", self.folder, exc)
            return None
        finally:
            os.close(fd)
