"""Shared fixtures: real H.264 clips generated with ffmpeg (lavfi) with cuts at known frames."""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from support.clips import make_cut_clip, run_ffmpeg

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SAMPLE = REPO / "samples" / "rough_cut.mp4"


class Clip:
    def __init__(self, path: Path, cuts: list[int], fps: Fraction, frames: int) -> None:
        self.path, self.cuts, self.fps, self.frames = path, cuts, fps, frames


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


def _clip(media_dir: Path, name: str, shots: list[int], fps, **kw) -> Clip:
    path = media_dir / name
    cuts = make_cut_clip(path, shots, fps=fps, **kw)
    return Clip(path, cuts, Fraction(fps), sum(shots))


@pytest.fixture(scope="session")
def clip25(media_dir: Path) -> Clip:
    """25 fps, 12 s, six shots, stereo production audio."""
    return _clip(media_dir, "cut25.mp4", [40, 55, 23, 70, 62, 50], 25)


@pytest.fixture(scope="session")
def clip2997(media_dir: Path) -> Clip:
    """29.97 fps (30000/1001), drop-frame start timecode 01:00:00;00, no audio."""
    return _clip(media_dir, "cut2997.mov", [45, 30, 61, 44, 90], Fraction(30000, 1001), audio=False,
                 timecode="01:00:00;00")


@pytest.fixture(scope="session")
def clip_contrast(media_dir: Path) -> Clip:
    """A calm passage (two long still shots, quiet) then a fast-cut one (short shots, loud)."""
    shots = [150, 150] + [12] * 20
    looks = ["color=c=0x203040", "color=c=0x304050"] + ["testsrc2", "mandelbrot", "smptehdbars", "rgbtestsrc"] * 5
    return _clip(media_dir, "contrast.mp4", shots, 25, looks=looks)


@pytest.fixture(scope="session")
def audio_only(media_dir: Path) -> Path:
    p = media_dir / "tone.m4a"
    run_ffmpeg(["-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac", str(p)], what="tone")
    return p


@pytest.fixture(scope="session")
def not_a_video(media_dir: Path) -> Path:
    p = media_dir / "notes.mp4"
    p.write_text("this is a text file with a video extension\n")
    return p


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real command line (``tempscore.cli.main``, what the ``tempscore`` script runs) in this
    process, with its own stdout, stderr, working folder and log handlers: the same exit status and
    output as a subprocess, without starting an interpreter and importing everything again per call.
    (Tests of the process itself, signals and the entry point, use :func:`run_cli_process`.)"""
    import contextlib
    import io
    import logging
    import signal

    from tempscore.cli import main

    out, err = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    sigterm = signal.getsignal(signal.SIGTERM)
    here = Path.cwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as exc:  # (main returns its status; a stray exit still is one)
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.chdir(here)
        root.handlers[:] = handlers
        root.setLevel(level)
        signal.signal(signal.SIGTERM, sigterm)
    return subprocess.CompletedProcess(["tempscore", *map(str, args)], code, out.getvalue(), err.getvalue())


def run_cli_process(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess (``python -m tempscore.cli``): for what only a process shows."""
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", "tempscore.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=600)
