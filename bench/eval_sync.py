"""Sync accuracy of the plan: how many hard cuts become hits, and how many hits land within
+-1 frame of the beat/half-beat grid, measured independently through the MIDI file's beats.

    python bench/eval_sync.py [--clips 12] [--seed 3]

Runs on the bundled sample plus generated rough cuts (random shot lengths, 23.976-60 fps).
Writes bench/results/eval_sync.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pretty_midi

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # tests/support
from support.clips import make_cut_clip
from tempscore.models import compose
from tempscore.render.midi import write_midi
from tempscore.scoring import PlanSettings, plan
from tempscore.vision import analyze

REPO = Path(__file__).resolve().parents[1]
RATES = [Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(50), Fraction(60000, 1001)]


def a_end(tl) -> float:
    return tl.video.duration_sec


def measure(path: Path, settings: PlanSettings, work: Path) -> dict:
    a = analyze(path)
    t = time.perf_counter()
    tl = plan(a, settings)
    plan_sec = time.perf_counter() - t
    mid = write_midi(compose(tl), work / f"{path.stem}.mid")
    pm = pretty_midi.PrettyMIDI(str(mid))
    sub = settings.hit_subdivision
    step = pm.resolution // sub  # grid points in MIDI ticks, converted with the file's own tempo map
    grid = np.array([pm.tick_to_time(k * step) for k in range(int(pm.time_to_tick(a_end(tl))) // step + 2)])
    fps = a.video.fps_num / a.video.fps_den
    hard = {c.frame: c.time_sec for c in a.cuts if c.kind == "hard"}
    kept = [h for h in tl.hit_points if h.frame in hard]
    landed = sum(1 for h in kept if np.min(np.abs(grid - hard[h.frame])) * fps <= 1.0 + 1e-3)
    tempi = [e.bpm for e in tl.tempo_map]
    return {"clip": path.name, "fps": f"{a.video.fps_num}/{a.video.fps_den}", "cues": len(tl.cues),
            "hard_cuts": len(hard), "hard_cuts_hit": len(kept), "hits_landed_midi": landed,
            "ramps": sum(c.why["ramps"] for c in tl.cues), "bpm_range": [round(min(tempi), 2), round(max(tempi), 2)],
            "suggestions": len(tl.suggestions), "plan_sec": round(plan_sec, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=12)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "eval_sync.json")
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    work = Path(tempfile.mkdtemp(prefix="tempscore-sync-"))
    clips = [REPO / "samples" / "rough_cut.mp4"]
    for i in range(a.clips):
        fps = RATES[i % len(RATES)]
        f = float(fps)
        shots = [int(f * (rng.uniform(0.5, 2.0) if rng.random() < 0.5 else rng.uniform(2.0, 7.0))) for _ in range(rng.integers(6, 18))]
        p = work / f"gen{i:02d}.mp4"
        make_cut_clip(p, shots, fps=fps, size=(192, 108), audio=bool(i % 2))
        clips.append(p)
    rows = {}
    for mode, s in (("ramps (default)", PlanSettings()), ("constant tempo per cue", PlanSettings(max_ramp=0.0))):
        rows[mode] = [measure(c, s, work) for c in clips]
    summary = {}
    for mode, rs in rows.items():
        hard = sum(r["hard_cuts"] for r in rs)
        hit = sum(r["hard_cuts_hit"] for r in rs)
        landed = sum(r["hits_landed_midi"] for r in rs)
        summary[mode] = {"hard_cuts": hard, "hit": hit, "hit_share": round(hit / max(hard, 1), 3),
                         "landed_share_of_hits": round(landed / max(hit, 1), 3), "ramps": sum(r["ramps"] for r in rs)}
        print(f"{mode:24s} hard cuts {hard:4d}  chosen as hits {hit:4d} ({hit / max(hard, 1):.1%})  "
              f"landed within 1 frame (MIDI beats) {landed}/{hit} ({landed / max(hit, 1):.1%})  ramps {summary[mode]['ramps']}")
    sample = rows["ramps (default)"][0]
    print(f"bundled sample: {sample['hard_cuts_hit']}/{sample['hard_cuts']} hard cuts hit, "
          f"{sample['hits_landed_midi']}/{sample['hard_cuts_hit']} landed")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"summary": summary, "clips": rows}, indent=1))
    print(f"results in {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
