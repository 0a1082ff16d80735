"""The mix as pure functions: ducking, loudness (against pyloudnorm), the true-peak limiter, fades,
the hall, the section table. Every level is measured, none is assumed."""

import numpy as np
import pyloudnorm
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import resample_poly

from tempscore.contracts import Cue, TempoEvent
from tempscore.render.mix import (
    cue_segments,
    duck_gain,
    integrated_lufs,
    limit_true_peak,
    loudness_gain,
    merge_regions,
    true_peak_dbtp,
)
from tempscore.render.reverb import RT60_SEC, apply_reverb, hall_ir
from tempscore.render.sections import PAN_SLOTS, PLACEMENT, SECTIONS, section_of, slot_of, slot_pan
from tempscore.render.synth import fade_out_curve

SR = 48000


def full_true_peak_dbtp(x: np.ndarray) -> float:
    """Reference: 4x polyphase oversampling of the *whole* signal (no shortcuts)."""
    up = resample_poly(np.asarray(x, np.float64), 4, 1, axis=0)
    return float(20 * np.log10(np.abs(up).max()))


def db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2) + 1e-30))


def music_like(seconds: float, *, seed: int = 0, hits: bool = True) -> np.ndarray:
    """Stereo test signal: a chord with a slow swell, plus (optionally) sharp percussive hits
    whose peaks stand ~15 dB over the chord (a limiter's job)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    x = sum(0.08 * np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) for f in (110, 220, 277.2, 329.6, 440))
    x = x * (0.6 + 0.4 * np.sin(2 * np.pi * 0.2 * t))
    out = np.stack([x, 0.9 * x], axis=1)
    if hits:
        for start in np.arange(0.5, seconds - 0.5, 1.7):
            a = int(start * SR)
            n = int(0.25 * SR)
            burst = rng.standard_normal(n) * np.exp(-np.arange(n) / (0.03 * SR)) * 1.2
            out[a : a + n] += burst[:, None]
    return out.astype(np.float32)


# --------------------------------------------------------------------------- ducking
def test_duck_gain_depth_inside_ramps_outside():
    n = 20 * SR
    regions = [(4.0, 7.0), (12.0, 13.5)]
    g = duck_gain(n, sr=SR, regions=regions, depth_db=12.0, attack_sec=0.3, release_sec=0.8)
    gdb = 20 * np.log10(g)
    for a, b in regions:
        assert np.allclose(gdb[int(a * SR) : int(b * SR)], -12.0, atol=1e-3)  # fully down for the whole line
    assert np.allclose(gdb[: int(3.7 * SR) - 1], 0.0, atol=1e-6)  # untouched before the attack
    assert np.allclose(gdb[int(7.8 * SR) + 1 : int(11.7 * SR) - 1], 0.0, atol=1e-6)
    attack = gdb[int(3.7 * SR) : int(4.0 * SR)]
    release = gdb[int(7.0 * SR) : int(7.8 * SR)]
    assert np.all(np.diff(attack) <= 1e-6) and np.all(np.diff(release) >= -1e-6)  # smooth, monotone ramps
    assert np.abs(np.diff(gdb)).max() < 12.0 * np.pi / (2 * 0.3 * SR) * 1.01  # raised cosine: bounded slope


def test_duck_gain_merges_close_lines_and_zero_depth_is_identity():
    g = duck_gain(10 * SR, sr=SR, regions=[(2.0, 3.0), (3.5, 4.0)], depth_db=10.0)
    assert np.allclose(20 * np.log10(g[2 * SR : 4 * SR]), -10.0, atol=1e-3)  # no pumping in a 0.5 s gap
    assert merge_regions([(5, 6), (1, 2), (2.2, 3), (7, 7)], min_gap_sec=0.5) == [(1.0, 3.0), (5.0, 6.0)]
    assert np.all(duck_gain(SR, sr=SR, regions=[(0.1, 0.5)], depth_db=0.0) == 1.0)


# --------------------------------------------------------------------------- loudness and peaks
@pytest.mark.parametrize("seed", [0, 1])
def test_integrated_lufs_matches_pyloudnorm(seed):
    x = music_like(12.3, seed=seed) * 0.3
    ref = pyloudnorm.Meter(SR).integrated_loudness(x.astype(np.float64))
    assert integrated_lufs(x, sr=SR) == pytest.approx(ref, abs=0.01)


def test_true_peak_shortcut_matches_full_oversampling():
    x = music_like(6.0, seed=3)
    assert true_peak_dbtp(x) == pytest.approx(full_true_peak_dbtp(x), abs=0.01)


def test_true_peak_ignores_the_cut_edges_of_its_excerpts():
    """A loud low tone is at full level at every block edge: upsampling an excerpt must not count
    the ringing where the excerpt is cut off (that once read 1 dB over and made a needless trim)."""
    t = np.arange(3 * SR) / SR
    x = 0.9 * np.cos(2 * np.pi * 30 * t)  # at its crest on every 0.1 s block edge
    x *= np.clip(np.minimum(t, t[-1] - t) / 0.05, 0, 1)  # faded in and out: no step at the file's own ends
    assert true_peak_dbtp(x) == pytest.approx(full_true_peak_dbtp(x), abs=0.01)
    assert true_peak_dbtp(x) == pytest.approx(20 * np.log10(0.9), abs=0.01)


def test_true_peak_catches_intersample_peaks():
    t = np.arange(SR) / SR
    x = np.sin(2 * np.pi * SR / 4 * t + np.pi / 4)  # samples at +-0.707 of a full-scale sine
    assert np.abs(x).max() == pytest.approx(0.7071, abs=1e-3)
    assert true_peak_dbtp(x) == pytest.approx(0.0, abs=0.3)


@pytest.mark.parametrize("target", [-23.0, -14.0])
def test_loudness_on_target_under_true_peak_ceiling(target):
    """Peaky material at -14 LUFS needs the limiter; the result is still on target (±0.5 LU)."""
    x = music_like(20.0, seed=2)
    out, gain, report = loudness_gain(x, sr=SR, target_lufs=target, max_true_peak_dbtp=-1.0)
    measured = pyloudnorm.Meter(SR).integrated_loudness(out.astype(np.float64))
    assert measured == pytest.approx(target, abs=0.5)
    assert measured == pytest.approx(target, abs=0.05)  # in practice it is much closer
    assert report.final_lufs == pytest.approx(measured, abs=0.02)
    assert full_true_peak_dbtp(out) <= -1.0
    assert np.allclose(out, x * gain[:, None], atol=1e-6)
    if target == -14.0:  # static gain alone would put the hits far over the ceiling
        static_peak = full_true_peak_dbtp(x) + (target - integrated_lufs(x, sr=SR))
        assert static_peak > 3.0
        assert report.limiter_max_gr_db > 3.0


def test_limiter_leaves_quiet_audio_alone_and_catches_overs():
    quiet = music_like(5.0, hits=False) * 0.2
    same, gr = limit_true_peak(quiet, sr=SR, ceiling_dbtp=-1.0)
    assert gr == 0.0 and np.array_equal(same, quiet) and same is not quiet
    mine = quiet.astype(np.float32)
    same, gr = limit_true_peak(mine, sr=SR, ceiling_dbtp=-1.0, in_place=True)
    assert same is mine and gr == 0.0 and np.array_equal(same, quiet.astype(np.float32))
    loud = music_like(5.0, seed=4) * 2.0
    out, gr = limit_true_peak(loud, sr=SR, ceiling_dbtp=-1.0)
    assert gr > 6.0 and full_true_peak_dbtp(out) <= -1.0
    inplace = loud.astype(np.float32)
    assert np.array_equal(limit_true_peak(inplace, sr=SR, ceiling_dbtp=-1.0, in_place=True)[0], out)
    assert np.array_equal(inplace, out)  # changed where it lies
    # the chord between the hits comes back up: the limiter acts around the hits only
    between = slice(int(1.2 * SR), int(2.0 * SR))
    assert db(out[between]) == pytest.approx(db(loud[between]), abs=1.0)


# --------------------------------------------------------------------------- fades and segments
def test_fade_has_no_click_on_a_sustained_tone():
    """Worst case for a click: a sustained low tone stopped at a cue edge at an arbitrary phase.

    Threshold: the tone's own steepest sample-to-sample step, 2·A·sin(π·f/sr), plus the most a
    raised-cosine fade over ``n`` samples can add, A·π/(2n). A hard cut would jump by up to A.
    """
    f, a = 110.0, 0.5
    n_fade = int(0.5 * SR)  # one beat at 120 BPM
    t = np.arange(SR) / SR
    tone = a * np.sin(2 * np.pi * f * t + 1.1)
    edge = int(0.3 * SR)
    faded = tone.copy()
    faded[edge : edge + n_fade] *= fade_out_curve(n_fade)
    faded[edge + n_fade :] = 0
    threshold = 2 * a * np.sin(np.pi * f / SR) + a * np.pi / (2 * n_fade)
    assert np.abs(np.diff(faded)).max() <= threshold
    hard = tone.copy()
    hard[edge:] = 0
    assert np.abs(np.diff(hard)).max() > 10 * threshold  # the detector does see a real click


def test_cue_segments_crossfade_one_beat_and_ring_out():
    def cue(i, a, b, bpm, tacet=False):
        return Cue(id=f"{i}M1", start_sec=a, end_sec=b, start_frame=0, end_frame=0, mood="serene", valence=0,
                   arousal=0, intensity=0.5, key="C major", tempo_bpm=bpm, tacet=tacet)

    cues = [cue(1, 0.0, 8.0, 120.0), cue(2, 8.0, 16.0, 90.0), cue(3, 16.0, 20.0, 90.0, tacet=True)]
    tmap = [TempoEvent(0.0, 120.0), TempoEvent(8.0, 90.0), TempoEvent(16.0, 90.0)]
    segs = cue_segments(cues, tmap, 20.0)
    assert [(s.start_sec, s.end_sec) for s in segs] == [(0.0, 8.0), (8.0, 16.0), (16.0, 20.0)]
    assert segs[0].tail_sec == pytest.approx(0.5)  # one beat at 120 BPM, ending on the next cue's beat
    assert segs[1].tail_sec == pytest.approx(2.0)  # into a tacet cue: ring out


# --------------------------------------------------------------------------- hall and sections
def test_hall_decay_and_linearity():
    ir = hall_ir(SR // 2)
    assert np.allclose(np.sum(ir.astype(np.float64) ** 2, axis=0), 1.0, atol=1e-4)
    # Schroeder backward integration: time to fall from -5 to -35 dB, times two = RT60
    edc = np.cumsum(ir[::-1, 0].astype(np.float64) ** 2)[::-1]
    edc_db = 10 * np.log10(edc / edc[0] + 1e-30)
    t5, t35 = np.argmax(edc_db < -5) / (SR // 2), np.argmax(edc_db < -35) / (SR // 2)
    assert 2 * (t35 - t5) == pytest.approx(RT60_SEC, rel=0.3)
    assert abs(np.corrcoef(ir[:, 0], ir[:, 1])[0, 1]) < 0.1  # decorrelated left/right: a wide hall
    a, b = music_like(3.0, seed=5, hits=False), music_like(3.0, seed=6)
    both = apply_reverb(a + b, sr=SR)
    assert np.allclose(apply_reverb(a, sr=SR) + apply_reverb(b, sr=SR), both, atol=1e-4)  # stems sum up


def test_sections_and_placement():
    assert [section_of(p) for p in (40, 45, 46, 48, 43)] == ["strings"] * 5
    assert [section_of(p) for p in (56, 60, 61)] == ["brass"] * 3
    assert [section_of(p) for p in (68, 71, 73)] == ["woodwinds"] * 3
    assert section_of(47) == section_of(0, is_drum=True) == section_of(9) == "percussion"
    assert [section_of(p) for p in (0, 19, 89, 52)] == ["keys"] * 4
    assert set(PLACEMENT) == set(SECTIONS)
    # strings spread (high left, low right), brass split left/right, pads centre
    assert slot_pan("strings", slot_of(84)) < -0.5 and slot_pan("strings", slot_of(36)) > 0.5
    assert slot_pan("brass", slot_of(76)) < -0.3 and slot_pan("brass", slot_of(50)) > 0.3
    assert all(slot_pan("keys", k) == 0.0 for k in range(PAN_SLOTS))


# --------------------------------------------------------------------------- numpy DSP against scipy
def test_dsp_primitives_match_scipy(monkeypatch):
    """The render stage's numpy filters (no scipy.signal import on a re-render) are scipy's maths."""
    import scipy.fft
    import scipy.signal as ss

    from tempscore import dsp

    assert all(dsp.next_fast_len(n) == scipy.fft.next_fast_len(n, real=True) for n in range(1, 5000))
    for sr in (22050, 44100, 48000, 96000):  # K-weighting coefficients: pyloudnorm's exactly
        sos, gain = dsp.k_weighting_sos(sr)
        ref = np.vstack([ss.tf2sos(f.b, f.a) for f in pyloudnorm.Meter(sr)._filters.values()])
        assert np.abs(sos - ref).max() < 1e-12 and gain == 1.0
    x = music_like(4.0, seed=3)
    sos, _ = dsp.k_weighting_sos(SR)
    want = ss.sosfilt(sos, x.astype(np.float64), axis=0)
    assert len(x) >= dsp.FFMPEG_SOS_FROM_SAMPLES  # FFmpeg's biquad, in double precision
    got = dsp.sos_filter(sos, x)
    assert got.dtype == np.float32 and np.abs(got - want).max() < 1e-6
    assert np.abs(dsp.sos_filter(sos, x.astype(np.float64)) - want).max() < 1e-10  # direct form I's rounding
    mono = dsp.sos_filter(sos, x[:, 1].copy())  # channels are filtered apart; a 1-D signal stays 1-D
    assert mono.shape == (len(x),) and np.abs(mono - want[:, 1]).max() < 1e-6
    monkeypatch.setattr(dsp, "FFMPEG_SOS_FROM_SAMPLES", 1 << 40)  # short signals: FFT with the impulse response
    assert np.abs(dsp.sos_filter(sos, x) - want).max() < 1e-5
    assert np.abs(dsp.sos_filter(sos, x.astype(np.float64)) - want).max() < 1e-9
    monkeypatch.setattr(dsp, "FFMPEG_SOS_FROM_SAMPLES", 1)
    monkeypatch.setattr(dsp, "_ffmpeg_sos_filter", lambda sos, x, out=None: None)  # an FFmpeg without biquad: FFT
    assert np.abs(dsp.sos_filter(sos, x) - want).max() < 1e-5
    with pytest.raises(ValueError, match="unstable"):
        dsp.sos_filter(np.array([[1.0, 0, 0, 1.0, -2.0, 1.0]]), np.ones(10))
    h = dsp.kaiser_lowpass(81, 0.25, 5.0)
    assert np.abs(h - ss.firwin(81, 0.25, window=("kaiser", 5.0))).max() < 1e-15
    for n in (1, 2, 7, 4801):
        seg = x[:n]
        got = dsp.upsample(seg, 4 * h, 4)
        ref = ss.upfirdn((4 * h).astype(np.float32), seg, 4, 1, axis=0)[40 : 40 + 4 * n]
        assert got.shape == ref.shape and np.abs(got - ref).max() < 1e-5
        assert np.abs(dsp.upsample(seg[:, 0], 4 * h, 4) - ref[:, 0]).max() < 1e-5
    ir = hall_ir(SR // 2)
    got = dsp.fft_convolve(x[:20000], ir, n_out=20000)
    ref = np.stack([ss.fftconvolve(x[:20000, c], ir[:, c])[:20000] for c in range(2)], axis=1)
    assert got.dtype == np.float32 and np.abs(got - ref).max() < 1e-4
    assert dsp.fft_convolve(np.ones(3), np.ones(2)).tolist() == [1.0, 2.0, 2.0, 1.0]
    assert dsp.fft_convolve(np.ones(3), np.ones(2), n_out=6).tolist() == [1.0, 2.0, 2.0, 1.0, 0.0, 0.0]


def test_butterworth_sections_and_streamed_filtering_match_scipy():
    """The hall's filters are scipy's Butterworth design, and a filter carried over blocks of any
    size gives what filtering the whole signal at once gives (scipy's lfilter with zi)."""
    import scipy.signal as ss

    from tempscore import dsp

    for sr in (8000, 22050, 24000, 44100, 48000, 96000):
        for fc, kind in ((90.0, "highpass"), (3000.0, "lowpass"), (min(7000.0, 0.45 * sr), "lowpass")):
            assert np.abs(dsp.butter2_sos(fc, kind, sr=sr) - ss.butter(2, fc, kind, fs=sr, output="sos")).max() < 1e-14
    with pytest.raises(ValueError):
        dsp.butter2_sos(30000.0, "lowpass", sr=48000)
    with pytest.raises(ValueError):
        dsp.butter2_sos(100.0, "bandpass", sr=48000)
    rng = np.random.default_rng(7)
    x = rng.standard_normal(5 * 16000) * np.repeat(rng.uniform(0.01, 1.0, 50), 1600)
    sos, _ = dsp.k_weighting_sos(16000)
    want = ss.sosfilt(sos, x)
    for sizes in ([len(x)], [1, 2, 3, 5000, 1, 7], list(rng.integers(1, 20000, 40))):
        f, out, i = dsp.StreamingSosFilter(sos), [], 0
        for k in sizes:
            out.append(f(x[i: i + k]))
            i += k
        out.append(f(x[i:]))
        got = np.concatenate(out)
        assert got.shape == want.shape and np.abs(got - want).max() < 1e-9 * np.abs(want).max()


def test_hall_pieces_sum_to_the_whole_return_and_only_changed_pieces_are_convolved(tmp_path):
    from tempscore.cache import StageCache
    from tempscore.render.reverb import apply_reverb_pieces, hall_pieces

    n = 9 * SR
    spans = [(0, 4 * SR, "a"), (3 * SR, 7 * SR, "b"), (6 * SR, 9 * SR, "c")]  # bodies and overlapping tails
    send = np.zeros((n, 2), np.float32)
    for k, (a, b, _) in enumerate(spans):
        send[a:b] += music_like((b - a) / SR, seed=10 + k)
    pieces = hall_pieces(spans, n)
    assert [(a, b, ids) for a, b, ids in pieces] == [
        (0, 3 * SR, ["a"]), (3 * SR, 6 * SR, ["a", "b"]), (6 * SR, 9 * SR, ["b", "c"])]
    assert hall_pieces([(SR, 2 * SR, "x")], n) == [(SR, 2 * SR, ["x"])]  # silence before is no piece
    cache = StageCache(tmp_path / "cache")
    out = np.zeros_like(send)
    apply_reverb_pieces(send, pieces, sr=SR, cache=cache, add_to=out)
    whole = apply_reverb(send, sr=SR)
    assert np.abs(out - whole).max() < 1e-3 * np.abs(whole).max()  # the hall is linear
    assert cache.counts["hall"] == [0, 3]
    # change what "c" plays: only the piece it sounds in is convolved again, and the result is exact
    send2 = send.copy()
    send2[6 * SR :] *= 0.5
    pieces2 = hall_pieces([spans[0], spans[1], (6 * SR, 9 * SR, "c2")], n)
    out2 = np.zeros_like(send)
    apply_reverb_pieces(send2, pieces2, sr=SR, cache=cache, add_to=out2)
    assert cache.counts["hall"] == [2, 4]
    fresh = np.zeros_like(send)
    apply_reverb_pieces(send2, pieces2, sr=SR, cache=None, add_to=fresh)
    np.testing.assert_allclose(out2, fresh, atol=1e-6)


@settings(max_examples=300, deadline=None)
@given(sr=st.sampled_from([48000, 44100, 8000, 2000, 1000]), chunks=st.integers(1, 50),
       dips=st.lists(st.tuples(st.integers(0, 49), st.integers(1, 6), st.floats(0.1, 1.0)), max_size=5),
       short=st.integers(0, 100), data=st.data())
def test_the_limiter_gain_touches_only_what_it_changes_and_equals_the_whole_pass(sr, chunks, dips, short, data):
    """The limiter's gain applied only around the chunks it turns down (a chunk at exactly 1
    between two of them included) equals the whole-programme pass value for value; and the gain
    of any stretch alone is the whole one's."""
    from tempscore.render.mix import apply_chunk_gain, gain_per_sample, gain_per_sample_range

    c = max(1, sr // 1000)
    g = np.ones(chunks)
    for a, w, v in dips:
        g[min(a, chunks - 1) : min(chunks, a + w)] = v
    n = max(1, chunks * c - min(short, c - 1))  # the last chunk may be short
    whole = gain_per_sample(g, n, sr=sr)
    s0 = data.draw(st.integers(0, n))
    s1 = data.draw(st.integers(s0, n))
    assert np.array_equal(gain_per_sample_range(g, s0, s1, sr=sr), whole[s0:s1])
    x = np.random.default_rng(chunks).standard_normal((n, 2)).astype(np.float32)
    want = x * whole[:, None]
    apply_chunk_gain(x, g, sr=sr)
    assert np.array_equal(x, want)


@pytest.mark.parametrize("ducked", [False, True])
def test_a_loudness_gain_the_limiter_leaves_alone_is_one_number_with_the_same_result(ducked):
    """Quiet music the limiter never touches: the gain is the static gain (times the ducking)
    without a programme-length array of ones, and the output is value for value the one the
    per-sample gain gives."""
    from tempscore.render.mix import gain_per_sample

    rng = np.random.default_rng(4)
    x = (0.01 * rng.standard_normal((SR * 3, 2))).astype(np.float32)
    duck = duck_gain(len(x), sr=SR, regions=[(1.0, 2.0)], depth_db=10.0) if ducked else None
    out, gain, report = loudness_gain(x.copy(), sr=SR, target_lufs=-30.0, post_gain=duck)
    assert report.limiter_max_gr_db == 0.0
    want = gain_per_sample(np.ones(len(x) // (SR // 1000)), len(x), sr=SR) * np.float32(10 ** (report.static_gain_db / 20))
    if ducked:
        want *= duck
    assert gain.shape == (len(x),) and np.array_equal(np.asarray(gain), want)
    assert np.array_equal(out, x * want[:, None])


@pytest.mark.parametrize("bits", [16, 24])
def test_audio_past_a_riff_wav_s_4_gib_is_written_as_rf64_with_the_same_samples(tmp_path, monkeypatch, bits):
    """Sizes in a RIFF WAV are 32-bit (4.1 hours of 48 kHz stereo at 24 bits): longer audio is
    RF64, sample for sample what the WAV holds (the limit lowered here to a few blocks)."""
    import threading

    import soundfile

    from tempscore.render import mix

    x = (np.random.default_rng(bits).standard_normal((200_003, 2)) * 0.3).astype(np.float32)
    x[5] = (1.5, -1.5)  # clipped alike
    riff = mix.write_wav(tmp_path / "a.wav", x, sr=SR, bits=bits)
    monkeypatch.setattr(mix, "RIFF_MAX_DATA_BYTES", 100_000)
    monkeypatch.setattr(mix, "WAV_BLOCK_FRAMES", 4096)
    rf64 = mix.write_wav(tmp_path / "b.wav", x, sr=SR, bits=bits)
    assert riff.read_bytes()[:4] == b"RIFF" and rf64.read_bytes()[:4] == b"RF64"
    info = soundfile.info(str(rf64))
    assert (info.format, info.subtype, info.samplerate, info.frames) == ("RF64", f"PCM_{bits}", SR, len(x))
    want, _ = soundfile.read(str(riff), dtype="int32")
    got, _ = soundfile.read(str(rf64), dtype="int32")
    assert np.array_equal(got, want)
    stop = threading.Event()
    stop.set()
    with pytest.raises(mix.WriteStopped):
        mix.write_wav(tmp_path / "c.wav", x, sr=SR, bits=bits, stop=stop)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "b.wav"]  # nothing half-written


@settings(max_examples=150, deadline=None)
@given(n=st.integers(0, 3000), ch=st.integers(1, 3), block=st.integers(1, 130), values=st.sampled_from([1, 7, 300, 1 << 20]),
       seed=st.integers(0, 2**16), special=st.booleans())
def test_block_peaks_are_the_largest_absolute_sample_of_each_block(n, ch, block, values, seed, special):
    """The folded block peaks (run by run of rows, odd widths folded too) equal ``max |x|`` per
    block, the short last block included, whatever the run length."""
    import tempscore.render.mix as mix

    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, ch)) * rng.uniform(0, 2)).astype(np.float32)
    if special and n:
        x[rng.integers(0, n)] = -0.0
        x[rng.integers(0, n), 0] = -7.5  # a negative peak
    old = mix.PEAK_VALUES
    mix.PEAK_VALUES = values  # runs of one block up to all of them
    try:
        got = mix.block_peaks(x, block)
    finally:
        mix.PEAK_VALUES = old
    want = [float(np.abs(x[i : i + block]).max()) for i in range(0, n, block)]
    assert got.dtype == np.float64 and got.tolist() == want


def _limiter_gain_whole_arrays(p: np.ndarray, *, sr: int, ceiling: float, lookahead_sec: float,
                               release_db_per_sec: float) -> np.ndarray:
    """The limiter as whole-array expressions (how it was written before it worked in place)."""
    from numpy.lib.stride_tricks import sliding_window_view

    r = np.minimum(1.0, ceiling / np.maximum(p, 1e-12))
    if r.min() >= 1.0:
        return np.ones(len(p))
    r = sliding_window_view(np.concatenate([[r[0]], r, [r[-1]]]), 3).min(axis=1)
    c = max(1, sr // 1000)
    w = max(1, int(round(lookahead_sec * sr / c)))
    m = sliding_window_view(np.concatenate([r, np.full(w - 1, r[-1])]), w).min(axis=1)
    t = np.arange(len(m)) * (release_db_per_sec * c / sr)
    rel = 10 ** (np.minimum(np.minimum.accumulate(20 * np.log10(m) - t) + t, 0.0) / 20)
    q = np.concatenate([[0.0], np.cumsum(np.concatenate([np.full(w, rel[0]), rel]))])
    n = len(rel)
    return np.minimum((q[w + 1 : w + n + 1] - q[1 : n + 1]) / w, 1.0)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 5000), scale=st.floats(0.01, 4.0), seed=st.integers(0, 2**16),
       sr=st.sampled_from([44100, 48000, 96000]), lookahead_sec=st.sampled_from([0.001, 0.005, 0.02]))
def test_limiter_gain_in_place_equals_the_whole_array_expressions(n, scale, seed, sr, lookahead_sec):
    """The limiter works in place (a feature's chunk arrays are 58 MB each); every value is the
    whole-array computation's, bit for bit."""
    from tempscore.render.mix import LIMITER_RELEASE_DB_PER_SEC, limiter_gain

    p = np.abs(np.random.default_rng(seed).standard_normal(n)) * scale
    p[:: max(1, n // 3)] = 0.0  # silent chunks too
    want = _limiter_gain_whole_arrays(p, sr=sr, ceiling=0.8, lookahead_sec=lookahead_sec,
                                      release_db_per_sec=LIMITER_RELEASE_DB_PER_SEC)
    np.testing.assert_array_equal(limiter_gain(p, sr=sr, ceiling=0.8, lookahead_sec=lookahead_sec), want)
