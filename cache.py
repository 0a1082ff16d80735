"""A small content-addressed cache for per-cue work (melodies, synthesised cue audio).

Each entry is keyed by a hash of *everything* that determines it (the stage's inputs, settings and
the tempscore version), so an entry is either exactly right or not found: there is no
invalidation logic to get wrong. A cue whose inputs did not change is read back; a changed cue
misses and is recomputed. Entries are written atomically (temp file + rename), so an interrupted
run never leaves a half-written entry that a later run would trust. The directory is
``<output dir>/<stem>.cache/`` and can be deleted at any time (the next run recomputes).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__

log = logging.getLogger(__name__)


#: Default size limit of a project's cache (override with ``TEMPSCORE_CACHE_MAX_MB``).
DEFAULT_MAX_MB = 4096


def max_bytes_from_env() -> int:
    """The cache size limit: ``$TEMPSCORE_CACHE_MAX_MB`` (megabytes) or :data:`DEFAULT_MAX_MB`."""
    raw = os.environ.get("TEMPSCORE_CACHE_MAX_MB", "")
    try:
        mb = int(raw) if raw.strip() else DEFAULT_MAX_MB
    except ValueError:
        from .errors import InvalidSettings

        raise InvalidSettings(f"TEMPSCORE_CACHE_MAX_MB={raw!r} is not a whole number of megabytes") from None
    return max(0, mb) << 20


def _touch(path: Path) -> None:
    """Mark an entry as used now (what :meth:`StageCache.prune` keeps longest)."""
    try:
        os.utime(path)
    except OSError:  # a read-only cache still serves; its entries only age sooner
        return


def digest(obj: Any) -> str:
    """SHA-256 (hex, 32 chars) of a JSON-serialisable object, independent of dict order."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_default).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def _default(o: Any) -> Any:
    if isinstance(o, np.ndarray):
        return {"ndarray": hashlib.sha256(np.ascontiguousarray(o).tobytes()).hexdigest(), "shape": o.shape,
                "dtype": str(o.dtype)}
    if isinstance(o, (np.integer, np.floating)):
        return o.item()
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not hashable for the cache: {type(o).__name__}")


#: File entries :meth:`StageCache.prune` may delete: audio arrays, cut soundfonts, encoded tracks.
PRUNED_EXTS = (".npy", ".sf2", ".m4a")


class StageCache:
    """Cache of per-cue results in one directory.

    Parameters
    ----------
    root : Path
        The cache directory (created on the first write).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.counts: dict[str, list[int]] = {}  # kind -> [hits, misses]
        self.started_ns = time.time_ns()  # entries read or written since then are this run's
        self._behind: Any = None  # the writer thread's executor while writing behind (writing_behind)
        self._behind_pid = 0  # the process that owns it (a forked child writes its own entries itself)
        self._pending: dict[Path, Any] = {}  # entry path -> Future of its write

    @contextlib.contextmanager
    def writing_behind(self) -> Iterator[StageCache]:
        """Inside the block, entries are written by one background thread while the run goes on
        (a cue's audio is megabytes: 5-30 ms a write, off the critical path); a read, a
        :meth:`has` or a :meth:`discard` of an entry still being written waits for it, and
        every write has finished when the block ends. Left by an error or Ctrl+C, the writes not
        yet started are dropped (a missing entry only costs speed) and the one under way
        finishes (each is atomic). What is put must not change afterwards. Call :meth:`flush`
        before ``os.fork``: the child writes its own entries itself."""
        if self._behind is not None:  # nested: the outer block owns the thread
            yield self
            return
        from concurrent.futures import ThreadPoolExecutor

        self._behind = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cache-writer")
        self._behind_pid = os.getpid()
        failed = False
        try:
            yield self
        except BaseException:
            failed = True
            raise
        finally:
            pool, self._behind = self._behind, None
            pool.shutdown(wait=True, cancel_futures=failed)
            pending, self._pending = self._pending, {}
            if not failed:
                for fut in pending.values():
                    fut.result()  # _write_now reports a full disk itself; anything else is a bug, raised here

    def flush(self) -> None:
        """Wait until every entry put so far is written (a no-op unless writing behind)."""
        for fut in list(self._pending.values()):
            fut.result()

    def _wait(self, path: Path) -> None:
        fut = self._pending.get(path)
        if fut is not None and os.getpid() == self._behind_pid:
            fut.result()

    @property
    def hits(self) -> int:
        return sum(c[0] for c in self.counts.values())

    @property
    def misses(self) -> int:
        return sum(c[1] for c in self.counts.values())

    def count(self, kind: str, hit: bool) -> None:
        """Record a hit or a miss of ``kind`` (for callers that check with :meth:`has`)."""
        self.counts.setdefault(kind, [0, 0])[0 if hit else 1] += 1

    def _path(self, kind: str, key: Any, ext: str) -> Path:
        return self.root / kind / f"{digest([__version__, kind, key])}{ext}"

    def get_json(self, kind: str, key: Any) -> Any | None:
        """The stored value for ``key``, or None (a missing or unreadable entry is a miss)."""
        p = self._path(kind, key, ".json")
        self._wait(p)
        try:
            value = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.count(kind, False)
            return None
        self.count(kind, True)
        _touch(p)
        return value

    def put_json(self, kind: str, key: Any, value: Any) -> None:
        self._write(self._path(kind, key, ".json"), json.dumps(value).encode())

    def get_array(self, kind: str, key: Any, *, count: bool = True, mapped: bool = False) -> np.ndarray | None:
        """The stored array for ``key``, or None. ``mapped``: a read-only memory map of the entry
        (no copy; entries are replaced by rename, never written in place, so it stays valid)."""
        p = self._path(kind, key, ".npy")
        self._wait(p)
        try:
            value = np.load(p, allow_pickle=False, mmap_mode="r" if mapped else None)
        except (OSError, ValueError):
            if count:
                self.count(kind, False)
            return None
        if count:
            self.count(kind, True)
        _touch(p)
        return value

    def has(self, kind: str, key: Any, ext: str = ".npy") -> bool:
        """Whether an entry exists (without reading it)."""
        p = self._path(kind, key, ext)
        self._wait(p)
        return p.is_file()

    def put_array(self, kind: str, key: Any, value: np.ndarray) -> None:
        self._write(self._path(kind, key, ".npy"), np.ascontiguousarray(value))

    @contextlib.contextmanager
    def array_made_in_place(self, kind: str, key: Any) -> Iterator[ArrayInPlace]:
        """An array entry filled where it will be stored: ``alloc(shape)`` (zeros, float32) maps a
        temporary ``.npy`` beside the entry, and :meth:`ArrayInPlace.commit` makes the rows
        filled so far the entry (a rename: no second copy written). A programme-length array
        (the production audio: 1.4 GB an hour) is then written to disk once, and needs no RAM.
        Left without a commit, by an error or Ctrl+C, the temporary file is removed. Where the
        file cannot be made (no space, read-only), ``alloc`` gives memory and ``commit`` stores
        the array as :meth:`put_array` does."""
        entry = ArrayInPlace(self, self._path(kind, key, ".npy"))
        try:
            yield entry
        finally:
            entry.discard()

    def get_file(self, kind: str, key: Any, ext: str) -> Path | None:
        """The path of a stored file entry (for readers that take a path), or None. Not counted in
        :attr:`hits`/:attr:`misses` (those report the per-cue results)."""
        p = self._path(kind, key, ext)
        self._wait(p)
        if not p.is_file():
            return None
        _touch(p)
        return p

    def put_file(self, kind: str, key: Any, ext: str, data: bytes | Path) -> None:
        """Store ``data`` as a file entry (read back with :meth:`get_file`); given a path, that
        file's content, linked (or else copied) into the entry now, never read into memory (an
        encoded track of a feature is hundreds of MB)."""
        if isinstance(data, Path):
            self._link_now(self._path(kind, key, ext), data)
        else:
            self._write(self._path(kind, key, ext), data)

    def discard(self, kind: str, key: Any, ext: str = ".npy") -> None:
        """Remove an entry (superseded by a newer one); nothing if it is not there."""
        p = self._path(kind, key, ext)
        self._wait(p)
        try:
            p.unlink(missing_ok=True)
        except OSError:
            return

    def prune(self, max_bytes: int) -> int:
        """Delete the least recently used audio entries until they take at most ``max_bytes``;
        entries read or written by this run are kept whatever the total, and so are the melodies
        (small, and composed in an earlier stage of the same run). Returns bytes freed.

        Every edit adds its cue's entries, so without this a project's cache only grows. Temporary
        files that a run killed outright (SIGKILL, out of memory) left half-written are removed too,
        whatever the total, unless they are this run's.
        """
        self.flush()
        entries = []
        recent = self.started_ns - 2_000_000_000  # coarse file-system clocks: 2 s of margin
        freed = 0
        with contextlib.suppress(OSError):  # the folder may be gone or unreadable: nothing to remove
            for p in self.root.rglob(".*.tmp"):  # _write's temporary names
                try:
                    st = p.stat()
                    if p.is_file() and st.st_mtime_ns < recent:
                        p.unlink()
                        freed += st.st_size
                        log.info("cache %s: removed %s, left by an interrupted run", self.root, p.name)
                except OSError:
                    continue
        try:
            # audio and cut soundfonts; melodies (a few kB of JSON) are always kept
            for p in (q for ext in PRUNED_EXTS for q in self.root.rglob(f"*{ext}")):
                try:
                    st = p.stat()
                except OSError:
                    continue
                if p.is_file():
                    entries.append((st.st_mtime_ns, st.st_size, p))
        except OSError:
            return freed
        total = sum(e[1] for e in entries)
        stale = freed
        for mtime, size, p in sorted(entries):
            if total - (freed - stale) <= max_bytes or mtime >= recent:
                break
            try:
                p.unlink()
                freed += size
            except OSError:
                continue
        if freed:
            log.info("cache %s: %d MB of older entries removed (limit %d MB)", self.root, freed >> 20, max_bytes >> 20)
        return freed

    def size_bytes(self) -> int:
        """Bytes the cache holds now."""
        try:
            return sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())
        except OSError:
            return 0

    def _write(self, path: Path, data: bytes | np.ndarray) -> None:
        """:meth:`_write_now`, on the writer thread while :meth:`writing_behind`."""
        if self._behind is not None and os.getpid() == self._behind_pid:
            self._pending[path] = self._behind.submit(self._write_now, path, data)
        else:
            self._write_now(path, data)

    def _link_now(self, path: Path, src: Path) -> None:
        """Atomically make ``path`` a hard link to ``src`` (a copy where links cannot be made:
        another file system); a cache that cannot be written only costs speed."""
        import shutil

        self._wait(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            os.close(fd)
            try:
                os.unlink(tmp)
                try:
                    os.link(src, tmp)
                except OSError:
                    shutil.copyfile(src, tmp)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            log.debug("cache entry %s not written (%s); later runs will recompute it", path.name, exc)

    def _write_now(self, path: Path, data: bytes | np.ndarray) -> None:
        """Atomic write (an array as ``.npy``, straight from its memory: no copy in between; a
        cue's audio is megabytes); a cache that cannot be written (full disk, read-only) only costs
        speed."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as fh:
                    if isinstance(data, np.ndarray):
                        np.save(fh, data, allow_pickle=False)
                    else:
                        fh.write(data)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:  # the outputs themselves, in the same directory, report a full disk
            log.debug("cache entry %s not written (%s); later runs will recompute it", path.name, exc)


class ArrayInPlace:
    """One entry of :meth:`StageCache.array_made_in_place`: :meth:`alloc` once, then :meth:`commit`."""

    def __init__(self, cache: StageCache, path: Path) -> None:
        self.cache, self.path = cache, path
        self._made_dirs: list[Path] = []  # folders alloc made, innermost first (removed by discard when empty)
        self._tmp: Path | None = None
        self._array: np.ndarray | None = None
        self._header_len = 0

    def alloc(self, shape: tuple[int, ...], dtype: np.dtype | type = np.float32) -> np.ndarray:
        """Zeros of ``shape`` mapped from the entry's temporary file (its space reserved first, so
        a full disk is an error here, never a ``SIGBUS`` later); in memory where that fails, or
        cannot be done (no ``posix_fallocate``, e.g. macOS)."""
        dt = np.dtype(dtype)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
        header = _npy_header(shape, dt)
        if not hasattr(os, "posix_fallocate"):  # (macOS) a sparse file could fail a later write with SIGBUS
            return np.zeros(shape, dt)
        try:
            self._made_dirs = _missing_dirs(self.path.parent)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        except OSError as exc:
            log.debug("cache entry %s made in memory (%s)", self.path.name, exc)
            return np.zeros(shape, dt)
        self._tmp = Path(tmp)
        try:
            try:
                os.write(fd, header)
                if nbytes:
                    os.posix_fallocate(fd, len(header), nbytes)
            finally:
                os.close(fd)
            self._array = (np.memmap(self._tmp, dtype=dt, mode="r+", offset=len(header), shape=tuple(shape))
                           if nbytes else np.zeros(shape, dt))
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT) and nbytes >= 256 << 20:  # a feature's: RAM may hold it
                log.warning("%s: no room for %.1f GB in the cache; keeping it in memory", self.cache.root,
                            nbytes / 2**30)
            else:
                log.debug("cache entry %s made in memory (%s)", self.path.name, exc)
            self.discard()
            return np.zeros(shape, dt)
        self._header_len = len(header)
        return self._array

    def commit(self, data: np.ndarray) -> np.ndarray:
        """Store ``data`` as the entry and return it read from there (a read-only map). When
        ``data`` is the first rows of the array :meth:`alloc` gave (the usual case), the file
        is cut to them and renamed into place; otherwise ``data`` is written as by
        :meth:`StageCache.put_array` and returned as it is."""
        a = self._array
        in_place = (a is not None and isinstance(data, np.ndarray) and data.dtype == a.dtype
                    and data.shape[1:] == a.shape[1:] and len(data) <= len(a) and data.flags.c_contiguous
                    and (len(data) == 0 or data.__array_interface__["data"][0] == a.__array_interface__["data"][0]))
        if not in_place:
            self.discard()
            self.cache._write(self.path, np.ascontiguousarray(data))
            return data
        header = _npy_header(data.shape, data.dtype, length=self._header_len)
        try:  # no msync: the page cache is the file (and no entry is synced to disk)
            with open(self._tmp, "r+b") as fh:
                fh.write(header)
                fh.truncate(self._header_len + data.nbytes)
            self._array = None
            del a
            os.replace(self._tmp, self.path)
            self._tmp = None
            self._made_dirs = []
        except OSError as exc:  # e.g. the folder went read-only: the data is still good
            log.debug("cache entry %s not written (%s); later runs will recompute it", self.path.name, exc)
            return np.array(data)
        return np.load(self.path, allow_pickle=False, mmap_mode="r")

    def discard(self) -> None:
        """Remove the temporary file, and the folders :meth:`alloc` made for it when they are
        empty (a run that fails before its outputs leaves nothing in the output folder); nothing
        after :meth:`commit`."""
        self._array = None
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                self._tmp.unlink()
            self._tmp = None
        for d in self._made_dirs:
            with contextlib.suppress(OSError):  # not empty (another entry was written meanwhile): kept
                d.rmdir()
        self._made_dirs = []


def _missing_dirs(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, innermost first."""
    out = []
    while not folder.exists() and folder.parent != folder:
        out.append(folder)
        folder = folder.parent
    return out


def _npy_header(shape: tuple[int, ...], dtype: np.dtype, *, length: int | None = None) -> bytes:
    """A version 1.0 ``.npy`` header for a C-ordered array of ``shape`` and ``dtype``, padded with
    spaces to ``length`` bytes (default: the next multiple of 64, as numpy writes it)."""
    from numpy.lib import format as npy

    d = repr({"descr": npy.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": tuple(int(x) for x in shape)})
    body = d.encode("latin1")
    fixed = len(npy.MAGIC_PREFIX) + 2 + 2  # magic, version, header length (uint16)
    total = length if length is not None else -(-(fixed + len(body) + 1) // 64) * 64
    pad = total - fixed - len(body) - 1
    if pad < 0 or total - fixed > 0xFFFF:
        raise ValueError(f"an .npy header for {shape} does not fit in {total} bytes")
    return npy.MAGIC_PREFIX + bytes([1, 0]) + (total - fixed).to_bytes(2, "little") + body + b" " * pad + b"\n"
