"""Iteration speed: a full `tempscore score` run versus a re-run after changing one cue's mood in
timeline.json (the editor's loop), on the bundled sample and on a longer generated cut.

    python bench/rerun.py [--repeats 3] [--minutes 4]

Each repeat starts from an empty output directory (full run: analysis, plan, compose, render,
mux), then edits the mood of the middle cue and runs `score` again (the analysis, the other
cues' melodies, their synthesised audio and their reverb come from the cache). Both are timed as
whole CLI processes, in the same run.

Then the same edit under `tempscore score --watch` (the editor's loop with the process kept:
model, soundfont and imports loaded once): a fresh directory is scored once, then the middle
cue's mood is changed and saved several times, a couple of seconds apart as a person would; each
re-run's wall time is the one the watcher reports (from noticing the save to the muxed video).
Writes bench/results/rerun.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MOODS = ["tense", "serene", "excited", "sombre"]


def run_score(video: Path, out: Path) -> tuple[float, dict]:
    exe = Path(sys.executable).with_name("tempscore")
    t = time.perf_counter()
    r = subprocess.run([str(exe), "score", str(video), "-o", str(out), "--json"], capture_output=True, text=True,
                       env={**os.environ, "HF_HUB_OFFLINE": "1"})
    wall = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"score failed: {r.stderr}")
    return wall, json.loads(r.stdout)


def edit_one_mood(timeline: Path) -> str:
    tl = json.loads(timeline.read_text())
    cue = tl["cues"][len(tl["cues"]) // 2]
    cue["mood"] = next(m for m in MOODS if m != cue["mood"])
    timeline.write_text(json.dumps(tl, indent=1))
    return cue["id"]


def measure(video: Path, repeats: int) -> dict:
    rows = []
    for _ in range(repeats):
        out = Path(tempfile.mkdtemp(prefix="tempscore-rerun-"))
        full, s1 = run_score(video, out)
        cue = edit_one_mood(out / f"{video.stem}.timeline.json")
        rerun, s2 = run_score(video, out)
        rep = s2["compose"]["cue_report"]
        rows.append({"full_sec": round(full, 3), "rerun_sec": round(rerun, 3), "edited_cue": cue,
                     "cues": len(rep), "cues_recomposed": sum(1 for v in rep.values() if not v.get("cached", False)),
                     "synth": s2["render"].get("synth_cache"), "aac_tracks": s2["render"].get("aac_tracks"),
                     "gain_held": s2["render"].get("gain_db") == s1["render"].get("gain_db"),
                     "stages_full": s1["timings_sec"],
                     "stages_rerun": s2["timings_sec"]})
        shutil.rmtree(out, ignore_errors=True)  # a 10-minute run leaves gigabytes of cache
    full = statistics.median(r["full_sec"] for r in rows)
    rerun = statistics.median(r["rerun_sec"] for r in rows)
    return {"video": str(video), "full_sec_median": round(full, 3), "rerun_sec_median": round(rerun, 3),
            "ratio": round(rerun / full, 3), "runs": rows}


def measure_watch(video: Path, edits: int, full_sec: float) -> dict:
    import signal

    out = Path(tempfile.mkdtemp(prefix="tempscore-watch-"))
    exe = Path(sys.executable).with_name("tempscore")
    proc = subprocess.Popen([str(exe), "score", str(video), "-o", str(out), "--watch", "--json"], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    rows = []
    try:
        while "watching" not in (line := proc.stderr.readline()):
            if not line:
                raise SystemExit("watch failed to start")
        tl = out / f"{video.stem}.timeline.json"
        for _ in range(edits):
            time.sleep(2.0)  # a person saves again after a moment, not within the picture's 0.6 s
            edit_one_mood(tl)
            while not (line := proc.stdout.readline()).startswith('{"ok"'):
                if not line:
                    raise SystemExit(f"watch ended: {proc.stderr.read()}")
            r = json.loads(line)
            rep = r["compose"]["cue_report"]
            rows.append({"rerun_sec": r["wall_sec"], "stages": r["timings_sec"], "render": r["render"]["timings_sec"],
                         "aac_tracks": r["render"].get("aac_tracks"),
                         "cues_recomposed": sum(1 for v in rep.values() if not v.get("cached", False))})
    finally:
        proc.send_signal(signal.SIGTERM)  # as Ctrl+C (SIGINT is ignored when this runs in the background)
        proc.wait(timeout=60)
        shutil.rmtree(out, ignore_errors=True)
    med = statistics.median(r["rerun_sec"] for r in rows)
    return {"rerun_sec_median": round(med, 3), "ratio_to_full": round(med / full_sec, 3), "runs": rows}


def long_cut(work: Path, minutes: float) -> Path:
    """A generated cut of ``minutes`` (640x360, 25 fps, long takes and quick cuts: several cues;
    tone-and-click production audio) in ``work``: 2-minute parts (lavfi's expression limit), joined
    without re-encoding."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # tests/support
    from support.clips import make_cut_clip, run_ffmpeg

    rng = np.random.default_rng(11)
    part_min = min(2.0, minutes)
    parts = []
    for k in range(int(np.ceil(minutes / part_min))):
        shots: list[int] = []
        while sum(shots) < int(part_min * 60 * 25):
            shots.append(int(rng.choice([rng.integers(20, 50), rng.integers(100, 300)])))
        parts.append(work / f"part{k}.mp4")
        make_cut_clip(parts[-1], shots, fps=25, size=(640, 360))
    clip = work / "long_cut.mp4"
    (work / "parts.txt").write_text("".join(f"file '{p.name}'\n" for p in parts))
    run_ffmpeg(["-f", "concat", "-safe", "0", "-i", str(work / "parts.txt"), "-c", "copy", str(clip)],
               what="joining the parts")
    for p in parts:
        p.unlink()
    return clip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--minutes", type=float, default=4.0, help="length of the generated cut (0: skip it)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "rerun.json")
    a = ap.parse_args()
    result = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
              "sample": measure(REPO / "samples" / "rough_cut.mp4", a.repeats)}
    result["sample"]["watch"] = measure_watch(REPO / "samples" / "rough_cut.mp4", max(3, a.repeats),
                                              result["sample"]["full_sec_median"])
    if a.minutes > 0:
        work = Path(tempfile.mkdtemp(prefix="tempscore-rerun-clip-"))
        clip = long_cut(work, a.minutes)
        result["generated"] = measure(clip, max(1, a.repeats - 1))
        result["generated"]["watch"] = measure_watch(clip, 2, result["generated"]["full_sec_median"])
        shutil.rmtree(work, ignore_errors=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=1))
    for k in ("sample", "generated"):
        if k in result:
            r = result[k]
            print(f"{k:10s} full {r['full_sec_median']:.2f} s  one-cue re-run {r['rerun_sec_median']:.2f} s  "
                  f"ratio {r['ratio']:.2f}  (cues recomposed: {[x['cues_recomposed'] for x in r['runs']]} "
                  f"of {r['runs'][0]['cues']})")
            w = r["watch"]
            print(f"{'':10s} --watch re-run {w['rerun_sec_median']:.2f} s  ratio {w['ratio_to_full']:.2f}  "
                  f"(cues recomposed: {[x['cues_recomposed'] for x in w['runs']]})")


if __name__ == "__main__":
    main()
