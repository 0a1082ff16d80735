"""Atomic output: write to a temporary file beside the target, then rename over it."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import DISK_ERRNOS, OutputError, disk_error

#: Marks tempscore's temporary names: ``.<target name>.tempscore-<random>.tmp<suffix>`` beside an
#: output (and ``.<scored video name>.tempscore-tracks-<random>/`` while the tracks encode). The
#: target's whole name is in it, so what a run killed outright (SIGKILL, out of memory) left behind
#: is told apart from a neighbouring project's files (:func:`leftovers`).
TEMP_MARK = ".tempscore-"


#: Longest file name (bytes) most file systems take (ext4, APFS, NTFS: 255).
NAME_MAX = 255
#: Random characters ``tempfile`` puts in a temporary name.
_RANDOM_CHARS = 8


def temp_prefix(target: Path, kind: str = "") -> str:
    """Prefix of a temporary name for ``target`` (``kind``: e.g. ``"tracks-"`` for a folder). A
    target name so long that the temporary one would not fit is cut short in it (such leftovers
    are then not recognised by :func:`leftovers`, but the output itself can still be written)."""
    name = Path(target).name
    room = NAME_MAX - _RANDOM_CHARS - len(os.fsencode(f".{TEMP_MARK}{kind}.tmp{Path(target).suffix}"))
    while len(os.fsencode(name)) > room:  # whole characters, so no multi-byte one is cut in two
        name = name[:-1]
    return f".{name}{TEMP_MARK}{kind}"


def leftovers(folder: Path, is_ours: Callable[[str], bool]) -> list[Path]:
    """Temporary files and folders in ``folder`` (not recursive) whose target name ``is_ours``."""
    found = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    for e in entries:
        if e.name.startswith(".") and TEMP_MARK in e.name and is_ours(e.name[1 : e.name.index(TEMP_MARK)]):
            found.append(Path(e.path))
    return found


@contextlib.contextmanager
def atomic_path(target: Path, *, protect: tuple[Path, ...] = (), expect: bytes | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it to ``target``.

    The temporary name keeps ``target``'s suffix so tools that pick a format from the
    extension (ffmpeg, soundfile) still work. On any exception the temporary file is removed
    and ``target`` is left untouched. ``protect`` lists paths (the user's inputs) that must
    never be overwritten. ``expect``: the bytes ``target`` held when it was read; if it holds
    anything else just before the rename (the user saved it meanwhile), nothing is replaced and
    :class:`~tempscore.errors.ConcurrentEdit` is raised: their save is kept.
    """
    target = Path(target)
    for p in protect:
        if Path(p).exists() and target.exists() and os.path.samefile(p, target):
            raise OutputError(f"{target}: refusing to overwrite the input; choose another output directory with -o")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=temp_prefix(target), suffix=f".tmp{target.suffix}", dir=target.parent)
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG or len(os.fsencode(target.name)) > NAME_MAX:
            raise OutputError(f"{target.name}: file name too long for this file system "
                              f"({len(os.fsencode(target.name))} bytes, at most {NAME_MAX}); give the video a shorter "
                              f"name") from exc
        if exc.errno in DISK_ERRNOS:
            raise disk_error(exc, folder=target.parent) from exc
        raise OutputError(f"cannot write to {target.parent}: {exc.strerror or exc}; choose another output "
                          f"directory with -o") from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            yield tmp
        except OSError as exc:
            if exc.errno in DISK_ERRNOS:  # no space, file too large, quota, read-only
                raise disk_error(exc, folder=target.parent) from exc
            if exc.errno == errno.EACCES:
                raise OutputError(f"cannot write {target}: {exc.strerror}; choose another output directory with "
                                  f"-o") from exc
            raise
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; outputs get the user's usual mode
        if expect is not None:
            _check_unchanged(target, expect)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def _check_unchanged(target: Path, expect: bytes) -> None:
    from .errors import ConcurrentEdit

    try:
        now = target.read_bytes()
    except FileNotFoundError:
        now = None
    if now != expect:
        raise ConcurrentEdit(f"{target}: was saved by another program while tempscore was updating it; that save "
                             f"is kept and nothing was overwritten: run again to use it")


def write_text_atomic(target: Path, text: str, *, protect: tuple[Path, ...] = (), expect: bytes | None = None) -> Path:
    """Write ``text`` (UTF-8) to ``target`` atomically (see :func:`atomic_path` for ``expect``)."""
    with atomic_path(target, protect=protect, expect=expect) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)
