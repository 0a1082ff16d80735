"""Hashes of what `tempscore score` writes, to check that a change to speed or memory changed no
output: the MIDI and the WAV (and the other stage files) of the bundled sample and of a generated
10-minute cut (``bench/rerun.py``'s ``long_cut``, cached under ``build/``).

    python bench/output_hashes.py [--minutes 10] [--video FILE ...] [--out FILE.json] [--compare FILE.json] [-- score options]

Each video is scored from an empty output folder. ``--compare`` exits 1 when any hash differs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))

#: the files compared (by suffix of ``<stem>``): the analysis and timeline name the folder, so they
#: are compared without their paths
HASHED = (".score.mid", ".score.wav", ".sync.csv")


def generated_cut(minutes: float) -> Path:
    """The generated cut of ``minutes``, made once under build/."""
    from rerun import long_cut

    work = REPO / "build" / f"cut{minutes:g}"
    clip = work / "long_cut.mp4"
    if not clip.is_file():
        work.mkdir(parents=True, exist_ok=True)
        long_cut(work, minutes)
    return clip


def score_hashes(video: Path, extra: list[str]) -> dict[str, str]:
    out = Path(tempfile.mkdtemp(prefix="tempscore-hashes-", dir=REPO / "build"))
    try:
        r = subprocess.run([sys.executable, "-m", "tempscore.cli", "score", str(video), "-o", str(out), *extra],
                           check=False, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        if r.returncode != 0:
            raise SystemExit(f"score failed on {video}: {r.stderr[-2000:]}")
        got = {s: hashlib.sha256((out / f"{video.stem}{s}").read_bytes()).hexdigest() for s in HASHED}
        for s in (".timeline.json",):
            doc = (out / f"{video.stem}{s}").read_text().replace(str(out), "OUT")
            got[s] = hashlib.sha256(doc.encode()).hexdigest()
        return got
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--compare", type=Path)
    ap.add_argument("--video", type=Path, action="append", default=[], help="another video to hash (repeatable)")
    ap.add_argument("extra", nargs="*", help="score options after --")
    a = ap.parse_args()
    videos = {"sample": REPO / "samples" / "rough_cut.mp4"}
    if a.minutes > 0:
        videos[f"generated_{a.minutes:g}min"] = generated_cut(a.minutes)
    videos.update({v.name: v for v in a.video})
    result = {name: score_hashes(v, a.extra) for name, v in videos.items()}
    print(json.dumps(result, indent=1))
    if a.out:
        a.out.write_text(json.dumps(result, indent=1))
    if a.compare:
        before = json.loads(a.compare.read_text())
        diff = [(n, s) for n in result for s in result[n] if before.get(n, {}).get(s) != result[n][s]]
        if diff:
            raise SystemExit(f"outputs differ: {diff}")
        print("same outputs as", a.compare)


if __name__ == "__main__":
    main()
