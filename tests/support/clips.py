"""Real test footage made with ffmpeg's lavfi sources: hard cuts and transitions at known frames
(the ground truth of the tests and benchmarks)."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from tempscore.media import ffmpeg_exe, run_ffmpeg

if TYPE_CHECKING:
    import numpy as np

__all__ = ["LAVFI_LOOKS", "make_cut_clip", "lavfi_frames", "make_transition_clip", "run_ffmpeg", "ffmpeg_exe"]

#: lavfi sources that look clearly different from each other, cycled by :func:`make_cut_clip`.
#: Each has motion of its own, so shots are not still frames. Random sources get a fixed seed, so a
#: clip is the same on every run.
LAVFI_LOOKS: tuple[str, ...] = (
    "testsrc2",
    "mandelbrot",
    "smptehdbars",
    "gradients=speed=0.05:c0=#ff8000:c1=#400020:seed=1",
    "rgbtestsrc",
    "testsrc",
    "gradients=speed=0.03:c0=#00a0ff:c1=#003000:type=radial:seed=2",
    "yuvtestsrc",
)


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
        Length of each shot in frames. Shot ``i`` uses look ``looks[i % len(looks)]``: a lavfi
        source, optionally followed by filters after a comma (``testsrc2,noise=alls=6:allf=t``).
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
        src, _, filters = looks[i % len(looks)].partition(",")  # "source" or "source,filters"
        sep = ":" if "=" in src else "="
        dur = float(Fraction(n) / fps) + 1.0
        inputs += ["-f", "lavfi", "-t", f"{dur:.3f}", "-i", f"{src}{sep}size={w}x{h}:rate={rate}"]
        chains.append(f"[{i}:v]{filters + ',' if filters else ''}trim=end_frame={n},setpts=PTS-STARTPTS,"
                      f"format=yuv420p,setsar=1[v{i}]")
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


def lavfi_frames(look: str, frames: int, *, fps: Fraction | int | str = 25, size: tuple[int, int] = (320, 180),
                 start_frame: int = 0) -> np.ndarray:
    """``frames`` RGB frames (uint8, ``(n, h, w, 3)``) of a lavfi source, from its ``start_frame``.

    ``look`` is a source (``testsrc2``, ``gradients=speed=0.05``) optionally followed by filters after
    a comma (``mandelbrot,noise=alls=8:allf=t`` adds moving grain).
    """
    import numpy as np

    fps = Fraction(fps)
    w, h = size
    src, _, chain = look.partition(",")
    sep = ":" if "=" in src else "="
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "lavfi",
           "-i", f"{src}{sep}size={w}x{h}:rate={fps.numerator}/{fps.denominator}",
           "-vf", (chain + "," if chain else "") + f"trim=start_frame={start_frame}:end_frame={start_frame + frames},"
           "format=rgb24",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    out = subprocess.run(cmd, capture_output=True, check=True).stdout
    return np.frombuffer(out, np.uint8).reshape(frames, h, w, 3)


def make_transition_clip(
    path: Path,
    shot_frames: Sequence[int],
    transitions: Sequence[tuple[str, int]],
    *,
    fps: Fraction | int | str = 25,
    size: tuple[int, int] = (320, 180),
    looks: Sequence[str] = LAVFI_LOOKS,
    crf: int = 18,
    black_hold_frames: int = 0,
) -> list[tuple[str, int, int]]:
    """Write an H.264 clip of shots joined by cuts, dissolves and fades, blended here frame by frame.

    Parameters
    ----------
    path : Path
        Output file.
    shot_frames : sequence of int
        Length of each shot, frames (transitions overlap neighbouring shots, they add no frames).
    transitions : sequence of (kind, frames)
        Between shot ``i`` and ``i + 1``: ``("cut", 0)``, ``("dissolve", d)`` (linear cross-fade
        over ``d`` frames) or ``("fade", d)``: shot ``i`` fades to black over ``d`` frames, then
        ``black_hold_frames`` black frames, then shot ``i + 1`` fades in over ``d`` frames.
    fps, size, looks, crf
        As for :func:`make_cut_clip`; the shots are the lavfi sources, so they move.

    Returns
    -------
    list of (kind, start, end)
        Ground truth: ``("hard", f, f)`` for a cut (``f`` the first frame of the new shot);
        ``("dissolve" | "fade_out" | "fade_in", s, e)`` with ``s`` the last pure frame before
        the blend and ``e`` the first pure frame after it (frames ``s+1 .. e-1`` are blends, alpha
        ``(k - s) / (e - s)``).
    """
    import numpy as np

    if len(transitions) != len(shot_frames) - 1:
        raise ValueError("one transition between each pair of shots")
    fps = Fraction(fps)
    w, h = size
    out: list[np.ndarray] = []
    truth: list[tuple[str, int, int]] = []
    shots = [lavfi_frames(looks[i % len(looks)], n, fps=fps, size=size).astype(np.float32)
             for i, n in enumerate(shot_frames)]
    cur = shots[0]
    for i, (kind, d) in enumerate(transitions):
        nxt = shots[i + 1]
        if kind == "cut":
            out.append(cur)
            truth.append(("hard", sum(len(x) for x in out), sum(len(x) for x in out)))
            cur = nxt
        elif kind == "dissolve":
            base = sum(len(x) for x in out)
            # frames of cur: [0, len-d) pure, then d blends... alpha k/d for k=1..d-1, then nxt[d:] pure
            pure = cur[: len(cur) - d + 1]  # ends with the last pure frame (alpha 0)
            a = cur[len(cur) - d + 1:]
            b = nxt[1:d]
            alpha = (np.arange(1, d) / d).reshape(-1, 1, 1, 1).astype(np.float32)
            out += [pure, (1 - alpha) * a + alpha * b]
            s = base + len(pure) - 1
            truth.append(("dissolve", s, s + d))
            cur = nxt[d:]
        elif kind == "fade":
            base = sum(len(x) for x in out)
            fade = (1 - np.arange(0, d + 1) / d).reshape(-1, 1, 1, 1).astype(np.float32)  # 1 .. 0
            head = cur[: len(cur) - d - 1]
            tail = cur[len(cur) - d - 1:] * fade
            out += [head, tail]
            s = base + len(head)
            truth.append(("fade_out", s, s + d))
            black = np.zeros((black_hold_frames, h, w, 3), np.float32)
            out.append(black)
            ramp = (np.arange(0, d + 1) / d).reshape(-1, 1, 1, 1).astype(np.float32)  # 0 .. 1
            s2 = s + d + black_hold_frames
            out.append(nxt[: d + 1] * ramp)
            truth.append(("fade_in", s2, s2 + d))
            cur = nxt[d + 1:]
        else:
            raise ValueError(f"unknown transition {kind!r}")
    out.append(cur)
    video = np.clip(np.rint(np.concatenate(out)), 0, 255).astype(np.uint8)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{w}x{h}", "-r", f"{fps.numerator}/{fps.denominator}", "-i", "-", "-c:v", "libx264",
           "-preset", "ultrafast", "-crf", str(crf), "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(cmd, input=video.tobytes(), check=True, capture_output=True)
    return truth
