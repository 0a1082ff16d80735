"""Shot transitions on generated clips with exactly known hard cuts, fades and dissolves.

    python bench/eval_transitions.py [--clips 12] [--methods classic,transnet,combined] [--work DIR]

Each clip joins 8 moving lavfi shots (test patterns, fractal zooms, cellular automata, drifting
gradients, some with film grain) at 24000/1001, 25, 30000/1001 or 50 fps with cuts, linear
dissolves and fades through black of 4-60 frames, blended frame by frame in numpy
(``tempscore.media.make_transition_clip``) and encoded with x264, so the truth is exact. Scores
per method: hard-cut precision/recall/F1 at +-1 frame (a hard cut reported inside a true gradual
transition is a false positive), gradual precision/recall (a detection matches a true transition
it overlaps, one to one) and the mean start/end error of matched gradual transitions in frames.
Writes bench/results/eval_transitions.json.
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

sys.path.insert(0, str(Path(__file__).parent))
from eval_shots import _from_counts, match_greedy

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # tests/support
from support.clips import make_transition_clip

#: Film grain (``noise``) is set to what the grain of a 1080p scan keeps after the 6x downscale to the
#: 320 px analysis frames (these clips are made at 320x180).
#: Every random source has a fixed seed. Every shot is a different source (two variants of one source would make cuts that are only a light change)
LOOKS = ("testsrc2", "mandelbrot", "smptehdbars,noise=alls=5:allf=t:all_seed=1",
         "gradients=speed=0.05:c0=#ff8000:c1=#400020:seed=3", "rgbtestsrc,noise=alls=3:allf=t:all_seed=2",
         "testsrc,hue=H=0.5*t", "life=ratio=0.3:mold=10:life_color=#ffaa00:seed=4", "cellauto=rule=110:random_seed=5",
         "yuvtestsrc,noise=alls=4:allf=t:all_seed=6", "smptebars,hue=s=0.6,noise=alls=4:allf=t:all_seed=7",
         "colorspectrum=type=all,noise=alls=3:allf=t:all_seed=8", "pal75bars,noise=alls=4:allf=t:all_seed=9")
RATES = (Fraction(24000, 1001), Fraction(25), Fraction(30000, 1001), Fraction(50))


def make_clip(path: Path, seed: int) -> tuple[list[tuple[str, int, int]], Fraction]:
    rng = np.random.default_rng(seed)
    fps = RATES[seed % len(RATES)]
    kinds = rng.choice(["cut", "dissolve", "fade"], size=7, p=[0.4, 0.35, 0.25])
    durs = [0 if k == "cut" else int(rng.integers(4, 61)) for k in kinds]
    shots = []
    for i in range(8):
        need = (durs[i - 1] if i else 0) + (durs[i] if i < 7 else 0)
        shots.append(need + int(rng.integers(int(0.8 * float(fps)), int(4 * float(fps)))))
    looks = [LOOKS[j] for j in rng.permutation(len(LOOKS))[:8]]
    truth = make_transition_clip(path, shots, list(zip(kinds, durs)), fps=fps, looks=looks)
    return truth, fps


def score_clip(cuts, truth) -> dict:
    hard_t = [s for k, s, _ in truth if k == "hard"]
    grad_t = [(s, e) for k, s, e in truth if k != "hard"]
    hard_d = [c.frame for c in cuts if c.kind == "hard"]
    grad_d = [(c.frame - 1, c.end_frame or c.frame + 1) for c in cuts if c.kind == "gradual"]  # (last pure, first pure)
    m = match_greedy(hard_d, hard_t, 1)
    pairs = sorted(((-(min(e, f) - max(s, r)), i, j) for i, (s, e) in enumerate(grad_d) for j, (r, f) in enumerate(grad_t)
                    if s <= f + 1 and r <= e + 1))
    used_d, used_t, gm = set(), set(), []
    for _, i, j in pairs:
        if i not in used_d and j not in used_t:
            used_d.add(i)
            used_t.add(j)
            gm.append((grad_d[i], grad_t[j]))
    return {"hard": (len(m), len(hard_d) - len(m), len(hard_t) - len(m)),
            "gradual": (len(gm), len(grad_d) - len(gm), len(grad_t) - len(gm)),
            "start_err": [abs(d[0] - t[0]) for d, t in gm], "end_err": [abs(d[1] - t[1]) for d, t in gm]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=12)
    ap.add_argument("--methods", default="classic,transnet,combined")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "tempscore-transitions")
    a = ap.parse_args()
    from tempscore.vision import AnalyzeSettings, analyze

    a.work.mkdir(parents=True, exist_ok=True)
    clips = []
    for seed in range(a.clips):
        path = a.work / f"tr_{seed:02d}.mp4"
        meta = path.with_suffix(".json")
        if not (path.is_file() and meta.is_file()):
            truth, fps = make_clip(path, seed)
            meta.write_text(json.dumps({"truth": truth, "fps": str(fps)}))
        clips.append((path, [tuple(t) for t in json.loads(meta.read_text())["truth"]]))
    res: dict = {"clips": a.clips, "methods": {}}
    for method in a.methods.split(","):
        tot = {"hard": [0, 0, 0], "gradual": [0, 0, 0]}
        errs_s, errs_e, per_clip, sec = [], [], [], 0.0
        for path, truth in clips:
            t = time.perf_counter()
            an = analyze(path, settings=AnalyzeSettings(clip="off", dialogue=False, shot_detector=method))
            sec += time.perf_counter() - t
            s = score_clip(an.cuts, truth)
            for k in ("hard", "gradual"):
                tot[k] = [x + y for x, y in zip(tot[k], s[k])]
            errs_s += s["start_err"]
            errs_e += s["end_err"]
            per_clip.append({"clip": path.name, "hard_tp_fp_fn": s["hard"], "gradual_tp_fp_fn": s["gradual"],
                             "truth": truth, "found": [(c.frame, c.end_frame, c.transition or c.kind) for c in an.cuts]})
        h, g = _from_counts(*tot["hard"], []), _from_counts(*tot["gradual"], [])
        res["methods"][method] = {
            "hard": {"tp": h.tp, "fp": h.fp, "fn": h.fn, "precision": h.precision, "recall": h.recall, "f1": h.f1},
            "gradual": {"tp": g.tp, "fp": g.fp, "fn": g.fn, "precision": g.precision, "recall": g.recall, "f1": g.f1,
                        "mean_start_err_frames": round(float(np.mean(errs_s)), 2) if errs_s else None,
                        "mean_end_err_frames": round(float(np.mean(errs_e)), 2) if errs_e else None},
            "analyze_sec": round(sec, 1), "per_clip": per_clip}
        print(f"{method:9s} hard P {h.precision:.3f} R {h.recall:.3f} F1 {h.f1:.3f} | gradual P {g.precision:.3f} "
              f"R {g.recall:.3f} F1 {g.f1:.3f} err start {res['methods'][method]['gradual']['mean_start_err_frames']} "
              f"end {res['methods'][method]['gradual']['mean_end_err_frames']} | {sec:.1f} s")
    out = Path(__file__).parent / "results" / "eval_transitions.json"
    out.write_text(json.dumps(res, indent=1))
    print(f"results in {out}")


if __name__ == "__main__":
    main()
