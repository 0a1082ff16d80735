"""The CLI as a user runs it: every stage, outputs, exit codes, and nothing written on bad input."""

import json
import subprocess

import av
import numpy as np
import pretty_midi
import pytest
from conftest import SAMPLE, run_cli
from tempscore.media import ffmpeg_exe


def framemd5(path) -> list[str]:
    out = subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(path), "-map", "0:v",
                          "-c", "copy", "-f", "framemd5", "-"], capture_output=True, text=True, check=True).stdout
    return [ln for ln in out.splitlines() if not ln.startswith("#")]


def audio_tracks(path) -> list[tuple[float, float, str]]:
    """(duration_sec from the stream, rms of the decoded samples, title) per audio stream."""
    with av.open(str(path)) as c:
        n = len(c.streams.audio)
    res = []
    for i in range(n):
        with av.open(str(path)) as c:
            s = c.streams.audio[i]
            title = s.metadata.get("title") or s.metadata.get("name") or ""
            dur = float(s.duration * s.time_base)
            data = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(s)]).astype(np.float64)
        res.append((dur, float(np.sqrt(np.mean(data**2))), title))
    return res


@pytest.fixture(scope="module")
def scored(clip25, tmp_path_factory):
    out = tmp_path_factory.mktemp("scored")
    r = run_cli("score", clip25.path, "-o", out, "--json")
    assert r.returncode == 0, r.stderr
    return out, json.loads(r.stdout)


def test_score_writes_every_file(scored, clip25):
    out, summary = scored
    stem = clip25.path.stem
    for suffix in (".scored.mp4", ".score.mid", ".score.wav", ".timeline.json", ".sync.csv", ".analysis.json",
                   ".timeline.png"):
        assert (out / f"{stem}{suffix}").is_file(), suffix
    assert summary["ok"] and summary["compose"]["composer"] == "transformer:v1+arranger:v1"
    assert summary["analyze"]["emotion_source"] == "heuristic"
    assert summary["analyze"]["cuts"] == len(clip25.cuts)
    assert not list(out.glob(".*tmp*"))  # no temporary files left behind
    png = out / f"{stem}.timeline.png"  # drawn beside compose and render: whole once the run returns
    assert summary["outputs"]["timeline_png"] == str(png) and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    with Image.open(png) as im:
        im.load()  # a truncated file fails here
        assert im.size == (1320, 462)


def test_video_stream_is_bit_identical(scored, clip25):
    out, _ = scored
    assert framemd5(out / f"{clip25.path.stem}.scored.mp4") == framemd5(clip25.path)


def test_audio_tracks_cover_the_picture_and_are_not_silent(scored, clip25):
    out, _ = scored
    video_dur = clip25.frames / float(clip25.fps)
    tracks = audio_tracks(out / f"{clip25.path.stem}.scored.mp4")
    assert len(tracks) == 3  # score + production mix, score only, original production audio
    for dur, rms, _title in tracks:
        assert abs(dur - video_dur) <= 0.05
        assert rms > 1e-3
    assert "Temp score" in tracks[0][2]


def test_midi_opens_with_tempo_per_cue(scored, clip25):
    out, _ = scored
    tl = json.loads((out / f"{clip25.path.stem}.timeline.json").read_text())
    pm = pretty_midi.PrettyMIDI(str(out / f"{clip25.path.stem}.score.mid"))
    times, tempi = pm.get_tempo_changes()
    # the MIDI carries the timeline's whole tempo map (cue tempi, ramps onto hits, end-of-cue fits)
    tm = tl["tempo_map"]
    changes = [e for i, e in enumerate(tm) if i == 0 or e["bpm"] != tm[i - 1]["bpm"]]
    assert np.allclose(times, [e["time_sec"] for e in changes], atol=1e-3)
    assert np.allclose(tempi, [e["bpm"] for e in changes], atol=0.01)
    cues = tl["cues"]  # and so a tempo change at each cue start whose tempo differs from the one before
    for prev, cue in zip(cues, cues[1:]):
        if cue["tempo_bpm"] != prev["tempo_bpm"]:
            assert np.min(np.abs(times - cue["start_sec"])) < 1e-3


def test_stages_one_by_one_and_edit_flow(clip25, tmp_path):
    r = run_cli("analyze", clip25.path, "-o", tmp_path, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["cached"] is False
    again = run_cli("analyze", clip25.path, "-o", tmp_path, "--json")
    assert json.loads(again.stdout)["cached"] is True  # content-hash cache
    stem = clip25.path.stem
    assert run_cli("plan", tmp_path / f"{stem}.analysis.json", "--tempo-range", "80-100").returncode == 0
    tl_path = tmp_path / f"{stem}.timeline.json"
    tl = json.loads(tl_path.read_text())
    assert all(80 <= c["tempo_bpm"] <= 100 for c in tl["cues"])
    # a user edits the timeline: E minor everywhere; compose and render follow it
    for c in tl["cues"]:
        c["key"] = "E minor"
    tl_path.write_text(json.dumps(tl))
    assert run_cli("compose", tl_path).returncode == 0
    pm = pretty_midi.PrettyMIDI(str(tmp_path / f"{stem}.score.mid"))
    allowed = {4, 6, 7, 9, 11, 0, 2, 3}  # E natural minor + D# leading tone
    assert all(n.pitch % 12 in allowed for i in pm.instruments if not i.is_drum for n in i.notes)
    r = run_cli("render", tmp_path / f"{stem}.score.mid", "--lufs", "-18", "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["music_lufs"] == pytest.approx(-18, abs=0.6) or summary["true_peak_dbtp"] <= -1.0
    assert (tmp_path / f"{stem}.scored.mp4").is_file()
    # the stages also take the project's folder (the -o of `score`), or the video with -o
    r = run_cli("plan", tmp_path, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["outputs"]["timeline"] == str(tl_path)
    r = run_cli("compose", clip25.path, "-o", tmp_path, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["outputs"]["midi"] == str(tmp_path / f"{stem}.score.mid")
    assert run_cli("render", tmp_path).returncode == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    r = run_cli("compose", empty)
    assert r.returncode == 2 and "holds no <stem>.timeline.json; run `tempscore plan` first" in r.stderr
    (empty / "a.timeline.json").write_text("{}")
    (empty / "b.timeline.json").write_text("{}")
    r = run_cli("compose", empty)
    assert r.returncode == 2 and "holds 2 .timeline.json files (a.timeline.json, b.timeline.json)" in r.stderr


@pytest.mark.parametrize("which", ["missing", "text", "audio_only", "directory"])
def test_bad_input_is_one_line_exit_2_nothing_written(which, tmp_path, not_a_video, audio_only):
    target = {"missing": tmp_path / "nope.mp4", "text": not_a_video, "audio_only": audio_only,
              "directory": tmp_path}[which]
    out = tmp_path / "out"
    for cmd in ("score", "analyze"):
        r = run_cli(cmd, target, "-o", out)
        assert r.returncode == 2, (cmd, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("tempscore: error:"), r.stderr
        assert "Traceback" not in r.stderr
        assert not out.exists()


def test_bad_stage_file_and_settings(tmp_path, clip25):
    bad = tmp_path / "x.analysis.json"
    bad.write_text("[]")
    r = run_cli("plan", bad)
    assert r.returncode == 2 and "is not a tempscore analysis file" in r.stderr
    r = run_cli("plan", clip25.path)  # the video where its analysis goes: the fix names that video
    assert r.returncode == 2 and f"run `tempscore analyze {clip25.path}` first" in r.stderr
    bad.write_text('{"schema": "tempscore.analysis/0"}')
    r = run_cli("plan", bad)
    assert r.returncode == 2 and "schema" in r.stderr
    r = run_cli("score", clip25.path, "-o", tmp_path / "o", "--tempo-range", "fast")
    assert r.returncode == 2 and "--tempo-range" in r.stderr
    assert not (tmp_path / "o").exists()
    r = run_cli("score")  # missing argument: click usage error
    assert r.returncode == 2


def test_help_lists_commands():
    r = run_cli("--help")
    assert r.returncode == 0
    for cmd in ("analyze", "plan", "compose", "render", "score"):
        assert cmd in r.stdout


@pytest.mark.skipif(not SAMPLE.is_file(), reason="bundled sample missing")
def test_bundled_sample_scores(tmp_path):
    r = run_cli("score", SAMPLE, "-o", tmp_path, "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["analyze"]["cuts"] == 6
    assert framemd5(tmp_path / "rough_cut.scored.mp4") == framemd5(SAMPLE)


def test_mov_without_audio_keeps_container_and_timecode(clip2997, tmp_path):
    r = run_cli("score", clip2997.path, "-o", tmp_path, "--json")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "cut2997.scored.mov"
    assert framemd5(out) == framemd5(clip2997.path)
    tracks = audio_tracks(out)
    assert len(tracks) == 1 and tracks[0][1] > 1e-3  # the score alone: there is no production audio
    with av.open(str(out)) as c:
        tcs = [s.metadata.get("timecode") for s in c.streams] + [c.metadata.get("timecode")]
    assert "01:00:00;00" in tcs
    csv = (tmp_path / "cut2997.sync.csv").read_text().splitlines()
    assert csv[1].split(",")[4] == "01:00:00;00"  # first cue starts at the video's own timecode


def test_a_second_run_on_the_same_project_waits_for_the_first(clip25, tmp_path):
    """Two runs on one video and folder (another terminal, a re-run by mistake) do not write the same
    files at once: the second says so and waits; another project is not held up."""
    import os
    import sys
    import time

    flag, go, released = tmp_path / "held", tmp_path / "go", tmp_path / "released"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import pathlib, sys, time\n"
        "from tempscore.project import Project\n"
        "with Project.of(pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])).lock():\n"
        "    pathlib.Path(sys.argv[3]).write_text('held')\n"
        "    t = time.monotonic()\n"
        "    while not pathlib.Path(sys.argv[4]).exists() and time.monotonic() < t + 60:\n"
        "        time.sleep(0.02)\n"
        "    pathlib.Path(sys.argv[5]).write_text(repr(time.time()))\n"),
        str(clip25.path), str(tmp_path / "out"), str(flag), str(go), str(released)])

    def wait_for(cond) -> None:
        deadline = time.monotonic() + 60
        while not cond() and time.monotonic() < deadline:
            time.sleep(0.05)

    wait_for(flag.exists)
    other = run_cli("analyze", clip25.path, "-o", tmp_path / "elsewhere")  # another folder: not held up
    assert other.returncode == 0 and "waiting" not in other.stderr
    err = tmp_path / "second.err"
    with open(err, "w") as fh:
        second = subprocess.Popen([sys.executable, "-m", "tempscore.cli", "analyze", str(clip25.path), "-o",
                                   str(tmp_path / "out")], stdout=subprocess.DEVNULL, stderr=fh,
                                  env={**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"})
        wait_for(lambda: "waiting" in err.read_text())
        go.write_text("go")
        assert second.wait(timeout=120) == 0, err.read_text()
    assert holder.wait(timeout=30) == 0
    msg = err.read_text()
    assert "another tempscore run" in msg and f"pid {holder.pid}" in msg and "waiting" in msg
    written = (tmp_path / "out" / f"{clip25.path.stem}.analysis.json").stat().st_mtime
    assert written >= float(released.read_text()) - 0.01  # written only once the first run had finished


def test_a_run_from_another_machine_on_a_shared_folder_is_waited_for(clip25, tmp_path):
    """Two machines (here: two runtime folders, so the per-machine locks differ) scoring one project
    on a shared drive: the second waits for the lock in the folder itself, naming the holder's pid
    and host, and the first's files being written are not swept away as leftovers."""
    import os
    import socket
    import sys
    import time

    out = tmp_path / "out"
    stem = clip25.path.stem
    (out / f"{stem}.cache").mkdir(parents=True)  # the project was run there before
    flag, go = tmp_path / "held", tmp_path / "go"
    machine_a, machine_b = tmp_path / "run-a", tmp_path / "run-b"
    machine_a.mkdir()
    machine_b.mkdir()
    writing = out / f".{stem}.analysis.json.tempscore-abc.tmp.json"  # the holder's output being written
    holder = subprocess.Popen([sys.executable, "-c", (
        "import pathlib, sys, time\n"
        "from tempscore.project import Project\n"
        "with Project.of(pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])).lock():\n"
        "    pathlib.Path(sys.argv[5]).write_text('{}')\n"
        "    pathlib.Path(sys.argv[3]).write_text('held')\n"
        "    t = time.monotonic()\n"
        "    while not pathlib.Path(sys.argv[4]).exists() and time.monotonic() < t + 60:\n"
        "        time.sleep(0.02)\n"
        "    assert pathlib.Path(sys.argv[5]).exists(), 'swept while being written'\n"
        "    pathlib.Path(sys.argv[5]).unlink()\n"),
        str(clip25.path), str(out), str(flag), str(go), str(writing)],
        env={**os.environ, "XDG_RUNTIME_DIR": str(machine_a)})

    def wait_for(cond) -> None:
        deadline = time.monotonic() + 60
        while not cond() and time.monotonic() < deadline:
            time.sleep(0.05)

    wait_for(flag.exists)
    err = tmp_path / "second.err"
    with open(err, "w") as fh:
        second = subprocess.Popen([sys.executable, "-m", "tempscore.cli", "analyze", str(clip25.path), "-o", str(out)],
                                  stdout=subprocess.DEVNULL, stderr=fh,
                                  env={**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200",
                                       "XDG_RUNTIME_DIR": str(machine_b)})
        wait_for(lambda: "waiting" in err.read_text())
        assert second.poll() is None  # still waiting
        go.write_text("go")
        assert second.wait(timeout=120) == 0, err.read_text()
    assert holder.wait(timeout=30) == 0
    msg = " ".join(err.read_text().split())
    assert f"pid {holder.pid} on {socket.gethostname()}" in msg and "waiting" in msg
    assert (out / f"{stem}.analysis.json").is_file()
    lock = out / f"{stem}.cache" / "run.lock"
    assert (lock.stat().st_mode & 0o777) == 0o666  # colleagues (other users) can take it too, whatever the umask


@pytest.mark.parametrize("name,ours", [
    ("cut.scored.mp4", True), ("cut.scored.mov", True), ("cut.analysis.json", True), ("cut.timeline.png", True),
    ("cut.stem-strings.wav", True), ("cut.edl", True), ("cut.ratings.json", True),
    ("cut.scored.analysis.json", False), ("cut.scored.scored.mp4", False),  # project "cut.scored"'s
    ("cut.mp4", False), ("cutaway.scored.mp4", False), ("cut.notes.txt", False)])
def test_project_outputs_are_told_apart_from_a_neighbours(name, ours):
    from tempscore.project import is_project_output

    assert is_project_output(name, "cut") is ours


def test_what_a_killed_run_left_is_removed_by_the_next_run_only(clip25, tmp_path):
    """A run killed outright (SIGKILL, out of memory) cannot clean up: its hidden temporary outputs
    and track folder are removed by the project's next run, and nothing of a neighbour's."""
    import sys

    d = tmp_path / "out"
    d.mkdir()
    stem = clip25.path.stem
    killed = subprocess.run([sys.executable, "-c", (
        "import os, pathlib, sys\n"
        "from tempscore.fileio import atomic_path\n"
        "from tempscore.render.mux import TrackEncoder\n"
        "d, stem = pathlib.Path(sys.argv[1]), sys.argv[2]\n"
        "enc = TrackEncoder(d / f'{stem}.scored.mp4', sr=48000)\n"
        "(enc.folder / 'track0.m4a').write_bytes(b'x' * 1000)\n"
        "with atomic_path(d / f'{stem}.scored.mp4') as tmp:\n"
        "    tmp.write_bytes(b'y' * 5000)\n"
        "    os._exit(9)\n"), str(d), stem])
    assert killed.returncode == 9
    left = sorted(p.name for p in d.iterdir())
    assert len(left) == 2 and all(n.startswith(f".{stem}.scored.mp4.tempscore-") for n in left), left
    neighbour = d / f".{stem}.scored.analysis.json.tempscore-abcd1234.tmp.json"  # project "<stem>.scored" running
    neighbour.write_text("{}")
    user = d / f".{stem}.mp4.notes"
    user.write_text("mine")
    r = run_cli("analyze", clip25.path, "-o", d)
    assert r.returncode == 0, r.stderr
    assert "temporary files an interrupted run" in r.stderr
    assert sorted(p.name for p in d.iterdir() if p.name.startswith(".")) == sorted([neighbour.name, user.name])
