"""Batch throughput: minutes of picture scored per minute of wall time, on this machine, by
`tempscore batch` with 1 and 2 local worker processes and on a local Ray instance, beside a shell
loop of `tempscore score` (the baseline a user has without batch); and the Ray overhead per video.

    python bench/batch.py [--videos 6] [--seconds 40] [--size 1920x1080] [--rounds 2]

Generates ``--videos`` cuts (seeded shot lengths of 0.8-6 s, lavfi pictures, a tone per shot),
then per round, in turn: the shell loop, batch --workers 1, batch --workers 2, batch on a local
Ray instance with 1 and 2 CPUs. Each configuration runs in a process of its own from an empty OUT
and reports its wall time, the CPU time of it and its children (the cost in core-seconds) and
their peak RSS (a worker's memory; Ray's workers are not our children, so neither for Ray). For Ray,
`ray.init` is timed apart from the tasks. Medians and the best of the rounds (the machine is
shared: the best is the least disturbed). Writes bench/results/batch.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

CONFIGS = ("loop", "local-1", "local-2", "ray-1", "ray-2")


def make_videos(folder: Path, n: int, seconds: float, size: tuple[int, int]) -> list[Path]:
    from support.clips import make_cut_clip

    rng = random.Random(26)
    videos = []
    for i in range(n):
        shots, left = [], int(seconds * 25)
        while left > 0:
            shots.append(min(left, rng.randint(20, 150)))
            left -= shots[-1]
        path = folder / f"cut{i:02d}.mp4"
        make_cut_clip(path, shots, fps=25, size=size)
        videos.append(path)
    return videos


def _usage() -> dict:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"cpu_sec": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime,
            "children_maxrss_mb": kids.ru_maxrss / 1024}


def run_one(config: str, sources: Path, out: Path) -> dict:
    """One configuration, in this process (started by :func:`measure`); its figures."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    t0 = time.perf_counter()
    extra: dict = {"load_1min_before": os.getloadavg()[0]}  # (the machine is shared: how busy it was)
    if config == "loop":
        exe = Path(sys.executable).with_name("tempscore")
        for video in sorted(sources.glob("*.mp4")):
            subprocess.run([str(exe), "score", str(video), "-o", str(out / video.stem)], check=True,
                           capture_output=True)
        picture = sum(_duration(v) for v in sources.glob("*.mp4"))
        return {"wall_sec": time.perf_counter() - t0, "picture_sec": picture, **extra, **_usage()}
    from tempscore.batch import run_batch
    from tempscore.batch.engines import LocalEngine
    from tempscore.batch.ray_engine import RayEngine

    kind, workers = config.split("-")
    if kind == "ray":
        import ray

        ray.init(num_cpus=int(workers), include_dashboard=False, log_to_driver=False)
        extra["ray_init_sec"] = time.perf_counter() - t0
        engine = RayEngine(address="auto")
    else:
        engine = LocalEngine(workers=int(workers))
    t1 = time.perf_counter()
    res = run_batch([sources], out, engine=engine)
    wall_tasks = time.perf_counter() - t1
    if kind == "ray":
        ray.shutdown()
    assert res.totals.failed == 0, res.totals
    return {"wall_sec": time.perf_counter() - t0, "tasks_wall_sec": wall_tasks, "picture_sec": res.totals.picture_sec,
            "worker_wall_sec": [v.wall_sec for v in res.videos], "stages_sec": _stage_sums(res.videos),
            "out_bytes": _bytes(out), "outputs_bytes": _bytes(out, skip_cache=True), "bytes_by_kind": _kinds(out),
            "input_bytes": _bytes(sources), **extra, **_usage()}


def _duration(video: Path) -> float:
    from tempscore.api import probe

    return probe(video).duration_sec


def _stage_sums(videos: list) -> dict[str, float]:
    sums: dict[str, float] = {}
    for v in videos:
        for k, s in v.timings_sec.items():
            sums[k] = round(sums.get(k, 0.0) + s, 3)
    return sums


def _bytes(folder: Path, *, skip_cache: bool = False) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*")
               if p.is_file() and not (skip_cache and any(part.endswith(".cache") for part in p.parts)))


def _kinds(out: Path) -> dict[str, int]:
    """Bytes in OUT by kind: the WAV, the scored video, the cache (soundfont subsets apart), the rest."""
    kinds = {"wav": 0, "scored_video": 0, "cache_soundfonts": 0, "cache_other": 0, "other": 0}
    for p in out.rglob("*"):
        if not p.is_file():
            continue
        in_cache = any(part.endswith(".cache") for part in p.parts)
        kind = (("cache_soundfonts" if p.suffix == ".sf2" else "cache_other") if in_cache else
                "wav" if p.name.endswith(".score.wav") else "scored_video" if ".scored." in p.name else "other")
        kinds[kind] += p.stat().st_size
    return kinds


def measure(config: str, sources: Path) -> dict:
    out = Path(tempfile.mkdtemp(prefix=f"tempscore-batch-{config}-"))
    try:
        r = subprocess.run([sys.executable, __file__, "--one", config, "--sources", str(sources), "--out", str(out)],
                           capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, check=False)
        if r.returncode != 0:
            raise SystemExit(f"{config} failed:\n{r.stderr[-3000:]}")
        return json.loads(r.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(out, ignore_errors=True)


def summarise(rounds: list[dict[str, dict]], videos: int) -> dict:
    out: dict = {}
    for config in CONFIGS:
        runs = [r[config] for r in rounds if config in r]
        wall = statistics.median(r["wall_sec"] for r in runs)
        picture = runs[0]["picture_sec"]
        cpu = statistics.median(r["cpu_sec"] for r in runs)
        row = {"wall_sec": round(wall, 2), "picture_min_per_min": round(picture / wall, 3),
               "best_wall_sec": round(min(r["wall_sec"] for r in runs), 2),
               "best_picture_min_per_min": round(picture / min(r["wall_sec"] for r in runs), 3),
               "walls_sec": [round(r["wall_sec"], 2) for r in runs],
               "load_1min_before": [round(r["load_1min_before"], 1) for r in runs if "load_1min_before" in r]}
        if not config.startswith("ray"):  # (Ray's workers are not our children: their CPU time is not seen)
            row["core_sec_per_picture_min"] = round(cpu / (picture / 60), 2)
        if "tasks_wall_sec" in runs[0]:
            tasks = statistics.median(r["tasks_wall_sec"] for r in runs)
            row["tasks_wall_sec"] = round(tasks, 2)
            row["tasks_picture_min_per_min"] = round(picture / tasks, 3)
        if "ray_init_sec" in runs[0]:
            row["ray_init_sec"] = round(statistics.median(r["ray_init_sec"] for r in runs), 2)
        if not config.startswith("ray"):
            row["worker_peak_rss_mb"] = round(max(r["children_maxrss_mb"] for r in runs), 1)
        if "out_bytes" in runs[0]:
            row["out_mb_per_picture_min"] = round(runs[0]["out_bytes"] / 1e6 / (picture / 60), 2)
            row["outputs_mb_per_picture_min"] = round(runs[0]["outputs_bytes"] / 1e6 / (picture / 60), 2)
            row["stages_sec"] = runs[0]["stages_sec"]
            per_min = picture / 60
            row["mb_per_picture_min"] = {"input": round(runs[0]["input_bytes"] / 1e6 / per_min, 2),
                                         **{k: round(v / 1e6 / per_min, 2) for k, v in runs[0]["bytes_by_kind"].items()}}
            row["cache_soundfonts_mb_per_video"] = round(runs[0]["bytes_by_kind"]["cache_soundfonts"] / 1e6 / videos, 1)
        out[config] = row
    for w in ("1", "2"):
        local, ray = out[f"local-{w}"], out[f"ray-{w}"]
        ray["overhead_per_video_sec"] = round((ray["tasks_wall_sec"] - local["wall_sec"]) / videos, 3)
        ray["overhead_per_video_with_init_sec"] = round((ray["wall_sec"] - local["wall_sec"]) / videos, 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--one", choices=CONFIGS, help=argparse.SUPPRESS)
    ap.add_argument("--sources", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.sources, args.out)))
        return
    w, h = (int(x) for x in args.size.split("x"))
    work = Path(tempfile.mkdtemp(prefix="tempscore-batch-bench-"))
    try:
        make_videos(work / "videos", args.videos, args.seconds, (w, h))
        rounds = []
        for i in range(args.rounds):
            row = {}
            for config in CONFIGS:
                row[config] = measure(config, work / "videos")
                print(f"round {i + 1} {config}: {row[config]['wall_sec']:.1f} s", file=sys.stderr)
            rounds.append(row)
        result = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                              "load_at_end": os.getloadavg()},
                  "videos": args.videos, "seconds_each": args.seconds, "size": args.size,
                  "summary": summarise(rounds, args.videos), "rounds": rounds}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    dest = REPO / "bench" / "results" / "batch.json"
    dest.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["summary"], indent=1))


if __name__ == "__main__":
    main()
