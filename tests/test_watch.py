"""`tempscore score --watch`: every save of the timeline scores again, in the same process (model and
soundfont loaded once), only the changed cue recomposed; a broken save is reported and the watch
goes on; Ctrl+C (or kill) stops it cleanly. The result is the same as a cold re-run's."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import SAMPLE, run_cli


def _next_result(proc: subprocess.Popen, deadline_sec: float = 120.0) -> dict:
    end = time.monotonic() + deadline_sec
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"watch ended early: {proc.stderr.read()}")
        if line.startswith('{"ok"'):
            return json.loads(line)
    raise AssertionError("no re-run result in time")


def _wait_for_stderr(proc: subprocess.Popen, text: str, deadline_sec: float = 300.0) -> str:
    end, seen = time.monotonic() + deadline_sec, ""
    while time.monotonic() < end and text not in seen:
        line = proc.stderr.readline()
        if not line:
            break
        seen += line
    assert text in seen, seen
    return seen


def _save(path, data) -> None:
    """Save as editors do: a new file renamed over the old one."""
    tmp = path.with_name(path.name + ".swp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


@pytest.mark.skipif(not SAMPLE.is_file(), reason="bundled sample missing")
def test_watch_rescores_each_save_and_matches_a_cold_rerun(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "tempscore.cli", "score", str(SAMPLE), "-o", str(out), "--watch",
                             "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, HF_HUB_OFFLINE="1"))
    try:
        _wait_for_stderr(proc, "watching")
        tl_path = out / "rough_cut.timeline.json"
        tl = json.loads(tl_path.read_text())
        c1, c2 = tl["cues"][0]["id"], tl["cues"][1]["id"]
        tl["cues"][1]["mood"] = "tense" if tl["cues"][1]["mood"] != "tense" else "serene"
        video_mtime = (out / "rough_cut.scored.mp4").stat().st_mtime_ns
        _save(tl_path, tl)
        r = _next_result(proc)
        assert r["watch_run"] == 1 and r["wall_sec"] > 0
        rep = r["compose"]["cue_report"]
        assert rep[c1]["cached"] and not rep[c2]["cached"]  # only the edited cue is composed again
        assert r["render"]["synth_cache"]["segments_reused"] >= 1
        assert (out / "rough_cut.scored.mp4").stat().st_mtime_ns > video_mtime
        assert json.loads(tl_path.read_text())["cues"][1]["mood"] == tl["cues"][1]["mood"]  # the edit is kept
        watched_midi = (out / "rough_cut.score.mid").read_bytes()
        # a save that is not JSON: one line, the watch goes on; the next good save scores again
        tl_path.write_text("{broken")
        _wait_for_stderr(proc, "still watching", 60)
        tl["cues"][0]["locked"] = True
        _save(tl_path, tl)
        r = _next_result(proc)
        assert r["watch_run"] == 2
        time.sleep(1.0)  # let the picture of the last run finish
    finally:
        proc.send_signal(signal.SIGTERM)  # handled as Ctrl+C is (SIGINT may be ignored in a background CI job)
        try:
            rc = proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert rc == 0 and "stopped watching" in proc.stderr.read()
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left
    # a cold process, from the same timeline, writes the same MIDI as the warm one did
    tl["cues"][0]["locked"] = False
    _save(tl_path, tl)
    r = run_cli("score", SAMPLE, "-o", out, "--json")
    assert r.returncode == 0, r.stderr
    assert (out / "rough_cut.score.mid").read_bytes() == watched_midi
