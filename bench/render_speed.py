"""Render benchmark: synthesis + mix of generated scores, against real time, per soundfont,
with the quality figures measured on the same output.

    python bench/render_speed.py [--minutes 5] [--seeds 1 2 3] [--soundfonts timgm6mb fluidr3]

For each seed: a synthetic rough cut of that length -> plan -> compose -> MIDI, then
`render_audio` (synthesis per section and cue, hall, ducking under two speech regions, loudness
with the true-peak limiter) timed per stage. On its output: integrated loudness (pyloudnorm),
true peak (4x polyphase oversampling of the whole signal), the ducking depth against the same
render without ducking, and the largest sample-to-sample jump at the cue edges against the
largest elsewhere. Writes bench/results/render_speed.json. Timings are compared only within one run.
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

SR = 48000


def baseline_sec(work: Path) -> float:
    """The reference workload of ../shared/notes (0.38 s there): a 30 s four-instrument MIDI
    rendered by a plain TinySoundFont loop with TimGM6mb. Timed in the same run, it tells how
    busy the machine is (timings here are only compared within one run)."""
    import pretty_midi
    import tinysoundfont
    from tempscore.render.synth import timgm6mb_path

    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    for prog, base in ((0, 60), (48, 55), (32, 36), (73, 72)):
        inst = pretty_midi.Instrument(program=prog)
        for k in range(60):
            inst.notes.append(pretty_midi.Note(velocity=90, pitch=base + (k * 5) % 12, start=k * 0.5, end=k * 0.5 + 0.45))
        pm.instruments.append(inst)
    path = work / "baseline.mid"
    pm.write(str(path))
    t = time.perf_counter()
    pm = pretty_midi.PrettyMIDI(str(path))
    synth = tinysoundfont.Synth(samplerate=SR, gain=-6.0)
    sfid = synth.sfload(str(timgm6mb_path()))
    events = []
    for ch, inst in enumerate(pm.instruments):
        synth.program_select(ch, sfid, 0, inst.program)
        events += [(int(n.start * SR), 1, ch, n.pitch, n.velocity) for n in inst.notes]
        events += [(int(n.end * SR), 0, ch, n.pitch, 0) for n in inst.notes]
    pos, total = 0, 31 * SR
    for sample, on, ch, key, vel in sorted(events) + [(total, 0, 0, 0, 0)]:
        if sample > pos:
            synth.generate(sample - pos)
            pos = sample
        synth.noteon(ch, key, vel) if on else synth.noteoff(ch, key)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--soundfonts", nargs="+", default=["timgm6mb", "fluidr3"])
    ap.add_argument("--target", type=float, default=-23.0)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "render_speed.json")
    a = ap.parse_args()

    import pyloudnorm
    from scipy.signal import resample_poly
    from tempscore.models import compose
    from tempscore.render import RenderSettings, render_audio
    from tempscore.render.midi import write_midi
    from tempscore.render.synth import fluidr3_path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # tests/support
    from support.synthetic import synthetic_analysis
    from tempscore.scoring import plan

    work = Path(tempfile.mkdtemp(prefix="tempscore-render-bench-"))
    dur = a.minutes * 60
    speech = [(0.2 * dur, 0.2 * dur + 12.0), (0.6 * dur, 0.6 * dur + 20.0)]
    fonts = [f for f in a.soundfonts if f != "fluidr3" or fluidr3_path() is not None]
    load0 = os.getloadavg()[0]
    base = min(baseline_sec(work) for _ in range(3))
    print(f"baseline (30 s, 4 instruments, plain TinySoundFont + TimGM6mb): {base:.3f} s "
          f"(0.38 s on an idle machine in ../shared/notes); load average {load0:.2f}", flush=True)
    rows = []
    for seed in a.seeds:
        tl = plan(synthetic_analysis(dur, seed=seed))
        score = compose(tl, seed=seed)
        mid = write_midi(score, work / f"s{seed}.score.mid", timeline=tl)
        notes = sum(len(p.notes) for p in score.parts)
        for font in fonts:
            s = RenderSettings(soundfont=font, target_lufs=a.target)
            render_audio(mid, tl, settings=RenderSettings(soundfont=font, reverb=False), speech=[])  # warm caches
            t = time.perf_counter()
            res = render_audio(mid, tl, settings=s, speech=speech)
            wall = time.perf_counter() - t
            plain = render_audio(mid, tl, settings=s, speech=[]).music
            x = res.music
            lufs = float(pyloudnorm.Meter(SR).integrated_loudness(x.astype(np.float64)))
            tp = float(20 * np.log10(np.abs(resample_poly(x.astype(np.float64), 4, 1, axis=0)).max()))

            def level(y: np.ndarray, spans: list[tuple[float, float]]) -> float:
                idx = np.concatenate([np.arange(int(p * SR), int(q * SR)) for p, q in spans])
                return float(10 * np.log10(np.mean(y[idx].astype(np.float64) ** 2) + 1e-30))

            inside = [(p + 0.5, q - 0.5) for p, q in speech]
            outside = [(5.0, speech[0][0] - 1.0), (speech[0][1] + 2.0, speech[1][0] - 1.0)]
            depth = (level(x, outside) - level(plain, outside)) - (level(x, inside) - level(plain, inside))
            jump = np.abs(np.diff(x, axis=0)).max(axis=1)
            edge = np.zeros(len(jump), bool)
            for c in tl.cues[1:]:
                for e in (c.start_sec, c.start_sec + 60.0 / c.tempo_bpm):  # cue start and crossfade end
                    edge[max(0, int((e - 0.01) * SR)) : int((e + 0.01) * SR)] = True
            rows.append({
                "wall_over_baseline": round(wall / base, 2),
                "seed": seed, "soundfont": Path(res.soundfont).name, "minutes": a.minutes, "cues": len(tl.cues),
                "notes": notes, "sections": sorted(res.parts), "wall_sec": round(wall, 2),
                "x_real_time": round(dur / wall, 1), "stages_sec": res.timings_sec,
                "lufs": round(lufs, 3), "lufs_error": round(lufs - a.target, 3), "true_peak_dbtp": round(tp, 3),
                "limiter_max_gr_db": res.loudness.limiter_max_gr_db, "duck_depth_measured_db": round(depth, 2),
                "duck_depth_set_db": s.duck_depth_db, "max_jump_at_edges": round(float(jump[edge].max()), 4),
                "max_jump_elsewhere": round(float(jump[~edge].max()), 4),
            })
            r = rows[-1]
            print(f"seed {seed} {r['soundfont']:16s} {r['wall_sec']:5.2f} s = {r['x_real_time']:5.1f}x real time "
                  f"{r['stages_sec']}  LUFS {r['lufs']:+.2f}  TP {r['true_peak_dbtp']:+.2f} dBTP  "
                  f"duck {r['duck_depth_measured_db']:.2f} dB  jump edges {r['max_jump_at_edges']:.4f} "
                  f"/ elsewhere {r['max_jump_elsewhere']:.4f}", flush=True)
    base_end = min(baseline_sec(work) for _ in range(3))
    result = {"machine": {"cpus": len(os.sched_getaffinity(0)), "platform": platform.platform(),
                          "python": platform.python_version(), "load_average_start": round(load0, 2),
                          "load_average_end": round(os.getloadavg()[0], 2)},
              "baseline_sec": {"start": round(base, 3), "end": round(base_end, 3), "idle_reference": 0.38},
              "target_lufs": a.target, "speech_regions": speech, "runs": rows,
              "worst": {"x_real_time": min(r["x_real_time"] for r in rows),
                        "abs_lufs_error": max(abs(r["lufs_error"]) for r in rows),
                        "true_peak_dbtp": max(r["true_peak_dbtp"] for r in rows),
                        "duck_depth_measured_db": min(r["duck_depth_measured_db"] for r in rows)}}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=1))
    print(f"baseline at the end: {base_end:.3f} s")
    print("worst:", result["worst"], f"-> {a.out}")
    if result["worst"]["x_real_time"] < 50:
        print("below 50x real time", file=sys.stderr)


if __name__ == "__main__":
    main()
