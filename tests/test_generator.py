"""The learned generator: tokens, corpus extraction, guard, sampling grammar, conditioning, checkpoints."""

import gzip
import json

import numpy as np
import pytest
import torch
from tempscore.errors import BadStageFile
from tempscore.models.generator import BarCondition, CueRequest, Generator
from tempscore.models.guard import COPY_LIMIT, NgramBlocker, longest_shared_ngram
from tempscore.models.motif import Motif
from tempscore.models.tokens import DURATIONS, PITCH_HI, PITCH_LO, VOCAB, BarData, encode_piece
from tempscore.models.transformer import ModelConfig, MusicTransformer


@pytest.fixture(scope="module")
def gen() -> Generator:
    return Generator.load()


def req(mode="maj", dens=2, n=8, seed=1, tonic=2, prompt=()):
    return CueRequest(tonic_pc=tonic, meter_beats=4, bars=[BarCondition(mode, dens, "mid", [0, 5, 3, 4][i % 4]) for i in range(n)],
                      prompt=list(prompt), seed=seed)


def test_output_follows_the_grammar_and_is_seeded(gen):
    a = gen.generate([req(seed=3), req(mode="min", dens=0, seed=4)])
    b = gen.generate([req(seed=3), req(mode="min", dens=0, seed=4)])
    assert a == b
    assert a != gen.generate([req(seed=5), req(mode="min", dens=0, seed=6)])
    for bars in a:
        assert len(bars) == 8
        for bar in bars:
            end = 0
            for pos, pitch, dur in bar.notes:
                assert pos >= end and pos + dur <= 16  # monophonic, inside the bar
                assert PITCH_LO <= pitch <= PITCH_HI and dur in DURATIONS
                end = pos + dur


def test_density_conditioning_changes_the_music(gen):
    busy = gen.generate([req(dens=3, seed=s) for s in range(6)])
    calm = gen.generate([req(dens=0, seed=s) for s in range(6)])

    def n(outs: list) -> float:  # mean notes per output
        return np.mean([sum(len(b.notes) for b in o) for o in outs])

    assert n(busy) > 2.5 * n(calm)


def test_prompt_bars_are_kept_and_continued(gen):
    motif = [BarData([(0, 62, 4), (4, 66, 4), (8, 69, 8)], 0), BarData([(0, 67, 8), (8, 66, 8)], 5)]
    out = gen.generate([req(prompt=motif)])[0]
    assert out[0].notes == motif[0].notes and out[1].notes == motif[1].notes
    assert any(b.notes for b in out[2:])


def test_int8_variant_generates_valid_music(gen):
    q = Generator.load(quantized=True)
    assert q.id.endswith(":int8")
    out = q.generate([req(seed=9)])[0]
    assert len(out) == 8 and sum(len(b.notes) for b in out) > 4


def test_kv_cache_matches_full_forward():
    torch.manual_seed(0)
    m = MusicTransformer(ModelConfig(vocab_size=len(VOCAB), d_model=64, n_layer=2, n_head=2, ctx=64, dropout=0.0)).eval()
    x = torch.randint(0, len(VOCAB), (2, 20))
    full, _ = m(x)
    logits, past = m(x[:, :12])
    steps = [logits]
    for i in range(12, 20):
        lg, past = m(x[:, i : i + 1], past, i)
        steps.append(lg)
    assert torch.allclose(torch.cat(steps, dim=1), full, atol=1e-4)


def test_guard_finds_corpus_melodies_and_blocks_them():
    d = np.load(__import__("tempscore.models.guard", fromlist=["INDEX_PATH"]).INDEX_PATH)
    iv = d["intervals"][: d["lengths"][0]].astype(int)
    pitches = list(60 + np.r_[0, np.cumsum(iv)])[:20]
    assert longest_shared_ngram(pitches) >= min(16, len(pitches) - 1)  # a corpus tune is found
    assert longest_shared_ngram([60, 71, 61, 70, 62, 69, 63, 68, 64, 67, 65, 66, 60]) < COPY_LIMIT
    blocker = NgramBlocker()
    hist = pitches[:COPY_LIMIT]  # 11 intervals of the tune
    nxt = pitches[COPY_LIMIT]
    ok = blocker.allowed(hist, np.array([nxt, nxt + 1]))
    assert not ok[0]  # completing the tune's 12-gram is blocked


def test_motif_variants():
    bars = [BarData([(0, 62, 4), (4, 64, 4), (8, 66, 4), (12, 67, 4)], 0)]
    m = Motif.from_bars(bars, tonic_pc=2, mode="major")
    same = m.realise(tonic_pc=7, mode="major")[0].notes
    ps = [p for _, p, _ in same]
    assert ps[0] % 12 == 7 and list(np.diff(ps)) == [2, 2, 1]  # same degrees in G major
    inv = [p for _, p, _ in m.realise(tonic_pc=2, mode="major", variant="inverted")[0].notes]
    up = [p for _, p, _ in m.realise(tonic_pc=2, mode="major")[0].notes]
    assert inv[0] == up[0] and all(a < inv[0] for a in inv[1:]) and all(b > up[0] for b in up[1:])


def test_checkpoints_are_safetensors_only(tmp_path):
    bad = tmp_path / "evil.pt"
    torch.save({"x": torch.zeros(1)}, bad)
    (tmp_path / "evil.json").write_text("{}")
    with pytest.raises(BadStageFile, match="safetensors"):
        Generator.load(bad)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a safetensors file")
    (tmp_path / "broken.json").write_text(json.dumps({"vocab": list(VOCAB.tokens), "config": {}}))
    with pytest.raises(BadStageFile):
        Generator.load(broken)
    with pytest.raises(BadStageFile, match="not found"):
        Generator.load(tmp_path / "missing.safetensors")


def test_train_end_to_end_tiny(tmp_path):
    """Real corpus extraction, a real (tiny) training run, and the result loads and samples."""
    from tempscore.models.corpus import load_corpus, split_by_piece
    from tempscore.models.train import _piece_dict, fit

    pieces = load_corpus(("bach",), limit=6)
    assert len(pieces) >= 3
    train, val = split_by_piece(pieces, val_share=0.3)
    data = tmp_path / "mini.json.gz"
    with gzip.open(data, "wt") as fh:
        json.dump({"train": [_piece_dict(p) for p in train], "val": [_piece_dict(p) for p in (val or train[:1])]}, fh)
    out = tmp_path / "tiny.safetensors"
    meta = fit(steps=4, batch=4, d_model=32, n_layer=1, n_head=2, ctx=128, out=out, data_path=data, device="cpu", eval_every=2)
    assert out.is_file() and meta["curve"] and meta["curve"][-1]["val_loss"] > 0
    g = Generator.load(out)
    bars = g.generate([req(n=2)])[0]
    assert len(bars) == 2
    toks = encode_piece(bars, tonic_pc=2, mode="maj", beats=4)
    assert toks[0] == VOCAB.id("BOS") and toks[-1] == VOCAB.id("EOS")


def test_longest_shared_ngram_binary_search_equals_the_linear_scan():
    from tempscore.models.guard import INDEX_PATH, MAX_N, _ngram_hashes, _table

    def linear(p):
        seq, best = np.diff(np.asarray(p, np.int16)).astype(np.int8), 0
        for n in range(3, MAX_N + 1):
            h, t = _ngram_hashes(seq, n), _table(str(INDEX_PATH), n)
            if len(h) == 0 or not np.any(t[np.clip(np.searchsorted(t, h), 0, len(t) - 1)] == h):
                break
            best = n
        return best

    d = np.load(INDEX_PATH)
    iv, lengths = d["intervals"].astype(int), d["lengths"]
    starts = np.r_[0, np.cumsum(lengths)]
    rng = np.random.default_rng(5)
    for _ in range(120):  # corpus excerpts of every length, some with a free continuation, and random walks
        k = rng.integers(len(lengths))
        seg = iv[starts[k] : starts[k] + lengths[k]]
        n = int(rng.integers(2, 25))
        s0 = int(rng.integers(0, max(1, len(seg) - n)))
        p = list(60 + np.r_[0, np.cumsum(seg[s0 : s0 + n])])
        if rng.random() < 0.5:
            p += list(p[-1] + np.cumsum(rng.integers(-5, 6, rng.integers(1, 10))))
        if rng.random() < 0.3:
            p = list(60 + np.cumsum(rng.integers(-3, 4, rng.integers(3, 30))))
        assert longest_shared_ngram(p) == linear(p), p


def test_numpy_inference_gives_the_torch_models_logits():
    """Compose runs the trained weights in numpy (no torch import): the same logits as the torch
    module, for a prompt fed at once, for one token at a time (the sampling loop's fast path) and
    for a chunk after a cache."""
    from safetensors.numpy import load_file
    from tempscore.models.generator import DEFAULT_CHECKPOINT
    from tempscore.models.npmodel import NumpyTransformer

    meta = json.loads(DEFAULT_CHECKPOINT.with_suffix(".json").read_text())
    state = load_file(str(DEFAULT_CHECKPOINT))
    net = NumpyTransformer(state, meta["config"])
    model = MusicTransformer(ModelConfig(**meta["config"])).eval()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    seq = np.random.default_rng(0).integers(0, len(VOCAB), 40)
    with torch.inference_mode():
        ref = model(torch.as_tensor(seq[None], dtype=torch.long))[0][0].numpy()
    tol = 2e-4 * np.abs(ref).max()
    net.reset(1)
    assert np.abs(net.forward(seq[None])[0] - ref).max() < tol
    net.reset(1)
    steps = np.stack([net.forward(np.array([[tok]]))[0, -1] for tok in seq])
    assert np.abs(steps - ref).max() < tol
    net.reset(1)
    net.forward(seq[None, :25])
    assert np.abs(net.forward(seq[None, 25:])[0] - ref[25:]).max() < tol


def test_guard_tables_from_prefix_hashes_equal_hashing_each_window():
    """The corpus n-gram tables come from prefix hashes (no loop over n): the same values as
    Horner's rule on every window, windows spanning two pieces left out."""
    from tempscore.models import guard

    path = str(guard.INDEX_PATH)
    iv, piece = guard._corpus(path)
    for n in (3, 9, guard.COPY_LIMIT, guard.MAX_N):
        m = len(iv) - n + 1
        h = np.zeros(m, np.int64)
        with np.errstate(over="ignore"):
            for k in range(n):
                h = h * guard._BASE + iv[k : k + m]
        assert np.array_equal(guard._table(path, n), np.sort(h[piece[:m] == piece[n - 1 :]]))
