"""Helpers for the tests of `tempscore ui`: a real uvicorn server in a thread, waiting for jobs."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx


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
