"""End-to-end benchmark: `tempscore score` and `tempscore analyze` on a generated 2-minute 1080p
cut, beside the time ffmpeg takes just to decode the same file's picture (the floor).

    python bench/e2e.py [--minutes 2] [--size 1920x1080] [--fps 25] [--rounds 3] [--keep DIR]

Each round runs the three (each from an empty folder, nothing cached) in an order that turns from
round to round, and measures wall and CPU seconds (user + system, children included). The figures
are each round's ratio to the decode of the same round, and their median and spread over the rounds:
on a shared machine only ratios measured side by side mean anything. The CPU ratio is what
overlapping cannot remove: on a machine whose cores the decode already fills, the wall ratio cannot
fall below it. Writes bench/results/e2e.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # tests/support
from support.clips import ffmpeg_exe, make_cut_clip


def child_env() -> dict[str, str]:
    """The environment of the measured commands: offline, and with Python's bytecode cache on (a
    shell that turns it off would have every run compile tempscore's modules again: ~0.3 s of CPU
    a user does not spend)."""
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_timed(cmd: list[str]) -> tuple[float, float, str]:
    """Wall and CPU seconds (the child and its children, user + system) of a command, and its stdout."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=child_env())
    wall = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        sys.exit(f"{cmd[:4]} failed: {r.stderr[-2000:]}")
    return wall, r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime, r.stdout


def one_round(clip: Path, work: Path, k: int) -> dict:
    """Decode only, ``tempscore analyze`` and ``tempscore score`` (each from an empty folder), in an
    order that turns with ``k`` so that a change of the machine's load falls on each in turn."""
    cli = [sys.executable, "-m", "tempscore.cli"]
    jobs = {
        "decode": [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(clip), "-map", "0:v:0",
                   "-f", "null", "-"],
        "analyze": [*cli, "analyze", str(clip), "-o", str(work / "out-analyze"), "--json", "--force"],
        "score": [*cli, "score", str(clip), "-o", str(work / "out-score"), "--json", "--force"],
    }
    names = list(jobs)
    names = names[k % 3:] + names[:k % 3]
    row: dict = {"order": names}
    for name in names:
        shutil.rmtree(work / f"out-{name}", ignore_errors=True)
        wall, cpu, out = run_timed(jobs[name])
        row[name] = {"wall_sec": round(wall, 2), "cpu_sec": round(cpu, 2)}
        if name == "score":
            summary = json.loads(out)
            row[name]["stages_sec"] = summary["timings_sec"]
            row[name]["render_sec"] = summary["render"].get("timings_sec")
            row["cuts_found"] = summary["analyze"]["cuts"]
    for name in ("analyze", "score"):
        for what in ("wall", "cpu"):
            row[name][f"{what}_x_decode"] = round(row[name][f"{what}_sec"] / row["decode"][f"{what}_sec"], 3)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=2.0)
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--fps", default="25")
    ap.add_argument("--rounds", type=int, default=3)
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
    rounds = []
    for k in range(a.rounds):
        rounds.append(one_round(clip, work, k))
        r = rounds[-1]
        print(f"round {k + 1} ({', '.join(r['order'])}): decode {r['decode']['wall_sec']:.2f} s, "
              f"analyze {r['analyze']['wall_x_decode']:.2f}x, score {r['score']['wall_x_decode']:.2f}x "
              f"(cpu {r['analyze']['cpu_x_decode']:.2f}x, {r['score']['cpu_x_decode']:.2f}x)", file=sys.stderr)
    med = {f"{n}_{w}_x_decode": round(statistics.median(r[n][f"{w}_x_decode"] for r in rounds), 2)
           for n in ("analyze", "score") for w in ("wall", "cpu")}
    spread = {f"{n}_{w}_x_decode": [min(r[n][f"{w}_x_decode"] for r in rounds),
                                    max(r[n][f"{w}_x_decode"] for r in rounds)]
              for n in ("analyze", "score") for w in ("wall", "cpu")}
    result = {
        "clip": {"minutes": a.minutes, "size": a.size, "fps": a.fps, "shots": len(shots), "bytes": clip.stat().st_size},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_avg_at_end": os.getloadavg()},
        "median_ratio": med,
        "spread_ratio": spread,
        "rounds": rounds,
        "cuts_true": len(shots) - 1,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=1))
    print(f"{'median of ' + str(a.rounds) + ' rounds':34s} {'wall x decode':>14s} {'cpu x decode':>13s}")
    for n in ("analyze", "score"):
        print(f"{'tempscore ' + n:34s} {med[f'{n}_wall_x_decode']:14.2f} {med[f'{n}_cpu_x_decode']:13.2f}")
    print(f"cuts found {rounds[-1]['cuts_found']} / true {result['cuts_true']}; results in {a.out}")


if __name__ == "__main__":
    main()
