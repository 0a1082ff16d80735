"""Peak memory of ``tempscore analyze`` on a 1-minute and a 10-minute 1080p file: it must not grow with length.

    python bench/analyze_memory.py [--size 1920x1080] [--fps 25] [--work DIR]

A 1-minute cut (shots of 0.6-9 s, tone + clicks audio) is generated once with ``make_cut_clip``
(ultrafast, CRF 30: cheap to make, still a real H.264 1080p stream); the 10-minute file is that
minute ten times over, joined by FFmpeg's concat demuxer without re-encoding. Each is analysed in a
child process (``--clip off --force``, dialogue detection on) and its peak RSS read from ``wait4``.
Writes bench/results/analyze_memory.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from analyze_speed import timed

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # tests/support
from support.clips import ffmpeg_exe, make_cut_clip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--fps", default="25")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "tempscore-bench")
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    w, h = (int(x) for x in a.size.split("x"))
    one = a.work / f"mem_1min_{w}x{h}_{a.fps}.mp4"
    ten = a.work / f"mem_10min_{w}x{h}_{a.fps}.mp4"
    if not one.is_file():
        rng = np.random.default_rng(3)
        f = float(a.fps)
        total = int(60 * f)
        shots: list[int] = []
        while sum(shots) < total:
            shots.append(int(f * rng.uniform(0.6, 9.0)))
        shots[-1] -= sum(shots) - total
        print(f"generating {one}...", file=sys.stderr)
        make_cut_clip(one, shots, fps=a.fps, size=(w, h), audio=True, preset="ultrafast", crf=30)
    if not ten.is_file():
        lst = a.work / "mem_concat.txt"
        lst.write_text("".join(f"file '{one.resolve()}'\n" for _ in range(10)))
        subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0",
                        "-i", str(lst), "-c", "copy", str(ten)], check=True)
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    res: dict = {"size": a.size, "fps": a.fps, "dialogue": True}
    for name, clip in (("1min", one), ("10min", ten)):
        wall, rss = timed([sys.executable, "-m", "tempscore.cli", "analyze", str(clip), "-o", str(a.work / "out"),
                           "--clip", "off", "--force", "--json"], env)
        res[name] = {"clip": str(clip), "analyze_sec": round(wall, 2), "peak_rss_mb": round(rss, 1)}
        print(name, res[name], file=sys.stderr)
    res["growth_mb"] = round(res["10min"]["peak_rss_mb"] - res["1min"]["peak_rss_mb"], 1)
    res["criterion_within_100mb"] = res["growth_mb"] <= 100
    out = Path(__file__).parent / "results" / "analyze_memory.json"
    out.write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
