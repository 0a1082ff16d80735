"""Server tests of `tempscore ui`: uploads (good and bad), path traversal, jobs (two at once, restart,
busy), and the edits the page makes, checked in the same timeline.json the CLI reads."""

from __future__ import annotations

import http.client
import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pretty_midi
import pytest
from starlette.testclient import TestClient

from tempscore.api import plan as run_plan
from tempscore.api.files import load_timeline
from tempscore.errors import OutputError
from tempscore.ui.app import create_app
from tempscore.ui.jobs import JobManager

from conftest import SAMPLE
from support.clips import make_cut_clip, run_ffmpeg
from ui_support import LiveServer, http_client, upload, wait_job

BASE = "http://127.0.0.1"


def client_for(app) -> TestClient:
    return TestClient(app, base_url=BASE)


def nothing_left(workdir: Path) -> None:
    """No job and no partial upload remain after a refused upload."""
    assert not any((workdir / "uploads").iterdir())
    assert not any((workdir / "jobs").iterdir())


# ---------------------------------------------------------------------------- a scored job to work on
@pytest.fixture(scope="module")
def scored(tmp_path_factory, clip25):
    """A server with one job (clip25) scored through the page's API."""
    wd = tmp_path_factory.mktemp("ui-scored")
    app = create_app(wd)
    with client_for(app) as client:
        r = upload(client, clip25.path)
        assert r.status_code == 201, r.text
        job = wait_job(client, r.json()["id"], revision=1)
        assert job["state"] == "done", job
        yield app, client, job


def test_page_config_and_job_listing(scored):
    app, client, job = scored
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert client.get("/static/app.js").status_code == 200
    cfg = client.get("/api/config").json()
    assert cfg["accept"] == [".mp4", ".mov", ".m4v", ".mkv", ".mxf"] and "tense" in cfg["moods"] and len(cfg["keys"]) == 24
    jobs = client.get("/api/jobs").json()["jobs"]
    assert [j["id"] for j in jobs] == [job["id"]] and jobs[0]["has_timeline"]
    assert set(job["timings_sec"]) >= {"analyze", "plan", "compose", "render", "total"}


def test_view_matches_the_files_on_disk(scored, clip25):
    app, client, job = scored
    v = client.get(f"/api/jobs/{job['id']}/view").json()
    d = app.state.manager.job_dir(job["id"])
    stem = job["stem"]
    assert v["timeline"] == json.loads((d / f"{stem}.timeline.json").read_text())
    assert [c["frame"] for c in v["analysis"]["cuts"]] == clip25.cuts
    kinds = {f["kind"] for f in v["files"]}
    assert {"video", "midi", "wav", "stem", "sync_csv", "sync_json", "edl", "otio", "timeline", "source"} <= kinds
    # bar lines: every cue starts on one, and consecutive bar lines are beats_per_bar beats apart
    bars = [t for t, _ in v["grid"]["bars"]]
    for cue in v["timeline"]["cues"]:
        assert min(abs(t - cue["start_sec"]) for t in bars) < 1e-3
    tm = v["timeline"]["tempo_map"]
    for (t0, b0), (t1, b1) in zip(v["grid"]["bars"], v["grid"]["bars"][1:]):
        ev = [e for e in tm if e["time_sec"] <= t0 + 1e-6][-1]
        if not any(t0 + 1e-6 < e["time_sec"] < t1 - 1e-6 for e in tm):  # constant tempo inside the bar
            assert abs((t1 - t0) - ev["beats_per_bar"] * 60 / ev["bpm"]) < 2e-3 and b1 == b0 + 1
    assert v["timecode"] == {"rate": 25, "drop": False, "start_frames": 0}


def test_downloads_are_the_outputs_byte_for_byte(scored):
    app, client, job = scored
    d = app.state.manager.job_dir(job["id"])
    for f in client.get(f"/api/jobs/{job['id']}/view").json()["files"]:
        r = client.get(f"/api/jobs/{job['id']}/files/{f['name']}?download=1")
        assert r.status_code == 200 and r.content == (d / f["name"]).read_bytes(), f["name"]
        assert r.headers["content-disposition"].startswith("attachment")
    video = next(f for f in client.get(f"/api/jobs/{job['id']}/view").json()["files"] if f["kind"] == "video")
    part = client.get(f"/api/jobs/{job['id']}/files/{video['name']}", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == (d / video["name"]).read_bytes()[100:200]  # seeking works


# ---------------------------------------------------------------------------- bad uploads
@pytest.fixture()
def fresh(tmp_path):
    app = create_app(tmp_path, max_upload_bytes=800_000)  # the sample (1.0 MB) is over it, half of it is not
    with client_for(app) as client:
        yield app, client, tmp_path


def _png(tmp: Path) -> Path:
    p = tmp / "still.png"
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=64x36", "-frames:v", "1", str(p)], what="png")
    return p


def _audio_only(tmp: Path) -> Path:
    p = tmp / "tone.m4a"
    run_ffmpeg(["-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac", str(p)], what="tone")
    return p


def _half(path: Path, tmp: Path, name: str) -> Path:
    data = path.read_bytes()
    out = tmp / name
    out.write_bytes(data[: len(data) // 2])
    return out


@pytest.mark.parametrize("case,status,needle", [
    ("text renamed .mp4", 415, "not a video"),
    ("a .txt file", 415, "not a video file tempscore reads"),
    ("png renamed .mp4", 415, "not a video"),
    ("audio only (m4a renamed .mp4)", 422, "no video stream"),
    ("empty", 400, "empty"),
    ("truncated mp4", 422, "truncated"),
    ("truncated mkv", 422, "truncated"),
    ("too large (declared)", 413, "over the upload limit"),
])
def test_bad_uploads_are_refused_with_one_clear_line(fresh, case, status, needle, tmp_path_factory):
    app, client, wd = fresh
    src = tmp_path_factory.mktemp("bad")
    if case == "text renamed .mp4":
        path, name = src / "cut.mp4", "cut.mp4"
        path.write_text("hello, this is not a video\n")
    elif case == "a .txt file":
        path, name = src / "notes.txt", "notes.txt"
        path.write_text("hello\n")
    elif case == "png renamed .mp4":
        path, name = _png(src), "picture.mp4"
    elif case == "audio only (m4a renamed .mp4)":
        path, name = _audio_only(src), "tone.mp4"
    elif case == "empty":
        path, name = src / "empty.mov", "empty.mov"
        path.write_bytes(b"")
    elif case == "truncated mp4":
        path, name = _half(SAMPLE, src, "cut.mp4"), "cut.mp4"
    elif case == "truncated mkv":
        full = src / "full.mkv"
        make_cut_clip(full, [40, 40], fps=25, size=(160, 90))
        path, name = _half(full, src, "cut.mkv"), "cut.mkv"
    else:
        path, name = SAMPLE, "rough cut.mp4"
    r = upload(client, path, name)
    assert r.status_code == status, (case, r.status_code, r.text)
    msg = r.json()["error"]
    assert needle in msg.lower() and name in msg and "\n" not in msg, msg
    assert str(wd) not in msg  # no server paths in the page's message
    nothing_left(wd)


def test_avid_mxf_upload_is_scored_and_a_truncated_one_refused(tmp_path):
    """An MXF (DNxHR + PCM, as Avid exports) is a job whose scored video is a .mov; the same file cut
    in half has no random index pack and a footer past its end: 422."""
    src = tmp_path / "avid.mxf"
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=256x144:rate=25:duration=3", "-f", "lavfi", "-i",
                "sine=f=440:sample_rate=48000:d=3", "-c:v", "dnxhd", "-profile:v", "dnxhr_lb", "-pix_fmt", "yuv422p",
                "-c:a", "pcm_s24le", str(src)], what="mxf")
    wd = tmp_path / "wd"
    with client_for(create_app(wd)) as client:
        r = upload(client, _half(src, tmp_path, "cut.mxf"), "cut.mxf")
        assert r.status_code == 422 and "truncated" in r.json()["error"], r.text
        nothing_left(wd)
        r = upload(client, src, "Avid export.mxf")
        assert r.status_code == 201, r.text
        job = wait_job(client, r.json()["id"], revision=1)
        assert job["state"] == "done", job
        files = client.get(f"/api/jobs/{job['id']}/view").json()["files"]
        assert any(f["kind"] == "video" and f["name"].endswith(".scored.mov") for f in files), files


def test_too_large_without_a_declared_length_is_cut_off(tmp_path):
    """A chunked upload (no Content-Length) is counted as it streams and stopped at the limit."""
    app = create_app(tmp_path, max_upload_bytes=200_000)
    with LiveServer(app) as srv, http_client(srv.url) as c:
        data = SAMPLE.read_bytes()

        def chunks():
            for i in range(0, len(data), 65536):
                yield data[i:i + 65536]

        try:
            r = c.post("/api/jobs", content=chunks(), headers={"X-Filename": "cut.mp4"})
            assert r.status_code == 413 and "over the upload limit" in r.json()["error"]
        except httpx_errors():  # the server may close the connection while the client still sends
            pass
        assert c.get("/api/jobs").json()["jobs"] == []
    nothing_left(tmp_path)


def httpx_errors() -> tuple[type, ...]:
    import httpx

    return (httpx.RemoteProtocolError, httpx.WriteError, httpx.ReadError)


def test_a_damaged_file_that_passes_the_checks_fails_as_a_job_with_the_message(fresh, tmp_path_factory):
    """Whole container, damaged picture data: accepted, the analysis refuses it, the job says why."""
    import struct

    app, client, wd = fresh
    src = tmp_path_factory.mktemp("damaged") / "source.mp4"
    make_cut_clip(src, [40, 40, 40], fps=25, size=(160, 90))
    data = bytearray(src.read_bytes())
    off = 0
    while off < len(data):  # zero the last two thirds of the picture data, keep every box whole
        size, kind = struct.unpack(">I4s", data[off:off + 8])
        if kind == b"mdat":
            a = off + 8 + (size - 8) // 3
            data[a:off + size] = bytes(off + size - a)
        off += size
    r = client.post("/api/jobs", content=bytes(data), headers={"X-Filename": "reel 3 (damaged).mp4"})
    assert r.status_code == 201, r.text
    job = wait_job(client, r.json()["id"], revision=1, timeout=120)
    assert job["state"] == "failed" and job["error"].startswith("reel 3 (damaged).mp4: decoding failed"), job
    assert "damaged" in job["error"] and "\n" not in job["error"] and str(wd) not in job["error"]
    assert not job["has_timeline"]
    r = client.patch(f"/api/jobs/{job['id']}/cues/1M1", json={"mood": "tense"})
    assert r.status_code == 409 and "not scored yet" in r.json()["error"]


# ---------------------------------------------------------------------------- path traversal
SECRET = "top-secret-content-do-not-serve"


def _traversal_paths(job_id: str, stem: str) -> list[str]:
    j = f"/api/jobs/{job_id}"
    return [
        f"{j}/files/..%2Fjob.json", f"{j}/files/job.json", f"{j}/files/%2e%2e%2f%2e%2e%2f.lock",
        f"{j}/files/..%5C..%5Csecret.txt", f"{j}/files/%2Fetc%2Fpasswd", f"{j}/files/..", f"{j}/files/.",
        f"{j}/files/{stem}.edl%00.png", f"{j}/files/..%2F..%2Fsecret.txt", f"{j}/files/....%2F%2Fsecret.txt",
        f"{j}/files/{stem}.sync.csv%2F..%2F..%2F..%2Fsecret.txt", f"{j}/files/%252e%252e%252fsecret.txt",
        f"{j}/variants/..%2F..%2Fjob.json", f"{j}/variants/..%2F..%2F..%2Fsecret.txt", f"{j}/variants/manifest.json",
        "/api/jobs/..%2F..%2Fsecret.txt/view", f"/api/jobs/..%2Fjobs%2F{job_id}/files/{stem}.score.mid",
        "/static/..%2F..%2F..%2Fpyproject.toml", "/static/%2e%2e/%2e%2e/pyproject.toml",
        "/static/../../pyproject.toml", f"{j}/files/../../secret.txt", f"{j}/files/{stem}.secret-link.wav",
        f"{j}/files/{stem}.stem-evil.wav", f"{j}/preview/..%2Fjob.json", f"{j}/preview/..%2F..%2F..%2Fsecret.txt",
        f"{j}/preview/{stem}.timeline.json", f"{j}/preview/{stem}.analysis.json", f"{j}/preview/job.json",
        f"{j}/preview/first-cue.wav%2F..%2F..%2Fjob.json", f"{j}/preview/..%2F{stem}.score.wav",
    ]


def test_a_new_uploads_first_cue_is_kept_apart_and_served_by_its_name(scored):
    """The score task kept the first cue (heard on the page while the render ran) in .first-cue/,
    with that run's timeline: served by its one name; not offered once the run is done."""
    import soundfile

    app, client, job = scored
    d = app.state.manager.job_dir(job["id"])
    pv = job["preview"]
    tl = json.loads((d / f"{job['stem']}.timeline.json").read_text())
    first = tl["cues"][0]
    assert pv["cue"] == first["id"] and pv["start_sec"] == 0 and abs(pv["end_sec"] - first["end_sec"]) < 1e-4
    assert 0 < pv["ready_sec"] < job["timings_sec"]["total"] and pv["lufs"] == pytest.approx(-23, abs=0.05)
    assert json.loads((d / ".first-cue" / f"{job['stem']}.timeline.json").read_text()) == tl
    assert client.get(f"/api/jobs/{job['id']}/view").json()["preview"] is None  # done: the scored video plays
    r = client.get(f"/api/jobs/{job['id']}/preview/first-cue.wav")
    assert r.status_code == 200 and r.headers["content-type"].startswith("audio/")
    info = soundfile.info(d / ".first-cue" / "first-cue.wav")
    assert (info.samplerate, info.channels, info.subtype) == (48000, 2, "PCM_24")
    assert abs(info.frames - round(first["end_sec"] * 48000)) <= 1
    assert not any(f["name"].startswith(".") for f in client.get(f"/api/jobs/{job['id']}/view").json()["files"])


def test_path_traversal_is_refused_on_every_file_route(scored):
    app, client, job = scored
    mgr = app.state.manager
    d = mgr.job_dir(job["id"])
    (mgr.root / "secret.txt").write_text(SECRET)
    (mgr.root / "jobs" / "secret.txt").write_text(SECRET)
    outside = mgr.root.parent / "outside-secret.txt"
    outside.write_text(SECRET)
    (d / f"{job['stem']}.stem-evil.wav").symlink_to(outside)  # a link with an allowed name
    try:
        paths = _traversal_paths(job["id"], job["stem"])
        # through the ASGI test client (which, like a browser, resolves literal /../ and /./ itself)
        for path in [p for p in paths if not any(seg in (".", "..") for seg in p.split("/"))]:
            r = client.get(path)
            assert r.status_code in (400, 404, 405), (path, r.status_code)
            assert SECRET not in r.text and '"pending"' not in r.text and "[project]" not in r.text, path
        with LiveServer(app) as srv:  # and raw bytes on the wire to uvicorn (no client-side normalisation)
            for path in paths:
                conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
                conn.putrequest("GET", path, skip_accept_encoding=True)
                conn.endheaders()
                resp = conn.getresponse()
                body = resp.read().decode("latin-1")
                conn.close()
                assert resp.status in (400, 404, 405), (path, resp.status)
                assert SECRET not in body and '"pending"' not in body and "[project]" not in body, path
        assert client.get(f"/api/jobs/{job['id']}/files/{job['stem']}.score.mid").status_code == 200  # still serves
    finally:
        (d / f"{job['stem']}.stem-evil.wav").unlink()


def test_foreign_hosts_and_cross_site_writes_are_refused(scored):
    app, client, job = scored
    before = app.state.manager.timeline_path(job["id"]).read_bytes()
    assert client.get("/api/jobs", headers={"Host": "evil.example"}).status_code == 421  # DNS rebinding
    assert client.get("/api/jobs", headers={"Host": "localhost:8765"}).status_code == 200
    r = client.patch(f"/api/jobs/{job['id']}/cues/1M1", json={"mood": "tense"},
                     headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    r = client.post("/api/jobs", content=b"x", headers={"X-Filename": "a.mp4", "Origin": "http://evil.example"})
    assert r.status_code == 403
    # text/plain (a form a foreign page could send without a preflight) is not taken as an edit
    r = client.patch(f"/api/jobs/{job['id']}/cues/1M1", content=b'{"mood": "tense"}',
                     headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    assert app.state.manager.timeline_path(job["id"]).read_bytes() == before


# ---------------------------------------------------------------------------- jobs
def test_two_jobs_at_once_each_right_and_nothing_lost(tmp_path, tmp_path_factory):
    """Two uploads at the same moment (two threads, real server): both are accepted, both are scored,
    each from its own video."""
    media = tmp_path_factory.mktemp("two")
    clips = {}
    for name, shots in (("first.mp4", [30, 45, 35]), ("second.mov", [50, 25, 40, 30])):
        cuts = make_cut_clip(media / name, shots, fps=25, size=(160, 90))
        clips[name] = (media / name, cuts, sum(shots))
    app = create_app(tmp_path / "wd")
    with LiveServer(app) as srv:
        results: dict[str, object] = {}
        barrier = threading.Barrier(2)

        def send(name: str) -> None:
            with http_client(srv.url) as c:
                barrier.wait()
                results[name] = upload(c, clips[name][0])

        threads = [threading.Thread(target=send, args=(n,)) for n in clips]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert all(results[n].status_code == 201 for n in clips), {n: r.text for n, r in results.items()}
        ids = {n: results[n].json()["id"] for n in clips}
        assert len(set(ids.values())) == 2
        with http_client(srv.url) as c:
            listed = c.get("/api/jobs").json()["jobs"]
            assert sorted(j["id"] for j in listed) == sorted(ids.values())
            for name, job_id in ids.items():
                job = wait_job(c, job_id, revision=1, timeout=240)
                assert job["state"] == "done", job
                v = c.get(f"/api/jobs/{job_id}/view").json()
                path, cuts, frames = clips[name]
                assert v["job"]["name"] == name
                assert [x["frame"] for x in v["analysis"]["cuts"]] == cuts  # its own video, not the other one
                assert v["timeline"]["video"]["frame_count"] == frames
                d = app.state.manager.job_dir(job_id)
                assert (d / f"{Path(name).stem}.score.mid").is_file()
                assert (d / f"{Path(name).stem}.scored{Path(name).suffix}").is_file()
                assert (d / name).read_bytes() == path.read_bytes()  # the upload arrived whole


def test_jobs_survive_a_server_restart(tmp_path, clip25):
    wd = tmp_path / "wd"
    first = JobManager(wd)  # not started: the job stays queued, as if the server stopped at once
    part = first.uploads_dir / "incoming.mp4"
    shutil.copy(clip25.path, part)
    job = first.create(part, name="reel 1.mp4", stem="reel_1", suffix=".mp4")
    first.close()
    # a second queued job that was running when the server died
    crashed = JobManager(wd)
    part = crashed.uploads_dir / "incoming.mp4"
    shutil.copy(clip25.path, part)
    job2 = crashed.create(part, name="reel 2.mp4", stem="reel_2", suffix=".mp4")
    state = json.loads((crashed.job_dir(job2["id"]) / "job.json").read_text())
    state.update(state="running", task=state["pending"].pop(0), stage="analysing picture and sound")
    (crashed.job_dir(job2["id"]) / "job.json").write_text(json.dumps(state))
    crashed.close()
    held = JobManager(wd)  # a new server: what was running is queued again, ahead of nothing lost
    again = held.get(job2["id"])
    assert again["state"] == "queued" and again["pending"] == [{"kind": "score"}]
    assert again["message"].startswith("restarted")
    assert [j["id"] for j in held.list()] == [job["id"], job2["id"]]
    with pytest.raises(OutputError, match="in use by another"):
        JobManager(wd)
    held.close()
    app = create_app(wd)
    with client_for(app) as client:
        for j in (job, job2):
            done = wait_job(client, j["id"], revision=1, timeout=240)
            assert done["state"] == "done", done
        assert client.get(f"/api/jobs/{job['id']}/files/reel_1.score.mid").status_code == 200


class SlowManager(JobManager):
    """Holds each task until released, so a test can act while a job is running."""

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.gate = threading.Event()

    def _run(self, job, task):
        self.gate.wait(120)
        return super()._run(job, task)


def test_edits_are_refused_while_a_job_runs_and_before_it_has_a_timeline(tmp_path, clip25):
    mgr = SlowManager(tmp_path)
    app = create_app(tmp_path, manager=mgr)
    with client_for(app) as client:
        job = upload(client, clip25.path).json()
        deadline = time.monotonic() + 10
        while client.get(f"/api/jobs/{job['id']}").json()["state"] != "running" and time.monotonic() < deadline:
            time.sleep(0.02)
        r = client.patch(f"/api/jobs/{job['id']}/cues/1M1", json={"mood": "tense"})
        assert r.status_code == 409 and "wait for it to finish" in r.json()["error"]
        assert client.delete(f"/api/jobs/{job['id']}").status_code == 409
        mgr.gate.set()
        wait_job(client, job["id"], revision=1)
        assert client.delete(f"/api/jobs/{job['id']}").status_code == 200
        assert not mgr.job_dir(job["id"]).exists() and client.get(f"/api/jobs/{job['id']}").status_code == 404


# ---------------------------------------------------------------------------- edits
@pytest.fixture()
def paused(tmp_path):
    """The sample (two cues) scored, with the workers stopped so a test sees exactly what an edit wrote."""
    app = create_app(tmp_path)
    mgr = app.state.manager
    with client_for(app) as client:
        job = upload(client, SAMPLE).json()
        job = wait_job(client, job["id"], revision=1)
        assert job["state"] == "done"
        mgr.stop(timeout=30)
        yield app, client, job


def test_a_mood_edit_writes_timeline_json_as_by_hand_and_the_cli_keeps_it(paused):
    app, client, job = paused
    mgr = app.state.manager
    path = mgr.timeline_path(job["id"])
    before = json.loads(path.read_text())
    cue = before["cues"][-1]
    new_mood = next(m for m in ("tense", "serene", "excited", "sombre") if m != cue["mood"])
    r = client.patch(f"/api/jobs/{job['id']}/cues/{cue['id']}", json={"mood": new_mood})
    assert r.status_code == 202 and r.json()["changed"] == ["mood"], r.text
    after = json.loads(path.read_text())
    expected = json.loads(json.dumps(before))
    expected["cues"][-1]["mood"] = new_mood
    assert after == expected  # exactly one field changed: the cue's mood
    assert r.json()["job"]["state"] == "queued"
    mgr.start()
    done = wait_job(client, job["id"], revision=2)
    assert done["state"] == "done" and done["last_task"] == {"kind": "rescore", "plan": True}
    tl = json.loads(path.read_text())
    edited = next(c for c in tl["cues"] if c["id"] == cue["id"])
    assert edited["mood"] == new_mood and edited["auto"]["mood"] == cue["auto"]["mood"] != new_mood
    assert tl["edits"]["cue_overrides"][cue["id"]]["mood"] == new_mood
    # the command line, run on the same folder, keeps the page's edit (one source of truth)
    d = mgr.job_dir(job["id"])
    run_plan(d / f"{job['stem']}.analysis.json", d)
    assert next(c for c in load_timeline(path).cues if c.id == cue["id"]).mood == new_mood


@pytest.mark.parametrize("body,status,needle", [
    ({"mood": "happy"}, 400, "not one of"), ({"intensity": 1.5}, 400, "from 0 to 1"),
    ({"key": "H major"}, 400, "not a key"), ({"locked": "yes"}, 400, "true or false"),
    ({"valence": 0.5}, 400, "cannot change valence"), ({"tempo_bpm": 500}, 400, "from 20 to 300"),
    ({"beats_per_bar": 1}, 400, "from 2 to 12"), ({"beats_per_bar": 3.0}, 400, "whole number"),
    ({"recalls": "1M1"}, 400, "earlier cue"), ({"orchestration": "kazoo"}, 400, "not an instrument"),
])
def test_bad_cue_edits_say_what_is_wrong_and_change_nothing(scored, body, status, needle):
    app, client, job = scored
    path = app.state.manager.timeline_path(job["id"])
    before = path.read_bytes()
    r = client.patch(f"/api/jobs/{job['id']}/cues/1M1", json=body)
    assert r.status_code == status and needle in r.json()["error"], r.text
    assert path.read_bytes() == before
    assert client.get(f"/api/jobs/{job['id']}").json()["pending"] == []
    r = client.patch(f"/api/jobs/{job['id']}/cues/9M9", json={"mood": "tense"})
    assert r.status_code == 400 and "does not exist" in r.json()["error"]
    assert client.patch("/api/jobs/0123456789abcdef/cues/1M1", json={"mood": "tense"}).status_code == 404


def test_hits_regenerate_and_edge_drag_through_the_pipeline(paused):
    app, client, job = paused
    mgr = app.state.manager
    mgr.start()
    jid = job["id"]
    tl = load_timeline(mgr.timeline_path(jid))
    assert len(tl.cues) >= 2

    # add a hit between two cuts, remove a cut hit
    cut_hit = next(h for h in tl.hit_points if h.kind == "cut" and h.how != "cue_start")
    cuts = [c["frame"] for c in client.get(f"/api/jobs/{jid}/view").json()["analysis"]["cuts"]]
    host = max(tl.cues, key=lambda c: c.end_frame - c.start_frame)
    marks = sorted({host.start_frame, host.end_frame, *(c for c in cuts if host.start_frame < c < host.end_frame)})
    a, b = max(zip(marks, marks[1:]), key=lambda ab: ab[1] - ab[0])
    user_frame = (a + b) // 2  # halfway between the two cuts furthest apart (a hit right after a cut may not land)
    assert client.post(f"/api/jobs/{jid}/hits", json={"frame": user_frame}).status_code == 202
    assert wait_job(client, jid, revision=2)["state"] == "done"
    assert client.delete(f"/api/jobs/{jid}/hits/{cut_hit.frame}").status_code == 202
    assert wait_job(client, jid, revision=3)["state"] == "done"
    tl = load_timeline(mgr.timeline_path(jid))
    frames = {h.frame: h for h in tl.hit_points}
    assert frames[user_frame].how == "user" and abs(frames[user_frame].offset_frames) <= 1.0
    assert cut_hit.frame not in frames and cut_hit.frame in tl.edits["deleted_hit_frames"]
    r = client.post(f"/api/jobs/{jid}/hits", json={"frame": user_frame})
    assert r.status_code == 400 and "already has a hit" in r.json()["error"]
    assert client.delete(f"/api/jobs/{jid}/hits/{cut_hit.frame}").status_code == 400
    # the user hit is on the MIDI file's beat grid (its own tempo map): an 8th, or a 16th where the
    # cutting is faster than the cue's mood and the hits are reached in double time
    pm = pretty_midi.PrettyMIDI(str(mgr.project(jid).midi))
    fps = tl.video.fps_num / tl.video.fps_den
    half = pm.resolution // (2 if float(frames[user_frame].beat * 2).is_integer() else 4)
    grid = [pm.tick_to_time(k * half) for k in range(int(pm.time_to_tick(tl.video.duration_sec)) // half + 2)]
    assert min(abs(g - user_frame / fps) for g in grid) * fps <= 1.0 + 1e-3

    # regenerate: a new seed for that cue only, no re-plan
    cue = next(c for c in tl.cues if not c.tacet)
    r = client.post(f"/api/jobs/{jid}/cues/{cue.id}/regenerate")
    assert r.status_code == 202 and r.json()["seed"] == (cue.seed if cue.seed >= 0 else 0) + 1
    done = wait_job(client, jid, revision=4)
    assert done["state"] == "done" and done["last_task"] == {"kind": "rescore", "plan": False}
    assert next(c for c in load_timeline(mgr.timeline_path(jid)).cues if c.id == cue.id).seed == r.json()["seed"]

    # drag the edge between the first two cues 13 frames earlier: a rolling edit, both cues' edges kept
    left, right = tl.cues[0], tl.cues[1]
    new_edge = right.start_frame - 13
    r = client.post(f"/api/jobs/{jid}/cues/{right.id}/edge", json={"edge": "start", "frame": new_edge})
    assert r.status_code == 202, r.text
    assert wait_job(client, jid, revision=5)["state"] == "done"
    tl = load_timeline(mgr.timeline_path(jid))
    a, b = tl.cues[0], tl.cues[1]
    assert (a.id, b.id) == (left.id, right.id)
    assert (a.end_frame, b.start_frame, a.edges_locked, b.edges_locked) == (new_edge, new_edge, True, True)
    assert not a.locked and not b.locked and abs(b.start_sec - new_edge / fps) < 1e-6
    assert b.why["tempo"].startswith("cut rate")  # the tempo is fitted afresh to the new span
    assert tl.edits["pinned_cues"] == [{"id": a.id, "start_frame": 0, "end_frame": new_edge},
                                       {"id": b.id, "start_frame": new_edge, "end_frame": b.end_frame}]
    run_plan(mgr.job_dir(jid) / f"{job['stem']}.analysis.json", mgr.job_dir(jid))  # the CLI keeps the edges
    again = load_timeline(mgr.timeline_path(jid))
    assert [(c.start_frame, c.end_frame) for c in again.cues] == [(c.start_frame, c.end_frame) for c in tl.cues]
    r = client.post(f"/api/jobs/{jid}/cues/{b.id}/edge", json={"edge": "start", "frame": b.end_frame + 5})
    assert r.status_code == 400 and "must stay within frames" in r.json()["error"]
    r = client.post(f"/api/jobs/{jid}/cues/{a.id}/edge", json={"edge": "start", "frame": 3})
    assert r.status_code == 400 and "edge of the picture" in r.json()["error"]


def test_variants_audition_and_pick(paused):
    app, client, job = paused
    mgr = app.state.manager
    mgr.start()
    jid = job["id"]
    tl = load_timeline(mgr.timeline_path(jid))
    cue = next(c for c in tl.cues if not c.tacet and not c.locked)
    assert client.post(f"/api/jobs/{jid}/cues/{cue.id}/variants", json={"n": 2}).status_code == 202
    done = wait_job(client, jid, revision=2)
    assert done["state"] == "done", done
    v = client.get(f"/api/jobs/{jid}/view").json()["variants"][cue.id]
    assert v["current"] and v["picked"] == 0 and [i["variant"] for i in v["items"]] == [1, 2]
    wav = client.get(f"/api/jobs/{jid}/variants/{v['items'][1]['wav']}")
    assert wav.status_code == 200 and wav.content[:4] == b"RIFF" and len(wav.content) > 10_000
    assert client.post(f"/api/jobs/{jid}/cues/{cue.id}/pick", json={"variant": 2}).status_code == 202
    assert wait_job(client, jid, revision=3)["state"] == "done"
    picked = next(c for c in load_timeline(mgr.timeline_path(jid)).cues if c.id == cue.id)
    assert picked.seed == v["items"][1]["seed"]
    v = client.get(f"/api/jobs/{jid}/view").json()["variants"][cue.id]
    assert v["picked"] == 2
    r = client.post(f"/api/jobs/{jid}/cues/{cue.id}/pick", json={"variant": 7})
    assert r.status_code == 400 and "has variants 1..2" in r.json()["error"]
    # a mood change makes the auditions out of date
    new_mood = next(m for m in ("tense", "serene") if m != picked.mood)
    assert client.patch(f"/api/jobs/{jid}/cues/{cue.id}", json={"mood": new_mood}).status_code == 202
    assert wait_job(client, jid, revision=4)["state"] == "done"
    assert client.get(f"/api/jobs/{jid}/view").json()["variants"][cue.id]["current"] is False


# ---------------------------------------------------------------------------- the command
def test_ui_command_serves_and_a_busy_port_is_one_line(tmp_path):
    env_wd = tmp_path / "wd"
    proc = subprocess.Popen([sys.executable, "-m", "tempscore.cli", "ui", "--port", "0", "--workdir", str(env_wd)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("tempscore ui: open http://127.0.0.1:"), line
        url = line.split()[3]
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        with http_client(url) as c:
            deadline = time.monotonic() + 20
            while True:
                try:
                    cfg = c.get("/api/config").json()
                    break
                except Exception:  # not listening yet
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
        assert cfg["workdir"] == str(env_wd.resolve())
        busy = subprocess.run([sys.executable, "-m", "tempscore.cli", "ui", "--port", str(port), "--workdir",
                               str(tmp_path / "other")], capture_output=True, text=True, timeout=60)
        assert busy.returncode == 2 and busy.stderr.count("\n") == 1 and "is in use" in busy.stderr, busy.stderr
        same = subprocess.run([sys.executable, "-m", "tempscore.cli", "ui", "--port", "0", "--workdir", str(env_wd)],
                              capture_output=True, text=True, timeout=60)
        assert same.returncode == 2 and "in use by another `tempscore ui`" in same.stderr, same.stderr
        proc.send_signal(signal.SIGINT)  # Ctrl+C: a clean stop
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0 and "tempscore ui: stopped" in out and "Traceback" not in err, (out, err)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(20)


def test_render_progress_maps_onto_one_bar_in_phase_order():
    """The page's job bar through the render stage: each phase's reports rise within its share,
    the shares follow one another in the order render reports them, and the whole ends at 1."""
    from tempscore.ui.jobs import RENDER_PHASES, render_fraction

    order = ["synthesising", "reverb", "loudness", "production mix", "encoding audio", "muxing"]
    assert list(RENDER_PHASES) == order
    seen = [render_fraction(phase, k, 4) for phase in order for k in range(5)]
    assert seen == sorted(seen) and seen[0] == 0.0 and seen[-1] == 1.0
    assert render_fraction("encoding audio", 10.0, 0.0) == RENDER_PHASES["encoding audio"][0]
    assert render_fraction("something new", 1, 2) is None  # not reported: the bar never goes back


# ---------------------------------------------------------------------------- cross-site writes, access token (issue 24)
@pytest.mark.parametrize("headers", [{"Origin": "null"}, {"Origin": "file://"}, {"Origin": "http://127.0.0.1.evil.example"},
                                     {"Origin": "http://127.0.0.1:9999"}, {"Sec-Fetch-Site": "cross-site"}],
                         ids=["null", "file", "lookalike", "other port", "sec-fetch cross-site"])
def test_case9_null_and_foreign_origins_cannot_change_anything(scored, headers):
    """`Origin: null` (a sandboxed iframe, a file:// page) was let through: a POST to a cue's
    regenerate route was accepted (202)."""
    app, client, job = scored
    path = app.state.manager.timeline_path(job["id"])
    before = path.read_bytes()
    cue = load_timeline(path).cues[0].id
    for method, url, kw in (("POST", f"/api/jobs/{job['id']}/cues/{cue}/regenerate", {}),
                            ("PATCH", f"/api/jobs/{job['id']}/cues/{cue}", {"json": {"mood": "tense"}}),
                            ("POST", f"/api/jobs/{job['id']}/hits", {"json": {"frame": 30}}),
                            ("DELETE", f"/api/jobs/{job['id']}", {})):
        r = client.request(method, url, headers=headers, **kw)
        assert r.status_code == 403 and "other web sites" in r.json()["error"], (method, url, r.text)
    assert path.read_bytes() == before and client.get(f"/api/jobs/{job['id']}").status_code == 200
    # the page's own origin is served as before
    r = client.get(f"/api/jobs/{job['id']}", headers={"Origin": BASE})
    assert r.status_code == 200


def test_a_server_on_the_network_needs_its_token_on_every_request(tmp_path):
    """With an access token (--host other than loopback), nothing is served without it: the printed
    address's ?token= is taken once and kept as a cookie (the address shown without it), or a header."""
    token = "s3cret-token"
    app = create_app(tmp_path, allowed_hosts=None, token=token)
    with TestClient(app, base_url="http://192.0.2.7:8765") as client:
        for url in ("/", "/api/config", "/api/jobs", "/static/app.js", "/api/jobs/0123456789abcdef/files/x.score.wav"):
            r = client.get(url)
            assert r.status_code == 401 and "access token" in r.json()["error"], url
        assert client.get("/api/jobs", params={"token": "wrong"}).status_code == 401
        assert client.get("/api/jobs", headers={"X-Tempscore-Token": "wrong"}).status_code == 401
        r = client.post("/api/jobs", content=b"x", headers={"X-Filename": "a.mp4"})
        assert r.status_code == 401 and not any((tmp_path / "uploads").iterdir())
        # the printed address: redirected to the page without the token, which is now a cookie
        r = client.get("/", params={"token": token}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/" and "HttpOnly" in r.headers["set-cookie"]
        assert token in r.headers["set-cookie"] and "SameSite=Strict" in r.headers["set-cookie"]
        assert client.get("/").status_code == 200 and client.get("/api/jobs").status_code == 200  # the cookie
        assert client.get("/static/app.js").status_code == 200
        other = TestClient(app, base_url="http://192.0.2.7:8765")  # another client (no cookie): header or bearer
        assert other.get("/api/jobs", headers={"X-Tempscore-Token": token}).status_code == 200
        assert other.get("/api/jobs", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert other.get("/api/jobs").status_code == 401


def test_ui_on_the_network_prints_an_address_with_a_token(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "tempscore.cli", "ui", "--host", "0.0.0.0", "--port", "0",
                             "--workdir", str(tmp_path / "wd")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("tempscore ui: open http://") and "?token=" in line, line
        url = line.split()[3]
        token = url.split("?token=")[1]
        port = int(url.split("?")[0].rstrip("/").rsplit(":", 1)[1])
        with http_client(f"http://127.0.0.1:{port}") as c:
            deadline = time.monotonic() + 20
            while True:
                try:
                    r = c.get("/api/config")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            assert r.status_code == 401
            assert c.get("/api/config", headers={"X-Tempscore-Token": token}).status_code == 200
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert "access token" in err and "Traceback" not in err, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(20)


# ---------------------------------------------------------------------------- markers, exports, the NLE strip
def test_markers_dropped_on_the_page_become_hits_and_a_bad_file_is_one_line(paused):
    app, client, job = paused
    mgr = app.state.manager
    jid = job["id"]
    tl = load_timeline(mgr.timeline_path(jid))
    from fractions import Fraction

    from tempscore.scoring.timecodes import frame_to_smpte

    fps = Fraction(tl.video.fps_num, tl.video.fps_den)
    frame = tl.cues[0].start_frame + (tl.cues[0].end_frame - tl.cues[0].start_frame) // 2
    tc = frame_to_smpte(frame, fps, start_timecode=tl.video.start_timecode)
    before = mgr.timeline_path(jid).read_bytes()
    # a foreign page cannot send markers; garbage is refused in one line naming the file and the line
    r = client.post(f"/api/jobs/{jid}/markers", content=b"timecode,name\n00:00:01:00,a\n", headers={
        "X-Filename": "m.csv", "Origin": "http://evil.example"})
    assert r.status_code == 403
    r = client.post(f"/api/jobs/{jid}/markers", content=b"timecode,name\n00:00:01:00,a\nbanana,b\n",
                    headers={"X-Filename": "editor markers.csv"})
    assert r.status_code == 400 and "editor markers.csv line 3" in r.json()["error"], r.text
    assert "\n" not in r.json()["error"] and "/tmp" not in r.json()["error"]
    assert mgr.timeline_path(jid).read_bytes() == before
    # a good file: kept in the timeline, planned again, reported per marker
    mgr.start()
    r = client.post(f"/api/jobs/{jid}/markers", content=f"timecode,name,weight\n{tc},door,must\n".encode(),
                    headers={"X-Filename": "m.csv"})
    assert r.status_code == 202 and r.json()["must"] == 1
    assert wait_job(client, jid, revision=2)["state"] == "done"
    tl = load_timeline(mgr.timeline_path(jid))
    assert [(m["frame"], m["weight"]) for m in tl.markers] == [(frame, "must")]
    assert tl.markers[0]["status"] in ("hit", "near", "miss") and tl.markers[0]["reason"]
    # exports, asked for from the page, land among the downloads
    assert client.post(f"/api/jobs/{jid}/exports", json={"bogus": True}).status_code == 400
    r = client.post(f"/api/jobs/{jid}/exports", json={"click": True, "cuesheet": True})
    assert r.status_code == 202
    assert wait_job(client, jid, revision=3)["state"] == "done"
    kinds = {f["kind"] for f in client.get(f"/api/jobs/{jid}/view").json()["files"]}
    assert {"click_wav", "cuesheet", "spotting"} <= kinds
    name = next(f["name"] for f in client.get(f"/api/jobs/{jid}/view").json()["files"] if f["kind"] == "cuesheet")
    assert client.get(f"/api/jobs/{jid}/files/{name}").text.startswith("cue,title,in,out")
    # the NLE strip: a thumbnail per shot, the production audio's and the score's waveforms
    strip = client.get(f"/api/jobs/{jid}/strip").json()
    shots = client.get(f"/api/jobs/{jid}/view").json()["analysis"]["shots"]
    assert len(strip["thumbs"]) == len(shots) and all(t["src"].startswith("data:image/jpeg;base64,")
                                                      for t in strip["thumbs"])
    from tempscore.ui.strip import PEAK_BINS

    assert len(strip["waves"]["score"]) == PEAK_BINS and max(strip["waves"]["score"]) > 0.05
    assert len(strip["waves"]["production"]) == PEAK_BINS
