"""What makes a batch resumable: a record per scored video, written once its outputs are in place,
and the test of whether those outputs are still up to date.

A video's record is ``<its folder>/.batch-record.json``. It says what the outputs were made from:
the tempscore version, the video (its size and modification time, and its content hash), every
option, and the content of the files options name (a reference track, dialogue regions, ...); and
what they are (name, size, modification time of each). The next run skips the video while all of
that still holds; anything else (a new export of the cut, another option, an output removed or
edited, a newer tempscore) scores it again. No record, no skip: a video whose run was killed before
its set was in place is scored again, from its previous set.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import OutputError
from ..fileio import leftovers, write_text_atomic
from .sources import PATH_OPTIONS, is_file_option

if TYPE_CHECKING:
    from ..api.options import Options

log = logging.getLogger(__name__)

__all__ = ["RECORD_NAME", "RECORD_SCHEMA", "fingerprint", "file_stat", "read_record", "write_record", "up_to_date",
           "batch_lock", "sweep_record_leftovers"]

RECORD_NAME = ".batch-record.json"
RECORD_SCHEMA = "tempscore.batch-record/1"
#: Options that change how a run goes, not what it makes.
_NOT_IN_FINGERPRINT = ("force",)
#: Outputs whose removal or edit makes a video out of date (``--stems`` adds the stems).
_CHECKED_OUTPUTS = ("timeline", "midi", "wav", "video")


def fingerprint(options: Options, *, stem: str, file_hash: Any) -> dict[str, Any]:
    """What a video's outputs depend on besides the video itself: the tempscore version, the
    project's stem, every option, and the content of the files options name (``file_hash(path)``)."""
    from .. import __version__

    opts = {k: v for k, v in dataclasses.asdict(options).items() if k not in _NOT_IN_FINGERPRINT}
    files = {k: file_hash(opts[k]) for k in PATH_OPTIONS if is_file_option(k, opts.get(k)) and Path(opts[k]).is_file()}
    return {"tempscore": __version__, "stem": stem, "options": opts, "files": files}


def file_stat(path: Path | str) -> list[int] | None:
    """``[size, mtime_ns]`` of a file, or None when it is not there."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def read_record(folder: Path) -> dict[str, Any] | None:
    """The record in ``folder`` (None when there is none or it is not one of ours)."""
    try:
        record = json.loads((folder / RECORD_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("schema") == RECORD_SCHEMA else None


def write_record(folder: Path, *, label: str, options_digest: str, fp: dict[str, Any], video: dict[str, Any],
                 outputs: dict[str, str], result: dict[str, Any]) -> None:
    """Record that ``folder``'s outputs are complete for this fingerprint (atomically: a record is
    whole or absent)."""
    files = {key: [Path(p).name, *(file_stat(p) or [0, 0])] for key, p in outputs.items()
             if Path(p).parent == folder and Path(p).is_file()}
    record = {"schema": RECORD_SCHEMA, "label": label, "options_digest": options_digest, "fingerprint": fp,
              "video": video, "outputs": files, "result": result}
    write_text_atomic(folder / RECORD_NAME, json.dumps(record, indent=1, default=str))


def up_to_date(record: dict[str, Any] | None, *, folder: Path, video: Path, fp: dict[str, Any],
               content_hash: Any) -> bool:
    """Whether ``record`` says ``folder``'s outputs were made from this ``video`` (same size and
    modification time, or else the same content: ``content_hash(video)``) and fingerprint, and they
    are all still there as written."""
    if record is None or record.get("fingerprint") != fp:
        return False
    seen = record.get("video") or {}
    stat = file_stat(video)
    if stat is None:
        return False
    if stat != seen.get("stat"):
        try:
            if content_hash(video) != seen.get("content_hash"):
                return False
        except OSError:
            return False
    outputs = record.get("outputs") or {}
    if not all(k in outputs for k in ("midi", "wav")):
        return False
    for key, entry in outputs.items():
        if key in _CHECKED_OUTPUTS or key.startswith("stem_"):
            name, size, mtime = entry
            if file_stat(folder / name) != [size, mtime]:
                return False
    return True


def sweep_record_leftovers(folder: Path) -> None:
    """Remove a record half-written by a run killed while writing it."""
    for p in leftovers(folder, lambda name: name == RECORD_NAME):
        with contextlib.suppress(OSError):
            p.unlink()


@contextlib.contextmanager
def batch_lock(out_dir: Path) -> Iterator[None]:
    """Hold ``out_dir`` for this batch: a second batch writing there at the same time (another
    terminal, another machine on the same share) is refused in one line. A POSIX record lock on
    ``OUT/.batch/lock``: NFS and SMB pass it to the server; it goes with the process."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    state = out_dir / ".batch"
    try:
        state.mkdir(parents=True, exist_ok=True)
        fd = os.open(state / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise OutputError(f"cannot write to {out_dir}: {exc.strerror or exc}; choose another -o") from exc
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            import errno

            if exc.errno == errno.ENOLCK:  # a file system without locks
                log.warning("%s: this file system has no locks; do not run two batches into it at once", out_dir)
            else:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
                raise OutputError(f"{out_dir}: another batch is writing there ({holder}); wait for it to finish or "
                                  f"choose another -o") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)
