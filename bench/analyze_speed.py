"""``tempscore analyze`` wall time and peak memory beside ffmpeg decoding to the same analysis size.

    python bench/analyze_speed.py [--minutes 2] [--size 1920x1080] [--fps 25] [--clip FILE] [--rounds 3]
                                  [--no-dialogue] [--no-baseline] [--shot-detector auto]

On one file and in one run, alternating, ``--rounds`` times: ffmpeg ``-vf scale=320:-2 -f null -``
(the floor: the same decode at the analysis size), ``tempscore analyze --clip off --force`` (a
subprocess; peak RSS from ``wait4``) and, unless ``--no-baseline``, ``scenedetect -i FILE
detect-adaptive``. Alternating rounds expose the load other jobs put on the machine; the ratio of
the medians is the figure reported, with every round's own ratio beside it. Writes
bench/results/analyze_speed_<minutes>min.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # tests/support
from support.clips import ffmpeg_exe, make_cut_clip


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of a child process."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    if status != 0:
        sys.exit(f"{cmd[:3]} failed: {p.stderr.read().decode()[-500:]}")
    return wall, ru.ru_maxrss / 1024


def bench_clip(work: Path, minutes: float, size: tuple[int, int], fps: str) -> Path:
    """A generated cut (shots of 0.6-9 s, audio), cached in ``work``."""
    w, h = size
    clip = work / f"speed_{minutes:g}min_{w}x{h}_{fps}.mp4"
    if not clip.is_file():
        rng = np.random.default_rng(7)
        f = float(fps)
        total = int(minutes * 60 * f)
        shots: list[int] = []
        while sum(shots) < total:
            shots.append(int(f * (rng.uniform(0.6, 2.0) if rng.random() < 0.4 else rng.uniform(2.5, 9.0))))
        shots[-1] -= sum(shots) - total
        print(f"generating {clip}...", file=sys.stderr)
        make_cut_clip(clip, shots, fps=fps, size=size, audio=True, preset="veryfast", crf=26)
    return clip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=2.0)
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--fps", default="25")
    ap.add_argument("--clip", type=Path)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "tempscore-bench")
    ap.add_argument("--no-dialogue", action="store_true", help="analyze with --no-dialogue")
    ap.add_argument("--no-baseline", action="store_true", help="skip scenedetect detect-adaptive")
    ap.add_argument("--shot-detector", default="auto", help="passed to analyze (auto, classic, transnet, combined)")
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    w, h = (int(x) for x in a.size.split("x"))
    clip = a.clip or bench_clip(a.work, a.minutes, (w, h), a.fps)
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    ff = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(clip), "-map", "0:v:0",
          "-vf", "scale=320:-2", "-f", "null", "-"]
    ours = [sys.executable, "-m", "tempscore.cli", "analyze", str(clip), "-o", str(a.work / "out"),
            "--clip", "off", "--force", "--json", "--shot-detector", a.shot_detector] + (["--no-dialogue"] if a.no_dialogue else [])
    sd = [str(Path(sys.executable).with_name("scenedetect")), "-i", str(clip), "-o", str(a.work), "detect-adaptive"]
    load0 = round(os.getloadavg()[0], 2)
    rounds = []
    for _ in range(a.rounds):
        r = {"ffmpeg_scaled_decode_sec": timed(ff)[0]}
        r["analyze_sec"], r["analyze_peak_rss_mb"] = timed(ours, env)
        if not a.no_baseline:
            r["scenedetect_adaptive_sec"] = timed(sd, env)[0]
        r = {k: round(v, 2) for k, v in r.items()}
        r["ratio"] = round(r["analyze_sec"] / r["ffmpeg_scaled_decode_sec"], 3)
        rounds.append(r)
        print(json.dumps(r), file=sys.stderr)
    med = {k: round(statistics.median(r[k] for r in rounds), 2) for k in rounds[0] if k != "ratio"}
    res = {"clip": str(clip), "minutes": a.minutes, "size": a.size, "fps": a.fps, "cpus": os.cpu_count(),
           "dialogue": not a.no_dialogue, "shot_detector": a.shot_detector, "load_avg_1min_at_start": load0, **med,
           "ratio": round(med["analyze_sec"] / med["ffmpeg_scaled_decode_sec"], 3),
           "ratio_per_round": [r["ratio"] for r in rounds], "rounds": rounds}
    if "scenedetect_adaptive_sec" in med:
        res["analyze_vs_detect_adaptive"] = round(med["analyze_sec"] / med["scenedetect_adaptive_sec"], 3)
    suffix = ("" if not a.no_dialogue else "_nodialogue") + ("" if a.shot_detector == "auto" else f"_{a.shot_detector}")
    out = Path(__file__).parent / "results" / f"analyze_speed_{a.minutes:g}min{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    print(json.dumps({k: v for k, v in res.items() if k != "rounds"}, indent=1))


if __name__ == "__main__":
    main()
