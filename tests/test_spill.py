"""Programme-length render buffers mapped from files (render.spill): the same results as in RAM,
nothing left on disk, and a full disk keeps them in memory."""

from __future__ import annotations

import hashlib
import logging
import mmap
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tempscore.render.mix import chunk_mean_square, k_weighted_chunk_power
from tempscore.render.spill import Spill

pytestmark = pytest.mark.skipif(not hasattr(os, "posix_fallocate"), reason="no posix_fallocate: buffers stay in RAM")


def _mapping_of(a: np.ndarray) -> str | None:
    """The /proc/self/maps line of the mapping that holds ``a``'s first byte, or None."""
    addr = a.__array_interface__["data"][0]
    for line in Path("/proc/self/maps").read_text().splitlines():
        lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
        if lo <= addr < hi:
            return line
    return None


def _is_mapped(a: np.ndarray) -> bool:
    """Is ``a``'s memory mapped from a file (not RAM: the heap or an anonymous mapping)?"""
    base = a
    while isinstance(base, (np.ndarray, memoryview)):  # array views, then the buffer they came from
        base = base.base if isinstance(base, np.ndarray) else base.obj
    if not isinstance(base, mmap.mmap):
        return False
    fields = (_mapping_of(a) or "").split(maxsplit=5)
    return len(fields) == 6 and fields[5].startswith("/")  # a path: file-backed


@pytest.mark.skipif(not hasattr(mmap, "MADV_DONTFORK") or not Path("/proc/self/maps").is_file(),
                    reason="MADV_DONTFORK and /proc are Linux's")
def test_a_forked_child_does_not_inherit_the_buffers_held_in_ram(tmp_path):
    """The synthesis worker is forked from the render: the buses in RAM are not copied into it
    (their pages would count twice in the process tree's memory); the file-backed ones are shared."""
    sp = Spill(tmp_path / "cache", ram_bytes=3 << 20)
    ram = sp.zeros((300_000, 2))
    ram[:] = 1.0
    spilled = sp.zeros((300_000, 2))
    assert not _is_mapped(ram) and _is_mapped(spilled)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: which of the two does it have?
        os.close(read)
        os.write(write, bytes([_mapping_of(ram) is None, _mapping_of(spilled) is not None]))
        os._exit(0)
    os.close(write)
    got = os.read(read, 2)
    os.close(read)
    os.waitpid(pid, 0)
    assert got == bytes([True, True])
    assert float(ram.sum()) == 600_000.0  # the parent's are untouched


def test_buffers_beyond_the_ram_budget_are_mapped_from_nameless_files(tmp_path):
    sp = Spill(tmp_path / "cache", ram_bytes=3 << 20)
    small = sp.zeros((1000, 2))  # under SMALL_BYTES: always in memory, not counted
    first = sp.zeros((300_000, 2))  # 2.4 MB: within the 3 MB budget
    big = sp.zeros((200_000, 2))  # 1.6 MB: over what is left
    assert not _is_mapped(small) and not _is_mapped(first) and _is_mapped(big)
    assert big.dtype == np.float32 and big.shape == (200_000, 2) and big.flags.writeable
    assert not big.any()  # zeros, as np.zeros
    big[123_456] = (0.5, -0.25)
    assert big[123_456].tolist() == [0.5, -0.25]
    assert sp.spilled_bytes == big.nbytes
    assert list((tmp_path / "cache").iterdir()) == []  # no name left for any exit to leave behind
    c = sp.copy(np.arange(600_000, dtype=np.float32).reshape(-1, 2))
    assert _is_mapped(c) and c[-1].tolist() == [599_998.0, 599_999.0]
    assert not _is_mapped(Spill(None, ram_bytes=0).zeros((200_000, 2)))  # no folder: RAM


def test_a_full_disk_keeps_the_buffer_in_memory(tmp_path, caplog, monkeypatch):
    from tempscore.render import spill

    monkeypatch.setattr(spill, "on_ram_disk", lambda folder: False)  # a small disk made as a tmpfs
    small_disk = tmp_path / "small"
    small_disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small_disk)],
                      capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        with caplog.at_level(logging.WARNING, logger="tempscore.render.spill"):
            a = Spill(small_disk, ram_bytes=0).zeros((1_000_000, 2))  # 8 MB on a 1 MB disk
        assert not _is_mapped(a) and a.shape == (1_000_000, 2) and not a.any()
        assert "keeping it in memory" in caplog.text
        assert os.listdir(small_disk) == []
    finally:
        subprocess.run(["umount", str(small_disk)], capture_output=True)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 48 * 9000), chunk=st.sampled_from([1, 48, 441, 480]), seed=st.integers(0, 2**16))
def test_chunk_mean_square_equals_the_whole_array_formula(n, chunk, seed):
    from tempscore.render import mix

    x = np.random.default_rng(seed).random(n).astype(np.float32)
    n_chunks = -(-n // chunk)
    p2 = np.asarray(x, np.float64) ** 2
    full = n // chunk
    want = np.ones(n_chunks)
    want[:full] = p2[: full * chunk].reshape(full, chunk).mean(axis=1)
    if n > full * chunk:
        want[full:] = p2[full * chunk :].mean()
    old = mix.MEAN_SQUARE_BLOCK_CHUNKS
    try:
        for block in (old, 7):  # block edges anywhere
            mix.MEAN_SQUARE_BLOCK_CHUNKS = block
            assert np.array_equal(chunk_mean_square(x, chunk=chunk, n_chunks=n_chunks), want)
    finally:
        mix.MEAN_SQUARE_BLOCK_CHUNKS = old


def _chunk_power_whole(x: np.ndarray, sr: int) -> np.ndarray:
    """The K-weighted chunk power as first written: the whole programme filtered, squared, summed."""
    from tempscore import dsp
    from tempscore.render import mix

    sos, gain = mix._k_weighting(sr)
    y = dsp.sos_filter(sos, x)
    y *= np.float32(gain)
    if x.shape[1] > 3:
        y[:, 3:] *= np.float32(np.sqrt(1.41))
    y *= y
    p = y.sum(axis=1)
    c = mix._chunk(sr)
    full = len(p) // c
    return np.append(p[: full * c].reshape(full, c).sum(axis=1, dtype=np.float64), p[full * c :].sum(dtype=np.float64))


@pytest.mark.parametrize("channels", [1, 2, 6])
def test_k_weighted_chunk_power_streams_the_filter_with_the_same_values(tmp_path, monkeypatch, channels):
    """Filtered, squared and summed a block at a time, FFmpeg's filter run as a stream (blocks not
    whole chunks): value for value the whole-programme computation, and nothing
    programme-length allocated; without FFmpeg's filter (by FFT) the whole copy goes to ``alloc``."""
    from tempscore import dsp
    from tempscore.render import mix

    sr = 48000
    x = (np.random.default_rng(channels).standard_normal((sr * 3 + 123, channels)) * 0.1).astype(np.float32)
    # FFmpeg's biquad output moves by ~1e-9 with the frame sizes it is fed: the whole-programme
    # reference is filtered in the same blocks
    monkeypatch.setattr(dsp, "SOS_BLOCK_SAMPLES", 10_007)
    monkeypatch.setattr(mix, "POWER_BLOCK_CHUNKS", 97)
    want = _chunk_power_whole(x, sr)
    sp = Spill(tmp_path, ram_bytes=0)
    assert np.array_equal(k_weighted_chunk_power(x, sr=sr, alloc=sp.zeros), want)
    assert sp.spilled_bytes == 0
    blocks = list(dsp.sos_filter_blocks(mix._k_weighting(sr)[0], x))
    assert len(blocks) > 10 and [s for s, _ in blocks] == list(np.cumsum([0] + [len(y) for _, y in blocks[:-1]]))
    monkeypatch.setattr(dsp, "_ffmpeg_sos_blocks", lambda sos, x: None)  # an FFmpeg without biquad
    want_fft = _chunk_power_whole(x, sr)
    assert np.array_equal(k_weighted_chunk_power(x, sr=sr, alloc=sp.zeros), want_fft)
    assert sp.spilled_bytes == x.nbytes
    assert np.allclose(want_fft, want, rtol=1e-4, atol=1e-9)


def _digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_a_render_with_every_buffer_on_disk_equals_one_in_memory(tmp_path, clip25):
    """The whole render stage (synthesis, reverb, loudness, the production audio and the mix)
    with every programme-length buffer file-backed writes the same WAV and the same audio
    packets in the scored video as in RAM, and leaves no working file behind."""
    import av

    from tempscore.api import analyze, compose, plan, render
    from tempscore.render import RenderSettings

    got = {}
    for above_mb in (512, 0):  # RAM budget: everything in memory, everything in files
        out = tmp_path / f"spill{above_mb}"
        a = analyze(clip25.path, out)
        p = plan(Path(a.outputs["analysis"]), out, picture=False)
        c = compose(Path(p.outputs["timeline"]), out, seed=3)
        r = render(Path(c.outputs["midi"]), out, settings=RenderSettings(ram_buffers_mb=above_mb))
        with av.open(r.outputs["video"]) as v:
            packets = hashlib.sha256(b"".join(bytes(pk) for pk in v.demux(*v.streams.audio) if pk.size)).hexdigest()
        got[above_mb] = (_digest(Path(r.outputs["wav"])), packets)
        on_disk = r.summary.buffers_on_disk_mb
        assert (on_disk > 0) == (above_mb == 0), on_disk
        assert not [f for f in (out / f"{clip25.path.stem}.cache").rglob("*") if "spill" in f.name]
    assert got[0] == got[512]


def _duck_reference(n, *, sr, regions, depth_db, attack_sec, release_sec):
    """The ducking curve by its definition, on the whole sample grid at once: the weight is the
    largest of each merged region's plateau and raised-cosine ramps, the gain 10^(-depth*w/20)
    in float64 where the weight is not 0 (as the first version computed it)."""
    from tempscore.render.mix import merge_regions

    t = np.arange(n)
    w = np.zeros(n, np.float32)
    na, nr = int(round(attack_sec * sr)), int(round(release_sec * sr))
    for a_sec, b_sec in merge_regions(regions, min_gap_sec=attack_sec + release_sec):
        a, b = int(round(a_sec * sr)), int(round(b_sec * sr))
        plateau = ((t >= a) & (t < b)).astype(np.float32)
        up = np.where((t >= a - na) & (t < a), 0.5 - 0.5 * np.cos(np.pi * (t - (a - na) + 1) / (na + 1)), 0.0)
        down = np.where((t >= b) & (t < b + nr), 0.5 + 0.5 * np.cos(np.pi * (t - b + 1) / (nr + 1)), 0.0)
        w = np.maximum.reduce([w, plateau, up.astype(np.float32), down.astype(np.float32)])
    return np.where(w > 0, (10 ** (-depth_db * w.astype(np.float64) / 20)).astype(np.float32), np.float32(1.0))


@settings(max_examples=40, deadline=None)
@given(seconds=st.floats(0.0, 30.0), regions=st.lists(st.tuples(st.floats(-2, 32), st.floats(0, 6)), max_size=8),
       depth_db=st.sampled_from([0.0, 3.0, 10.0, 24.0]), attack=st.sampled_from([0.0, 0.3]),
       release=st.sampled_from([0.0, 0.8]), block=st.sampled_from([1 << 20, 4097]))
def test_duck_gain_in_place_and_blockwise_equals_the_whole_array_formula(tmp_path_factory, seconds, regions, depth_db,
                                                                         attack, release, block):
    from tempscore.render import mix

    sr = 8000
    n = int(seconds * sr)
    spans = [(a, a + d) for a, d in regions]
    old = mix.DUCK_BLOCK_SAMPLES
    try:
        mix.DUCK_BLOCK_SAMPLES = block
        got = mix.duck_gain(n, sr=sr, regions=spans, depth_db=depth_db, attack_sec=attack, release_sec=release,
                            alloc=Spill(tmp_path_factory.mktemp("spill"), ram_bytes=0).zeros)
    finally:
        mix.DUCK_BLOCK_SAMPLES = old
    if depth_db <= 0:
        assert got.dtype == np.float32 and len(got) == n and np.all(got == 1.0)
        return
    assert np.array_equal(got, _duck_reference(n, sr=sr, regions=spans, depth_db=depth_db, attack_sec=attack,
                                               release_sec=release))


@pytest.mark.parametrize("loud", [False, True])
def test_loudness_gain_curves_in_files_are_the_same_values(tmp_path, loud):
    """The gain curve (ducked; limited when loud) made in a file-backed array: the same output and
    the same curve as in RAM."""
    from tempscore.render.mix import duck_gain, loudness_gain

    sr = 48000
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((sr * 6, 2)) * 0.05).astype(np.float32)
    if loud:
        x[sr : sr + 200] *= 12  # peaks for the limiter
    duck = duck_gain(len(x), sr=sr, regions=[(2.0, 3.5)], depth_db=10.0)
    target = -9.0 if loud else -23.0
    a_out, a_gain, a_rep = loudness_gain(x.copy(), sr=sr, target_lufs=target, post_gain=duck)
    sp = Spill(tmp_path, ram_bytes=0)
    b_out, b_gain, b_rep = loudness_gain(x.copy(), sr=sr, target_lufs=target, post_gain=duck, alloc=sp.zeros)
    assert np.array_equal(a_out, b_out) and np.array_equal(a_gain, b_gain) and a_rep == b_rep
    assert _is_mapped(b_gain) and sp.spilled_bytes == len(x) * 4
    assert (a_rep.limiter_max_gr_db > 0) == loud


def test_the_ram_budget_comes_back_when_a_buffer_is_freed(tmp_path):
    sp = Spill(tmp_path, ram_bytes=5 << 20)
    a = sp.zeros((500_000, 2))  # 4 MB in RAM
    assert not _is_mapped(a) and _is_mapped(sp.zeros((500_000, 2)))
    view = a[:, 0]
    del a
    assert _is_mapped(sp.zeros((500_000, 2)))  # a view still holds the memory
    del view
    assert not _is_mapped(sp.zeros((500_000, 2)))


def test_the_budget_is_chosen_from_the_free_memory(monkeypatch):
    from tempscore.render import spill

    monkeypatch.setattr(spill, "free_memory_bytes", lambda: 64 << 30)
    assert spill.ram_budget_bytes() == spill.DEFAULT_RAM_BUFFERS_MB << 20  # plenty free: the cap
    monkeypatch.setattr(spill, "free_memory_bytes", lambda: 400 << 20)
    assert spill.ram_budget_bytes() == int((400 << 20) * spill.FREE_SHARE)  # a busy machine: less
    assert spill.ram_budget_bytes(7) == 7 << 20  # as asked


def test_free_memory_is_read_from_the_kernel():
    from tempscore.render.spill import free_memory_bytes

    free = free_memory_bytes()
    assert free is not None and 0 < free <= os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def test_no_files_on_a_ram_disk():
    from tempscore.render.spill import on_ram_disk

    shm = Path("/dev/shm")
    kinds = {line.partition(" - ")[0].split()[4]: line.partition(" - ")[2].split()[0]
             for line in Path("/proc/self/mountinfo").read_text().splitlines()}
    if kinds.get(str(shm)) != "tmpfs":
        pytest.skip("no tmpfs at /dev/shm here")
    assert on_ram_disk(shm)
    assert not _is_mapped(Spill(shm, ram_bytes=0).zeros((300_000, 2)))  # a file there would be memory too
    assert not on_ram_disk(Path("/proc").parent)  # the root file system is a disk wherever tests run


def _rss_file_kb() -> int:
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("RssFile:"))
    return int(line.split()[1])


def test_trimming_gives_mapped_pages_back_and_keeps_the_data(tmp_path):
    from tempscore.render.spill import on_ram_disk

    if on_ram_disk(tmp_path):
        pytest.skip("the temporary folder is a RAM disk: nothing is mapped there")
    sp = Spill(tmp_path, ram_bytes=0)
    a = sp.zeros((8 << 20, 2))  # 64 MB, file-backed
    before = _rss_file_kb()
    a[:] = np.arange(len(a), dtype=np.float32)[:, None]  # every page touched: resident
    assert _rss_file_kb() - before > 48 << 10
    sp.trim()
    assert _rss_file_kb() - before < 8 << 10
    assert a[-1, 1] == np.float32(len(a) - 1) and a[12_345, 0] == 12_345  # the data is the file's
    entry = tmp_path / "entry.npy"
    np.save(entry, np.ones((4 << 20, 2), np.float32))
    mapped = sp.watch(np.load(entry, mmap_mode="r"))
    with sp.trimming(interval_sec=0.01):
        assert float(mapped[:, 1].sum(dtype=np.float64)) == 4 << 20
        deadline = time.monotonic() + 5.0  # the trimming thread's next turn (later on a loaded machine)
        while _rss_file_kb() - before >= 8 << 10 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _rss_file_kb() - before < 8 << 10  # given back while the block runs
    private = np.load(entry, mmap_mode="c")
    private[0] = 7  # copy-on-write: private memory, never given back
    sp.watch(private)
    sp.trim()
    assert private[0, 0] == 7
