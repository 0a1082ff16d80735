"""The spotting page's web server: a Starlette app over :class:`~tempscore.ui.jobs.JobManager`.

Routes (JSON unless said otherwise; errors are ``{"error": "one line"}`` with the HTTP status):

=======  =====================================  ===================================================
GET      ``/``                                  the page (static HTML/JS/CSS under ``/static``)
GET      ``/api/config``                        upload limit, accepted types, moods, keys, instruments
GET      ``/api/jobs``                          every job with its state and progress
POST     ``/api/jobs``                          upload: the raw file as the body, its name in
                                                ``X-Filename``; 201 with the queued job
GET      ``/api/jobs/{id}``                     one job
DELETE   ``/api/jobs/{id}``                     remove a job and its files
GET      ``/api/jobs/{id}/view``                timeline, shots, cuts, bar lines, files, variants
PATCH    ``/api/jobs/{id}/cues/{cue}``          ``{mood, key, intensity, locked, tacet, edges_locked}``
POST     ``/api/jobs/{id}/cues/{cue}/edge``     ``{edge: "start"|"end", frame}``: move a cue edge
POST     ``/api/jobs/{id}/cues/{cue}/regenerate``  new notes for that cue (a new seed)
POST     ``/api/jobs/{id}/cues/{cue}/variants`` ``{n}``: alternatives with audition WAVs
POST     ``/api/jobs/{id}/cues/{cue}/pick``     ``{variant}``: keep an alternative
POST     ``/api/jobs/{id}/hits``                ``{frame}``: add a hit point
DELETE   ``/api/jobs/{id}/hits/{frame}``        remove a hit point
GET      ``/api/jobs/{id}/files/{name}``        an output (``?download=1`` as an attachment)
GET      ``/api/jobs/{id}/variants/{name}``     a variant's audition WAV or MIDI
GET      ``/api/jobs/{id}/preview/{name}``      a new upload's first cue, heard while the rest renders
=======  =====================================  ===================================================

Every edit writes ``<stem>.timeline.json`` as a user would by hand and queues plan / compose /
render for the job, so the page and the command line share one source of truth.

Safety: bound to localhost by default; requests whose ``Host`` is not the server's own name are
refused (DNS rebinding) and so are state-changing requests from any origin but the page's own
(``Origin: null`` too); a server on the network (``--host``) needs an access token on every
request; uploads are limited in size and checked by content; file routes serve only the job's
own outputs by name.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import __version__
from ..errors import InvalidSettings, TempscoreError
from . import timeline_edits as edits
from .guard import GuardMiddleware, error
from .jobs import PREVIEW_AUDIO, PREVIEW_DIR, JobBusy, JobManager, JobNotFound, JobSettings
from .uploads import VIDEO_SUFFIXES, UploadRejected, check_content, check_name, safe_stem
from .views import AnalysisCache, job_strip, job_view, output_kind, probe_upload, read_job_markers, safe_file

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from ..contracts import Timeline

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
DEFAULT_MAX_UPLOAD_BYTES = 16 * 1024**3  # a 2-hour H.264 reel at ~15 Mbit/s
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
#: Key names offered on the page (the usual spelling of each of the 24 keys).
KEY_NAMES = {"major": ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"),
             "minor": ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B")}
VARIANT_NAME = re.compile(r"[0-9A-Za-z]{1,16}\.v\d{1,3}\.(wav|mid)")


async def _json_body(request: Request) -> dict[str, Any]:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise UploadRejected(415, "send the edit as JSON (Content-Type: application/json)")
    try:
        body = await request.json()
    except ValueError:
        raise UploadRejected(400, "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise UploadRejected(400, "the request body must be a JSON object")
    return body


#: What the page may change on a cue (``PATCH .../cues/{cue}``).
CUE_FIELDS = frozenset({"mood", "key", "intensity", "locked", "tacet", "edges_locked", "tempo_bpm", "beats_per_bar",
                        "recalls", "orchestration", "title"})
EXPORT_NAMES = ("click", "streamers", "sessions", "notation", "cuesheet")
RESCORE = {"kind": "rescore", "plan": True}
RENDER_AGAIN = {"kind": "rescore", "plan": False}


class _Handlers:
    """The page's request handlers over one :class:`JobManager` (the app wires them to routes)."""

    def __init__(self, mgr: JobManager, *, max_upload_bytes: int) -> None:
        self.mgr = mgr
        self.max_upload_bytes = max_upload_bytes
        self.analyses = AnalysisCache()

    # ------------------------------------------------------------------ pages and config
    async def index(self, request: Request) -> Response:
        return FileResponse(STATIC_DIR / "index.html", headers={"cache-control": "no-cache"})

    async def config(self, request: Request) -> Response:
        from ..harmony import PITCH_CLASSES
        from ..scoring.edits import INSTRUMENT_WORDS, MOODS

        keys = [f"{pc} {mode}" for mode, names in KEY_NAMES.items() for pc in names if pc in PITCH_CLASSES]
        return JSONResponse({"version": __version__, "max_upload_bytes": self.max_upload_bytes,
                             "accept": list(VIDEO_SUFFIXES), "moods": list(MOODS), "keys": keys,
                             "instruments": [w for w in INSTRUMENT_WORDS if w != "horns"],
                             "min_cue_sec": edits.MIN_CUE_SEC, "workdir": str(self.mgr.root)})

    async def list_jobs(self, request: Request) -> Response:
        return JSONResponse({"jobs": self.mgr.list()})

    async def get_job(self, request: Request) -> Response:
        return JSONResponse(self.mgr.get(request.path_params["job_id"]))

    async def delete_job(self, request: Request) -> Response:
        await run_in_threadpool(self.mgr.delete, request.path_params["job_id"])
        return JSONResponse({"deleted": request.path_params["job_id"]})

    # ------------------------------------------------------------------ upload
    async def upload(self, request: Request) -> Response:
        name = unquote(request.headers.get("x-filename", "")).strip()
        if not name:
            return error(400, "name the file in the X-Filename header (the page does this for you)")
        suffix = check_name(name)
        declared = request.headers.get("content-length")
        declared_bytes = int(declared) if declared is not None and declared.isdigit() else None
        if (refusal := self._refuse_size(name, declared_bytes)) is not None:
            return refusal
        part = self.mgr.uploads_dir / f"{secrets.token_hex(8)}{suffix}"
        size = 0
        try:
            size = await self._receive(request, part, name, declared_bytes)
            await run_in_threadpool(check_content, part, name)
            info = await run_in_threadpool(probe_upload, part, name)
            job = await run_in_threadpool(lambda: self.mgr.create(part, name=name, stem=safe_stem(name),
                                                                  suffix=suffix, info=info))
            log.info("job %s: %s (%d bytes) queued", job["id"], name, size)
            return JSONResponse(job, status_code=201)
        except ClientDisconnect:
            log.info("upload of %s cut off by the browser", name)
            return error(400, f"{name}: the upload was cut off; try again")
        finally:
            with contextlib.suppress(OSError):
                part.unlink()

    def _refuse_size(self, name: str, declared_bytes: int | None) -> Response | None:
        """Refuse an upload by its declared size: over the limit, or more than the disk can hold."""
        if declared_bytes is None:
            return None
        limit = self.max_upload_bytes
        if declared_bytes > limit:
            return error(413, f"{name}: {declared_bytes / 1e9:.2f} GB is over the upload limit of "
                              f"{limit / 1e9:.2f} GB; start the server with a larger --max-upload-mb")
        free = shutil.disk_usage(self.mgr.root).free
        if declared_bytes + 100e6 > free:  # the video, and room for its outputs
            return error(507, f"{name}: not enough free disk space in {self.mgr.root} for it and its outputs "
                              f"({free / 1e9:.1f} GB free); free space or use another --workdir")
        return None

    async def _receive(self, request: Request, part: Path, name: str, declared_bytes: int | None) -> int:
        """Stream the body into ``part`` within the upload limit; the number of bytes received."""
        size = 0
        with part.open("wb") as f:
            async for chunk in request.stream():
                size += len(chunk)
                if size > self.max_upload_bytes:
                    raise UploadRejected(413, f"{name}: over the upload limit of {self.max_upload_bytes / 1e9:.2f} "
                                              f"GB; start the server with a larger --max-upload-mb")
                f.write(chunk)
        if declared_bytes is not None and size != declared_bytes:
            raise UploadRejected(400, f"{name}: the upload stopped after {size} of {declared_bytes} bytes; try again")
        return size

    # ------------------------------------------------------------------ the job's page data
    async def view(self, request: Request) -> Response:
        job = self.mgr.get(request.path_params["job_id"])
        return JSONResponse(await run_in_threadpool(job_view, self.mgr, self.analyses, job))

    async def strip(self, request: Request) -> Response:
        """A thumbnail per shot and the waveforms of the production audio and the score (cached)."""
        job = self.mgr.get(request.path_params["job_id"])
        return JSONResponse(await run_in_threadpool(job_strip, self.mgr, self.analyses, job))

    # ------------------------------------------------------------------ edits
    async def _edit(self, job_id: str, fn: Callable[[Timeline], Any], task: dict[str, Any]) -> Any:
        """Apply ``fn`` to the job's timeline as a user would by hand, and queue ``task`` for the job."""
        from ..api.files import load_timeline

        def action(path: Path) -> Any:
            tl = load_timeline(path)
            result = fn(tl)
            edits.save_timeline(tl, path)
            return result

        return await run_in_threadpool(self.mgr.change, job_id, action, task)

    def _accepted(self, job_id: str, **fields: Any) -> Response:
        return JSONResponse({**fields, "job": self.mgr.get(job_id)}, status_code=202)

    async def patch_cue(self, request: Request) -> Response:
        job_id, cue_id = request.path_params["job_id"], request.path_params["cue_id"]
        body = await _json_body(request)
        unknown = sorted(set(body) - CUE_FIELDS)
        if unknown:
            return error(400, f"cannot change {', '.join(unknown)}; a cue's editable fields are "
                              f"{', '.join(sorted(CUE_FIELDS))}")
        changed = await self._edit(job_id, lambda tl: edits.set_cue_fields(tl, cue_id, **body), RESCORE)
        return self._accepted(job_id, changed=changed)

    async def move_edge(self, request: Request) -> Response:
        job_id, cue_id = request.path_params["job_id"], request.path_params["cue_id"]
        body = await _json_body(request)
        pair = await self._edit(job_id, lambda tl: edits.move_cue_edge(tl, cue_id, body.get("edge"),
                                                                       body.get("frame")), RESCORE)
        return self._accepted(job_id, cues=list(pair))

    async def regenerate(self, request: Request) -> Response:
        job_id, cue_id = request.path_params["job_id"], request.path_params["cue_id"]
        seed = await self._edit(job_id, lambda tl: edits.next_seed(tl, cue_id, run_seed=self.mgr.settings.seed),
                                RENDER_AGAIN)
        return self._accepted(job_id, seed=seed)

    async def variants(self, request: Request) -> Response:
        job_id, cue_id = request.path_params["job_id"], request.path_params["cue_id"]
        body = await _json_body(request)
        n = body.get("n", 3)
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 8:
            return error(400, f"n {n!r}: ask for 1 to 8 variants")

        def check(tl: Timeline) -> None:
            cue = tl.cues[edits.cue_index(tl, cue_id)]
            if cue.locked or cue.tacet:
                raise InvalidSettings(f"cue {cue.id} is {'locked' if cue.locked else 'tacet'}; "
                                      f"unlock it (or give it music) to audition variants")

        await self._edit(job_id, check, {"kind": "variants", "cue": cue_id, "n": n})
        return self._accepted(job_id)

    async def pick(self, request: Request) -> Response:
        from ..api import pick as run_pick

        job_id, cue_id = request.path_params["job_id"], request.path_params["cue_id"]
        body = await _json_body(request)
        k = body.get("variant")
        if isinstance(k, bool) or not isinstance(k, int):
            return error(400, f"variant {k!r} must be a variant number")
        res = await run_in_threadpool(self.mgr.change, job_id, lambda path: run_pick(path, cue_id, k), RENDER_AGAIN)
        return self._accepted(job_id, seed=res.summary["seed"])

    async def add_hit(self, request: Request) -> Response:
        job_id = request.path_params["job_id"]
        body = await _json_body(request)
        hit = await self._edit(job_id, lambda tl: edits.add_hit(tl, body.get("frame")), RESCORE)
        return self._accepted(job_id, hit={"frame": hit.frame, "cue_id": hit.cue_id})

    async def remove_hit(self, request: Request) -> Response:
        job_id, frame = request.path_params["job_id"], request.path_params["frame"]
        await self._edit(job_id, lambda tl: edits.remove_hit(tl, frame), RESCORE)
        return self._accepted(job_id, removed=frame)

    # ------------------------------------------------------------------ markers and exports
    async def markers(self, request: Request) -> Response:
        """The editor's marker export, sent as the request's body (its name in ``X-Filename``): read
        against the job's picture, kept in the timeline (later re-plans keep them) and planned again."""
        from ..scoring.markers import MAX_MARKER_BYTES

        job_id = request.path_params["job_id"]
        job = self.mgr.get(job_id)
        name = Path(request.headers.get("x-filename", "markers.txt")).name[:120] or "markers.txt"
        body = await request.body()
        if len(body) > MAX_MARKER_BYTES:
            return error(413, f"{name}: larger than any marker export ({MAX_MARKER_BYTES // 2**20} MB at most)")
        marker_defs = await run_in_threadpool(read_job_markers, self.mgr.job_dir(job_id), job, name, body)

        def keep(tl: Timeline) -> int:
            tl.markers = marker_defs
            return len(marker_defs)

        n = await self._edit(job_id, keep, RESCORE)
        return self._accepted(job_id, markers=n, must=sum(m["weight"] == "must" for m in marker_defs))

    async def exports(self, request: Request) -> Response:
        """Write the exports asked for (click, streamers, sessions, notation, cuesheet) with the job's
        next render: they appear among the downloads."""
        job_id = request.path_params["job_id"]
        body = await _json_body(request)
        unknown = sorted(set(body) - set(EXPORT_NAMES))
        if unknown or not all(isinstance(v, bool) for v in body.values()):
            return error(400, f"exports: give {', '.join(EXPORT_NAMES)} as true or false")
        wanted = {k: True for k, v in body.items() if v}
        if not wanted:
            return error(400, "exports: ask for at least one of " + ", ".join(EXPORT_NAMES))
        await run_in_threadpool(self.mgr.change, job_id, lambda _p: None, {**RENDER_AGAIN, "exports": wanted})
        return self._accepted(job_id, exports=sorted(wanted))

    # ------------------------------------------------------------------ files
    async def job_file(self, request: Request) -> Response:
        job_id, name = request.path_params["job_id"], request.path_params["name"]
        job = self.mgr.get(job_id)
        if name != job["video"] and output_kind(name, job["stem"]) is None:
            return error(404, f"{name}: not an output of this job")
        p = safe_file(self.mgr.job_dir(job_id), name)
        if p is None:
            return error(404, f"{name}: not there (yet)")
        return _send(p, request)

    async def variant_file(self, request: Request) -> Response:
        job_id, name = request.path_params["job_id"], request.path_params["name"]
        job = self.mgr.get(job_id)
        if not VARIANT_NAME.fullmatch(name):
            return error(404, f"{name}: not a variant file")
        p = safe_file(self.mgr.job_dir(job_id) / f"{job['stem']}.variants", name)
        if p is None:
            return error(404, f"{name}: not there (yet)")
        return _send(p, request)

    async def preview_file(self, request: Request) -> Response:
        """The running job's first cue, heard while the rest renders (see ``JobManager._first_cue_to``)."""
        job_id, name = request.path_params["job_id"], request.path_params["name"]
        self.mgr.get(job_id)
        p = safe_file(self.mgr.job_dir(job_id) / PREVIEW_DIR, name) if name == PREVIEW_AUDIO else None
        if p is None:
            return error(404, f"{name}: no first cue to hear (yet)")
        return _send(p, request)

    # ------------------------------------------------------------------ errors
    async def on_upload_rejected(self, request: Request, exc: UploadRejected) -> Response:
        return error(exc.status, str(exc))

    async def on_user_error(self, request: Request, exc: TempscoreError) -> Response:
        msg = str(exc).replace(str(self.mgr.root) + "/", "")
        msg = re.sub(r"jobs/[0-9a-f]{16}/", "", msg)
        return error(400, msg)

    async def on_not_found(self, request: Request, exc: JobNotFound) -> Response:
        return error(404, "no such job (it may have been deleted); pick one from the list or upload the video again")

    async def on_busy(self, request: Request, exc: JobBusy) -> Response:
        return error(409, str(exc))

    async def on_http(self, request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        return error(status, {404: "not found", 405: "method not allowed"}.get(status, str(getattr(exc, "detail", exc))))


def _send(p: Path, request: Request) -> Response:
    attach = request.query_params.get("download") == "1"
    return FileResponse(p, filename=p.name if attach else None,
                        content_disposition_type="attachment" if attach else "inline",
                        headers={"cache-control": "no-cache"})


def _routes(h: _Handlers) -> list[Route | Mount]:
    job = "/api/jobs/{job_id}"
    return [
        Route("/", h.index),
        Route("/api/config", h.config),
        Route("/api/jobs", h.list_jobs, methods=["GET"]),
        Route("/api/jobs", h.upload, methods=["POST"]),
        Route(job, h.get_job, methods=["GET"]),
        Route(job, h.delete_job, methods=["DELETE"]),
        Route(job + "/view", h.view),
        Route(job + "/cues/{cue_id}", h.patch_cue, methods=["PATCH"]),
        Route(job + "/cues/{cue_id}/edge", h.move_edge, methods=["POST"]),
        Route(job + "/cues/{cue_id}/regenerate", h.regenerate, methods=["POST"]),
        Route(job + "/cues/{cue_id}/variants", h.variants, methods=["POST"]),
        Route(job + "/cues/{cue_id}/pick", h.pick, methods=["POST"]),
        Route(job + "/hits", h.add_hit, methods=["POST"]),
        Route(job + "/hits/{frame:int}", h.remove_hit, methods=["DELETE"]),
        Route(job + "/markers", h.markers, methods=["POST"]),
        Route(job + "/exports", h.exports, methods=["POST"]),
        Route(job + "/strip", h.strip, methods=["GET"]),
        Route(job + "/files/{name}", h.job_file, methods=["GET", "HEAD"]),
        Route(job + "/variants/{name}", h.variant_file, methods=["GET", "HEAD"]),
        Route(job + "/preview/{name}", h.preview_file, methods=["GET", "HEAD"]),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]


# ---------------------------------------------------------------------------- the app
def create_app(workdir: Path, *, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
               allowed_hosts: tuple[str, ...] | None = LOOPBACK_HOSTS, workers: int = 1,
               settings: JobSettings | None = None, manager: JobManager | None = None,
               token: str | None = None) -> Starlette:
    """Build the spotting page's app.

    Parameters
    ----------
    workdir : Path
        Where jobs live (``jobs/<id>/``); reused across restarts.
    max_upload_bytes : int
        Larger uploads are refused with 413.
    allowed_hosts : tuple of str or None
        Host names the server answers to (None: any, for a server bound to the network).
    manager : JobManager, optional
        Jobs to serve (default: a new manager of ``workdir``); its threads start with the app.
    token : str, optional
        An access token every request must carry (a server on the network; see :class:`GuardMiddleware`).
    """
    from starlette.exceptions import HTTPException

    mgr = manager or JobManager(workdir, workers=workers, settings=settings)
    h = _Handlers(mgr, max_upload_bytes=max_upload_bytes)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        mgr.start()
        try:
            yield
        finally:
            mgr.close(timeout=0.5)

    app = Starlette(routes=_routes(h), lifespan=lifespan, exception_handlers={
        UploadRejected: h.on_upload_rejected, TempscoreError: h.on_user_error, JobNotFound: h.on_not_found,
        JobBusy: h.on_busy, HTTPException: h.on_http})
    app.state.manager = mgr
    app.add_middleware(GuardMiddleware, allowed_hosts=allowed_hosts, token=token)
    return app
