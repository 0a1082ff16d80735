"""Evaluate the music generator: conditioning faithfulness per valence/arousal quadrant (with an
unconditioned baseline), corpus statistics side by side, hit alignment on the bundled sample,
speed (float vs int8), copy check and determinism.

    python bench/eval_generator.py [--samples 40] [--out bench/results/eval_generator.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from tempscore.harmony import PROGRESSIONS
from tempscore.models.generator import BarCondition, CueRequest, Generator
from tempscore.models.guard import COPY_LIMIT, longest_shared_ngram
from tempscore.models.tokens import BarData

REPO = Path(__file__).resolve().parents[1]
# Krumhansl-Kessler key profiles
MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
QUADRANTS = {  # name: (mode, requested density band, mood for the chord progression)
    "excited (V+ A+)": ("maj", 3, "excited"),
    "serene (V+ A-)": ("maj", 0, "serene"),
    "tense (V- A+)": ("min", 3, "tense"),
    "sombre (V- A-)": ("min", 0, "sombre"),
}


def _pc_weights(bars: list[BarData]) -> np.ndarray:
    w = np.zeros(12)
    for b in bars:
        for _, p, d in b.notes:
            w[p % 12] += d
    return w


def measured_mode(bars: list[BarData], tonic: int) -> str:
    """Mode at the requested tonic: Krumhansl-Kessler major vs minor profile correlation of the
    duration-weighted pitch classes, both profiles rooted on ``tonic``."""
    w = _pc_weights(bars)
    if w.sum() == 0:
        return "none"
    return "maj" if np.corrcoef(w, np.roll(MAJOR, tonic))[0, 1] >= np.corrcoef(w, np.roll(MINOR, tonic))[0, 1] else "min"


def measured_key_24(bars: list[BarData]) -> tuple[int, str]:
    """Full Krumhansl-Schmuckler key finding over the 24 keys (tonic may differ: relative keys)."""
    w = _pc_weights(bars)
    if w.sum() == 0:
        return -1, "none"
    best = max(((np.corrcoef(w, np.roll(prof, k))[0, 1], k, m) for k in range(12)
                for prof, m in ((MAJOR, "maj"), (MINOR, "min"))), key=lambda x: x[0])
    return best[1], best[2]


def density_band(bars: list[BarData], beats: int = 4) -> str:
    n = sum(len(b.notes) for b in bars)
    return "high" if n / (beats * len(bars)) >= 1.25 else "low"


def stats(bars: list[BarData], beats: int = 4) -> dict[str, float]:
    """Pitch-class entropy (bits), scale consistency, empty-beat rate, polyphony of a window."""
    pcs = np.zeros(12)
    onsets = [p for b in bars for _, p, _ in b.notes]
    for p in onsets:
        pcs[p % 12] += 1
    pr = pcs / max(pcs.sum(), 1)
    ent = float(-(pr[pr > 0] * np.log2(pr[pr > 0])).sum())
    best = 0.0
    for k in range(12):
        for sc in ((0, 2, 4, 5, 7, 9, 11), (0, 2, 3, 5, 7, 8, 10)):
            s = {(k + x) % 12 for x in sc}
            best = max(best, sum(1 for p in onsets if p % 12 in s) / max(len(onsets), 1))
    sounding = np.zeros(len(bars) * beats * 4)
    for i, b in enumerate(bars):
        for pos, _, d in b.notes:
            sounding[i * beats * 4 + pos: i * beats * 4 + pos + d] += 1
    beat_on = sounding.reshape(-1, 4).max(axis=1) > 0
    poly = float(sounding[sounding > 0].mean()) if (sounding > 0).any() else 0.0
    return {"pc_entropy": ent, "scale_consistency": best, "empty_beat_rate": float(1 - beat_on.mean()), "polyphony": poly}


def requests_for(mode: str, dens: int, mood: str, n: int, *, unconditioned: bool = False) -> list[CueRequest]:
    prog = PROGRESSIONS[mood]
    out = []
    for i in range(n):
        tonic = i % 12
        if unconditioned:
            bars = [BarCondition("unk", -1, "unk", -1) for _ in range(8)]
        else:
            bars = [BarCondition(mode, dens, "mid", prog[b % 4] if b < 7 else 0) for b in range(8)]
        out.append(CueRequest(tonic_pc=tonic, meter_beats=4, bars=bars, seed=1000 + i))
    return out


def faithfulness(gen: Generator, n: int) -> dict:
    res: dict[str, dict] = {}
    unc_reqs = requests_for("unk", -1, "serene", n * 2, unconditioned=True)
    unc = gen.generate(unc_reqs)
    for name, (mode, dens, mood) in QUADRANTS.items():
        reqs = requests_for(mode, dens, mood, n)
        outs = gen.generate(reqs)
        want_band = "high" if dens >= 2 else "low"
        hit = [measured_mode(o, r.tonic_pc) == mode and density_band(o) == want_band for o, r in zip(outs, reqs)]
        base = [measured_mode(o, r.tonic_pc) == mode and density_band(o) == want_band for o, r in zip(unc, unc_reqs)]
        k24 = [measured_key_24(o) == (r.tonic_pc, mode) for o, r in zip(outs, reqs)]
        res[name] = {"conditioned": round(float(np.mean(hit)), 3), "unconditioned_baseline": round(float(np.mean(base)), 3),
                     "mode_ok": round(float(np.mean([measured_mode(o, r.tonic_pc) == mode for o, r in zip(outs, reqs)])), 3),
                     "exact_key_of_24": round(float(np.mean(k24)), 3),
                     "density_ok": round(float(np.mean([density_band(o) == want_band for o in outs])), 3),
                     "max_shared_interval_ngram": max(longest_shared_ngram([p for b in o for _, p, _ in b.notes]) for o in outs)}
    return res


def corpus_stats(n_windows: int = 300) -> dict:
    from tempscore.models.train import CORPUS_JSON, bars_of, load_prepared

    if not CORPUS_JSON.is_file():
        return {}
    d = load_prepared()
    rng = np.random.default_rng(0)
    rows = []
    pieces = [p for p in d["val"] + d["train"] if p["beats"] == 4 and len(p["bars"]) >= 10]
    for _ in range(n_windows):
        p = pieces[rng.integers(len(pieces))]
        s = int(rng.integers(1, len(p["bars"]) - 8))
        rows.append(stats(bars_of(p)[s:s + 8]))
    return {k: [round(float(np.percentile([r[k] for r in rows], q)), 3) for q in (5, 50, 95)] for k in rows[0]}


def speed(path: str | None, quantized: bool) -> dict:
    import torch

    torch.set_num_threads(2)
    t = time.perf_counter()
    g = Generator.load(path, quantized=quantized)
    load = time.perf_counter() - t
    # a 2-minute cue at 120 BPM in 4/4: 60 bars, mid density
    req = CueRequest(tonic_pc=2, meter_beats=4, bars=[BarCondition("min", 2, "mid", [0, 5, 3, 4][i % 4]) for i in range(60)], seed=5)
    t = time.perf_counter()
    out = g.generate([req])[0]
    gen = time.perf_counter() - t
    return {"load_sec": round(load, 3), "generate_2min_cue_sec": round(gen, 3), "notes": sum(len(b.notes) for b in out)}


def sample_checks() -> dict:
    """Hit accents and determinism on the bundled sample (full pipeline through the MIDI file)."""
    import pretty_midi
    from tempscore.models import compose
    from tempscore.render.midi import write_midi
    from tempscore.scoring import plan
    from tempscore.vision import analyze

    a = analyze(REPO / "samples" / "rough_cut.mp4")
    tl = plan(a)
    fps = a.video.fps_num / a.video.fps_den
    tmp = Path(tempfile.mkdtemp())
    digests = []
    for i in range(2):
        write_midi(compose(tl, seed=7), tmp / f"s{i}.mid")
        digests.append(hashlib.sha256((tmp / f"s{i}.mid").read_bytes()).hexdigest())
    pm = pretty_midi.PrettyMIDI(str(tmp / "s0.mid"))
    onsets = np.array(sorted(n.start for i in pm.instruments if i.name.startswith("Brass (accents)") for n in i.notes))
    hits = [h.time_sec for h in tl.hit_points]
    ok = [bool(len(onsets)) and float(np.min(np.abs(onsets - t))) * fps <= 1.0 for t in hits]
    return {"hit_points": len(hits), "hits_with_accent_within_1_frame": int(sum(ok)),
            "midi_identical_across_runs": digests[0] == digests[1]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--samples", type=int, default=40)
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "eval_generator.json")
    a = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    g = Generator.load(a.checkpoint)
    meta = g.meta
    result = {"checkpoint": g.path, "params": meta.get("params"), "best_val_loss": meta.get("best_val_loss"),
              "best_val_ppl": meta.get("best_val_ppl")}
    result["faithfulness_float"] = faithfulness(g, a.samples)
    result["faithfulness_int8"] = faithfulness(Generator.load(a.checkpoint, quantized=True), a.samples)
    gen_rows = [stats(o) for q in QUADRANTS.values() for o in g.generate(requests_for(q[0], q[1], q[2], 10))]
    result["stats_generated"] = {k: [round(float(np.percentile([r[k] for r in gen_rows], p)), 3) for p in (5, 50, 95)]
                                 for k in gen_rows[0]}
    result["stats_corpus"] = corpus_stats()
    result["speed_float"] = speed(a.checkpoint, False)
    result["speed_int8"] = speed(a.checkpoint, True)
    result["sample"] = sample_checks()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    worst = min(v["conditioned"] for v in result["faithfulness_float"].values())
    print(f"\nworst quadrant faithfulness (float): {worst:.0%}; copy limit {COPY_LIMIT}-gram")


if __name__ == "__main__":
    main()
