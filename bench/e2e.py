"""End-to-end benchmark: `tempscore score` on a generated 2-minute 1080p cut, split by stage,
beside the time ffmpeg takes just to decode the same file (the floor).

    python bench/e2e.py [--minutes 2] [--size 1920x1080] [--fps 25] [--keep DIR]

Prints a table and writes bench/results/e2e.json. Timings are only compared within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # tests/support
from support.clips import ffmpeg_exe, make_cut_clip


def decode_floor_sec(path: Path) -> float:
    t = time.perf_counter()
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(path), "-map", "0:v:0",
                    "-f", "null", "-"], check=True)
    return time.perf_counter() - t


def pyav_decode_sec(path: Path) -> float:
    import av

    t = time.perf_counter()
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for _ in c.decode(s):
            pass
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=2.0)
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--fps", default="25")
    ap.add_argument("--keep", type=Path, help="directory to keep the generated clip and outputs in")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "e2e.json")
    a = ap.parse_args()
    work = a.keep or Path(tempfile.mkdtemp(prefix="tempscore-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    w, h = (int(x) for x in a.size.split("x"))
    fps = float(Fraction(a.fps))  # "25", "29.97" or "30000/1001"
    rng = np.random.default_rng(7)
    total = int(a.minutes * 60 * fps)
    shots: list[int] = []
    while sum(shots) < total:  # a rough-cut-like mix: long takes and quick cuts
        shots.append(int(fps * (rng.uniform(0.6, 2.0) if rng.random() < 0.4 else rng.uniform(2.5, 9.0))))
    shots[-1] -= sum(shots) - total
    clip = work / f"bench_{a.minutes:g}min_{w}x{h}.mp4"
    if not clip.is_file():
        print(f"generating {clip} ({len(shots)} shots)...", file=sys.stderr)
        make_cut_clip(clip, shots, fps=a.fps, size=(w, h), audio=True, preset="veryfast", crf=26)
    floor = decode_floor_sec(clip)
    pyav = pyav_decode_sec(clip)
    out_dir = work / "out"
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "tempscore.cli", "score", str(clip), "-o", str(out_dir), "--json",
                        "--force"], capture_output=True, text=True, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    wall = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"tempscore failed: {r.stderr}")
    summary = json.loads(r.stdout)
    stages = summary["timings_sec"]
    result = {
        "clip": {"minutes": a.minutes, "size": a.size, "fps": a.fps, "shots": len(shots), "bytes": clip.stat().st_size},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "ffmpeg_decode_floor_sec": round(floor, 2),
        "pyav_decode_sec": round(pyav, 2),
        "tempscore_wall_sec": round(wall, 2),
        "stages_sec": stages,
        "ratio_wall_to_floor": round(wall / floor, 2),
        "ratio_analyze_to_floor": round(stages["analyze"] / floor, 2),
        "cuts_found": summary["analyze"]["cuts"],
        "cuts_true": len(shots) - 1,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=1))
    print(f"{'what':34s} {'sec':>8s} {'x floor':>8s}")
    rows = [("ffmpeg decode only (floor)", floor), ("PyAV decode only", pyav), ("tempscore score, wall", wall)]
    rows += [(f"  stage {k}", v) for k, v in stages.items()]
    for name, v in rows:
        print(f"{name:34s} {v:8.2f} {v / floor:8.2f}")
    print(f"cuts found {result['cuts_found']} / true {result['cuts_true']}; results in {a.out}")


if __name__ == "__main__":
    main()
