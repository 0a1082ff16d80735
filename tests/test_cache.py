"""Per-cue caching: numpy inference equals torch, a cue's melody depends only on its own inputs,
and a one-cue edit re-writes only that cue (melody and synthesised audio), with the same result
as a run without the cache."""

import json
import os
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from tempscore.cache import StageCache, digest
from tempscore.models.generator import BarCondition, CueRequest, Generator
from tempscore.render.synth import Segment, synthesize_sections

from conftest import SAMPLE, run_cli


def _req(seed: int, mode: str = "maj", n: int = 6) -> CueRequest:
    return CueRequest(tonic_pc=4, meter_beats=4, seed=seed,
                      bars=[BarCondition(mode, 2, "mid", [0, 3, 4, 0][i % 4]) for i in range(n)])


def test_numpy_inference_matches_the_torch_model():
    import torch
    from safetensors.torch import load_file

    from tempscore.models.generator import DEFAULT_CHECKPOINT
    from tempscore.models.transformer import ModelConfig, MusicTransformer

    g = Generator.load()
    m = MusicTransformer(ModelConfig(**g.meta["config"]))
    m.load_state_dict(load_file(str(DEFAULT_CHECKPOINT)))
    m.eval()
    idx = np.random.default_rng(3).integers(0, g.meta["config"]["vocab_size"], (2, 48))
    with torch.inference_mode():
        ref = m(torch.tensor(idx))[0].numpy()
    g.backend.reset(2)
    got = np.concatenate([g.backend.forward(idx[:, :30])] + [g.backend.forward(idx[:, i : i + 1]) for i in range(30, 48)], 1)
    assert np.abs(got - ref).max() < 1e-3 * np.abs(ref).max()


def test_a_melody_depends_only_on_its_own_request():
    g = Generator.load()
    a, b = _req(1), _req(2, "min")
    together = g.generate([a, b])
    assert together[1] == g.generate([b])[0] and together[0] == g.generate([a])[0]


def test_digest_is_order_independent_and_sensitive():
    assert digest({"a": 1, "b": [1, 2]}) == digest({"b": [1, 2], "a": 1})
    assert digest({"a": 1}) != digest({"a": 2})


def _midi(path, pitches_by_cue, extra_part_in_cue=None):
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    inst = pretty_midi.Instrument(program=48, name="Strings")
    for k, pitches in enumerate(pitches_by_cue):
        for j, p in enumerate(pitches):
            inst.notes.append(pretty_midi.Note(velocity=90, pitch=p, start=4.0 * k + 0.5 * j, end=4.0 * k + 0.5 * j + 0.4))
    pm.instruments.append(inst)
    if extra_part_in_cue is not None:  # a new part (same section) with controllers over the whole file
        extra = pretty_midi.Instrument(program=49, name="Ostinato")
        k = extra_part_in_cue
        extra.notes.append(pretty_midi.Note(velocity=80, pitch=55, start=4.0 * k + 0.25, end=4.0 * k + 2.0))
        extra.control_changes += [pretty_midi.ControlChange(11, 40 + 5 * i, 0.5 * i) for i in range(16)]
        pm.instruments.append(extra)
    pm.write(str(path))
    return path


def test_synth_cache_reuses_unchanged_segments_and_matches_an_uncached_render(tmp_path):
    segs = [Segment(0.0, 4.0, 1.0), Segment(4.0, 8.0, 1.0)]
    a = _midi(tmp_path / "a.mid", [[60, 64, 67], [62, 65, 69]])
    b = _midi(tmp_path / "b.mid", [[60, 64, 67], [50, 53, 57]])  # only the second cue changes
    plain = synthesize_sections(a, sr=48000, duration_sec=9.0, segments=segs).audio["strings"]
    cache = StageCache(tmp_path / "cache")
    first = synthesize_sections(a, sr=48000, duration_sec=9.0, segments=segs, cache=cache).audio["strings"]
    assert (cache.hits, cache.misses) == (0, 2)
    np.testing.assert_allclose(first, plain, atol=1e-6)
    again = synthesize_sections(a, sr=48000, duration_sec=9.0, segments=segs, cache=cache).audio["strings"]
    assert (cache.hits, cache.misses) == (2, 2)
    np.testing.assert_array_equal(again, first)
    changed = synthesize_sections(b, sr=48000, duration_sec=9.0, segments=segs, cache=cache).audio["strings"]
    assert (cache.hits, cache.misses) == (3, 3)  # the first cue read back, the second synthesised
    ref = synthesize_sections(b, sr=48000, duration_sec=9.0, segments=segs).audio["strings"]
    np.testing.assert_allclose(changed, ref, atol=1e-6)
    assert np.abs(changed[: 4 * 48000] - first[: 4 * 48000]).max() < 1e-6  # first cue's body untouched
    # a new part that plays only in the second cue (with controllers everywhere) leaves the first cue cached
    c = _midi(tmp_path / "c.mid", [[60, 64, 67], [50, 53, 57]], extra_part_in_cue=1)
    hits = cache.hits
    with_part = synthesize_sections(c, sr=48000, duration_sec=9.0, segments=segs, cache=cache).audio["strings"]
    assert cache.hits == hits + 1
    ref = synthesize_sections(c, sr=48000, duration_sec=9.0, segments=segs).audio["strings"]
    np.testing.assert_allclose(with_part, ref, atol=1e-6)


def test_unreadable_cache_entries_are_misses(tmp_path):
    cache = StageCache(tmp_path / "c")
    cache.put_json("melody", {"k": 1}, {"v": 2})
    assert cache.get_json("melody", {"k": 1}) == {"v": 2}
    for f in (tmp_path / "c" / "melody").iterdir():
        f.write_text("{broken")
    assert cache.get_json("melody", {"k": 1}) is None


def _notes_in(mid, t0, t1):
    pm = pretty_midi.PrettyMIDI(str(mid))
    return sorted((i.name, round(n.start, 4), n.pitch, round(n.end, 4)) for i in pm.instruments for n in i.notes
                  if t0 - 1e-6 <= n.start < t1)


@pytest.mark.skipif(not SAMPLE.is_file(), reason="bundled sample missing")
def test_one_cue_mood_change_rewrites_only_that_cue(tmp_path):
    r = run_cli("score", SAMPLE, "-o", tmp_path, "--json")
    assert r.returncode == 0, r.stderr
    first = json.loads(r.stdout)
    assert not any(c["cached"] for c in first["compose"]["cue_report"].values())
    mid = tmp_path / "rough_cut.score.mid"
    before = mid.read_bytes()
    tl_path = tmp_path / "rough_cut.timeline.json"
    tl = json.loads(tl_path.read_text())
    c1, c2 = tl["cues"][0], tl["cues"][1]
    c2["mood"] = "tense" if c2["mood"] != "tense" else "serene"
    tl_path.write_text(json.dumps(tl))
    r = run_cli("score", SAMPLE, "-o", tmp_path, "--json")
    assert r.returncode == 0, r.stderr
    second = json.loads(r.stdout)
    assert second["analyze"]["cached"]
    report = second["compose"]["cue_report"]
    assert report[c1["id"]]["cached"] and not report[c2["id"]]["cached"]
    synth = second["render"]["synth_cache"]
    assert synth["segments_reused"] >= 1 and synth["segments_rendered"] >= 1
    assert synth["hall_pieces_reused"] >= 1 and synth["hall_pieces_convolved"] >= 1  # the reverb too
    tmp_before = tmp_path / "before.mid"
    tmp_before.write_bytes(before)
    assert _notes_in(tmp_before, c1["start_sec"], c1["end_sec"]) == _notes_in(mid, c1["start_sec"], c1["end_sec"])
    assert _notes_in(tmp_before, c2["start_sec"], c2["end_sec"]) != _notes_in(mid, c2["start_sec"], c2["end_sec"])
    # the cache changes the speed, never the result: without it the same MIDI comes out
    cached_midi = mid.read_bytes()
    import shutil

    shutil.rmtree(tmp_path / "rough_cut.cache")
    assert run_cli("compose", tl_path).returncode == 0
    assert mid.read_bytes() == cached_midi


@pytest.mark.parametrize("fork", [False, True])
def test_sections_mixed_straight_into_dry_and_send_equal_the_sum_of_section_buffers(tmp_path, monkeypatch, fork):
    """render_audio mixes each section's segments straight into the dry mix and the reverb send
    (no buffer per section); with or without the forked worker, cached or not, that is the sum."""
    from tempscore.render import synth
    from tempscore.render.synth import iter_sections

    monkeypatch.setenv("TEMPSCORE_SYNTH_PROCS", "2" if fork else "1")
    monkeypatch.setattr(synth, "FORK_MIN_NOTE_SEC", 1.0 if fork else 1e9)
    monkeypatch.setattr(synth, "_can_fork", lambda: fork)
    segs = [Segment(0.0, 4.0, 1.0), Segment(4.0, 8.0, 1.0)]
    mid = _midi(tmp_path / "a.mid", [[60, 64, 67], [50, 53, 57]], extra_part_in_cue=1)
    plain = synthesize_sections(mid, sr=48000, duration_sec=9.0, segments=segs).audio
    gains = {sec: 0.5 + 0.1 * i for i, sec in enumerate(sorted(plain))}
    want_dry = sum(plain.values())
    want_send = sum(gains[k] * v for k, v in plain.items())
    for cache in (None, StageCache(tmp_path / "c"), StageCache(tmp_path / "c")):  # no cache, misses, hits
        dry = np.zeros_like(want_dry)
        send = np.zeros_like(want_dry)
        out = list(iter_sections(mid, sr=48000, duration_sec=9.0, segments=segs, cache=cache,
                                 into=lambda sec, dry=dry, send=send: [(dry, 1.0), (send, gains[sec])]))
        assert [a for _, a, _ in out] == [None] * len(plain)
        np.testing.assert_allclose(dry, want_dry, atol=1e-5)
        np.testing.assert_allclose(send, want_send, atol=1e-5)


def test_entries_written_behind_are_read_back_in_order_and_all_written_when_the_block_ends(tmp_path, monkeypatch):
    """While writing behind, a put returns before the entry is on disk (a slow disk costs the run
    nothing); a read, a has or a discard of that entry waits for it; a second put of the same key
    lands last; the block ends with every entry written (each atomic, as ever)."""
    import threading
    import time

    from tempscore import cache as cache_mod

    gate = threading.Event()
    real = cache_mod.StageCache._write_now

    def slow(self, path, data):
        gate.wait(5)
        real(self, path, data)

    monkeypatch.setattr(cache_mod.StageCache, "_write_now", slow)
    c = StageCache(tmp_path / "c")
    a = np.arange(10, dtype=np.float32)
    with c.writing_behind():
        t = time.perf_counter()
        c.put_array("synth", {"k": 1}, a)
        c.put_json("melody", {"k": 1}, {"v": 1})
        c.put_json("melody", {"k": 1}, {"v": 2})
        assert time.perf_counter() - t < 2.0  # not waiting for the (blocked) writer
        assert not c._path("synth", {"k": 1}, ".npy").exists()
        threading.Timer(0.2, gate.set).start()
        np.testing.assert_array_equal(c.get_array("synth", {"k": 1}), a)  # waits for its write
        assert c.get_json("melody", {"k": 1}) == {"v": 2}
        c.put_array("synth", {"k": 2}, a)
        c.discard("synth", {"k": 2})  # after its write, not before
        c.put_array("synth", {"k": 3}, a + 1)
    assert not c.has("synth", {"k": 2})
    np.testing.assert_array_equal(StageCache(tmp_path / "c").get_array("synth", {"k": 3}), a + 1)
    assert not list((tmp_path / "c").rglob(".*.tmp"))


def _worker_jobs(monkeypatch) -> list[tuple[int, bool]]:
    """(worker pid, stored its whole share) for each job the render's synthesis worker finishes."""
    from tempscore.render.synthworker import SynthWorker

    jobs: list[tuple[int, bool]] = []
    real_wait = SynthWorker.wait

    def wait(self) -> bool:
        pid = self.pid
        ok = real_wait(self)
        jobs.append((pid, ok))
        return ok

    monkeypatch.setattr(SynthWorker, "wait", wait)
    return jobs


def test_synthesis_worker_while_writing_behind_stores_its_share(tmp_path, monkeypatch):
    """The render writes cache entries behind; the synthesis worker (a process of its own) writes
    its segments itself once the render has flushed the soundfont's cut, so the render reads them
    back and the result is the serial one, with every segment in the cache afterwards."""
    from tempscore.render import synth
    from tempscore.render.synth import iter_sections

    segs = [Segment(0.0, 4.0, 1.0), Segment(4.0, 8.0, 1.0)]
    mid = _midi(tmp_path / "a.mid", [[60, 64, 67], [50, 53, 57]], extra_part_in_cue=1)
    want = sum(synthesize_sections(mid, sr=48000, duration_sec=9.0, segments=segs).audio.values())
    monkeypatch.setenv("TEMPSCORE_SYNTH_PROCS", "2")
    monkeypatch.setattr(synth, "FORK_MIN_NOTE_SEC", 1.0)
    monkeypatch.setattr(synth, "_can_fork", lambda: True)
    jobs = _worker_jobs(monkeypatch)
    cache = StageCache(tmp_path / "c")
    dry = np.zeros_like(want)
    with cache.writing_behind():
        list(iter_sections(mid, sr=48000, duration_sec=9.0, segments=segs, cache=cache, into=lambda sec: [(dry, 1.0)]))
    assert jobs and all(ok for _, ok in jobs), "the synthesis worker did not store its share"
    assert len({pid for pid, _ in jobs}) == 1  # one worker serves every section of the render
    np.testing.assert_allclose(dry, want, atol=1e-5)
    made = cache.counts["synth"][1]
    assert made > 0 and cache.counts["synth"][0] == 0  # every segment synthesised ...
    again = StageCache(tmp_path / "c")
    dry[:] = 0
    list(iter_sections(mid, sr=48000, duration_sec=9.0, segments=segs, cache=again, into=lambda sec: [(dry, 1.0)]))
    assert again.counts["synth"] == [made, 0]  # ... and all stored
    np.testing.assert_allclose(dry, want, atol=1e-5)


def _peak_rss_mb(pid: int) -> float:
    """A live process's peak resident memory (``VmHWM``), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for {pid}")


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads /proc")
def test_the_synthesis_worker_does_not_hold_a_copy_of_the_render_process(tmp_path, monkeypatch):
    """The worker is a process of its own, not a fork: while the render's process holds 400 MB
    (written, so resident), the worker's peak resident memory stays that of a small interpreter
    with the synthesiser (a forked child starts with all of it mapped: a process tree counts it
    twice). What it renders is what the render alone makes, bit for bit."""
    from tempscore.render import synth
    from tempscore.render.synth import iter_sections

    segs = [Segment(0.0, 4.0, 1.0), Segment(4.0, 8.0, 1.0)]
    mid = _midi(tmp_path / "a.mid", [[60, 64, 67], [50, 53, 57]], extra_part_in_cue=1)
    dur, n = 9.0, 9 * 48000

    def dry(procs: str, cache: StageCache) -> np.ndarray:
        monkeypatch.setenv("TEMPSCORE_SYNTH_PROCS", procs)
        out = np.zeros((n, 2), np.float32)
        list(iter_sections(mid, sr=48000, duration_sec=dur, segments=segs, cache=cache, into=lambda sec: [(out, 1.0)]))
        return out

    monkeypatch.setattr(synth, "FORK_MIN_NOTE_SEC", 1.0)
    monkeypatch.setattr(synth, "_can_fork", lambda: os.environ.get("TEMPSCORE_SYNTH_PROCS") != "1")
    serial = dry("1", StageCache(tmp_path / "serial"))
    held = np.ones(400 << 20, np.uint8)  # the analysis, models and libraries of a long film, say
    peaks: list[float] = []
    from tempscore.render.synthworker import SynthWorker

    real_wait = SynthWorker.wait

    def wait(self) -> bool:
        ok = real_wait(self)
        peaks.append(_peak_rss_mb(self.pid))  # idle now, still running
        return ok

    monkeypatch.setattr(SynthWorker, "wait", wait)
    shared = dry("2", StageCache(tmp_path / "shared"))
    assert held.sum() == held.size  # (held to the end)
    assert peaks, "the synthesis worker was not used"
    assert max(peaks) < 150, peaks  # an interpreter, numpy, TinySoundFont and a cut soundfont; not 400+
    np.testing.assert_array_equal(shared, serial)


def test_prune_removes_least_recently_used_entries_and_keeps_this_runs(tmp_path, monkeypatch):
    import os
    import time

    from tempscore.cache import DEFAULT_MAX_MB, max_bytes_from_env
    from tempscore.errors import InvalidSettings

    old = StageCache(tmp_path / "c")
    for k in range(6):  # six 100 kB entries from earlier runs, oldest first
        old.put_array("synth", {"k": k}, np.zeros(25_000, np.float32))
    base = time.time() - 3600
    for k in range(6):
        p = old._path("synth", {"k": k}, ".npy")
        os.utime(p, (base + k, base + k))
    run = StageCache(tmp_path / "c")  # a new run: reads entry 0 (the oldest), writes a new one
    assert run.get_array("synth", {"k": 0}) is not None
    run.put_array("synth", {"k": "new"}, np.zeros(25_000, np.float32))
    size = run.size_bytes()
    entry = size // 7
    freed = run.prune(4 * entry + 10)
    assert freed == 3 * entry and run.size_bytes() == size - freed
    left = {k for k in [0, 1, 2, 3, 4, 5, "new"] if run.has("synth", {"k": k})}
    assert left == {0, 4, 5, "new"}  # 1, 2, 3 were the least recently used; 0 was read by this run
    assert run.prune(0) == 2 * entry and {k for k in [0, 4, 5, "new"] if run.has("synth", {"k": k})} == {0, "new"}
    monkeypatch.setenv("TEMPSCORE_CACHE_MAX_MB", "12")
    assert max_bytes_from_env() == 12 << 20
    monkeypatch.delenv("TEMPSCORE_CACHE_MAX_MB")
    assert max_bytes_from_env() == DEFAULT_MAX_MB << 20
    monkeypatch.setenv("TEMPSCORE_CACHE_MAX_MB", "lots")
    with pytest.raises(InvalidSettings, match="TEMPSCORE_CACHE_MAX_MB"):
        max_bytes_from_env()


def test_prune_keeps_melodies(tmp_path):
    import os

    cache = StageCache(tmp_path / "c")
    cache.put_json("melody", {"cue": 1}, {"notes": [60, 62]})
    cache.put_array("synth", {"k": 1}, np.zeros(1000, np.float32))
    for p in (tmp_path / "c").rglob("*.*"):
        os.utime(p, (1, 1))  # both long unused
    later = StageCache(tmp_path / "c")
    assert later.prune(0) == 4128 and later.get_json("melody", {"cue": 1}) == {"notes": [60, 62]}


def test_ctrl_c_while_waiting_for_the_synthesis_worker_stops_it(tmp_path, monkeypatch):
    """Interrupted while waiting for the worker's share: the worker is killed and reaped, not left
    running (it would outlive the run, holding its stderr open)."""
    import os

    from tempscore.render import synth
    from tempscore.render.synth import iter_sections
    from tempscore.render.synthworker import SynthWorker

    monkeypatch.setenv("TEMPSCORE_SYNTH_PROCS", "2")
    monkeypatch.setattr(synth, "FORK_MIN_NOTE_SEC", 1.0)
    monkeypatch.setattr(synth, "_can_fork", lambda: True)
    children: list[int] = []

    def interrupted_wait(self):
        children.append(self.pid)
        raise KeyboardInterrupt  # Ctrl+C arrives during the wait

    monkeypatch.setattr(SynthWorker, "wait", interrupted_wait)
    segs = [Segment(0.0, 4.0, 1.0), Segment(4.0, 8.0, 1.0)]
    mid = _midi(tmp_path / "a.mid", [[60, 64, 67], [50, 53, 57]], extra_part_in_cue=1)
    dry = np.zeros((9 * 48000, 2), np.float32)
    with pytest.raises(KeyboardInterrupt):
        list(iter_sections(mid, sr=48000, duration_sec=9.0, segments=segs, cache=StageCache(tmp_path / "c"),
                           into=lambda sec: [(dry, 1.0)]))
    assert children, "the synthesis worker was not used"
    with pytest.raises(ChildProcessError):  # killed and reaped: no such child any more
        os.waitpid(children[0], os.WNOHANG)


def test_prune_removes_what_a_killed_run_left_half_written(tmp_path):
    """A render killed outright (SIGKILL, out of memory) while writing an entry leaves its temporary
    file; the next run's prune removes it whatever the limit (it is never an entry), but not a
    temporary file that a writer of this run may still be filling."""
    import os
    import signal
    import subprocess
    import sys
    import time

    root = tmp_path / "c"
    code = ("import os, pathlib, numpy as np; from tempscore.cache import StageCache; "
            "os.replace = lambda *a: os.kill(os.getpid(), 9); "  # killed after writing, before the rename
            f"StageCache(pathlib.Path({str(root)!r})).put_array('synth', {{'k': 1}}, np.zeros(1000, np.float32))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert p.returncode == -signal.SIGKILL
    left = list(root.rglob(".*.tmp"))
    assert len(left) == 1 and not StageCache(root).has("synth", {"k": 1})
    size = left[0].stat().st_size
    os.utime(left[0], (time.time() - 60, time.time() - 60))
    run = StageCache(root)
    run.put_array("synth", {"k": 2}, np.zeros(1000, np.float32))
    fresh = root / "synth" / ".another.npy.x2.tmp"  # being written by this run
    fresh.write_bytes(b"x" * 10)
    assert run.prune(1 << 30) == size
    assert list(root.rglob(".*.tmp")) == [fresh] and run.has("synth", {"k": 2})


def test_an_interrupted_render_drops_the_writes_not_yet_started(tmp_path, monkeypatch):
    """Ctrl+C inside writing_behind: the entry being written finishes (atomic, valid), the ones
    queued behind it are dropped rather than written on the way out, and no temporary file stays."""
    import threading

    from tempscore import cache as cache_mod

    started, release = threading.Event(), threading.Event()
    real = cache_mod.StageCache._write_now

    def slow(self, path, data):
        started.set()
        release.wait(5)
        real(self, path, data)

    monkeypatch.setattr(cache_mod.StageCache, "_write_now", slow)
    c = StageCache(tmp_path / "c")
    a = np.arange(8, dtype=np.float32)
    with pytest.raises(KeyboardInterrupt), c.writing_behind():
        c.put_array("synth", {"k": 0}, a)
        for k in range(1, 5):
            c.put_array("synth", {"k": k}, a)
        started.wait(5)
        threading.Timer(0.2, release.set).start()
        raise KeyboardInterrupt
    later = StageCache(tmp_path / "c")
    assert later.has("synth", {"k": 0})  # the one under way
    assert not any(later.has("synth", {"k": k}) for k in range(1, 5))
    assert not list((tmp_path / "c").rglob(".*.tmp"))


def test_an_array_made_in_place_is_the_entry_with_nothing_left_behind(tmp_path):
    """The production audio's path: decoded into a mapped temporary ``.npy`` with room to spare,
    committed as the rows it filled (the file cut and renamed, not written again); an error
    before the commit leaves nothing; data that is not the mapped array is stored as it is."""
    cache = StageCache(tmp_path / "c")
    rng = np.random.default_rng(1)
    with cache.array_made_in_place("production", {"k": 1}) as entry:
        buf = entry.alloc((10_000, 2))
        assert not buf.any() and buf.dtype == np.float32
        buf[:9_000] = rng.standard_normal((9_000, 2))
        want = np.array(buf[:9_000])
        got = entry.commit(buf[:9_000])
    assert np.array_equal(got, want) and not got.flags.writeable
    back = cache.get_array("production", {"k": 1})
    assert np.array_equal(back, want) and back.shape == (9_000, 2)
    path = next((tmp_path / "c" / "production").glob("*.npy"))
    header = path.stat().st_size - want.nbytes
    assert header % 64 == 0 and np.load(path).shape == (9_000, 2)  # cut to the rows, header as numpy aligns it
    assert [p.name for p in (tmp_path / "c" / "production").iterdir()] == [path.name]

    with pytest.raises(KeyboardInterrupt), cache.array_made_in_place("production", {"k": 2}) as entry:
        entry.alloc((1_000, 2))[:] = 1.0
        raise KeyboardInterrupt
    assert cache.get_array("production", {"k": 2}) is None
    assert [p.name for p in (tmp_path / "c" / "production").iterdir()] == [path.name]

    other = rng.standard_normal((500, 2)).astype(np.float32)  # grown past the room given: stored as it is
    with cache.array_made_in_place("production", {"k": 3}) as entry:
        entry.alloc((100, 2))
        assert entry.commit(other) is other
    assert np.array_equal(cache.get_array("production", {"k": 3}), other)
    assert not list((tmp_path / "c" / "production").glob(".*.tmp"))


@pytest.mark.parametrize("shape", [(0, 2), (1, 2), (7,), (48_000 * 3600, 2), (12, 3, 4)])
def test_npy_headers_written_by_hand_are_read_by_numpy(tmp_path, shape):
    from tempscore.cache import _npy_header

    big = _npy_header((10**12, 2), np.dtype(np.float32))
    for dt in (np.float32, np.float64, np.int16):
        h = _npy_header(shape, np.dtype(dt), length=len(big))  # a shorter shape in the room of a longer one
        f = tmp_path / "a.npy"
        n = int(np.prod(shape))
        f.write_bytes(h + np.arange(min(n, 100), dtype=dt).tobytes())
        os.truncate(f, len(h) + n * np.dtype(dt).itemsize)  # the rest sparse
        m = np.load(f, mmap_mode="r")
        assert m.shape == shape and m.dtype == dt
        assert np.array_equal(m.reshape(-1)[:100], np.arange(min(n, 100), dtype=dt))
        del m
        assert len(_npy_header(shape, np.dtype(dt))) % 64 == 0


def test_an_array_made_in_place_on_a_full_disk_is_made_in_memory(tmp_path, monkeypatch, caplog):
    """No room for the entry's file: the array is made in memory (a warning), nothing is left
    behind, and the commit still tries to store it as a plain entry."""
    import errno

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    cache = StageCache(tmp_path / "c")
    data = np.arange(200, dtype=np.float32).reshape(100, 2)
    with caplog.at_level("WARNING"), cache.array_made_in_place("production", {"k": 0}) as entry:
        entry.alloc((150, 2))  # small: said only in the debug log (the outputs will say the disk is full)
    assert "no room" not in caplog.text
    with caplog.at_level("WARNING"), cache.array_made_in_place("production", {"k": 1}) as entry:
        buf = entry.alloc((40 << 20, 2))  # 320 MB: a warning (the run goes on in RAM)
        assert not isinstance(buf, np.memmap)
        buf[:100] = data
        got = entry.commit(buf[:100])
    assert np.array_equal(got, data)
    assert "no room" in caplog.text
    assert np.array_equal(cache.get_array("production", {"k": 1}), data)  # the plain write had room
    assert not list((tmp_path / "c" / "production").glob(".*.tmp"))


def test_an_array_made_in_place_without_posix_fallocate_is_made_in_memory(tmp_path, monkeypatch):
    """Where space cannot be reserved (macOS has no posix_fallocate), no sparse file is mapped (a
    full disk would then kill the process with SIGBUS): the array is made in memory and stored
    by a plain write."""
    monkeypatch.delattr(os, "posix_fallocate")
    cache = StageCache(tmp_path / "c")
    with cache.array_made_in_place("production", {"k": 1}) as entry:
        buf = entry.alloc((300, 2))
        assert not isinstance(buf, np.memmap)
        buf[:] = 0.25
        got = entry.commit(buf[:200])
    assert np.array_equal(got, np.full((200, 2), 0.25, np.float32))
    assert np.array_equal(cache.get_array("production", {"k": 1}), got)
    assert not list((tmp_path / "c").rglob("*.tmp"))


def test_a_file_entry_from_a_path_is_that_file_linked_not_read(tmp_path):
    """An encoded track is stored from its file (a feature's is hundreds of MB): the entry has its
    bytes, outlives the file it came from, and replaces the entry's previous content whole."""
    cache = StageCache(tmp_path / "cache")
    src = tmp_path / "track.m4a"
    src.write_bytes(os.urandom(300_000))
    want = src.read_bytes()
    cache.put_file("aac", ["music", 1], ".m4a", b"older")
    with cache.writing_behind():
        cache.put_file("aac", ["music", 1], ".m4a", src)
    got = cache.get_file("aac", ["music", 1], ".m4a")
    assert got is not None and got.read_bytes() == want
    assert os.stat(got).st_ino == os.stat(src).st_ino  # one file system: a link, no copy
    src.unlink()  # the encoder's temporary folder goes
    assert cache.get_file("aac", ["music", 1], ".m4a").read_bytes() == want
    assert [p.name for p in got.parent.iterdir() if p.name.endswith(".tmp")] == []
