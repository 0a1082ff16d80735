"""The project lock: two tempscore runs never write one project's files at the same time."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import ModuleType

    from .project import Project

log = logging.getLogger(__name__)

__all__ = ["project_lock"]


@contextlib.contextmanager
def project_lock(project: Project) -> Iterator[None]:
    """Hold the project's lock while a command writes its files: a second tempscore run on the same
    video and output folder (another terminal, a re-run started by mistake, a colleague's machine
    on the same shared drive) waits for this one, saying so, instead of writing the same files at
    the same time (twice the work, a scored video from one run beside a timeline from the other,
    and one run's clean-up removing the other's files being written).

    Two locks, taken in turn:

    - an advisory ``flock`` on a file in the user's runtime folder (``$XDG_RUNTIME_DIR``, else the
      temp folder), named by a hash of the output folder and the stem: it holds for a folder that
      does not exist yet or is read-only, and between threads of one process;
    - where the project has been run in the output folder before (its ``<stem>.cache/`` is
      there) and that can be written, a POSIX record lock (``lockf``, which NFS and SMB mounts
      pass to the server) on ``<stem>.cache/run.lock``, holding the holder's pid and host name:
      it holds between users and machines. A file system without locks (``ENOLCK``) runs with
      the first lock only. (Nothing is made for it otherwise: a refused input leaves nothing.)

    Both go with the process however it ends. Once they are held, what a run killed outright left
    behind is removed (:meth:`Project.sweep_leftovers`).
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    d = os.path.realpath(project.folder)
    stem = project.stem
    name = hashlib.sha1(os.fsencode(f"{d}\0{stem}")).hexdigest()[:20]  # any bytes a file name may hold
    base = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()) / f"tempscore-{os.getuid()}"
    with contextlib.ExitStack() as held:
        try:
            base.mkdir(mode=0o700, exist_ok=True)
            fd = os.open(base / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:  # no writable runtime folder: run unlocked rather than not at all
            log.debug("no project lock (%s)", exc)
            fd = None
        if fd is not None:
            held.callback(os.close, fd)  # closing releases the lock
            _lock_waiting(fd, lambda: fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB),
                          lambda: fcntl.flock(fd, fcntl.LOCK_EX), stem, d)
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        shared = _shared_lock(project, fcntl)
        if shared is not None:
            held.callback(os.close, shared)
        freed = project.sweep_leftovers()  # no run of this project is writing now
        if freed:
            log.warning("removed %.1f MB of temporary files an interrupted run of %s left in %s", freed / 2**20,
                        stem, d)
        yield


def _lock_waiting(fd: int, try_lock: Callable[[], None], lock: Callable[[], None], stem: str, d: str) -> None:
    """``try_lock()``; when another process holds the lock, say who (the pid, and the host, that
    the file holds) and wait with ``lock()``."""
    try:
        try_lock()
    except OSError as exc:
        if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            raise
        holder = os.pread(fd, 200, 0).decode(errors="replace").split()
        who = ""
        if holder and holder[0].isdigit():
            who = f" (pid {holder[0]}{f' on {holder[1]}' if len(holder) > 1 else ''})"
        log.warning("another tempscore run%s is writing %s's files in %s; waiting for it to finish", who, stem, d)
        lock()


def _shared_lock(project: Project, fcntl: ModuleType) -> int | None:
    """The lock in the output folder itself (see :func:`project_lock`), held; its descriptor, or
    None where there is none (no such folder yet, read-only, no locks on that file system)."""
    path = project.run_lock
    where = os.path.realpath(project.folder)
    if not path.parent.is_dir():  # a project not run here before: nothing is made for the lock (a bad input leaves nothing)
        return None
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        log.debug("no lock in %s (%s)", where, exc)
        return None
    with contextlib.suppress(OSError):  # whoever made it lets colleagues lock it too (it holds a pid and a host)
        os.fchmod(fd, 0o666)
    try:
        _lock_waiting(fd, lambda: fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB),
                      lambda: fcntl.lockf(fd, fcntl.LOCK_EX), project.stem, where)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
    except OSError as exc:  # ENOLCK (no lock manager), or the write refused: the local lock still holds
        log.debug("no lock in %s (%s)", where, exc)
        os.close(fd)
        return None
    return fd
