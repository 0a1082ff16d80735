"""Small helpers around the ffmpeg binary and clip generation.

The ffmpeg binary comes from the ``imageio-ffmpeg`` wheel unless ``TEMPSCORE_FFMPEG`` names
another one. :func:`make_cut_clip` builds real H.264 test footage with ffmpeg's lavfi sources
and hard cuts at known frames; tests and benchmarks use it as ground truth.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

from .errors import ToolMissing

log = logging.getLogger(__name__)

#: lavfi sources that look clearly different from each other, cycled by :func:`make_cut_clip`.
#: Each has motion of its own, so shots are not still frames.
LAVFI_LOOKS: tuple[str, ...] = (
    "testsrc2",
    "mandelbrot",
    "smptehdbars",
    "gradients=speed=0.05:c0=#ff8000:c1=#400020",
    "rgbtestsrc",
    "testsrc",
    "gradients=speed=0.03:c0=#00a0ff:c1=#003000:type=radial",
    "yuvtestsrc",
)


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary: ``$TEMPSCORE_FFMPEG``, else imageio-ffmpeg's, else PATH."""
    env = os.environ.get("TEMPSCORE_FFMPEG")
    if env:
        return env
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        found = shutil.which("ffmpeg")
        if found:
            return found
    raise ToolMissing("ffmpeg not found; install the imageio-ffmpeg package or set TEMPSCORE_FFMPEG")


def run_ffmpeg(args: Sequence[str], *, what: str) -> None:
    """Run ffmpeg quietly; raise RuntimeError with its last stderr lines on failure."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args]
    log.debug("ffmpeg: %s", " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        if "No space left on device" in proc.stderr or "Read-only file system" in proc.stderr:
            from .errors import OutputError

            raise OutputError(f"ffmpeg could not write while {what}: {tail}; free space or choose another -o")
        raise RuntimeError(f"ffmpeg failed while {what}: {tail}")


def make_cut_clip(
    path: Path,
    shot_frames: Sequence[int],
    *,
    fps: Fraction | int | str = 25,
    size: tuple[int, int] = (320, 180),
    audio: bool = True,
    looks: Sequence[str] = LAVFI_LOOKS,
    crf: int = 23,
    preset: str = "ultrafast",
    timecode: str | None = None,
) -> list[int]:
    """Write an H.264 clip made of shots of the given lengths; return the cut frames.

    Parameters
    ----------
    path : Path
        Output file (.mp4, .mov or .mkv).
    shot_frames : sequence of int
        Length of each shot in frames. Shot ``i`` uses look ``looks[i % len(looks)]``.
    fps : Fraction, int or str
        Exact frame rate, e.g. ``Fraction(30000, 1001)``.
    size : (width, height)
        Frame size in pixels.
    audio : bool
        Add a stereo 48 kHz AAC track: a different tone per shot with a short click at
        each cut (production-audio stand-in).
    timecode : str, optional
        Start timecode written into the container, e.g. ``"01:00:00:00"``.

    Returns
    -------
    list of int
        0-based first frame of every shot after the first (the ground-truth cuts).
    """
    fps = Fraction(fps)
    w, h = size
    rate = f"{fps.numerator}/{fps.denominator}"
    inputs: list[str] = []
    chains: list[str] = []
    for i, n in enumerate(shot_frames):
        look = looks[i % len(looks)]
        sep = ":" if "=" in look else "="
        dur = float(Fraction(n) / fps) + 1.0
        inputs += ["-f", "lavfi", "-t", f"{dur:.3f}", "-i", f"{look}{sep}size={w}x{h}:rate={rate}"]
        chains.append(f"[{i}:v]trim=end_frame={n},setpts=PTS-STARTPTS,format=yuv420p,setsar=1[v{i}]")
    total = sum(shot_frames)
    concat = "".join(f"[v{i}]" for i in range(len(shot_frames)))
    graph = ";".join(chains) + f";{concat}concat=n={len(shot_frames)}:v=1:a=0[vout]"
    maps = ["-map", "[vout]"]
    if audio:
        dur_total = float(Fraction(total) / fps)
        # A tone whose pitch steps at each shot, plus a click train at the cuts.
        cut_times = []
        acc = 0
        for n in shot_frames[:-1]:
            acc += n
            cut_times.append(float(Fraction(acc) / fps))
        steps = "+".join(f"gte(t,{t:.6f})" for t in cut_times) or "0"
        clicks = "+".join(f"between(t,{t:.6f},{t + 0.01:.6f})" for t in cut_times) or "0"
        expr = f"0.2*sin(2*PI*t*(220*pow(1.1225,mod({steps},7))))+0.6*({clicks})*sin(2*PI*t*1500)"
        inputs += ["-f", "lavfi", "-i", f"aevalsrc=exprs='{expr}|{expr}':sample_rate=48000:duration={dur_total:.6f}"]
        maps += ["-map", f"{len(shot_frames)}:a", "-c:a", "aac", "-b:a", "128k"]
    args = [*inputs, "-filter_complex", graph, *maps, "-c:v", "libx264", "-preset", preset, "-crf", str(crf),
            "-r", rate, "-frames:v", str(total), "-g", "48"]
    if timecode:
        args += ["-timecode", timecode]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    run_ffmpeg([*args, str(path)], what=f"generating {path}")
    cuts = []
    acc = 0
    for n in shot_frames[:-1]:
        acc += n
        cuts.append(acc)
    return cuts
