"""Small helpers around the ffmpeg binary and a container's streams.

The ffmpeg binary comes from the ``imageio-ffmpeg`` wheel unless ``TEMPSCORE_FFMPEG`` names
another one.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ToolMissing

if TYPE_CHECKING:
    from av.audio.stream import AudioStream
    from av.container import InputContainer
    from av.stream import Stream

log = logging.getLogger(__name__)

def ff_path(path: str | os.PathLike) -> str:
    """A file path as FFmpeg (the CLI, or PyAV) must be given it: absolute, so that a name with a
    colon (``take:1.mp4``) is not read as a protocol (``take:``)."""
    return os.fspath(Path(path).absolute())


#: Every audio track tempscore muxes in has a title ending so (render/mux.py); a scored video
#: given back as a rough cut is recognised by them, and they are not its production audio.
TEMPSCORE_TRACK_MARK = "(tempscore)"
#: Title of a copied production-audio stream that had none.
PRODUCTION_TRACK_TITLE = "Production audio (original)"


def stream_title(stream: Stream) -> str:
    """A stream's title as containers store it (``title``; MP4 keeps it as ``name``)."""
    md = stream.metadata or {}
    return str(md.get("title") or md.get("name") or "")


def production_audio_streams(container: InputContainer) -> list[AudioStream]:
    """The audio streams of ``container`` that belong to the picture: all of them, except the
    temp-score tracks of a video tempscore has scored before (titled ``... (tempscore)``)."""
    return [s for s in container.streams.audio if not stream_title(s).endswith(TEMPSCORE_TRACK_MARK)]


def production_bed_streams(container: InputContainer) -> list[AudioStream]:
    """The production-audio streams that together make the picture's sound: what is analysed
    (dialogue, loudness, transients) and mixed under the score.

    An editor's export with one mono stream per timeline track (A1 dialogue, A2 effects, ...) is
    summed, as the edit plays it. Several multi-channel streams are alternatives of one mix (a
    stereo and a 5.1 version, or languages): the default one is used (else the first). Every
    stream is still copied into the scored video.
    """
    import av

    own = production_audio_streams(container)
    if len(own) > 1 and all(s.codec_context.channels == 1 for s in own):
        return own
    default = [s for s in own if s.disposition & av.stream.Disposition.default]
    return (default or own)[:1]


def describe_bed(streams: list[AudioStream]) -> str:
    """How the production audio is made, in words (``"DIAL + FX (2 mono streams summed)"``;
    ``""`` without audio)."""
    names = [stream_title(s) or f"stream {s.index}" for s in streams]
    if len(streams) > 1:
        return f"{' + '.join(names)} ({len(streams)} mono streams summed)"
    if streams:
        ch = streams[0].codec_context.channels
        layout = {1: "mono", 2: "stereo"}.get(ch, f"{ch} channels, folded to stereo")
        return f"{names[0]} ({layout})"
    return ""


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary: ``$TEMPSCORE_FFMPEG``, else ``$IMAGEIO_FFMPEG_EXE``, else the one in
    the imageio-ffmpeg wheel, else PATH.

    The wheel's binary is found by its file name, without importing imageio-ffmpeg or running
    ``ffmpeg -version`` as its own look-up does (that costs every command 0.04-0.09 s); the wheel
    is built for this platform, and a binary that does not run is reported by :func:`run_ffmpeg`.
    """
    for var in ("TEMPSCORE_FFMPEG", "IMAGEIO_FFMPEG_EXE"):
        env = os.environ.get(var)
        if env:
            return env
    bundled = _bundled_ffmpeg()
    if bundled:
        return bundled
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        found = shutil.which("ffmpeg")
        if found:
            return found
    raise ToolMissing("ffmpeg not found; install the imageio-ffmpeg package or set TEMPSCORE_FFMPEG")


def _bundled_ffmpeg() -> str | None:
    """The executable ``imageio_ffmpeg/binaries/ffmpeg-*`` of the installed wheel, if exactly one."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("imageio_ffmpeg")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    found = [p for d in spec.submodule_search_locations for p in Path(d, "binaries").glob("ffmpeg-*")
             if p.is_file() and os.access(p, os.X_OK)]
    return str(found[0]) if len(found) == 1 else None


def ffmpeg_not_started(exe: str, exc: OSError) -> ToolMissing:
    """The one-line error for an ffmpeg binary that cannot be executed."""
    return ToolMissing(f"ffmpeg ({exe}) could not be started ({exc.strerror}); reinstall imageio-ffmpeg or "
                       f"set TEMPSCORE_FFMPEG to a working ffmpeg")


def run_ffmpeg(args: Sequence[str], *, what: str) -> None:
    """Run ffmpeg quietly; raise RuntimeError with its last stderr lines on failure."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args]
    log.debug("ffmpeg: %s", " ".join(cmd))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as exc:
        raise ffmpeg_not_started(cmd[0], exc) from exc
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        said = {"No space left on device": 28, "Disk quota exceeded": 122, "File too large": 27,
                "Read-only file system": 30}
        refused = next((code for words, code in said.items() if words in proc.stderr), None)
        if refused is not None:  # the disk refused ffmpeg's write: a user error, with the folder it was writing to
            from .errors import disk_error

            out = str(args[-1]) if args and str(args[-1]) != "-" else None  # ffmpeg's output comes last
            raise disk_error(OSError(refused, os.strerror(refused), out)) from None
        raise RuntimeError(f"ffmpeg failed while {what}: {tail}")
