"""What the exports cost: `tempscore render` of a generated cut with each export on, beside the render
alone and ffmpeg's decode-only time of the same picture (the floor), all in one run.

    python bench/exports_speed.py [--minutes 2] [--size 1920x1080] [--fps 25]

Prints a table and writes bench/results/exports_speed.json. Times are compared only within one run
(ratios to the plain render and to the decode floor).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # tests/support
from e2e import decode_floor_sec  # bench/ is the script's folder
from support.clips import make_cut_clip

EXPORTS = ("click", "streamers", "sessions", "notation", "cuesheet")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=2.0)
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--fps", type=int, default=25)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "exports_speed.json")
    a = ap.parse_args()
    import tempscore
    from tempscore.api import render

    work = Path(tempfile.mkdtemp(prefix="tempscore-bench-exports-"))
    w, h = (int(x) for x in a.size.split("x"))
    rng = np.random.default_rng(11)
    total, shots = int(a.minutes * 60 * a.fps), []
    while sum(shots) < total:
        shots.append(int(rng.uniform(1.0, 6.0) * a.fps))
    video = work / "cut.mp4"
    make_cut_clip(video, shots, fps=a.fps, size=(w, h))
    res = tempscore.score(video, work / "out")
    floor = decode_floor_sec(video)
    rows = {}
    t = time.perf_counter()
    render(res.project.midi, settings=None)  # up to date: the cost of asking
    rows["render (up to date)"] = time.perf_counter() - t
    for name in EXPORTS:
        from tempscore.render.exports import ExportOptions

        t = time.perf_counter()
        render(res.project.midi, exports=ExportOptions(**{name: True}))
        rows[name] = time.perf_counter() - t
    out = {"machine": platform.platform(), "minutes": a.minutes, "size": a.size, "fps": a.fps,
           "decode_floor_sec": round(floor, 3), "render_total_sec": res.summary.timings_sec.get("render"),
           "export_sec": {k: round(v, 3) for k, v in rows.items()},
           "export_over_decode_floor": {k: round(v / floor, 2) for k, v in rows.items()}}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(out, indent=1))
    print(f"decode floor {floor:.2f} s; render {out['render_total_sec']} s")
    for k, v in rows.items():
        print(f"{k:22s} {v:7.2f} s  {v / floor:5.2f} x decode")


if __name__ == "__main__":
    main()
