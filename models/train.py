"""Train the music generator (seeded, reproducible).

    python -m tempscore.models.train prepare            # parse the music21 corpus -> build/corpus.json.gz
    python -m tempscore.models.train fit [--steps N]    # train -> models/generator.safetensors (+ .json)

``fit`` runs on the GPU when one is present (bf16 autocast), else on the CPU. The shipped
checkpoint (d_model 256, 4 layers, 4 heads, context 512; 3000 steps of 64 x 512 tokens) was
trained on an H100 in 91 s. On 2 CPU cores one step of 16 x 512 tokens takes about 3.9 s, so
``--preset cpu`` (900 such steps) trains the same architecture in about an hour (see
models/MODEL_CARD.md).

Augmentation, all on the fly: transposition to a random key within ±6 semitones (melody kept
inside the pitch range), rhythmic augmentation (x2: each bar becomes two) or diminution (x1/2:
two bars become one, when every onset is on the 8th grid), and conditioning dropout (15 % of
bars, and 10 % of whole pieces, get the *_unk conditioning: the model also learns to generate
unconditioned, which gives the baseline of bench/eval_generator.py).
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import math
import random
import time
from pathlib import Path

import numpy as np

from .tokens import PITCH_HI, PITCH_LO, VOCAB, BarData, encode_piece, nearest_duration

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
CORPUS_JSON = REPO / "build" / "corpus.json.gz"
CHECKPOINT = REPO / "models" / "generator.safetensors"


# ----------------------------------------------------------------------------- prepare
def prepare(out: Path = CORPUS_JSON) -> dict:
    from .corpus import load_corpus, split_by_piece

    t = time.time()
    pieces = load_corpus()
    train, val = split_by_piece(pieces)
    data = {"train": [_piece_dict(p) for p in train], "val": [_piece_dict(p) for p in val],
            "dropped": getattr(load_corpus, "last_dropped", {}), "seconds": round(time.time() - t, 1)}
    out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(out, "wt") as fh:
        json.dump(data, fh)
    from .guard import build_index

    build_index([[n[1] for b in p.bars for n in b.notes] for p in pieces])  # copy-check index, all pieces
    return data


def _piece_dict(p) -> dict:  # noqa: ANN001
    return {"name": p.name, "collection": p.collection, "tonic_pc": p.tonic_pc, "mode": p.mode, "beats": p.beats,
            "bars": [[b.chord, [list(n) for n in b.notes]] for b in p.bars]}


def load_prepared(path: Path = CORPUS_JSON) -> dict:
    with gzip.open(path, "rt") as fh:
        return json.load(fh)


def bars_of(piece: dict) -> list[BarData]:
    return [BarData(notes=[tuple(n) for n in notes], chord=chord) for chord, notes in piece["bars"]]


# ----------------------------------------------------------------------------- augmentation
def transpose(bars: list[BarData], k: int) -> list[BarData] | None:
    out = [BarData([(p, n + k, d) for p, n, d in b.notes], b.chord) for b in bars]
    ps = [n for b in out for _, n, _ in b.notes]
    if ps and (min(ps) < PITCH_LO or max(ps) > PITCH_HI):
        return None
    return out


def fit_range(bars: list[BarData], tonic: int, k0: int = 0) -> tuple[list[BarData], int]:
    """Transpose by ``k0`` semitones, or by the nearest amount that keeps the melody in range."""
    for k in sorted(range(-18, 19), key=lambda k: (abs(k - k0), k)):
        moved = transpose(bars, k)
        if moved is not None:
            return moved, (tonic + k) % 12
    return bars, tonic


def stretch(bars: list[BarData], beats: int, factor: float) -> list[BarData] | None:
    """Rhythmic augmentation (factor 2) or diminution (factor 0.5) on the 16th grid."""
    slots = beats * 4
    if factor == 2:
        out: list[BarData] = []
        for b in bars:
            first = BarData([], b.chord)
            second = BarData([], b.chord)
            for p, n, d in b.notes:
                p2, d2 = p * 2, d * 2
                target = first if p2 < slots else second
                p2 = p2 if p2 < slots else p2 - slots
                target.notes.append((p2, n, nearest_duration(min(d2, slots - p2))))
            out += [first, second]
        return out
    if factor == 0.5:
        if any(p % 2 or d % 2 for b in bars for p, _, d in b.notes):
            return None
        out = []
        for i in range(0, len(bars) - 1, 2):
            a, b = bars[i], bars[i + 1]
            notes = [(p // 2, n, max(1, d // 2)) for p, n, d in a.notes]
            notes += [(p // 2 + slots // 2, n, max(1, d // 2)) for p, n, d in b.notes]
            out.append(BarData([(p, n, nearest_duration(d)) for p, n, d in notes], a.chord))
        return out
    return None


def sample_sequence(piece: dict, rng: random.Random, *, ctx: int) -> list[int]:
    """One augmented training window of a piece (token ids, at most ``ctx``)."""
    bars = bars_of(piece)
    beats = piece["beats"]
    tonic = piece["tonic_pc"]
    bars, tonic = fit_range(bars, tonic, rng.randint(-6, 6))
    r = rng.random()
    if r < 0.15:
        bars = stretch(bars, beats, 2) or bars
    elif r < 0.3:
        bars = stretch(bars, beats, 0.5) or bars
    start = rng.randrange(0, max(1, len(bars) - 4))
    bars = bars[start:]
    if rng.random() < 0.1:
        drop = [True] * len(bars)
    else:
        drop = [rng.random() < 0.15 for _ in bars]
    mode = "maj" if piece["mode"] == "major" else "min"
    ids = encode_piece(bars, tonic_pc=tonic, mode=mode, beats=beats, drop_mask=drop)
    return ids[:ctx]


def batches(pieces: list[dict], rng: random.Random, *, batch: int, ctx: int):  # noqa: ANN201
    import torch

    pad = VOCAB.id("PAD")
    while True:
        seqs = [sample_sequence(pieces[rng.randrange(len(pieces))], rng, ctx=ctx + 1) for _ in range(batch)]
        arr = np.full((batch, ctx + 1), pad, dtype=np.int64)
        for i, s in enumerate(seqs):
            arr[i, : len(s)] = s
        t = torch.from_numpy(arr)
        yield t[:, :-1], t[:, 1:]


def evaluate(model, pieces: list[dict], *, ctx: int, device: str, n: int = 256, seed: int = 1) -> float:  # noqa: ANN001
    """Mean validation cross-entropy (nats/token) on un-augmented windows (PAD ignored)."""
    import torch
    import torch.nn.functional as F

    model.eval()
    pad = VOCAB.id("PAD")
    rng = random.Random(seed)
    losses, counts = 0.0, 0
    with torch.no_grad():
        for _ in range(0, n, 32):
            seqs = []
            for _ in range(32):
                p = pieces[rng.randrange(len(pieces))]
                mode = "maj" if p["mode"] == "major" else "min"
                bars, tonic = fit_range(bars_of(p), p["tonic_pc"])
                seqs.append(encode_piece(bars, tonic_pc=tonic, mode=mode, beats=p["beats"])[: ctx + 1])
            arr = np.full((len(seqs), ctx + 1), pad, dtype=np.int64)
            for j, s in enumerate(seqs):
                arr[j, : len(s)] = s
            t = torch.from_numpy(arr).to(device)
            logits, _ = model(t[:, :-1])
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), t[:, 1:].reshape(-1),
                                   ignore_index=pad, reduction="sum")
            losses += float(loss)
            counts += int((t[:, 1:] != pad).sum())
    model.train()
    return losses / max(counts, 1)


def fit(*, steps: int = 3000, batch: int = 64, lr: float = 6e-4, seed: int = 1234, d_model: int = 256,
        n_layer: int = 4, n_head: int = 4, ctx: int = 512, out: Path = CHECKPOINT, data_path: Path = CORPUS_JSON,
        device: str | None = None, eval_every: int = 250) -> dict:
    """Train and save ``out`` (safetensors) + ``out.with_suffix('.json')`` (config, vocab, curve)."""
    import torch
    import torch.nn.functional as F
    from safetensors.torch import save_file

    from .transformer import ModelConfig, MusicTransformer

    data = load_prepared(data_path)
    train, val = data["train"], data["val"]
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    cfg = ModelConfig(vocab_size=len(VOCAB), d_model=d_model, n_layer=n_layer, n_head=n_head, ctx=ctx)
    model = MusicTransformer(cfg).to(dev)
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.1)
    warm = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / steps))))
    rng = random.Random(seed)
    gen = batches(train, rng, batch=batch, ctx=ctx)
    pad = VOCAB.id("PAD")
    curve = []
    t0 = time.time()
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if dev == "cuda" else torch.autocast("cpu", enabled=False)
    running = None
    best_val, best_state = float("inf"), None
    for step in range(1, steps + 1):
        x, y = next(gen)
        x, y = x.to(dev), y.to(dev)
        with autocast:
            logits, _ = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1), ignore_index=pad)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        lv = float(loss.detach())
        running = lv if running is None else 0.98 * running + 0.02 * lv
        if step % eval_every == 0 or step == steps:
            vl = evaluate(model, val, ctx=ctx, device=dev)
            curve.append({"step": step, "train_loss": round(running, 4), "val_loss": round(vl, 4),
                          "val_ppl": round(math.exp(vl), 3), "sec": round(time.time() - t0, 1)})
            log.info("step %d train %.3f val %.3f (ppl %.2f) %.0fs", step, running, vl, math.exp(vl), time.time() - t0)
            print(json.dumps(curve[-1]), flush=True)
            if vl < best_val:  # keep the checkpoint with the best validation loss
                best_val = vl
                best_state = {k: v.detach().float().cpu().clone() for k, v in model.state_dict().items()}
    model = model.float().cpu().eval()
    if best_state is not None:
        model.load_state_dict(best_state)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out), metadata={"format": "tempscore-generator-1"})
    meta = {"config": cfg.to_dict(), "vocab": list(VOCAB.tokens), "params": n_params, "seed": seed, "steps": steps,
            "batch": batch, "lr": lr, "device": dev, "train_pieces": len(train), "val_pieces": len(val),
            "dropped": data.get("dropped", {}), "curve": curve, "best_val_loss": round(best_val, 4),
            "best_val_ppl": round(math.exp(best_val), 3), "train_seconds": round(time.time() - t0, 1)}
    out.with_suffix(".json").write_text(json.dumps(meta, indent=1))
    return meta


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("prepare")
    f = sub.add_parser("fit")
    f.add_argument("--preset", choices=("gpu", "cpu"), default=None,
                   help="gpu: 3000 steps x batch 64 (the shipped checkpoint); cpu: 900 steps x batch 16 (about 1 h on 2 cores)")
    f.add_argument("--steps", type=int, default=3000)
    f.add_argument("--batch", type=int, default=64)
    f.add_argument("--lr", type=float, default=6e-4)
    f.add_argument("--seed", type=int, default=1234)
    f.add_argument("--d-model", type=int, default=256)
    f.add_argument("--layers", type=int, default=4)
    f.add_argument("--heads", type=int, default=4)
    f.add_argument("--ctx", type=int, default=512)
    f.add_argument("--device", default=None)
    f.add_argument("--out", type=Path, default=CHECKPOINT)
    f.add_argument("--data", type=Path, default=CORPUS_JSON)
    a = ap.parse_args()
    if a.cmd == "prepare":
        d = prepare()
        print(f"train {len(d['train'])} val {len(d['val'])} pieces, dropped {d['dropped']}, {d['seconds']} s")
    else:
        if a.preset == "cpu":
            a.steps, a.batch, a.device = 900, 16, a.device or "cpu"
        elif a.preset == "gpu":
            a.steps, a.batch = 3000, 64
        meta = fit(steps=a.steps, batch=a.batch, lr=a.lr, seed=a.seed, d_model=a.d_model, n_layer=a.layers,
                   n_head=a.heads, ctx=a.ctx, out=a.out, data_path=a.data, device=a.device)
        print(json.dumps({k: v for k, v in meta.items() if k not in ("vocab", "curve")}))


if __name__ == "__main__":
    main()
