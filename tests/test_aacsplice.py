"""Incremental AAC: a track spliced into its previous encode decodes like a whole encode of the
same audio (length, alignment, error against the input), and only the changed stretches are
encoded; the loudness hold that keeps unchanged stretches unchanged."""

import threading

import av
import numpy as np
import pytest
from tempscore.cache import StageCache
from tempscore.render.aacsplice import AAC_FRAME, encode_track, frame_fingerprints
from tempscore.render.mix import (
    integrated_lufs,
    k_weighted_chunk_power,
    k_weighted_chunk_power_update,
    loudness_gain,
    lufs_from_chunk_power,
)

SR = 48000


def _music(seconds: float, seed: int = 0) -> np.ndarray:
    """Notes (harmonic tones with attacks) every 0.4 s, a quiet noise floor; stereo float32."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    x = np.zeros((n, 2), np.float32)
    step = int(0.4 * SR)
    for a in range(0, n, step):
        f0 = 110 * 2 ** (rng.integers(0, 24) / 12)
        seg = t[a : a + 2 * step] - t[a]
        env = np.exp(-3 * seg) * np.minimum(1, seg * 200)
        tone = sum(np.sin(2 * np.pi * f0 * h * seg) / h for h in (1, 2, 3, 5))
        pan = rng.uniform(0.2, 0.8)
        x[a : a + 2 * step, 0] += (0.15 * env * tone * pan).astype(np.float32)
        x[a : a + 2 * step, 1] += (0.15 * env * tone * (1 - pan)).astype(np.float32)
    x += rng.normal(0, 0.002, x.shape).astype(np.float32)
    return x


def _decode(path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.concatenate([f.to_ndarray() for f in c.decode(audio=0)], axis=1).T


def _err_db(decoded: np.ndarray, ref: np.ndarray, a: int, b: int) -> float:
    e = decoded[a:b] - ref[a:b]
    return 10 * np.log10(np.mean(e.astype(np.float64) ** 2) / np.mean(ref[a:b].astype(np.float64) ** 2))


def _encode(x, dest, cache, slot="music") -> dict:
    return encode_track(x, dest, sr=SR, bitrate="256k", stop=threading.Event(), cache=cache, slot=slot)


@pytest.mark.parametrize("where", ["middle", "start", "end", "two places"])
def test_a_spliced_track_decodes_like_a_whole_encode(tmp_path, where):
    x = _music(24.0)
    cache = StageCache(tmp_path / "cache")
    assert _encode(x, tmp_path / "first.m4a", cache)["mode"] == "whole"
    y = x.copy()
    spans = {"middle": [(10.3, 12.9)], "start": [(0.0, 1.7)], "end": [(22.2, 24.0)],
             "two places": [(3.1, 4.0), (17.5, 19.2)]}[where]
    for a, b in spans:  # a cue re-composed there: other notes
        i, j = int(a * SR), int(b * SR)
        y[i:j] = _music(b - a + 0.01, seed=7)[: j - i]
    got = _encode(y, tmp_path / "spliced.m4a", cache)
    assert got["mode"] == "spliced"
    assert got["frames_encoded"] < 0.5 * got["frames"]
    whole = tmp_path / "whole.m4a"
    encode_track(y, whole, sr=SR, bitrate="256k", stop=threading.Event())  # no cache: the reference encode
    d_sp, d_wh = _decode(tmp_path / "spliced.m4a"), _decode(whole)
    assert d_sp.shape == d_wh.shape  # same packets, same length
    n = len(y)
    assert _err_db(d_sp, y, 0, n) == pytest.approx(_err_db(d_wh, y, 0, n), abs=1.0)  # no offset, no damage
    assert _err_db(d_sp, y, 0, n) < -20
    for a, b in spans:  # around each splice point: as close to the input as the whole encode, within 3 dB
        for edge in (int(a * SR), int(b * SR)):
            lo, hi = max(0, edge - 8 * AAC_FRAME), min(n, edge + 8 * AAC_FRAME)
            if hi - lo > 4 * AAC_FRAME:
                assert _err_db(d_sp, y, lo, hi) < _err_db(d_wh, y, lo, hi) + 3.0, (where, edge)
    # the stretches that did not change are the first encode's packets, byte for byte
    d_first = _decode(tmp_path / "first.m4a")
    i0 = int(spans[0][0] * SR) - 40 * AAC_FRAME
    if i0 > 0:
        np.testing.assert_array_equal(d_sp[: i0 - 4 * AAC_FRAME], d_first[: i0 - 4 * AAC_FRAME])


def test_unchanged_or_rounding_level_changes_keep_the_encode(tmp_path):
    x = _music(8.0)
    cache = StageCache(tmp_path / "cache")
    _encode(x, tmp_path / "a.m4a", cache)
    assert _encode(x.copy(), tmp_path / "b.m4a", cache)["mode"] == "unchanged"
    assert (tmp_path / "b.m4a").read_bytes() == (tmp_path / "a.m4a").read_bytes()
    y = x + np.random.default_rng(3).normal(0, 1e-7, x.shape).astype(np.float32)  # an FFT's rounding
    assert _encode(y, tmp_path / "c.m4a", cache)["mode"] == "unchanged"
    z = x.copy()
    z[SR : SR + 2000] += 3e-4  # -70 dBFS: a real change, however quiet
    assert _encode(z, tmp_path / "d.m4a", cache)["mode"] == "spliced"
    # another length (a recut): encoded whole; another slot does not see this one's encodes
    assert _encode(x[:-5000], tmp_path / "e.m4a", cache)["mode"] == "whole"
    assert _encode(x, tmp_path / "f.m4a", cache, slot="mix")["mode"] == "whole"
    # only the latest encode of a slot is kept
    assert len(list((tmp_path / "cache").rglob("*.m4a"))) == 3


def test_fingerprints_move_with_the_size_of_a_change():
    x = _music(3.0)
    fp = frame_fingerprints(x)
    assert fp.shape == (-(-len(x) // AAC_FRAME), 4)
    d = np.zeros_like(x)
    d[5 * AAC_FRAME : 6 * AAC_FRAME] = np.random.default_rng(1).normal(0, 0.01, (AAC_FRAME, 2))
    moved = np.abs(frame_fingerprints(x + d) - fp)
    assert moved[5].max() > 10 * 0.01 * 0.05 and np.all(moved[np.arange(len(fp)) != 5] < 1e-6)


def test_loudness_hold_keeps_the_gain_within_the_tolerance():
    x = _music(20.0)
    out, _, first = loudness_gain(x, sr=SR, target_lufs=-23.0)
    assert not first.gain_held and abs(first.final_lufs + 23.0) < 0.02
    y = x.copy()
    y[int(5 * SR) : int(7 * SR)] *= 1.3  # a slightly louder cue: the programme moves by a fraction of a LU
    out2, _, held = loudness_gain(y, sr=SR, target_lufs=-23.0, hold_gain_db=first.static_gain_db,
                                  hold_tolerance_lu=0.5)
    assert held.gain_held and held.static_gain_db == first.static_gain_db
    assert abs(integrated_lufs(out2, sr=SR) + 23.0) <= 0.5
    np.testing.assert_array_equal(out2[int(10 * SR) :], out[int(10 * SR) :])  # unchanged after it: sample for sample
    z = x * np.float32(2.0)  # 6 dB louder: out of tolerance, normalised again
    _, _, again = loudness_gain(z, sr=SR, target_lufs=-23.0, hold_gain_db=first.static_gain_db, hold_tolerance_lu=0.5)
    assert not again.gain_held and abs(again.final_lufs + 23.0) < 0.02
    _, _, exact = loudness_gain(y, sr=SR, target_lufs=-23.0, hold_gain_db=first.static_gain_db, hold_tolerance_lu=0.0)
    assert not exact.gain_held and abs(exact.final_lufs + 23.0) < 0.02


@pytest.mark.parametrize("where", [(0.0, 1.0), (9.0, 11.5), (18.7, 20.0), None])
def test_k_weighted_power_recomputed_only_where_the_music_changed(where):
    x = _music(20.0)
    power, fp, share = k_weighted_chunk_power_update(x, sr=SR, previous=None)
    assert share == 1.0 and np.array_equal(power, k_weighted_chunk_power(x, sr=SR))
    y = x.copy()
    if where is not None:
        i, j = int(where[0] * SR), int(where[1] * SR)
        y[i:j] = _music(where[1] - where[0] + 0.01, seed=5)[: j - i]
    got, fp2, share = k_weighted_chunk_power_update(y, sr=SR, previous=(fp, power))
    whole = k_weighted_chunk_power(y, sr=SR)
    np.testing.assert_allclose(got, whole, rtol=1e-5, atol=1e-12)  # the filter's memory is carried
    assert share < (0.3 if where is not None else 1e-9)
    assert integrated_lufs(y, sr=SR) == pytest.approx(lufs_from_chunk_power(got, sr=SR), abs=0.01)


def test_a_broken_cache_entry_means_a_whole_encode(tmp_path):
    x = _music(6.0)
    cache = StageCache(tmp_path / "cache")
    _encode(x, tmp_path / "a.m4a", cache)
    (m4a,) = (tmp_path / "cache").rglob("*.m4a")
    m4a.write_bytes(m4a.read_bytes()[: m4a.stat().st_size // 3])  # truncated (a full disk, a crash)
    y = x.copy()
    y[SR : 2 * SR] *= 0.5
    got = _encode(y, tmp_path / "b.m4a", cache)
    assert got["mode"] == "whole"
    assert _decode(tmp_path / "b.m4a").shape[0] >= len(y)
    assert _encode(y, tmp_path / "c.m4a", cache)["mode"] == "unchanged"  # the new encode is the entry now
