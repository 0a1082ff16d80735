"""Programme-length buffers in RAM up to a budget chosen from the free memory, the rest in files.

A render holds a few full-length stereo float32 buffers at once (the dry mix and the reverb send,
the music, the production audio, the mix): 1.4 GB each per hour of picture. :class:`Spill` keeps
them in RAM while their total stays within a budget (:func:`ram_budget_bytes`: at most
:data:`DEFAULT_RAM_BUFFERS_MB`, and at most :data:`FREE_SHARE` of the memory free when the render
starts, so a busy machine gets less), and maps the others from files in the project's cache
folder. The arrays behave exactly as in-memory ones (the same values, the same operations); only
where their pages live differs. A 2-minute cut's buffers all fit; a film's spill.

A mapped buffer's pages are the file's pages in the kernel's page cache. While the render runs
(:meth:`Spill.trimming`), its mappings, and the cache entries it reads mapped (:meth:`Spill.watch`:
the production audio, the last render's premaster), are given back every
:data:`TRIM_INTERVAL_SEC` (``madvise(MADV_DONTNEED)`` on a shared file mapping: the data stays in
the file and the page cache, which the kernel writes back and reclaims as it needs; the next
access maps the page again). So the process holds at most what it touched in that moment, not
the film: its resident memory stays the same at 2 minutes and at 2 hours. Mappings on a RAM disk
(tmpfs) are not made: there a file is memory too.

Each file's space is reserved up front (``posix_fallocate``: on a full disk the buffer stays in
memory, rather than a later write failing with ``SIGBUS``) and its name removed at once: nothing
is left behind by any exit, a kill included, and the space is returned when the array is
garbage-collected. Where that cannot be done (no ``posix_fallocate``, e.g. macOS), buffers stay
in memory.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import mmap
import os
import tempfile
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

#: Programme-length buffers one render holds in RAM at most, in MiB (the rest are mapped from
#: files). With the process's own ~300 MB (libraries, models, the soundfont, blocks in flight), a
#: whole ``score`` stays under 1 GB of resident memory at any length.
DEFAULT_RAM_BUFFERS_MB = 384
#: ... and at most this share of the memory free (MemAvailable, within the cgroup's limit) at the start.
FREE_SHARE = 0.25
#: Buffers smaller than this are always in RAM (not worth a file), and do not count against the budget.
SMALL_BYTES = 1 << 20
#: How often :meth:`Spill.trimming` gives the mapped pages back. A whole-programme numpy pass over
#: mapped buffers touches pages at GB/s: at 0.1 s a 60-minute render's loudness and mix held up to
#: 0.9 GB of them between two trims (peak RSS 1318 MB), at 0.02 s 0.44 GB (build/mem: a loudness
#: and mix of 60 minutes of noise alone, same run).
TRIM_INTERVAL_SEC = 0.02


def free_memory_bytes() -> int | None:
    """Memory a process may still take without pushing others out: the kernel's ``MemAvailable``,
    or less where this process's memory cgroup (v2 or v1) allows less; None where unknown."""
    free: list[int] = []
    with contextlib.suppress(OSError, ValueError, StopIteration):
        line = next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemAvailable:"))
        free.append(int(line.split()[1]) * 1024)
    room = _cgroup_room_bytes()
    if room is not None:
        free.append(room)
    if not free and hasattr(os, "sysconf"):
        with contextlib.suppress(OSError, ValueError):
            free.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    return min(free) if free else None


def _cgroup_room_bytes() -> int | None:
    """The memory limit of this process's cgroup minus what it uses; None without a limit."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if controllers == "":  # v2
                base = Path("/sys/fs/cgroup") / path.lstrip("/")
                limit, used = base / "memory.max", base / "memory.current"
            elif "memory" in controllers.split(","):
                base = Path("/sys/fs/cgroup/memory") / path.lstrip("/")
                limit, used = base / "memory.limit_in_bytes", base / "memory.usage_in_bytes"
            else:
                continue
            if not limit.is_file():
                continue
            text = limit.read_text().strip()
            if text == "max" or int(text) >= 1 << 60:  # no limit
                continue
            return max(0, int(text) - int(used.read_text().strip()))
    return None


def ram_budget_bytes(ram_buffers_mb: int | None = None) -> int:
    """Bytes of programme-length buffers a render keeps in RAM: ``ram_buffers_mb`` when given, else
    :data:`DEFAULT_RAM_BUFFERS_MB` or :data:`FREE_SHARE` of the free memory, whichever is less."""
    if ram_buffers_mb is not None:
        return int(ram_buffers_mb) << 20
    free = free_memory_bytes()
    cap = DEFAULT_RAM_BUFFERS_MB << 20
    return cap if free is None else min(cap, int(free * FREE_SHARE))


def on_ram_disk(folder: Path) -> bool:
    """Is ``folder`` on a tmpfs or ramfs (where a file's pages are memory that cannot be given back)?"""
    try:
        target = str(Path(folder).resolve())
        best, kind = "", ""
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            left, _, right = line.partition(" - ")
            point = left.split()[4].replace("\\040", " ")
            inside = target == point or target.startswith(point.rstrip("/") + "/")
            if inside and len(point) >= len(best):
                best, kind = point, right.split()[0]
        return kind in ("tmpfs", "ramfs")
    except (OSError, IndexError):
        return False


class Spill:
    """Allocates arrays: in RAM while the buffers held there stay within ``ram_bytes``, else mapped
    from a file in ``folder``; keeps the mapped pages it knows of given back (:meth:`trimming`).

    Parameters
    ----------
    folder : Path or None
        Where the backing files go (the project's cache folder: on the output disk, never ``/tmp``,
        which is often RAM itself); ``None``, or a RAM disk: everything in memory.
    ram_bytes : int
        Bytes of buffers (of :data:`SMALL_BYTES` or more) held in RAM at most, counted while they
        are alive (:func:`ram_budget_bytes`); 0: every buffer is file-backed.
    """

    def __init__(self, folder: Path | None, *, ram_bytes: int) -> None:
        self.folder = Path(folder) if folder is not None else None
        if self.folder is not None and on_ram_disk(self.folder.parent if not self.folder.exists() else self.folder):
            self.folder = None
        self.ram_bytes = int(ram_bytes)
        self.spilled_bytes = 0  # what went to files (for the render's summary)
        self._in_ram = 0  # bytes of the budget held by live buffers
        self._lock = threading.Lock()
        self._mappings: list[weakref.ref] = []

    def zeros(self, shape: tuple[int, ...], dtype: np.dtype | type = np.float32) -> np.ndarray:
        """A new zero-filled array of ``shape`` and ``dtype``."""
        dt = np.dtype(dtype)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
        if nbytes < SMALL_BYTES and self.ram_bytes > 0:
            return np.zeros(shape, dt)
        with self._lock:
            in_budget = self._in_ram + nbytes <= self.ram_bytes
            if in_budget or nbytes == 0 or self.folder is None or not hasattr(os, "posix_fallocate"):
                self._in_ram += nbytes
                mapped = None
            else:
                mapped = self._map(nbytes)
                if mapped is None:
                    self._in_ram += nbytes
        if mapped is None:
            raw = _private_zeros(nbytes)
            weakref.finalize(raw, self._release, nbytes)  # the budget comes back with the memory
            return raw.view(dt).reshape(shape)
        self.spilled_bytes += nbytes
        self._mappings.append(weakref.ref(mapped))
        return np.frombuffer(mapped, dt).reshape(shape)  # the mapping lives as long as the array

    def copy(self, a: np.ndarray) -> np.ndarray:
        """A copy of ``a`` (file-backed when it does not fit the budget)."""
        out = self.zeros(a.shape, a.dtype)
        np.copyto(out, a)
        return out

    def watch(self, a: np.ndarray | None) -> np.ndarray | None:
        """Keep the pages of ``a`` given back too while :meth:`trimming`, when it is mapped from a
        file shared with the page cache (a cache entry read with ``mapped=True``); returns ``a``."""
        m = _file_mapping(a)
        if m is not None:
            self._mappings.append(weakref.ref(m))
        return a

    def trim(self) -> None:
        """Give back the resident pages of every live mapping (their data stays in their files)."""
        live = []
        for ref in self._mappings:
            m = ref()
            if m is None:
                continue
            live.append(ref)
            with contextlib.suppress(ValueError, OSError):  # closed meanwhile: nothing to give back
                m.madvise(mmap.MADV_DONTNEED)
        self._mappings[:] = live

    @contextlib.contextmanager
    def trimming(self, interval_sec: float = TRIM_INTERVAL_SEC) -> Iterator[Spill]:
        """While the block runs, :meth:`trim` every ``interval_sec`` in a thread (and once at the end)."""
        if not hasattr(mmap, "MADV_DONTNEED"):
            yield self
            return
        stop = threading.Event()

        def run() -> None:
            while not stop.wait(interval_sec):
                self.trim()

        t = threading.Thread(target=run, name="tempscore-trim", daemon=True)
        t.start()
        try:
            yield self
        finally:
            stop.set()
            t.join()
            self.trim()

    def _release(self, nbytes: int) -> None:
        with self._lock:
            self._in_ram -= nbytes

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


def give_back_free_heap() -> None:
    """Return the C heap's free pages to the system (glibc's ``malloc_trim``; nothing elsewhere).
    What the analysis and compose freed stays in the process's heap arenas otherwise (one per
    thread that allocated: the decoder's, the audio thread's), counted in its resident memory
    through the render (10-minute cut: 36 MB of 223)."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):  # not glibc: no such function
        ctypes.CDLL(None).malloc_trim(0)  # the process's own symbols: libc's among them


def _private_zeros(nbytes: int) -> np.ndarray:
    """``nbytes`` zero bytes in RAM that a forked child does not inherit (``MADV_DONTFORK``, where
    there is one): the synthesis worker (:mod:`.synth`) never reads the render's buses, and a
    process tree in which it held a copy of their page tables counted them twice (a 10-minute
    film's tree at 1.1 GB instead of about 0.8)."""
    if nbytes == 0 or not hasattr(mmap, "MADV_DONTFORK"):
        return np.zeros(nbytes, np.uint8)
    m = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE)  # anonymous: zero pages until written
    with contextlib.suppress(OSError):
        m.madvise(mmap.MADV_DONTFORK)
    return np.frombuffer(m, np.uint8)  # writable; the mapping lives as long as the array


def _file_mapping(a: np.ndarray | None) -> mmap.mmap | None:
    """The shared mapping of a file that ``a``'s memory belongs to (a :class:`numpy.memmap` opened
    ``r``, ``r+`` or ``w+``: a copy-on-write one, ``c``, is private memory), else None."""
    base = a
    while isinstance(base, np.ndarray):
        if isinstance(base, np.memmap) and isinstance(getattr(base, "_mmap", None), mmap.mmap):
            return base._mmap if base.mode in ("r", "r+", "w+") else None
        base = base.base
    return None
