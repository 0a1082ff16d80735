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
import json
import logging
import re
import secrets
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import __version__
from ..errors import InvalidSettings, TempscoreError
from ..project import Project
from . import timeline_edits as edits
from .jobs import JobBusy, JobManager, JobNotFound, JobSettings, cue_signature
from .uploads import VIDEO_SUFFIXES, UploadRejected, check_content, check_name, safe_stem

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
DEFAULT_MAX_UPLOAD_BYTES = 16 * 1024**3  # a 2-hour H.264 reel at ~15 Mbit/s
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
#: Outputs a job may serve, after its stem (nothing else in the folder is reachable).
OUTPUT_SUFFIXES = {
    "video": re.compile(r"\.scored\.(mp4|mov|mkv|m4v)"), "midi": re.compile(r"\.score\.mid"),
    "wav": re.compile(r"\.score\.wav"), "stem": re.compile(r"\.stem-[a-z]+\.wav"),
    "sync_csv": re.compile(r"\.sync\.csv"), "sync_json": re.compile(r"\.sync\.json"), "edl": re.compile(r"\.edl"),
    "otio": re.compile(r"\.otio"), "timeline": re.compile(r"\.timeline\.json"),
    "timeline_png": re.compile(r"\.timeline\.png"), "analysis": re.compile(r"\.analysis\.json"),
}
FILE_LABELS = {"video": "Scored video", "midi": "MIDI score", "wav": "Score WAV", "stem": "Stem",
               "sync_csv": "Sync points CSV", "sync_json": "Sync points JSON", "edl": "EDL (CMX 3600)",
               "otio": "OpenTimelineIO", "timeline": "timeline.json", "timeline_png": "Timeline picture",
               "analysis": "analysis.json", "source": "Uploaded video"}
#: Key names offered on the page (the usual spelling of each of the 24 keys).
KEY_NAMES = {"major": ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"),
             "minor": ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B")}
VARIANT_NAME = re.compile(r"[0-9A-Za-z]{1,16}\.v\d{1,3}\.(wav|mid)")
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}")


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


# ---------------------------------------------------------------------------- middleware
class GuardMiddleware:
    """Refuse a foreign ``Host`` (DNS rebinding), state-changing requests from any origin but the
    page's own (``Origin: null`` included: a sandboxed frame, a ``file://`` page) and, with an
    access ``token`` (a server on the network), every request without it; add headers that keep
    the page from being framed or its files sniffed as another type.

    The token is taken from the ``token`` query parameter (the address ``tempscore ui`` prints;
    the answer sets it as a cookie, and a page load is redirected to the address without it), the
    cookie, or an ``X-Tempscore-Token`` / ``Authorization: Bearer`` header.
    """

    def __init__(self, app, allowed_hosts: tuple[str, ...] | None, token: str | None = None) -> None:  # noqa: ANN001
        self.app = app
        self.allowed = None if allowed_hosts is None else {h.lower() for h in allowed_hosts}
        self.token = token

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        hostname = urlsplit(f"//{host}").hostname or ""
        if self.allowed is not None and hostname.lower() not in self.allowed and f"[{hostname}]" not in self.allowed:
            await error(421, f"this server answers to {', '.join(sorted(self.allowed))} only")(scope, receive, send)
            return
        if scope["method"] not in ("GET", "HEAD", "OPTIONS") and (refusal := _cross_site(headers, host)):
            await error(403, refusal)(scope, receive, send)
            return
        set_cookie = b""
        if self.token is not None:
            given, from_query = _token_given(scope, headers, self.cookie_name(scope))
            if given is None or not secrets.compare_digest(given.encode(), self.token.encode()):
                await error(401, "this server needs its access token: open the address `tempscore ui` printed "
                                 "(.../?token=...), or send it in an X-Tempscore-Token header")(scope, receive, send)
                return
            if from_query:  # once: kept as a cookie for this server (its port), the address shown without it
                set_cookie = (f"{self.cookie_name(scope)}={self.token}; Path=/; HttpOnly; SameSite=Strict"
                              ).encode("latin-1")
                if scope["method"] in ("GET", "HEAD"):
                    await _redirect_without_token(scope, set_cookie)(scope, receive, send)
                    return

        async def send_with_headers(message) -> None:  # noqa: ANN001
            if message["type"] == "http.response.start":
                extra = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                         (b"referrer-policy", b"no-referrer"),
                         (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; "
                                                      b"style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")]
                if set_cookie:
                    extra.append((b"set-cookie", set_cookie))
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)

    @staticmethod
    def cookie_name(scope) -> str:  # noqa: ANN001
        """Per port: two servers on one machine keep their own tokens (cookies do not tell ports apart)."""
        server = scope.get("server") or ("", 0)
        return f"tempscore_token_{server[1] or 0}"


def _cross_site(headers: dict[str, str], host: str) -> str | None:
    """Why a state-changing request comes from another site (None: it does not, as far as the
    browser says). ``Origin: null`` (a sandboxed frame, a file:// page, a redirect) is another site."""
    origin = headers.get("origin")
    if origin is not None:
        parts = urlsplit(origin)
        if origin.strip().lower() == "null" or parts.scheme not in ("http", "https") \
                or parts.netloc.lower() != host.lower():
            return "requests from other web sites are refused"
    if headers.get("sec-fetch-site") in ("cross-site", "same-site"):
        return "requests from other web sites are refused"
    return None


def _token_given(scope, headers: dict[str, str], cookie_name: str) -> tuple[str | None, bool]:  # noqa: ANN001
    """The access token a request carries, and whether it came in the address (``?token=``)."""
    from urllib.parse import parse_qs

    query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
    if query:
        return query[-1], True
    if headers.get("x-tempscore-token"):
        return headers["x-tempscore-token"], False
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip(), False
    from http.cookies import CookieError, SimpleCookie

    jar = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except CookieError:
        return None, False
    return (jar[cookie_name].value if cookie_name in jar else None), False


def _redirect_without_token(scope, set_cookie: bytes) -> Response:  # noqa: ANN001
    from urllib.parse import parse_qsl, urlencode

    rest = [(k, v) for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
            if k != "token"]
    target = scope.get("path", "/") + (f"?{urlencode(rest)}" if rest else "")
    return Response(status_code=303, headers={"location": target, "set-cookie": set_cookie.decode("latin-1"),
                                              "cache-control": "no-store"})


# ---------------------------------------------------------------------------- helpers
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


def _output_kind(name: str, stem: str) -> str | None:
    if not name.startswith(stem + "."):
        return None
    rest = name[len(stem):]
    return next((k for k, rx in OUTPUT_SUFFIXES.items() if rx.fullmatch(rest)), None)


def _safe_file(folder: Path, name: str) -> Path | None:
    """``folder/name`` when it is a regular file directly inside ``folder`` (no links, no ``..``)."""
    if not SAFE_NAME.fullmatch(name) or ".." in name:
        return None
    p = folder / name
    if p.is_symlink() or not p.is_file() or p.resolve().parent != folder.resolve():
        return None
    return p


def _grid(timeline: dict[str, Any]) -> dict[str, list]:
    """Bar lines (``[time_sec, bar]``) and the other beats (seconds) from the timeline's tempo map.

    The beat grid restarts at every bar-line event (a cue start, a meter change), as the MIDI
    file's does, so a partial bar before it does not shift the next cue's beats.
    """
    from ..contracts import TempoEvent
    from ..scoring.tempo import TempoMap

    fields = {"time_sec", "bpm", "beats_per_bar", "bar", "bar_line"}
    tmap = TempoMap([TempoEvent(**{k: v for k, v in e.items() if k in fields}) for e in timeline["tempo_map"]])
    dur = float(timeline["video"]["duration_sec"])
    starts = [e.time_sec for e in tmap.events if e.bar_line] + [dur]
    bars: list[list[float]] = []
    beats: list[float] = []
    for t0, t1 in zip(starts[:-1], starts[1:]):
        b, b_end = tmap.time_to_beats(t0), tmap.time_to_beats(min(t1, dur))
        while b < b_end - 1e-6:
            t = tmap.beats_to_time(b)
            bar, beat = tmap.bar_beat(t)
            if abs(beat - 1) < 1e-6:
                bars.append([round(t, 4), bar])
            else:
                beats.append(round(t, 4))
            b += 1.0
    return {"bars": bars, "beats": beats}


def _timecode(video: dict[str, Any]) -> dict[str, Any]:
    """How the page labels frames for this video (same rules as scoring/timecodes.py): SMPTE or
    frame-count timecode (``rate`` frames per timecode second, ``drop``, ``start_frames``), or, at
    a rate with no whole number of frames per second, the frame's time (``seconds``: ``fps``,
    ``start_sec``, ``decimals``)."""
    from fractions import Fraction

    from ..scoring.timecodes import start_offset_frames, start_seconds, timecode_format

    fps = Fraction(int(video["fps_num"]), int(video["fps_den"]))
    fmt = timecode_format(fps)
    start = video.get("start_timecode") or "00:00:00:00"
    if not fmt.counts_frames:
        return {"seconds": True, "fps": float(fps), "start_sec": float(start_seconds(start, fps)),
                "decimals": fmt.decimals}
    return {"rate": fmt.nominal, "drop": fmt.drop_frame, "start_frames": start_offset_frames(start, fps)}


class _AnalysisCache:
    """The picture facts the page draws (shots, cuts, accents, speech), read once per file version."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}

    def get(self, path: Path) -> dict[str, Any] | None:
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return None
        hit = self._cache.get(str(path))
        if hit and hit[0] == mtime:
            return hit[1]
        try:
            a = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        shot_keys = ("start_frame", "end_frame", "start_sec", "end_sec", "valence", "arousal", "emotion_label")
        slim = {"video": {k: a["video"].get(k) for k in ("fps_num", "fps_den", "frame_count", "duration_sec", "width",
                                                         "height", "start_timecode")},
                "cuts": [{k: c.get(k) for k in ("frame", "time_sec", "kind", "strength")} for c in a.get("cuts", [])],
                "shots": [{k: s.get(k) for k in shot_keys} for s in a.get("shots", [])],
                "accents": a.get("accents", []), "speech": (a.get("audio") or {}).get("speech", []),
                "emotion_source": a.get("emotion_source", "")}
        self._cache[str(path)] = (mtime, slim)
        return slim


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
    mgr = manager or JobManager(workdir, workers=workers, settings=settings)
    analyses = _AnalysisCache()

    # ------------------------------------------------------------------ pages and config
    async def index(request: Request) -> Response:
        return FileResponse(STATIC_DIR / "index.html", headers={"cache-control": "no-cache"})

    async def config(request: Request) -> Response:
        from ..harmony import PITCH_CLASSES
        from ..scoring.edits import INSTRUMENT_WORDS, MOODS

        keys = [f"{pc} {mode}" for mode, names in KEY_NAMES.items() for pc in names if pc in PITCH_CLASSES]
        return JSONResponse({"version": __version__, "max_upload_bytes": max_upload_bytes,
                             "accept": list(VIDEO_SUFFIXES), "moods": list(MOODS), "keys": keys,
                             "instruments": [w for w in INSTRUMENT_WORDS if w != "horns"],
                             "min_cue_sec": edits.MIN_CUE_SEC, "workdir": str(mgr.root)})

    async def list_jobs(request: Request) -> Response:
        return JSONResponse({"jobs": mgr.list()})

    async def get_job(request: Request) -> Response:
        return JSONResponse(mgr.get(request.path_params["job_id"]))

    async def delete_job(request: Request) -> Response:
        await run_in_threadpool(mgr.delete, request.path_params["job_id"])
        return JSONResponse({"deleted": request.path_params["job_id"]})

    # ------------------------------------------------------------------ upload
    async def upload(request: Request) -> Response:
        name = unquote(request.headers.get("x-filename", "")).strip()
        if not name:
            return error(400, "name the file in the X-Filename header (the page does this for you)")
        suffix = check_name(name)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_upload_bytes:
            return error(413, f"{name}: {int(declared) / 1e9:.2f} GB is over the upload limit of "
                              f"{max_upload_bytes / 1e9:.2f} GB; start the server with a larger --max-upload-mb")
        if declared is not None and declared.isdigit():
            free = shutil.disk_usage(mgr.root).free
            if int(declared) + 100e6 > free:  # the video, and room for its outputs
                return error(507, f"{name}: not enough free disk space in {mgr.root} for it and its outputs "
                                  f"({free / 1e9:.1f} GB free); free space or use another --workdir")
        part = mgr.uploads_dir / f"{secrets.token_hex(8)}{suffix}"
        size = 0
        try:
            with part.open("wb") as f:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > max_upload_bytes:
                        raise UploadRejected(413, f"{name}: over the upload limit of {max_upload_bytes / 1e9:.2f} "
                                                  f"GB; start the server with a larger --max-upload-mb")
                    f.write(chunk)
            if declared is not None and declared.isdigit() and size != int(declared):
                raise UploadRejected(400, f"{name}: the upload stopped after {size} of {declared} bytes; try again")
            await run_in_threadpool(check_content, part, name)
            info = await run_in_threadpool(_probe, part, name)
            job = await run_in_threadpool(lambda: mgr.create(part, name=name, stem=safe_stem(name), suffix=suffix,
                                                             info=info))
            log.info("job %s: %s (%d bytes) queued", job["id"], name, size)
            return JSONResponse(job, status_code=201)
        except ClientDisconnect:
            log.info("upload of %s cut off by the browser after %d bytes", name, size)
            return error(400, f"{name}: the upload was cut off; try again")
        finally:
            with contextlib.suppress(OSError):
                part.unlink()

    def _probe(path: Path, name: str) -> dict[str, Any]:
        from ..vision import probe

        try:
            info = probe(path)
        except TempscoreError as exc:
            raise UploadRejected(422, str(exc).replace(str(path), name)) from None
        return {"fps": f"{info.fps_num}/{info.fps_den}", "duration_sec": info.duration_sec, "width": info.width,
                "height": info.height, "frame_count": info.frame_count, "audio_streams": info.audio_streams,
                "codec": info.codec}

    # ------------------------------------------------------------------ the job's page data
    async def view(request: Request) -> Response:
        job_id = request.path_params["job_id"]
        job = mgr.get(job_id)
        return JSONResponse(await run_in_threadpool(_view, job))

    def _view(job: dict[str, Any]) -> dict[str, Any]:
        d = mgr.job_dir(job["id"])
        stem = job["stem"]
        project = Project(d, stem)
        out: dict[str, Any] = {"job": job, "timeline": None, "analysis": analyses.get(project.analysis),
                               "grid": None, "files": [], "variants": {}}
        tl_path = project.timeline
        if tl_path.is_file():
            from ..contracts import to_dict
            from ..scoring.validate import load_timeline

            try:  # the same check as every command's: a hand edit the CLI refuses is refused here too
                tl = to_dict(load_timeline(tl_path))
            except TempscoreError as exc:
                out["timeline_error"] = f"{str(exc).replace(str(d) + '/', '')}; or re-run the job"
            else:
                out["timeline"] = tl
                out["grid"] = _grid(tl)
                out["timecode"] = _timecode(tl["video"])
        files = []
        for p in sorted(d.iterdir()):
            kind = "source" if p.name == job["video"] else _output_kind(p.name, stem)
            if kind and p.is_file() and not p.is_symlink():
                label = FILE_LABELS[kind] + (f": {p.name[len(stem) + 6:-4]}" if kind == "stem" else "")
                files.append({"name": p.name, "kind": kind, "label": label, "bytes": p.stat().st_size,
                              "mtime": p.stat().st_mtime})
        order = list(FILE_LABELS)
        out["files"] = sorted(files, key=lambda f: (order.index(f["kind"]), f["name"]))
        vdir = project.variants
        manifest = vdir / "manifest.json"
        if manifest.is_file() and out["timeline"]:
            try:
                seeds = json.loads(manifest.read_text(encoding="utf-8")).get("seeds", {})
            except (OSError, ValueError):
                seeds = {}
            cues = {c["id"]: c for c in out["timeline"]["cues"]}
            for cue_id, cue_seeds in seeds.items():
                if cue_id not in cues:
                    continue
                made = job.get("variants_sig", {}).get(cue_id)
                out["variants"][cue_id] = {
                    "current": made == cue_signature(cues[cue_id]),
                    "picked": next((k for k, sd in enumerate(cue_seeds, 1) if sd == cues[cue_id].get("seed")), 0),
                    "items": [{"variant": k, "seed": sd, "wav": f"{cue_id}.v{k}.wav"}
                              for k, sd in enumerate(cue_seeds, 1) if (vdir / f"{cue_id}.v{k}.wav").is_file()]}
        return out

    # ------------------------------------------------------------------ edits
    def _edit(job_id: str, fn, task: dict[str, Any]) -> Any:  # noqa: ANN001
        from ..api.files import load_timeline

        def action(path: Path) -> Any:
            tl = load_timeline(path)
            result = fn(tl)
            edits.save_timeline(tl, path)
            return result

        return mgr.change(job_id, action, task)

    async def patch_cue(request: Request) -> Response:
        job_id, cue_id = request.path_params["job_id"], request.path_params["cue_id"]
        body = await _json_body(request)
        allowed = {"mood", "key", "intensity", "locked", "tacet", "edges_locked", "tempo_bpm", "beats_per_bar",
                   "recalls", "orchestration", "title"}
        unknown = sorted(set(body) - allowed)
        if unknown:
            return error(400, f"cannot change {', '.join(unknown)}; a cue's editable fields are "
                              f"{', '.join(sorted(allowed))}")
        changed = await run_in_threadpool(_edit, job_id, lambda tl: edits.set_cue_fields(tl, cue_id, **body),
                                          {"kind": "rescore", "plan": True})
        return JSONResponse({"changed": changed, "job": mgr.get(job_id)}, status_code=202)

    async def move_edge(request: Request) -> Response:
        job_id, cue_id = request.path_params["job_id"], request.path_params["cue_id"]
        body = await _json_body(request)
        pair = await run_in_threadpool(_edit, job_id, lambda tl: edits.move_cue_edge(
            tl, cue_id, body.get("edge"), body.get("frame")), {"kind": "rescore", "plan": True})
        return JSONResponse({"cues": list(pair), "job": mgr.get(job_id)}, status_code=202)

    async def regenerate(request: Request) -> Response:
        job_id, cue_id = request.path_params["job_id"], request.path_params["cue_id"]
        seed = await run_in_threadpool(_edit, job_id, lambda tl: edits.next_seed(tl, cue_id, run_seed=mgr.settings.seed),
                                       {"kind": "rescore", "plan": False})
        return JSONResponse({"seed": seed, "job": mgr.get(job_id)}, status_code=202)

    async def variants(request: Request) -> Response:
        job_id, cue_id = request.path_params["job_id"], request.path_params["cue_id"]
        body = await _json_body(request)
        n = body.get("n", 3)
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 8:
            return error(400, f"n {n!r}: ask for 1 to 8 variants")

        def check(tl) -> None:  # noqa: ANN001
            cue = tl.cues[edits.cue_index(tl, cue_id)]
            if cue.locked or cue.tacet:
                raise InvalidSettings(f"cue {cue.id} is {'locked' if cue.locked else 'tacet'}; "
                                      f"unlock it (or give it music) to audition variants")

        await run_in_threadpool(_edit, job_id, check, {"kind": "variants", "cue": cue_id, "n": n})
        return JSONResponse({"job": mgr.get(job_id)}, status_code=202)

    async def pick(request: Request) -> Response:
        from ..api import pick as run_pick

        job_id, cue_id = request.path_params["job_id"], request.path_params["cue_id"]
        body = await _json_body(request)
        k = body.get("variant")
        if isinstance(k, bool) or not isinstance(k, int):
            return error(400, f"variant {k!r} must be a variant number")
        res = await run_in_threadpool(mgr.change, job_id, lambda path: run_pick(path, cue_id, k),
                                      {"kind": "rescore", "plan": False})
        return JSONResponse({"seed": res.summary["seed"], "job": mgr.get(job_id)}, status_code=202)

    async def add_hit(request: Request) -> Response:
        job_id = request.path_params["job_id"]
        body = await _json_body(request)
        hit = await run_in_threadpool(_edit, job_id, lambda tl: edits.add_hit(tl, body.get("frame")),
                                      {"kind": "rescore", "plan": True})
        return JSONResponse({"hit": {"frame": hit.frame, "cue_id": hit.cue_id}, "job": mgr.get(job_id)},
                            status_code=202)

    async def remove_hit(request: Request) -> Response:
        job_id = request.path_params["job_id"]
        frame = request.path_params["frame"]
        await run_in_threadpool(_edit, job_id, lambda tl: edits.remove_hit(tl, frame), {"kind": "rescore", "plan": True})
        return JSONResponse({"removed": frame, "job": mgr.get(job_id)}, status_code=202)

    # ------------------------------------------------------------------ files
    async def job_file(request: Request) -> Response:
        job_id, name = request.path_params["job_id"], request.path_params["name"]
        job = mgr.get(job_id)
        d = mgr.job_dir(job_id)
        if name != job["video"] and _output_kind(name, job["stem"]) is None:
            return error(404, f"{name}: not an output of this job")
        p = _safe_file(d, name)
        if p is None:
            return error(404, f"{name}: not there (yet)")
        return _send(p, request)

    async def variant_file(request: Request) -> Response:
        job_id, name = request.path_params["job_id"], request.path_params["name"]
        job = mgr.get(job_id)
        if not VARIANT_NAME.fullmatch(name):
            return error(404, f"{name}: not a variant file")
        p = _safe_file(mgr.job_dir(job_id) / f"{job['stem']}.variants", name)
        if p is None:
            return error(404, f"{name}: not there (yet)")
        return _send(p, request)

    def _send(p: Path, request: Request) -> Response:
        attach = request.query_params.get("download") == "1"
        return FileResponse(p, filename=p.name if attach else None,
                            content_disposition_type="attachment" if attach else "inline",
                            headers={"cache-control": "no-cache"})

    # ------------------------------------------------------------------ errors
    async def on_upload_rejected(request: Request, exc: UploadRejected) -> Response:
        return error(exc.status, str(exc))

    async def on_user_error(request: Request, exc: TempscoreError) -> Response:
        msg = str(exc).replace(str(mgr.root) + "/", "")
        msg = re.sub(r"jobs/[0-9a-f]{16}/", "", msg)
        return error(400, msg)

    async def on_not_found(request: Request, exc: JobNotFound) -> Response:
        return error(404, "no such job (it may have been deleted); pick one from the list or upload the video again")

    async def on_busy(request: Request, exc: JobBusy) -> Response:
        return error(409, str(exc))

    async def on_http(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        return error(status, {404: "not found", 405: "method not allowed"}.get(status, str(getattr(exc, "detail", exc))))

    job = "/api/jobs/{job_id}"
    routes = [
        Route("/", index),
        Route("/api/config", config),
        Route("/api/jobs", list_jobs, methods=["GET"]),
        Route("/api/jobs", upload, methods=["POST"]),
        Route(job, get_job, methods=["GET"]),
        Route(job, delete_job, methods=["DELETE"]),
        Route(job + "/view", view),
        Route(job + "/cues/{cue_id}", patch_cue, methods=["PATCH"]),
        Route(job + "/cues/{cue_id}/edge", move_edge, methods=["POST"]),
        Route(job + "/cues/{cue_id}/regenerate", regenerate, methods=["POST"]),
        Route(job + "/cues/{cue_id}/variants", variants, methods=["POST"]),
        Route(job + "/cues/{cue_id}/pick", pick, methods=["POST"]),
        Route(job + "/hits", add_hit, methods=["POST"]),
        Route(job + "/hits/{frame:int}", remove_hit, methods=["DELETE"]),
        Route(job + "/files/{name}", job_file, methods=["GET", "HEAD"]),
        Route(job + "/variants/{name}", variant_file, methods=["GET", "HEAD"]),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):  # noqa: ANN202
        mgr.start()
        try:
            yield
        finally:
            mgr.close(timeout=0.5)

    from starlette.exceptions import HTTPException

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={
        UploadRejected: on_upload_rejected, TempscoreError: on_user_error, JobNotFound: on_not_found,
        JobBusy: on_busy, HTTPException: on_http})
    app.state.manager = mgr
    app.add_middleware(GuardMiddleware, allowed_hosts=allowed_hosts, token=token)
    return app
