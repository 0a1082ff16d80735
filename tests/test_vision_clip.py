"""CLIP emotion path end to end with a tiny randomly initialised open_clip model; the fallback; no network."""

from __future__ import annotations

import time

import numpy as np
import pytest
from tempscore.errors import InvalidSettings
from tempscore.vision import analyze
from tempscore.vision.clip_emotion import PROMPTS, load_clip, tiny_random_clip


def test_tiny_clip_reads_every_shot(clip25):
    clip = tiny_random_clip()
    a = analyze(clip25.path, clip_model=clip)
    assert a.emotion_source == "clip-untrained:tiny"  # never presented as real CLIP
    assert len(a.shots) == len(clip25.cuts) + 1
    for s in a.shots:
        assert set(s.emotion_scores) == set(PROMPTS)
        assert sum(s.emotion_scores.values()) == pytest.approx(1.0, abs=1e-3)
        assert -1 <= s.valence <= 1 and -1 <= s.arousal <= 1
    # the readings come from the pictures: different shots, different scores
    assert len({tuple(s.emotion_scores.values()) for s in a.shots}) > 1


def test_embeddings_are_unit_norm_and_batched():
    clip = tiny_random_clip()
    frames = [np.random.default_rng(i).integers(0, 255, (90, 160, 3), dtype=np.uint8) for i in range(5)]
    e = clip.embed(frames)
    assert e.shape == (5, 64)
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-4)


def test_without_weights_the_heuristic_stands_in_and_says_so(clip25, monkeypatch, tmp_path):
    monkeypatch.delenv("TEMPSCORE_CLIP_CHECKPOINT", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    t = time.perf_counter()
    assert load_clip() is None  # nothing cached, download not allowed: no network, no stall
    assert time.perf_counter() - t < 10
    a = analyze(clip25.path)
    assert a.emotion_source == "heuristic"
    assert all(s.emotion_scores == {} for s in a.shots)


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(InvalidSettings, match="not found"):
        load_clip(checkpoint=tmp_path / "nope.pt")


def test_a_checkpoint_without_the_ml_extra_is_one_line(tmp_path, monkeypatch):
    """make demo installs no torch/open_clip: weights given anyway say how to add them (exit 2's error)."""
    import importlib.util

    from tempscore.errors import ToolMissing

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in ("open_clip", "torch")
                        else real(name, *a))
    ckpt = tmp_path / "clip.safetensors"
    ckpt.write_bytes(b"\0" * 16)
    with pytest.raises(ToolMissing, match="make setup-ml") as err:
        load_clip(checkpoint=ckpt)
    assert "\n" not in str(err.value)


@pytest.mark.skipif(__import__("tempscore.vision.shots", fromlist=["x"])._nvidia_gpu_visible(),
                    reason="with a GPU the default shot detector imports torch")
def test_default_analysis_without_weights_imports_no_torch(clip25, tmp_path):
    """--clip auto with an empty hub cache: the heuristic, decided without importing open_clip/torch."""
    import os
    import subprocess
    import sys

    code = ("import sys; from tempscore.vision import analyze; "
            f"a = analyze({str(clip25.path)!r}); "
            "assert a.emotion_source == 'heuristic'; assert 'torch' not in sys.modules, 'torch imported'")
    env = dict(os.environ, HF_HUB_CACHE=str(tmp_path / "empty-cache"), HF_HUB_OFFLINE="1")
    env.pop("TEMPSCORE_CLIP_CHECKPOINT", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
