"""Atomic output: write to a temporary file beside the target, then rename over it."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import OutputError


@contextlib.contextmanager
def atomic_path(target: Path, *, protect: tuple[Path, ...] = ()) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it to ``target``.

    The temporary name keeps ``target``'s suffix so tools that pick a format from the
    extension (ffmpeg, soundfile) still work. On any exception the temporary file is removed
    and ``target`` is left untouched. ``protect`` lists paths (the user's inputs) that must
    never be overwritten.
    """
    target = Path(target)
    for p in protect:
        if Path(p).exists() and target.exists() and os.path.samefile(p, target):
            raise OutputError(f"{target}: refusing to overwrite the input; choose another output directory with -o")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent)
    except OSError as exc:
        raise OutputError(f"cannot write to {target.parent}: {exc.strerror or exc}; choose another output "
                          f"directory with -o") from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            yield tmp
        except OSError as exc:
            if exc.errno in (28, 30, 13, 122):  # no space, read-only, permission, quota
                raise OutputError(f"cannot write {target}: {exc.strerror}; free space or choose another output "
                                  f"directory with -o") from exc
            raise
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; outputs get the user's usual mode
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(target: Path, text: str, *, protect: tuple[Path, ...] = ()) -> Path:
    with atomic_path(target, protect=protect) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)
