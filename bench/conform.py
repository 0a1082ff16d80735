"""Recut conform: how fast and how exactly the old cut's frames are found in a recut.

    python bench/conform.py [--minutes 10]

Makes a cut of many shots (moving lavfi pictures, 25 fps), recuts it with ffmpeg as an editor's
new export would be (shots removed, trimmed at head or tail, new shots put in, re-encoded at
another quality; with ``--grade`` also colour-corrected), analyses both (the analysis keeps the picture fingerprints), then times
:func:`tempscore.scoring.conform.match_pictures` against the plan stage it runs in and checks
every kept frame against the truth. Writes bench/results/conform.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # tests/support
from support.clips import make_cut_clip, run_ffmpeg
from tempscore.scoring.conform import match_pictures
from tempscore.scoring.plan import plan
from tempscore.vision.analyze import analyze

FPS = 25


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--grade", action="store_true",
                    help="also grade the recut (brightness +0.06, contrast x1.15, saturation x1.2, gamma 1.1), as a "
                         "version back from colour correction")
    ap.add_argument("--out", type=Path, default=None, help="default bench/results/conform.json (conform_graded.json)")
    a = ap.parse_args()
    rng = np.random.default_rng(5)
    work = Path(tempfile.mkdtemp(prefix="tempscore-conform-"))
    shots: list[int] = []
    while sum(shots) < a.minutes * 60 * FPS:
        shots.append(int(rng.choice([rng.integers(20, 60), rng.integers(80, 250)])))
    looks = ["testsrc2", "mandelbrot", "gradients=speed=0.05:c0=#ff8000:c1=#400020:seed=1", "testsrc",
             "gradients=speed=0.03:c0=#00a0ff:c1=#003000:type=radial:seed=2", "cellauto=rule=110:s=320x180"]
    parts, starts = [], np.concatenate([[0], np.cumsum(shots)])
    per = 60  # shots per part (lavfi's expression limit), joined
    for k in range(0, len(shots), per):
        parts.append(work / f"part{k // per}.mp4")
        make_cut_clip(parts[-1], shots[k:k + per], fps=FPS, size=(320, 180), looks=[looks[(k + i) % len(looks)] for i in range(per)])
    old = work / "v1.mp4"
    (work / "parts.txt").write_text("".join(f"file '{p.name}'\n" for p in parts))
    run_ffmpeg(["-f", "concat", "-safe", "0", "-i", str(work / "parts.txt"), "-c", "copy", str(old)], what="joining")
    insert = work / "insert.mp4"
    make_cut_clip(insert, [60], fps=FPS, size=(320, 180), looks=("smptehdbars",))
    # the recut: every 7th shot removed, every 5th trimmed by 10 frames at its tail, every 9th by 8 at
    # its head, a new 60-frame shot after every 11th
    pieces, truth, new_at = [], [], 0
    for i, n in enumerate(shots):
        a0, a1 = int(starts[i]), int(starts[i + 1])
        if i % 7 == 3:
            continue
        if i % 5 == 1 and n > 30:
            a1 -= 10
        if i % 9 == 2 and n > 30:
            a0 += 8
        pieces.append(("old", a0, a1))
        truth.append((a0, new_at, a1 - a0))
        new_at += a1 - a0
        if i % 11 == 6:
            pieces.append(("new", 0, 60))
            new_at += 60
    chains, labels = [], []
    for k, (src, a0, a1) in enumerate(pieces):
        chains.append(f"[{0 if src == 'old' else 1}:v]trim=start_frame={a0}:end_frame={a1},setpts=PTS-STARTPTS[v{k}]")
        labels.append(f"[v{k}]")
    graph = ";".join(chains) + ";" + "".join(labels) + f"concat=n={len(labels)}:v=1:a=0" + (
        "[c];[c]eq=brightness=0.06:contrast=1.15:saturation=1.2:gamma=1.1[v]" if a.grade else "[v]")
    (work / "graph.txt").write_text(graph)
    new = work / "v2.mp4"
    run_ffmpeg(["-i", str(old), "-i", str(insert), "-/filter_complex", str(work / "graph.txt"), "-map", "[v]",
                "-c:v", "libx264", "-preset", "ultrafast", "-crf", "30", str(new)], what="recutting")
    fa, fb = [], []
    t = time.perf_counter()
    an_old = analyze(old, fingerprint_out=fa)
    an_new = analyze(new, fingerprint_out=fb)
    analyse_sec = time.perf_counter() - t
    t = time.perf_counter()
    fmap = match_pictures(an_old, an_new, old_fingerprint=fa[0], new_fingerprint=fb[0])
    match_sec = time.perf_counter() - t
    t = time.perf_counter()
    plan(an_new)
    plan_sec = time.perf_counter() - t
    kept = sum(n for _, _, n in truth)
    exact = sum(1 for o, nw, n in truth for f in range(o, o + n) if fmap.new_frame(f) == nw + f - o)
    within1 = sum(1 for o, nw, n in truth for f in range(o, o + n)
                  if fmap.new_frame(f) is not None and abs(fmap.new_frame(f) - (nw + f - o)) <= 1)
    unmatched = sum(1 for o, _, n in truth for f in range(o, o + n) if fmap.new_frame(f) is None)
    kept_set = {f for o, _, n in truth for f in range(o, o + n)}
    false_maps = sum(1 for f in range(an_old.video.frame_count) if f not in kept_set and fmap.new_frame(f) is not None)
    result = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
              "old_frames": an_old.video.frame_count, "new_frames": an_new.video.frame_count,
              "old_shots": len(an_old.shots), "new_shots": len(an_new.shots),
              "graded": a.grade, "matched_by": fmap.by, "kept_frames_truth": kept, "mapped_exactly": round(exact / kept, 4), "mapped_within_1_frame": round(within1 / kept, 4),
              "kept_frames_not_found": unmatched,
              "removed_frames_mapped_anyway": false_maps,
              "match_sec": round(match_sec, 3), "plan_sec": round(plan_sec, 3), "analyse_both_sec": round(analyse_sec, 1)}
    out = a.out or Path(__file__).parent / "results" / ("conform_graded.json" if a.grade else "conform.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
