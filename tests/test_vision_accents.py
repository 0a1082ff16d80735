"""Accents (flashes, impacts, motion onsets, audio transients) on generated clips with events at known frames."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
from tempscore.media import ffmpeg_exe
from tempscore.vision import analyze

W, H, FPS, N = 160, 96, 25, 200


def _background(seed: int = 3) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 255, (H // 8, W // 8, 3), dtype=np.uint8)
    return cv2.resize(noise, (W, H), interpolation=cv2.INTER_CUBIC)


def _write(path: Path, frames: list[np.ndarray], wav: Path | None = None) -> None:
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
           "-s", f"{W}x{H}", "-r", str(FPS), "-i", "-"]
    if wav is not None:
        cmd += ["-i", str(wav), "-c:a", "aac", "-shortest"]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "16", "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(cmd, input=b"".join(f.tobytes() for f in frames), check=True)


#: flashes (1 and 2 frames), an impact (a 3-frame jolt of the camera), a motion onset
FLASHES = {30: 1, 70: 2}
IMPACT = 105
ONSET = 150


def _event_clip(path: Path) -> None:
    bg = _background()
    frames = []
    for i in range(N):
        f = bg.copy()
        if any(s <= i < s + k for s, k in FLASHES.items()):
            f = np.clip(f.astype(np.int16) + 140, 0, 255).astype(np.uint8)
        if IMPACT <= i < IMPACT + 3:
            f = np.roll(f, (6, 9), axis=(0, 1))
        x = 10 + min(max(0, i - ONSET + 1), 22) * 5  # a block starts moving fast at ONSET, stops at the edge
        f[15:85, x:x + 30] = (255, 255, 255)
        frames.append(f)
    _write(path, frames)


def test_flashes_impacts_and_onsets_found_within_one_frame(tmp_path: Path):
    clip = tmp_path / "events.mp4"
    _event_clip(clip)
    a = analyze(clip)
    assert a.cuts == []  # flashes and a jolt are not cuts
    truth = {30: "flash", 70: "flash", IMPACT: "impact", ONSET: "motion"}
    found = {t: [x for x in a.accents if abs(x.frame - t) <= 1] for t in truth}
    assert all(found.values()), f"missing accents: {[t for t, v in found.items() if not v]}; got {a.accents}"
    assert {t: found[t][0].kind for t in truth} == truth
    assert len(a.accents) == len(truth)  # nothing else (no echo of the flash's end, no double onset)
    assert all(0 < x.strength <= 1 for x in a.accents)


def test_static_shot_has_no_accents(tmp_path: Path):
    clip = tmp_path / "static.mp4"
    _write(clip, [_background(5)] * 100)
    a = analyze(clip)
    assert a.cuts == [] and a.accents == []


def test_flash_between_two_shots_is_not_a_cut(tmp_path: Path):
    """A photo flash right after a real cut: the cut stays, the flash is an accent."""
    a_bg, b_bg = _background(1), _background(2)
    frames = [a_bg] * 40 + [b_bg] * 60
    frames[60] = np.clip(b_bg.astype(np.int16) + 150, 0, 255).astype(np.uint8)
    clip = tmp_path / "flashcut.mp4"
    _write(clip, frames)
    a = analyze(clip)
    assert [c.frame for c in a.cuts] == [40]
    assert [(x.frame, x.kind) for x in a.accents] == [(60, "flash")]


def test_audio_transients_align_to_frames(tmp_path: Path):
    """Gunshot-like bursts in the production audio at known times -> 'audio' accents at those frames."""
    from scipy.io import wavfile

    sr = 48000
    rng = np.random.default_rng(0)
    x = (0.003 * rng.standard_normal(sr * N // FPS)).astype(np.float32)  # room tone
    shots = [22, 64, 131]  # frames
    for f in shots:
        i = int(f / FPS * sr) + 200  # 4 ms into the frame
        burst = rng.standard_normal(4800) * np.exp(-np.arange(4800) / 700)
        x[i:i + 4800] += (0.7 * burst).astype(np.float32)
    wav = tmp_path / "bang.wav"
    wavfile.write(wav, sr, x)
    clip = tmp_path / "bang.mp4"
    _write(clip, [_background(7)] * N, wav=wav)
    a = analyze(clip)
    got = [x.frame for x in a.accents if x.kind == "audio"]
    assert len(got) == len(shots)
    assert all(abs(g - t) <= 1 for g, t in zip(got, shots)), got
    assert not [x for x in a.accents if x.kind != "audio"]
