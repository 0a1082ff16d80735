"""``tempscore batch`` (issue 26): many videos, each scored into its own folder exactly as ``tempscore
score`` scores it (same MIDI and WAV, byte for byte), on local workers and on a real local Ray
instance; a broken video is one line of the report; a batch killed outright and started again
finishes with the same outputs, scoring no video twice and leaving nothing half-written."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from fractions import Fraction
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest
from conftest import run_cli
from support.clips import make_cut_clip

#: The library: label -> (shots, fps, audio). Two videos named cut.mp4 in two folders.
CLIPS = {"spot_a.mp4": ([30, 40, 30], 25, True), "reel1/cut.mp4": ([50, 25, 45], 25, True),
         "reel2/cut.mp4": ([20, 35, 40, 25], 25, True), "spot_b.mov": ([45, 30, 45], Fraction(30000, 1001), False)}
#: What each good job is, as `tempscore score` arguments: folder under OUT -> (video label, options).
GOOD = {"spot_a": ("spot_a.mp4", []), "reel1/cut": ("reel1/cut.mp4", []), "reel2/cut": ("reel2/cut.mp4", []),
        "spot_b": ("spot_b.mov", []), "spot_a_action": ("spot_a.mp4", ["--style", "action", "--seed", "5"])}
BROKEN = "broken.mp4"


def _stem(label: str) -> str:
    return Path(label).stem


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    """``lib/`` (four short cuts and a truncated one) and ``manifest.csv`` beside it (one of them again,
    in another style and seed, into a folder of its own name)."""
    root = tmp_path_factory.mktemp("batchlib")
    lib = root / "lib"
    for label, (shots, fps, audio) in CLIPS.items():
        make_cut_clip(lib / label, shots, fps=fps, audio=audio)
    data = (lib / "spot_a.mp4").read_bytes()
    (lib / BROKEN).write_bytes(data[: len(data) // 3])  # cut short: no index, as a copy that failed
    (root / "manifest.csv").write_text("path,name,style,seed\nlib/spot_a.mp4,spot_a_action,action,5\n")
    return root


@pytest.fixture(scope="module")
def reference(library, tmp_path_factory) -> dict[str, dict[str, bytes]]:
    """Each good job scored alone by `tempscore score`: folder -> {".score.mid": bytes, ".score.wav": bytes}."""
    out = tmp_path_factory.mktemp("reference")
    ref = {}
    for folder, (label, args) in GOOD.items():
        r = run_cli("score", library / "lib" / label, "-o", out / folder, *args)
        assert r.returncode == 0, r.stderr
        ref[folder] = {s: (out / folder / f"{_stem(label)}{s}").read_bytes() for s in (".score.mid", ".score.wav")}
    return ref


def _batch(library: Path, out: Path, *extra: str):
    r = run_cli("batch", library / "lib", library / "manifest.csv", "-o", out, "--json", *extra)
    assert r.returncode == 1, r.stderr  # the broken video failed, the rest did not
    return json.loads(r.stdout)


def _check_outputs(out: Path, reference: dict[str, dict[str, bytes]]) -> None:
    for folder, (label, _) in GOOD.items():
        for suffix, data in reference[folder].items():
            got = (out / folder / f"{_stem(label)}{suffix}").read_bytes()
            assert got == data, f"{folder}{suffix} differs from `tempscore score`"


def _check_report(report: dict, out: Path) -> None:
    by_label_folder = {v["folder"]: v for v in report["videos"]}
    assert set(by_label_folder) == {*GOOD, "broken"}
    broken = by_label_folder["broken"]
    assert broken["status"] == "failed" and broken["label"] == BROKEN
    assert BROKEN in broken["error"] and "\n" not in broken["error"]
    for folder in GOOD:
        v = by_label_folder[folder]
        assert v["status"] in ("scored", "up to date") and v["error"] == ""
        assert v["duration_sec"] == pytest.approx(4.0, abs=0.9)
        assert v["cues"] >= 1 and v["hits_within_1_frame"] <= v["hit_points"]
        assert v["music_lufs"] == pytest.approx(-23, abs=0.6)
        assert set(v["timings_sec"]) == {"analyze", "plan", "compose", "render"}
    assert report["totals"]["failed"] == 1 and report["totals"]["failed_videos"] == [BROKEN]
    assert not (out / "broken").exists()  # refused before anything was written
    on_disk = json.loads((out / "batch.json").read_text())
    assert [v["folder"] for v in on_disk["videos"]] == [v["folder"] for v in report["videos"]]
    rows = (out / "batch.csv").read_text().splitlines()
    assert len(rows) == 1 + len(GOOD) + 1 and rows[0].startswith("video,folder,status,duration_sec,cues")
    _check_page(out)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.links += [v for k, v in attrs if k in ("href", "src")]

    def handle_data(self, data):
        self.text.append(data)


def _check_page(out: Path) -> None:
    page = _Links()
    page.feed((out / "index.html").read_text())
    targets = [out / unquote(link) for link in page.links]
    assert targets and all(t.is_file() for t in targets), [t for t in targets if not t.is_file()]
    for folder, (label, _) in GOOD.items():  # every video: its picture, its scored video, its files
        for suffix in (".timeline.png", ".scored" + Path(label).suffix, ".score.mid", ".score.wav"):
            assert out / folder / f"{_stem(label)}{suffix}" in targets


def _no_leftovers(out: Path) -> None:
    left = [p for p in out.rglob("*") if ".tempscore-" in p.name]
    assert not left, left


@pytest.fixture(scope="module")
def local_batch(library, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("batch") / "out"
    return out, _batch(library, out)


def test_a_batch_on_local_workers_scores_each_video_as_score_does(local_batch, reference):
    """The default engine: four cuts (two named cut.mp4, in two folders), one of them again from a
    manifest with its own style and seed, and a truncated file. The broken one is one line; every
    other video's MIDI and WAV are `tempscore score`'s, byte for byte; the reports list all six."""
    out, report = local_batch
    assert report["ok"] is False and report["engine"]["engine"] == "local"
    assert all(v["status"] == "scored" for v in report["videos"] if v["folder"] != "broken")
    _check_outputs(out, reference)
    _check_report(report, out)
    _no_leftovers(out)


def test_a_second_run_skips_what_is_up_to_date(local_batch, library, tmp_path):
    """Run again: every good video is up to date (its files untouched), the broken one is tried again
    and fails again. Then an option changed for every video (--seed) scores them all again."""
    out, _ = local_batch
    before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.rglob("*.score.mid")}
    again = _batch(library, out)
    status = {v["folder"]: v["status"] for v in again["videos"]}
    assert status == {**{f: "up to date" for f in GOOD}, "broken": "failed"}
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.rglob("*.score.mid")} == before
    up = next(v for v in again["videos"] if v["folder"] == "spot_a")
    assert up["cues"] >= 1 and up["timings_sec"]  # the figures of the run that made them


def test_up_to_date_follows_the_video_the_options_and_the_outputs(local_batch, library):
    """What makes a video out of date, on a copy of one scored folder: the same video touched (new
    modification time, same content) is still up to date; a changed option, an output edited or
    removed, or another video is not."""
    import dataclasses

    from tempscore.api import Options, content_hash
    from tempscore.batch.state import fingerprint, read_record, up_to_date

    out, _ = local_batch
    folder = out.parent / "copy"
    shutil.copytree(out / "spot_a", folder, copy_function=shutil.copy2)  # modification times kept
    video = library / "lib" / "spot_a.mp4"
    record = read_record(folder)
    opts = Options(**{k: v for k, v in record["fingerprint"]["options"].items()}, force=False)
    fp = fingerprint(opts, stem="spot_a", file_hash=lambda p: content_hash(Path(p)))

    def fresh(**kw) -> bool:
        return up_to_date(read_record(folder), folder=folder, video=kw.get("video", video), fp=kw.get("fp", fp),
                          content_hash=lambda p: content_hash(Path(p)))

    assert fresh()
    touched = folder / "touched.mp4"
    shutil.copyfile(video, touched)  # same content, another modification time
    assert fresh(video=touched)
    other = library / "lib" / "reel1" / "cut.mp4"
    assert not fresh(video=other)
    assert not fresh(fp=fingerprint(dataclasses.replace(opts, seed=9), stem="spot_a",
                                     file_hash=lambda p: content_hash(Path(p))))
    timeline = folder / "spot_a.timeline.json"
    timeline.write_text(timeline.read_text().replace('"locked": false', '"locked": true', 1))
    assert not fresh()  # edited: scored again (and the edit kept, as `score` keeps it)
    shutil.copy2(out / "spot_a" / "spot_a.timeline.json", timeline)
    assert fresh()
    (folder / "spot_a.score.wav").unlink()
    assert not fresh()


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    # (the tests' own worker functions live in tests/support: Ray's workers find them on PYTHONPATH)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(Path(__file__).parent)}})
    yield ray
    ray.shutdown()


def test_a_batch_on_a_local_ray_instance_scores_each_video_as_score_does(ray_local, library, reference, tmp_path):
    """`--ray auto` in a process that started Ray (ray.init(num_cpus=2)): the same tasks as Ray tasks,
    the same MIDI and WAV, the broken video one line."""
    out = tmp_path / "out"
    report = _batch(library, out, "--ray", "auto")
    assert report["engine"]["engine"] == "ray"
    assert all(v["status"] == "scored" for v in report["videos"] if v["folder"] != "broken")
    workers = {v["worker"] for v in report["videos"] if v["worker"]}
    assert 1 <= len(workers) <= 2  # each Ray worker kept its models for the videos after its first
    _check_outputs(out, reference)
    _check_report(report, out)
    _no_leftovers(out)


def _tasks(out: Path, labels: list[str]):
    from tempscore.batch.worker import Task

    return [Task(video=f"/nowhere/{n}.mp4", out_dir=str(out), folder=n, label=n) for n in labels]


def test_a_lost_local_worker_is_replaced_and_only_its_video_fails(tmp_path):
    """A task that kills its worker (SIGKILL, as the out-of-memory killer does) fails after three
    tries with a line saying so; a task lost once is tried again and succeeds; the videos that were
    on the pool beside them are tried again, never blamed."""
    from support.batch_tasks import crash_or_score
    from tempscore.batch.engines import LocalEngine

    got = {}
    LocalEngine(workers=2, fn=crash_or_score).run(_tasks(tmp_path, ["crash", "ok-1", "flaky", "ok-2", "ok-3"]),
                                                  started=lambda t: None,
                                                  finished=lambda r: got.__setitem__(r.label, r))
    assert set(got) == {"crash", "ok-1", "flaky", "ok-2", "ok-3"}
    assert got["crash"].status == "failed" and "lost 3 time(s)" in got["crash"].error
    assert got["flaky"].status == "scored" and got["flaky"].attempts >= 2
    assert all(got[k].status == "scored" and got[k].attempts <= 2 for k in ("ok-1", "ok-2", "ok-3"))
    assert got["crash"].attempts >= 3


def test_a_lost_ray_worker_is_retried_by_ray(ray_local, tmp_path):
    """The same on Ray: a task whose worker dies is retried (``max_retries``); one that always takes
    its worker down fails in one line, the others finish."""
    from support.batch_tasks import crash_or_score
    from tempscore.batch.ray_engine import RayEngine

    got = {}
    RayEngine(address="auto", fn=crash_or_score).run(_tasks(tmp_path, ["crash", "flaky", "ok-1"]),
                                                     started=lambda t: None,
                                                     finished=lambda r: got.__setitem__(r.label, r))
    assert got["crash"].status == "failed" and "lost 3 time(s)" in got["crash"].error
    assert "\n" not in got["crash"].error
    assert got["flaky"].status == "scored" and got["ok-1"].status == "scored"


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _gone(pids: list[int], timeout_sec: float = 20.0) -> bool:
    end = time.monotonic() + timeout_sec
    while any(_alive(p) for p in pids):
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_batch_killed_outright_goes_on_where_it_stopped(library, reference, tmp_path):
    """SIGKILL the batch once two videos are recorded as scored: its workers die with it. Started
    again, it finishes: the two are up to date (their files never replaced, so scored once), the
    others are scored (once), every MIDI and WAV is `tempscore score`'s, nothing half-written is left."""
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "tempscore.cli", "batch", str(library / "lib"),
                             str(library / "manifest.csv"), "-o", str(out), "--workers", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    end = time.monotonic() + 300
    while time.monotonic() < end and proc.poll() is None:
        if len(list(out.rglob(".batch-record.json"))) >= 2:
            break
        time.sleep(0.02)
    workers = _children(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _gone(workers), "a worker outlived the batch"
    done_before = {p.parent for p in out.rglob(".batch-record.json")}
    assert 2 <= len(done_before) < len(GOOD), "the batch was not stopped half-way"
    before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for d in done_before for p in d.iterdir() if p.is_file()}

    report = _batch(library, out)
    status = {v["folder"]: v["status"] for v in report["videos"]}
    rel_done = {d.relative_to(out).as_posix() for d in done_before}
    assert {f for f, s in status.items() if s == "up to date"} == rel_done
    assert {f for f, s in status.items() if s == "scored"} == set(GOOD) - rel_done
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in before} == before
    _check_outputs(out, reference)
    _no_leftovers(out)
    assert not [p for p in out.rglob(".*tempscore-run-*")]


def test_a_full_disk_is_one_line_per_video(library, tmp_path):
    """With a file-size limit standing in for a full disk (as the worker processes inherit it), each
    video's WAV cannot be written: its line says so as `score` would, naming its folder, and nothing of
    its run is left; the batch still writes its reports and exits 1."""
    import resource

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (600_000, 600_000))

    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "tempscore.cli", "batch", str(library / "lib" / "spot_a.mp4"),
                        "-o", str(out), "--workers", "1", "--json"], capture_output=True, text=True,
                       preexec_fn=limit, env=dict(os.environ, HF_HUB_OFFLINE="1"), timeout=600)
    assert r.returncode == 1, r.stderr
    (line,) = json.loads(r.stdout)["videos"]
    assert line["status"] == "failed" and "\n" not in line["error"]
    assert line["error"].startswith(f"cannot write to {out / 'spot_a'}:") and "File too large" in line["error"]
    assert not (out / "spot_a" / ".batch-record.json").exists()
    _no_leftovers(out)
