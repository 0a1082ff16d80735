"""`tempscore score --watch`: every save of the timeline scores again, in the same process (model and
soundfont loaded once), only the changed cue recomposed; a broken save is reported and the watch
goes on; Ctrl+C (or kill) stops it cleanly. The result is the same as a cold re-run's."""

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest
from conftest import SAMPLE, run_cli


class _Lines:
    """A process's stdout and stderr read by threads into queues: waits have real deadlines and a
    full pipe can never stall the watcher."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.out: queue.Queue = queue.Queue()
        self.err: queue.Queue = queue.Queue()
        self.err_text = ""
        for stream, q in ((proc.stdout, self.out), (proc.stderr, self.err)):
            threading.Thread(target=lambda s=stream, q=q: [q.put(line) for line in s], daemon=True).start()

    def result(self, deadline_sec: float = 120.0) -> dict:
        end = time.monotonic() + deadline_sec
        while time.monotonic() < end:
            try:
                line = self.out.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                break
            if line.startswith('{"ok"'):
                return json.loads(line)
        raise AssertionError(f"no re-run result in {deadline_sec} s; stderr: {self.stderr()}")

    def stderr(self) -> str:
        while not self.err.empty():
            self.err_text += self.err.get()
        return self.err_text

    def wait_for(self, text: str, deadline_sec: float = 300.0) -> None:
        end = time.monotonic() + deadline_sec
        while text not in self.stderr():
            if time.monotonic() > end:
                raise AssertionError(f"{text!r} not in stderr: {self.err_text}")
            time.sleep(0.05)
        self.err_text = self.err_text.split(text, 1)[1]  # later waits look at what comes after


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
    lines = _Lines(proc)
    try:
        lines.wait_for("watching")
        tl_path = out / "rough_cut.timeline.json"
        tl = json.loads(tl_path.read_text())
        c1, c2 = tl["cues"][0]["id"], tl["cues"][1]["id"]
        tl["cues"][1]["mood"] = "tense" if tl["cues"][1]["mood"] != "tense" else "serene"
        video_mtime = (out / "rough_cut.scored.mp4").stat().st_mtime_ns
        png = out / "rough_cut.timeline.png"
        png_mtime = png.stat().st_mtime_ns
        _save(tl_path, tl)
        r = lines.result()
        assert r["watch_run"] == 1 and r["wall_sec"] > 0
        rep = r["compose"]["cue_report"]
        assert rep[c1]["cached"] and not rep[c2]["cached"]  # only the edited cue is composed again
        assert r["render"]["synth_cache"]["segments_reused"] >= 1
        assert (out / "rough_cut.scored.mp4").stat().st_mtime_ns > video_mtime
        end = time.monotonic() + 30  # the timeline picture is drawn right after the result is out
        while png.stat().st_mtime_ns == png_mtime and time.monotonic() < end:
            time.sleep(0.05)
        assert png.stat().st_mtime_ns > png_mtime and r["outputs"]["timeline_png"] == str(png)
        assert json.loads(tl_path.read_text())["cues"][1]["mood"] == tl["cues"][1]["mood"]  # the edit is kept
        watched_midi = (out / "rough_cut.score.mid").read_bytes()
        # a save that is not JSON: one line, the watch goes on; the next good save scores again
        tl_path.write_text("{broken")
        lines.wait_for("still watching", 60)
        tl["cues"][0]["locked"] = True
        _save(tl_path, tl)
        r = lines.result()
        assert r["watch_run"] == 2
        time.sleep(1.0)  # let the picture of the last run finish
    finally:
        proc.send_signal(signal.SIGTERM)  # handled as Ctrl+C is (SIGINT may be ignored in a background CI job)
        try:
            rc = proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    time.sleep(0.2)
    assert rc == 0 and "stopped watching" in lines.stderr()
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left
    # a cold process, from the same timeline, writes the same MIDI as the warm one did
    tl["cues"][0]["locked"] = False
    _save(tl_path, tl)
    r = run_cli("score", SAMPLE, "-o", out, "--json")
    assert r.returncode == 0, r.stderr
    assert (out / "rough_cut.score.mid").read_bytes() == watched_midi


def test_a_save_made_while_plan_rewrites_the_timeline_is_kept(clip_contrast, tmp_path, monkeypatch):
    """Plan reads the timeline, plans, writes it back: a save that lands in between is not
    overwritten (ConcurrentEdit; under --watch that save is simply scored next)."""
    import tempscore.scoring as scoring
    from tempscore.api import analyze, plan
    from tempscore.errors import ConcurrentEdit

    a = analyze(clip_contrast.path, tmp_path)
    p = plan(a.outputs["analysis"], tmp_path)
    tl_path = tmp_path / p.outputs["timeline"].rsplit("/", 1)[1]
    data = json.loads(tl_path.read_text())
    data["cues"][0]["mood"] = "tense" if data["cues"][0]["mood"] != "tense" else "serene"
    real = scoring.plan

    def plan_while_the_user_saves(*args, **kwargs):
        _save(tl_path, data)
        return real(*args, **kwargs)

    monkeypatch.setattr(scoring, "plan", plan_while_the_user_saves)
    with pytest.raises(ConcurrentEdit, match="timeline.json: was saved by another program"):
        plan(a.outputs["analysis"], tmp_path)
    assert json.loads(tl_path.read_text()) == data  # the user's save, untouched
    assert not [f.name for f in tmp_path.iterdir() if f.name.startswith(".")]  # no temporary left
    monkeypatch.setattr(scoring, "plan", real)
    tl = plan(a.outputs["analysis"], tmp_path).timeline  # run again: the save is used
    assert tl.cues[0].mood == data["cues"][0]["mood"]


def test_watch_keeps_the_analysis_while_its_files_are_unchanged(clip25, tmp_path, monkeypatch):
    """Re-runs reuse the analysis without probing the video or parsing the analysis again; a touched
    video or a rewritten analysis file is looked at again."""
    import tempscore.vision as vision
    from tempscore.api import Session

    probes = []
    real = vision.probe
    monkeypatch.setattr(vision, "probe", lambda p, **kw: probes.append(p) or real(p, **kw))
    warm = Session()
    r1 = warm.analyze(clip25.path, tmp_path)
    a1 = r1.analysis
    assert len(probes) == 1 and not r1.summary.cached
    r2 = warm.analyze(clip25.path, tmp_path)
    assert len(probes) == 1 and r2.analysis is a1 and r2.summary.cached and r2.outputs == r1.outputs
    st = clip25.path.stat()
    os.utime(clip25.path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched: probed (same content: from disk)
    try:
        r3 = warm.analyze(clip25.path, tmp_path)
    finally:
        os.utime(clip25.path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert len(probes) == 2 and r3.summary.cached and r3.analysis.cuts == a1.cuts
    an = tmp_path / f"{clip25.path.stem}.analysis.json"
    an.write_text(an.read_text())  # rewritten (a new mtime): read again
    os.utime(an, ns=(an.stat().st_atime_ns, an.stat().st_mtime_ns + 10**9))
    warm.analyze(clip25.path, tmp_path)
    assert len(probes) == 3
