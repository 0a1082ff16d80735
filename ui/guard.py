"""The spotting page's guard: Host and Origin checks, the access token, and safe response headers."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from starlette.responses import JSONResponse, Response

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["GuardMiddleware", "error"]


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

    def __init__(self, app: ASGIApp, allowed_hosts: tuple[str, ...] | None, token: str | None = None) -> None:
        self.app = app
        self.allowed = None if allowed_hosts is None else {h.lower() for h in allowed_hosts}
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
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

        async def send_with_headers(message: Message) -> None:
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
    def cookie_name(scope: Scope) -> str:
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


def _token_given(scope: Scope, headers: dict[str, str], cookie_name: str) -> tuple[str | None, bool]:
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


def _redirect_without_token(scope: Scope, set_cookie: bytes) -> Response:
    from urllib.parse import parse_qsl, urlencode

    rest = [(k, v) for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
            if k != "token"]
    target = scope.get("path", "/") + (f"?{urlencode(rest)}" if rest else "")
    return Response(status_code=303, headers={"location": target, "set-cookie": set_cookie.decode("latin-1"),
                                              "cache-control": "no-store"})
