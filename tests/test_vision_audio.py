"""Streaming production audio: same level curve and loudness as a whole-file read, transients, dialogue."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import lfilter

from tempscore.media import ffmpeg_exe
from tempscore.vision.audio import (
    SpeechDetector,
    StreamingLoudness,
    analyze_audio,
    iter_audio_blocks,
    level_curve_db,
    read_audio,
)

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


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 24000), min_size=1, max_size=12), st.integers(0, 2**31 - 1))
def test_streamed_loudness_matches_pyloudnorm_whatever_the_blocks(sizes, seed):
    import pyloudnorm

    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(3 * SR) * np.repeat(rng.uniform(0.001, 0.5, 30), SR // 10)).astype(np.float32)
    meter, i = StreamingLoudness(SR), 0
    for k in sizes:
        meter.add(x[i: i + k])
        i += k
    meter.add(x[i:])
    assert meter.integrated() == pytest.approx(pyloudnorm.Meter(SR).integrated_loudness(x.astype(np.float64)), abs=1e-6)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-120, 0, allow_nan=False), min_size=3, max_size=400))
def test_onset_floor_is_the_running_minimum(env):
    """The floor an onset rises over: the minimum of the preceding 0.15 s (scipy's minimum_filter1d)."""
    from scipy.ndimage import minimum_filter1d

    from tempscore.vision import audio as va

    env_db = np.asarray(env)
    w = int(round(va.ONSET_FLOOR_SEC / va.ONSET_HOP_SEC))
    floor = np.concatenate([[env_db[0]], minimum_filter1d(env_db, size=w, origin=(w - 1) // 2, mode="nearest")[:-1]])
    rise = env_db - floor
    want = [i for i in np.flatnonzero((rise >= va.ONSET_RISE_DB) & (env_db >= va.ONSET_MIN_DB))]
    got = [round(t / va.ONSET_HOP_SEC) for t, _ in va.audio_onsets(env_db)]
    refr, last, keep = va.ONSET_REFRACTORY_SEC / va.ONSET_HOP_SEC, -1e9, []
    for i in want:
        if i - last >= refr:
            keep.append(int(i))
            last = i
    assert got == keep


def test_analysis_and_the_hall_do_not_import_scipy():
    """scipy.signal costs ~0.5 s to import: the analysis of production audio and the hall's design
    (a new project's first render) stay in numpy."""
    code = ("import sys, numpy as np\n"
            "from tempscore.vision.audio import StreamingLoudness, audio_onsets\n"
            "from tempscore.render.reverb import hall_ir\n"
            "m = StreamingLoudness(16000); m.add(np.random.default_rng(0).standard_normal(32000)); m.integrated()\n"
            "audio_onsets(np.linspace(-90, 0, 500)); hall_ir(24000)\n"
            "print(sorted(k for k in sys.modules if k.split('.')[0] == 'scipy'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


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


def _ffmpeg_pcm(path: Path, stream: int, *, sr: int, channels: int = 1) -> np.ndarray:
    """One audio stream decoded and resampled by the ffmpeg program (the reference)."""
    raw = subprocess.run([ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i", str(path), "-map", f"0:a:{stream}",
                          "-ac", str(channels), "-ar", str(sr), "-f", "f32le", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.float32).reshape(-1, channels).copy()


@pytest.fixture(scope="module")
def editors_tracks(tmp_path_factory) -> Path:
    """An NLE export with one mono stream per timeline track: A1 dialogue (a tone) from the first
    frame, A2 effects (pink noise) starting 0.5 s in."""
    out = tmp_path_factory.mktemp("tracks") / "reel 1 tracks.mov"
    subprocess.run([ffmpeg_exe(), "-nostdin", "-loglevel", "error",
                    "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25:duration=3",
                    "-f", "lavfi", "-i", "sine=f=300:duration=3:sample_rate=48000",
                    "-itsoffset", "0.5", "-f", "lavfi", "-i", "anoisesrc=d=2:c=pink:a=0.2:r=48000",
                    "-map", "0", "-map", "1", "-map", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "pcm_s16le",
                    "-metadata:s:a:0", "title=DIAL", "-metadata:s:a:1", "title=FX", str(out)], check=True)
    return out


def test_an_editors_mono_tracks_are_summed_each_at_its_start(editors_tracks):
    """Production audio exported as one mono stream per track (A1 dialogue, A2 effects) is what the
    edit plays: their sum, each placed by its own start time. Before, only A1 was analysed and
    mixed under the score (the effects were missing from the mix track)."""
    from tempscore.vision.probe import probe

    info = probe(editors_tracks)
    assert info.audio_streams == 2 and info.production_audio == "DIAL + FX (2 mono streams summed)"
    got, offset = read_audio(editors_tracks, sr=SR)
    dial, fx = _ffmpeg_pcm(editors_tracks, 0, sr=SR)[:, 0], _ffmpeg_pcm(editors_tracks, 1, sr=SR)[:, 0]
    want = dial.copy()
    want[SR // 2: SR // 2 + len(fx)] += fx[: len(want) - SR // 2]
    assert offset == 0.0 and len(got) == len(want) == 3 * SR
    assert np.abs(got - want).max() < 1e-4
    assert np.abs(got[: SR // 2] - dial[: SR // 2]).max() < 1e-4  # no effects before they start
    blocks = list(iter_audio_blocks(editors_tracks, sr=SR, block_sec=0.3))  # the analysis reads the same sum
    np.testing.assert_array_equal(np.concatenate(blocks), got)
    stereo, _ = read_audio(editors_tracks, sr=48000, mono=False)  # the mix under the score
    ref = _ffmpeg_pcm(editors_tracks, 0, sr=48000, channels=2)
    fx2 = _ffmpeg_pcm(editors_tracks, 1, sr=48000, channels=2)
    ref[24000: 24000 + len(fx2)] += fx2[: len(ref) - 24000]
    assert stereo.shape == ref.shape and np.abs(stereo - ref).max() < 1e-4


def test_alternative_mixes_are_not_summed(tmp_path):
    """Several multi-channel streams are versions of one mix (stereo and 5.1, or two languages): the
    default one is the production audio, never their sum."""
    from tempscore.vision.probe import probe

    out = tmp_path / "versions.mkv"
    subprocess.run([ffmpeg_exe(), "-nostdin", "-loglevel", "error",
                    "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25:duration=2",
                    "-f", "lavfi", "-i", "sine=f=300:duration=2:sample_rate=48000",
                    "-f", "lavfi", "-i", "sine=f=700:duration=2:sample_rate=48000",
                    "-map", "0", "-map", "1", "-map", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "pcm_s16le",
                    "-ac", "2", "-disposition:a:0", "0", "-disposition:a:1", "default",
                    "-metadata:s:a:0", "title=English", "-metadata:s:a:1", "title=Deutsch", str(out)], check=True)
    assert probe(out).production_audio == "Deutsch (stereo)"
    got, _ = read_audio(out, sr=SR)
    spectrum = np.abs(np.fft.rfft(got[:SR]))
    assert spectrum[700] > 100 * spectrum[300]  # 1 Hz bins: the 700 Hz version alone


def test_the_scored_video_mixes_every_track_and_copies_each(editors_tracks, tmp_path):
    """End to end: the "score + production audio" track carries the effects track too (A2's noise
    from 0.5 s), and both original tracks are copied under their own names."""
    import json

    import av

    from tests.conftest import run_cli

    r = run_cli("score", editors_tracks, "-o", tmp_path, "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["analyze"]["production_audio"] == "DIAL + FX (2 mono streams summed)"
    assert s["render"]["audio_tracks"][2:] == ["DIAL", "FX"]
    def track(i: int) -> np.ndarray:
        with av.open(str(tmp_path / "reel 1 tracks.scored.mov")) as c:
            return np.concatenate([f.to_ndarray() for f in c.decode(c.streams.audio[i])], axis=1)[0]

    mix, music = track(0), track(1)

    def hiss(x: np.ndarray, start_sec: float) -> float:  # mean magnitude above 8 kHz over 0.4 s
        k = int(start_sec * 48000)
        return float(np.abs(np.fft.rfft(x[k: k + 19200]))[3200:].mean())

    assert hiss(mix, 0.0) < 2 * hiss(music, 0.0)  # before A2 starts: the score (and the tone) only
    assert hiss(mix, 1.0) > 5 * hiss(music, 1.0) and hiss(mix, 2.0) > 5 * hiss(music, 2.0)  # A2's noise mixed in


@pytest.mark.parametrize("which", ["clip25", "editors_tracks"])
def test_the_analysis_makes_the_renders_audio_from_its_own_decode(request, which):
    """The render's 48 kHz stereo (and any other rendition) made from the frames the analysis decodes
    is read_audio's, sample for sample: one stream, and an editor's mono tracks each at its start.
    The analysis itself is unchanged by making it."""
    from tempscore.vision.audio import AudioCopy

    fixture = request.getfixturevalue(which)
    path = getattr(fixture, "path", fixture)
    want, want_offset = read_audio(path, sr=48000, mono=False)
    copy = AudioCopy(sr=48000, stereo=True)
    with_copy = analyze_audio(path, copy=copy)
    assert copy.result is not None
    got, offset = copy.result
    assert got.dtype == np.float32 and got.shape == want.shape and offset == want_offset
    np.testing.assert_array_equal(got, want)
    assert with_copy == analyze_audio(path)
    mono = AudioCopy(sr=22050, stereo=False)
    list(iter_audio_blocks(path, sr=SR, copy=mono))
    np.testing.assert_array_equal(mono.result[0], read_audio(path, sr=22050)[0])
