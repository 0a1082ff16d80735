"""GPU inference: TransNetV2 and CLIP on CUDA beside the CPU, on the same videos, in one run.

    python bench/gpu_inference.py [--video FILE ...] [--rounds 2] [--out bench/results/gpu_inference.json]

For each video, alternating ``--rounds`` times:

- the floor: decoding every frame at the analysis size alone (``vision.decode.iter_frames``);
- ``analyze()`` (``--clip off``, no dialogue) with the classic detector, TransNetV2 on the CPU and
  on CUDA, and the combined detector on CUDA (the default where a CUDA GPU is present);
- CLIP emotion on the CPU and on CUDA, through the ``--clip-checkpoint`` code path
  (``load_clip(checkpoint=...)``, ``weights_only`` loading) with a randomly initialised ViT-B-32
  written to a temporary file: real-size timing, readings that mean nothing.

And once: TransNetV2's per-frame probabilities on CUDA against the CPU's (largest difference), and
whether every detector finds the same cuts on both. Without CUDA only the CPU rows are written.
Times are wall seconds of whole ``analyze()`` calls in this process (models loaded first, so
load time is left out); ratios are to the decode floor of the same round.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def decode_floor(video: Path) -> float:
    from tempscore.vision.decode import iter_frames

    t = time.perf_counter()
    for _ in iter_frames(video):
        pass
    return time.perf_counter() - t


def run_analyze(video: Path, clip_model=None, **kw) -> tuple[float, object]:
    from tempscore.vision import analyze
    from tempscore.vision.analyze import AnalyzeSettings

    s = AnalyzeSettings(clip="off" if clip_model is None else "auto", dialogue=False, **kw)
    t = time.perf_counter()
    a = analyze(video, settings=s, clip_model=clip_model)
    return time.perf_counter() - t, a


def transnet_probs(video: Path, device: str) -> np.ndarray:
    from tempscore.vision.decode import iter_frames
    from tempscore.vision.transnet import TransNetDetector

    det = TransNetDetector(device=device)
    for f in iter_frames(video):
        det.add(f.bgr)
    return det.finish()[0]


def random_clip_checkpoint(folder: Path, model: str) -> Path:
    """A randomly initialised open_clip ``model`` saved as a plain state dict (what --clip-checkpoint takes)."""
    import open_clip
    import torch

    torch.manual_seed(0)
    m = open_clip.create_model(model, pretrained=None)
    path = folder / f"{model}-random.pt"
    torch.save(m.state_dict(), path)
    return path


def bench_video(video: Path, rounds: int, cuda: bool, ckpt: Path | None, clip_arch: str) -> dict:
    from tempscore.vision.clip_emotion import load_clip

    configs = {"classic": {"shot_detector": "classic"}, "transnet_cpu": {"shot_detector": "transnet", "device": "cpu"}}
    if cuda:
        configs |= {"transnet_cuda": {"shot_detector": "transnet", "device": "cuda"},
                    "combined_cuda": {"shot_detector": "combined", "device": "cuda"}}
    clips = {}
    if ckpt is not None:
        clips["clip_cpu"] = load_clip(model=clip_arch, checkpoint=ckpt, device="cpu")
        if cuda:
            clips["clip_cuda"] = load_clip(model=clip_arch, checkpoint=ckpt, device="cuda")
    # warm-up: every model loaded and run once (CUDA context, cuDNN autotune) before timing
    for kw in configs.values():
        run_analyze(video, **kw)
    for c in clips.values():
        run_analyze(video, clip_model=c, shot_detector="classic")
    rows: list[dict] = []
    frames = 0
    cuts: dict[str, list[int]] = {}
    emotions: dict[str, list[tuple[float, float]]] = {}
    for _ in range(rounds):
        row = {"decode_floor_sec": round(decode_floor(video), 3)}
        for name, kw in configs.items():
            sec, a = run_analyze(video, **kw)
            row[name] = round(sec, 3)
            cuts[name] = [c.frame for c in a.cuts]
            frames = a.video.frame_count
        for name, c in clips.items():
            sec, a = run_analyze(video, clip_model=c, shot_detector="classic")
            row[name] = round(sec, 3)
            emotions[name] = [(s.valence, s.arousal) for s in a.shots]
        rows.append(row)
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    out = {"video": str(video), "frames": frames,
           "median_sec": med, "ratio_to_decode": {k: round(v / med["decode_floor_sec"], 2) for k, v in med.items()},
           "rounds": rows, "cuts": {k: len(v) for k, v in cuts.items()}}
    if cuda:
        p_cpu, p_gpu = transnet_probs(video, "cpu"), transnet_probs(video, "cuda")
        out["transnet_cuda_vs_cpu"] = {"frames": int(len(p_cpu)), "prob_max_abs_diff": float(np.abs(p_cpu - p_gpu).max()),
                                       "same_cuts": cuts["transnet_cuda"] == cuts["transnet_cpu"],
                                       "cut_frames_cpu_only": sorted(set(cuts["transnet_cpu"]) - set(cuts["transnet_cuda"])),
                                       "cut_frames_cuda_only": sorted(set(cuts["transnet_cuda"]) - set(cuts["transnet_cpu"]))}
        if clips:
            e_cpu, e_gpu = np.array(emotions["clip_cpu"]), np.array(emotions["clip_cuda"])
            out["clip_cuda_vs_cpu"] = {"shots": len(e_cpu),
                                       "valence_arousal_max_abs_diff": float(np.abs(e_cpu - e_gpu).max())}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, action="append", help="video(s) to time (default: the bundled sample)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--clip-model", default="ViT-B-32", help="open_clip architecture to time (random weights)")
    ap.add_argument("--no-clip", action="store_true", help="leave CLIP out (open_clip not installed)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "gpu_inference.json")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    cuda = torch.cuda.is_available()
    videos = args.video or [REPO / "samples" / "rough_cut.mp4"]
    result = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
                          "gpu": torch.cuda.get_device_name(0) if cuda else None},
              "note": "ViT-B-32 CLIP with random weights: timing only (no real weights are reachable here)",
              "videos": []}
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = None if args.no_clip else random_clip_checkpoint(Path(tmp), args.clip_model)
        for v in videos:
            r = bench_video(v, args.rounds, cuda, ckpt, args.clip_model)
            result["videos"].append(r)
            print(json.dumps(r["median_sec"]), json.dumps(r.get("transnet_cuda_vs_cpu")), file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = args.out.with_name(f".{args.out.name}.tmp")
    tmp_out.write_text(json.dumps(result, indent=1) + "\n")
    tmp_out.replace(args.out)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
