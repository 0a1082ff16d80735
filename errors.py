"""One exception family for tempscore.

Every error a user can cause (a missing file, a file that is not a video, a bad setting) is a
:class:`TempscoreError` subclass whose message is one line saying what went wrong, with which
file, and what to do. The CLI prints that line and exits with status 2. Anything else is an
internal error (exit status 1).
"""

from __future__ import annotations


class TempscoreError(Exception):
    """Base class of every user-facing tempscore error (CLI exit status 2)."""


class InputNotFound(TempscoreError):
    """The input file does not exist."""


class VideoOpenFailure(TempscoreError):
    """The input exists but cannot be read as a video container."""


class VideoTooShort(TempscoreError):
    """The video has too little picture to score (a still image, a handful of frames)."""


class NoVideoStream(TempscoreError):
    """The container opened but holds no video stream."""


class BadStageFile(TempscoreError):
    """A stage file (analysis.json, timeline.json, score.mid) is missing, corrupt or of another schema."""


class BadMarkerFile(TempscoreError):
    """A marker file (--markers) that cannot be read: unknown format, another frame rate, a time outside the picture."""


class InvalidSettings(TempscoreError):
    """A setting is out of range or inconsistent."""


class OutputError(TempscoreError):
    """An output cannot be written (e.g. it would overwrite the input)."""


class ConcurrentEdit(TempscoreError):
    """A file tempscore read, changed and was about to write back was saved by someone else meanwhile."""


class ToolMissing(TempscoreError):
    """An external tool (ffmpeg, soundfont) cannot be found."""


class DiskError(OutputError):
    """A write the disk refused: no space left, a file-size limit, a quota, a read-only file system."""


#: The errno values of a disk refusing a write, with what each means and what to do.
DISK_ERRNOS = {
    28: ("the disk is full", "free some space there, or write elsewhere with -o DIR"),  # ENOSPC
    122: ("the disk quota is used up", "free some of your space there, or write elsewhere with -o DIR"),  # EDQUOT
    27: ("a file grew past the largest this file system or the file-size limit (ulimit -f) allows",  # EFBIG
          "raise the limit, or write to another file system with -o DIR"),
    30: ("the file system is read-only", "write elsewhere with -o DIR"),  # EROFS
}


def disk_failure(exc: BaseException | None) -> OSError | None:
    """The disk refusal (:data:`DISK_ERRNOS`) behind ``exc``: itself, or what it was raised from or while
    handling; None when it is no such thing."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in DISK_ERRNOS:
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def disk_error(err: OSError, *, folder: object = None, needed_bytes: int | None = None) -> DiskError:
    """The one line for a disk refusal: the folder (``folder``, else the failed file's), what the
    disk said, the free space there and, when known, the space needed; and what to do.

    Parameters
    ----------
    err : OSError
        With an errno of :data:`DISK_ERRNOS`.
    folder : path-like, optional
        Where the outputs were going.
    needed_bytes : int, optional
        What the write needed, when known.
    """
    import os
    import shutil
    from pathlib import Path

    what, fix = DISK_ERRNOS.get(err.errno, ("the disk refused the write", "write elsewhere with -o DIR"))
    if err.strerror:
        what = f"{err.strerror}: {what}"
    where = Path(folder) if folder is not None else (Path(os.fsdecode(err.filename)).parent if err.filename else None)
    while where is not None and ".tempscore-" in where.name and where.parent != where:  # a run's hidden staging
        where = where.parent  # folder (fileio.TEMP_MARK): the user's output folder is the one to name
    space = ""
    if where is not None:
        try:
            space = f"{_size(shutil.disk_usage(where).free)} free there"
        except OSError:
            space = ""
    if needed_bytes:
        space += f"{', ' if space else ''}about {_size(needed_bytes)} needed"
    place = f"to {where}" if where is not None else "the outputs"
    return DiskError(f"cannot write {place}: {what}{f' ({space})' if space else ''}; {fix}")


def _size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"
