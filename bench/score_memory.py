"""Peak memory of the whole process tree of `tempscore score` at several lengths of 1080p cut.

    python bench/score_memory.py [--video FILE ...] [--stems] [--out FILE.json]

By default the cuts are the ones the other benches keep under ``build/``: the 2-minute 1080p25
cut of ``bench/e2e.py``, the same cut ten times over (20 minutes, stream-copied), and the first
hour and the whole of ``bench/feature.py``'s 2-hour 1080p24 cut (the hour stream-copied from it);
each is made once when missing (the 2-hour one is only used when it has been generated: that takes
long, run ``bench/feature.py --generate-only``). Each video is scored from an empty folder and
the tree (the process, its synthesis worker, ffmpeg) is sampled every second
(:mod:`treemem`): peak RSS summed over the tree at one instant, its anonymous part, the largest
process, each process's peak and the tree at its peak, the wall time and the disk used at its peak. Writes ``bench/results/score_memory.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # tests/support
sys.path.insert(0, str(Path(__file__).parent))
from feature import score_run

from support.clips import run_ffmpeg

BUILD = REPO / "build"


def _copied(src: Path, out: Path, *, repeat: int = 1, seconds: float | None = None) -> Path:
    """``src`` joined ``repeat`` times over and/or cut to ``seconds``, stream-copied (made once)."""
    if out.is_file():
        return out
    listing = out.with_suffix(".txt")
    listing.write_text(f"file '{src.resolve()}'\n" * repeat)
    tmp = out.with_suffix(".tmp.mp4")
    run_ffmpeg(["-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy",
                *(["-t", f"{seconds:.3f}"] if seconds else []), str(tmp)], what=f"making {out.name}")
    tmp.replace(out)
    return out


def default_videos() -> dict[str, Path]:
    """The cuts measured by default (see the module's docstring), by length."""
    two = BUILD / "e2e" / "bench_2min_1920x1080.mp4"
    if not two.is_file():
        raise SystemExit(f"{two} is missing: run `python bench/e2e.py --keep build/e2e --rounds 1` first")
    videos = {"2min": two, "20min": _copied(two, BUILD / "memory" / "cut20_1080.mp4", repeat=10)}
    feature = BUILD / "feature-120min" / "feature.mp4"
    if feature.is_file():
        videos["60min"] = _copied(feature, BUILD / "memory" / "cut60_1080.mp4", seconds=3600)
        videos["120min"] = feature
    return videos


def measure(video: Path, extra: list[str]) -> dict:
    """``tempscore score`` from an empty folder under the tree sampler, with the disk it used
    (:func:`feature.score_run`); the folder is removed afterwards."""
    out = BUILD / "memory" / f"out-{video.stem}"
    row = {"video": str(video), **score_run(video, out, extra)}
    shutil.rmtree(out, ignore_errors=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", type=Path, action="append", default=[], help="a cut to measure instead (repeatable)")
    ap.add_argument("--only", action="append", default=[], help="of the default cuts, only this length (2min, ...)")
    ap.add_argument("--stems", action="store_true", help="score with --stems too")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "score_memory.json")
    a = ap.parse_args()
    (BUILD / "memory").mkdir(parents=True, exist_ok=True)
    videos = {v.stem: v for v in a.video} or default_videos()
    if a.only:
        videos = {k: v for k, v in videos.items() if k in a.only}
    result: dict = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                "ram_gb": round(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30, 1),
                                "load_avg_at_start": os.getloadavg()}, "runs": {}}
    for name, video in videos.items():
        for extra in [[]] + ([["--stems"]] if a.stems else []):
            key = name + ("_stems" if extra else "")
            result["runs"][key] = row = measure(video, extra)
            print(f"{key}: peak tree RSS {row['peak_tree_rss_mb']} MB (anon {row['peak_tree_anon_mb']}, largest "
                  f"process {row['peak_largest_rss_mb']}), {row['wall_sec']} s, exit {row['exit']}",
                  file=sys.stderr, flush=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    if a.out.is_file() and a.only:  # a partial run updates the others' rows
        old = json.loads(a.out.read_text())
        old.get("runs", {}).update(result["runs"])
        result["runs"] = old.get("runs", result["runs"])
    a.out.write_text(json.dumps(result, indent=1))
    print(f"results in {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
