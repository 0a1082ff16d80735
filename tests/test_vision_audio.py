"""Streaming production audio: same level curve and loudness as a whole-file read, transients, dialogue."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import lfilter

from tempscore.media import ffmpeg_exe
from tempscore.vision.audio import SpeechDetector, analyze_audio, iter_audio_blocks, level_curve_db, read_audio

SR = 16000


def test_streamed_blocks_equal_whole_read(clip25):
    whole, _ = read_audio(clip25.path, sr=SR)
    blocks = list(iter_audio_blocks(clip25.path, sr=SR, block_sec=0.7))
    assert max(len(b) for b in blocks) == int(0.7 * SR)
    np.testing.assert_array_equal(np.concatenate(blocks), whole)


def test_streamed_level_and_loudness_match_pyloudnorm(clip25):
    import pyloudnorm

    whole, _ = read_audio(clip25.path, sr=SR)
    a = analyze_audio(clip25.path, speech=False)
    np.testing.assert_allclose(a.loudness_db, np.round(level_curve_db(whole, sr=SR), 2), atol=0.011)
    ref = pyloudnorm.Meter(SR).integrated_loudness(whole.astype(np.float64))
    assert a.integrated_lufs == pytest.approx(ref, abs=0.02)


def _syllables(dur: float, rng: np.random.Generator) -> np.ndarray:
    """Voiced speech-like sound: a glottal pulse train through vowel formants, in syllables."""
    vowels = [[(730, 90), (1090, 110), (2440, 170)], [(270, 60), (2290, 100), (3010, 120)],
              [(570, 80), (840, 90), (2410, 160)], [(300, 60), (870, 90), (2240, 150)]]
    out, total = [], 0
    while total < dur * SR:
        n = int(rng.uniform(0.12, 0.3) * SR)
        t = np.arange(n) / SR
        phase = np.cumsum(rng.uniform(100, 140) * (1 + 0.08 * np.sin(2 * np.pi * 3 * t)) / SR)
        y = (np.diff(np.floor(phase), prepend=0) > 0).astype(float)
        for f, bw in vowels[rng.integers(len(vowels))]:
            r = np.exp(-np.pi * bw / SR)
            y = lfilter([1], [1, -2 * r * np.cos(2 * np.pi * f / SR), r * r], y)
        gap = np.zeros(int(rng.uniform(0.03, 0.1) * SR))
        out += [y * np.hanning(n), gap]
        total += n + len(gap)
    y = np.concatenate(out)[: int(dur * SR)]
    return 0.3 * y / np.abs(y).max()


def test_dialogue_regions_from_silero_vad(tmp_path: Path):
    """Speech-like sound at 2-5 s and 8-10 s over a steady tone: speech regions there and only there."""
    from scipy.io import wavfile

    rng = np.random.default_rng(0)
    x = 0.05 * np.sin(2 * np.pi * 440 * np.arange(12 * SR) / SR)
    x[2 * SR:5 * SR] += _syllables(3, rng)
    x[8 * SR:10 * SR] += _syllables(2, rng)
    wav = tmp_path / "talk.wav"
    wavfile.write(wav, SR, x.astype(np.float32))
    clip = tmp_path / "talk.mp4"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i", "color=c=gray:s=64x36:r=25:d=12",
                    "-i", str(wav), "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", str(clip)],
                   check=True)
    speech = analyze_audio(clip).speech
    assert speech and all(set(r) == {"start_sec", "end_sec"} for r in speech)
    inside = lambda r: 1.7 <= r["start_sec"] and r["end_sec"] <= 5.3 or 7.7 <= r["start_sec"] and r["end_sec"] <= 10.3  # noqa: E731
    assert all(inside(r) for r in speech), speech
    covered = sum(r["end_sec"] - r["start_sec"] for r in speech)
    assert covered >= 0.6 * 5.0, speech


def _speechy(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = (0.02 * np.sin(2 * np.pi * 220 * np.arange(int(seconds * SR)) / SR)).astype(np.float32)
    x[3 * SR:9 * SR] += _syllables(6, rng)
    x[13 * SR:17 * SR] += _syllables(4, rng)
    return x


def test_vad_block_sizes_do_not_change_the_probabilities():
    """State and context carry across blocks: any split gives the same chunks as one call."""
    x = _speechy(20, 1)
    whole = SpeechDetector()
    whole.add(x)
    whole.finish()
    for step in (512 * 7, 1000, 16000 * 3 + 17):
        d = SpeechDetector()
        for i in range(0, len(x), step):
            d.add(x[i:i + step])
        d.finish()
        assert len(d.probabilities) == len(whole.probabilities) == -(-len(x) // 512)
        np.testing.assert_allclose(d.probabilities, whole.probabilities, atol=1e-5)
    with pytest.raises(RuntimeError):
        whole.add(x[:512])


def test_vad_onnx_equals_silero_reference_model():
    """onnxruntime on the wheel's sequence export == silero-vad's own streaming (TorchScript) model."""
    import warnings

    torch = pytest.importorskip("torch")
    from silero_vad import load_silero_vad

    x = _speechy(18, 2)
    d = SpeechDetector()
    d.add(x)
    d.finish()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        ref_model = load_silero_vad()
    n = len(x) // 512
    with torch.inference_mode():
        ref = np.array([float(ref_model(torch.from_numpy(x[i * 512:(i + 1) * 512]), SR)) for i in range(n)])
    np.testing.assert_allclose(d.probabilities[:n], ref, atol=1e-4)
    assert (ref > 0.5).sum() > 100  # the comparison covers speech, not only silence


@pytest.mark.skipif(__import__("tempscore.vision.shots", fromlist=["x"])._nvidia_gpu_visible(),
                    reason="with a GPU the default shot detector is TransNetV2 (torch)")
def test_analysis_without_clip_does_not_import_torch(clip25):
    """Dialogue (onnxruntime) and the default shot detector on a machine without a GPU need no torch (1-2 s, 600 MB)."""
    code = ("import sys; from tempscore.vision import AnalyzeSettings, analyze; "
            f"a = analyze({str(clip25.path)!r}, settings=AnalyzeSettings(clip='off')); "
            "assert a.audio.present; assert 'torch' not in sys.modules, 'torch imported'; print(len(a.cuts))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == str(len(clip25.cuts))
