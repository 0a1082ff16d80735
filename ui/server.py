"""Run the spotting page's server (uvicorn) on a socket bound here, so a busy port is a clear error."""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import secrets
import socket
from collections.abc import Callable
from pathlib import Path

from ..errors import InvalidSettings

log = logging.getLogger(__name__)


def default_workdir() -> Path:
    """``$XDG_DATA_HOME/tempscore/ui`` (``~/.local/share/tempscore/ui``): the per-user job store."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tempscore" / "ui"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port); a busy port is a user error."""
    if not 0 <= port <= 65535:
        raise InvalidSettings(f"--port {port} is not a port number (1-65535, or 0 for any free port)")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise InvalidSettings(f"--host {host!r} is not an address of this machine ({exc.strerror})") from None
    family, _, _, _, addr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise InvalidSettings(f"port {port} on {host} is in use (another tempscore ui?); choose another with "
                                  f"--port, or --port 0 for any free one") from None
        raise InvalidSettings(f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    if sock.family == socket.AF_INET6:
        host = f"[{host}]"
    if host in ("0.0.0.0", "[::]"):
        host = socket.gethostname()
    return f"http://{host}:{port}/"


def serve(*, host: str = "127.0.0.1", port: int = 8765, workdir: Path | None = None,
          max_upload_bytes: int | None = None, on_ready: Callable[[str, Path], None] | None = None,
          debug: bool = False) -> None:
    """Serve the page until interrupted.

    Parameters
    ----------
    host, port : str, int
        Where to listen. Only a loopback host (the default) keeps the page to this machine; on any
        other the server answers every host name.
    workdir : Path, optional
        The job store (default :func:`default_workdir`).
    on_ready : callable, optional
        Called as ``on_ready(url, workdir)`` once the socket listens (the CLI prints the address;
        on a host other than loopback it carries the access token, ``?token=...``).
    """
    import uvicorn

    from .app import DEFAULT_MAX_UPLOAD_BYTES, LOOPBACK_HOSTS, create_app

    wd = Path(workdir) if workdir else default_workdir()
    sock = bind(host, port)
    # on the network, every request needs this token (printed once, in the address; like a notebook server's)
    token = None if is_loopback(host) else secrets.token_urlsafe(24)
    try:
        app = create_app(wd, max_upload_bytes=max_upload_bytes or DEFAULT_MAX_UPLOAD_BYTES,
                         allowed_hosts=LOOPBACK_HOSTS if is_loopback(host) else None, token=token)
        if on_ready is not None:
            on_ready(url_of(sock) + (f"?token={token}" if token else ""), app.state.manager.root)
        config = uvicorn.Config(app, log_level="info" if debug else "warning", access_log=debug, lifespan="on",
                                timeout_graceful_shutdown=2)
        try:
            uvicorn.Server(config).run(sockets=[sock])
        except KeyboardInterrupt:  # uvicorn shuts down gracefully, then re-raises the Ctrl+C: a normal stop
            pass
    finally:
        sock.close()
