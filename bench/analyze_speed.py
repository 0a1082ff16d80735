"""``tempscore analyze`` wall time and peak memory beside ffmpeg decoding to the same analysis size.

    python bench/analyze_speed.py [--minutes 2] [--size 1920x1080] [--fps 25] [--clip FILE] [--baseline]

Runs, on one file and in one run: ffmpeg ``-vf scale=320:-2 -f null -`` (the floor), ``tempscore
analyze --clip off --force`` (a subprocess; its peak RSS from ``wait4``) and, with ``--baseline``,
``scenedetect -i FILE detect-adaptive``. Writes bench/results/analyze_speed_<minutes>min.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tempscore.media import ffmpeg_exe, make_cut_clip


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of a child process."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    if status != 0:
        sys.exit(f"{cmd[:3]} failed: {p.stderr.read().decode()[-500:]}")
    return wall, ru.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=2.0)
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--fps", default="25")
    ap.add_argument("--clip", type=Path)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "tempscore-bench")
    ap.add_argument("--baseline", action="store_true", help="also time scenedetect detect-adaptive")
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    w, h = (int(x) for x in a.size.split("x"))
    clip = a.clip
    if clip is None:
        clip = a.work / f"speed_{a.minutes:g}min_{w}x{h}.mp4"
        if not clip.is_file():
            rng = np.random.default_rng(7)
            fps = float(a.fps)
            total = int(a.minutes * 60 * fps)
            shots: list[int] = []
            while sum(shots) < total:
                shots.append(int(fps * (rng.uniform(0.6, 2.0) if rng.random() < 0.4 else rng.uniform(2.5, 9.0))))
            shots[-1] -= sum(shots) - total
            print(f"generating {clip}...", file=sys.stderr)
            make_cut_clip(clip, shots, fps=a.fps, size=(w, h), audio=True, preset="veryfast", crf=26)
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    floor, _ = timed([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(clip), "-map", "0:v:0",
                      "-vf", "scale=320:-2", "-f", "null", "-"])
    ours, rss = timed([sys.executable, "-m", "tempscore.cli", "analyze", str(clip), "-o", str(a.work / "out"),
                       "--clip", "off", "--force", "--json"], env)
    res = {"clip": str(clip), "minutes": a.minutes, "size": a.size, "cpus": os.cpu_count(),
           "ffmpeg_scaled_decode_sec": round(floor, 2), "analyze_sec": round(ours, 2),
           "ratio": round(ours / floor, 2), "analyze_peak_rss_mb": round(rss, 1)}
    if a.baseline:
        sd = Path(sys.executable).with_name("scenedetect")
        res["scenedetect_adaptive_sec"] = round(timed([str(sd), "-i", str(clip), "-o", str(a.work), "detect-adaptive"],
                                                      env)[0], 2)
    out = Path(__file__).parent / "results" / f"analyze_speed_{a.minutes:g}min.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
