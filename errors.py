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


class InvalidSettings(TempscoreError):
    """A setting is out of range or inconsistent."""


class OutputError(TempscoreError):
    """An output cannot be written (e.g. it would overwrite the input)."""


class ConcurrentEdit(TempscoreError):
    """A file tempscore read, changed and was about to write back was saved by someone else meanwhile."""


class ToolMissing(TempscoreError):
    """An external tool (ffmpeg, soundfont) cannot be found."""
