"""Helpers for the tests of `tempscore ui`: a real uvicorn server in a thread, waiting for jobs, and
the first cue of an upload heard on the page in a browser (the test and ``bench/first_cue.py``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

T = TypeVar("T")


class LiveServer:
    """The app served by uvicorn on a free localhost port, in a background thread."""

    def __init__(self, app) -> None:
        import uvicorn

        from tempscore.ui.server import bind, url_of

        self.sock = bind("127.0.0.1", 0)
        self.url = url_of(self.sock).rstrip("/")
        self.port = self.sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def wait_job(client: httpx.Client, job_id: str, *, revision: int, timeout: float = 180.0) -> dict:
    """Poll ``GET /api/jobs/{id}`` until the job has finished run number ``revision`` and nothing is queued."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["revision"] >= revision and job["state"] in ("done", "failed"):
            return job
        time.sleep(0.1)
    raise TimeoutError(f"job {job_id} did not finish run {revision} in {timeout} s: {job}")


def upload(client: httpx.Client, path: Path, name: str | None = None) -> httpx.Response:
    return client.post("/api/jobs", content=Path(path).read_bytes(),
                       headers={"X-Filename": name or Path(path).name, "Content-Type": "application/octet-stream"})


def http_client(base_url: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=60)


def wait_for(predicate: Callable[[], T], timeout: float, what: str, *, every: float = 0.1) -> T:
    """``predicate()`` once it is truthy, polled every ``every`` s; TimeoutError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


#: What the page knows at a moment (one script, so the values are of the same moment).
PAGE_NOW = """
const S = window.tempscore.state, a = document.querySelector('#preview-audio'), v = document.querySelector('#player');
const j = S.jobs.find((x) => x.id === S.jobId) || null;
const b = document.querySelector('#preview-play');
return {now: Date.now(), state: j && j.state, revision: j && j.revision, preview: S.preview, times: S.previewTimes,
        button: !b.hidden, cues: document.querySelectorAll('#tl g.cue').length,
        cuts: document.querySelectorAll('#tl line.cut').length,
        view_cues: S.view && S.view.timeline ? S.view.timeline.cues.length : 0,
        view_cuts: S.view && S.view.analysis ? S.view.analysis.cuts.length : 0,
        audio: {t: a.currentTime, paused: a.paused, ready: a.readyState, src: a.currentSrc},
        video: {t: v.currentTime, paused: v.paused, ready: v.readyState, src: v.currentSrc}};
"""


def hear_first_cue(driver: Any, video: Path, *, timeout: float = 900.0,
                   while_running: Callable[[dict], None] | None = None) -> dict[str, Any]:
    """Upload ``video`` on the page (already loaded), press "Hear ... now" the moment it shows, and
    wait until the first cue plays with its music, then until the run is done. Times are the
    browser's clock from the upload: ``time_to_first_playable_cue_sec`` (the preview's audio
    element starts playing, the picture playing with it; that both go on in step is checked a
    second later) and
    ``whole_run_sec`` (the page shows the run done). ``while_running(page)`` is called once the
    cue plays and this run's shots and cues are drawn (e.g. to check them, then let the run finish)."""
    now = lambda: driver.execute_script(PAGE_NOW)  # noqa: E731 - one snapshot of the page
    t0 = driver.execute_script("return Date.now()")
    driver.find_element("css selector", "#file-input").send_keys(str(Path(video).absolute()))
    offered = wait_for(lambda: (p := now())["button"] and p, timeout, "the first cue to be offered", every=0.05)
    driver.find_element("css selector", "#preview-play").click()

    def playing() -> dict | None:
        p = now()
        ok = p["times"].get("playing") and not p["audio"]["paused"] and not p["video"]["paused"]
        return p if ok else None

    heard = wait_for(playing, 60, "the first cue to play with its music", every=0.02)
    drawn = wait_for(lambda: (p := now())["cues"] and p["times"].get("drawn") and p, 60, "this run's shots and cues")
    time.sleep(max(0.0, 1.0 - (drawn["now"] - heard["now"]) / 1000))  # both keep playing, in step
    later = now()
    # stopped once heard: a picture left playing to the end would take the render's CPU (and lengthen the run)
    driver.execute_script("document.querySelector('#player').pause()")
    if while_running is not None:
        while_running({"offered": offered, "heard": heard, "drawn": drawn, "later": later})
    done = wait_for(lambda: (p := now())["state"] in ("done", "failed") and p, timeout, "the run to finish", every=0.05)
    sec = lambda ms: round((ms - t0) / 1000, 3)  # noqa: E731
    first = sec(heard["times"]["playing"])
    whole = sec(done["now"])
    return {"time_to_first_playable_cue_sec": first, "whole_run_sec": whole, "ratio": round(first / whole, 4),
            "upload_started_ms": t0,
            "offered_sec": sec(offered["now"]), "preview_seen_sec": sec(offered["times"]["seen"]),
            "audio_ready_sec": sec(heard["times"]["ready"]) if heard["times"].get("ready") else None,
            "shots_and_cues_drawn_sec": sec(drawn["times"]["drawn"]),
            "state_when_heard": heard["state"], "state_when_drawn": drawn["state"], "final_state": done["state"],
            "preview": offered["preview"], "cues_drawn": drawn["cues"], "cuts_drawn": drawn["cuts"],
            "view": {"cues": drawn["view_cues"], "cuts": drawn["view_cuts"]},
            "after_1s": {"audio_t": later["audio"]["t"], "video_t": later["video"]["t"],
                         "audio_paused": later["audio"]["paused"], "state": later["state"]}}


def with_floor(got: dict[str, Any], job: dict[str, Any]) -> dict[str, Any]:
    """``got`` (:func:`hear_first_cue`) with what comes before any first cue: the upload and the
    queue (to the job's ``started``, on the same machine's clock), the analysis, plan and compose
    (the job's stage timings); ``floor_sec``, its share of the whole run, and what the first cue
    itself and the page took on top (``preview_and_page_sec``)."""
    t = job["timings_sec"]
    upload = round(job["started"] - got["upload_started_ms"] / 1000, 3)
    floor = round(upload + t.get("analyze", 0) + t.get("plan", 0) + t["compose"], 3)
    return {**got, "job_timings_sec": t, "job_preview_ready_sec": job["preview"]["ready_sec"],
            "upload_and_queue_sec": upload, "floor_sec": floor, "floor_ratio": round(floor / got["whole_run_sec"], 4),
            "preview_and_page_sec": round(got["time_to_first_playable_cue_sec"] - floor, 3)}
