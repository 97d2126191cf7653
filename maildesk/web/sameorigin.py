"""Cross-site write protection for the JSON API when the caller is signed in by cookie.

A browser attaches the session cookie to requests another site makes it send, and an HTML
form on any site can POST `text/plain` (or form-encoded) bodies without a CORS preflight. So a
write (POST/PUT/PATCH/DELETE) to a JSON route that carries the session cookie, and no
`Authorization: Bearer` header, must:

- come from our own origin: `Origin` (RFC 6454 section 7), or `Referer` when a browser sent no
  Origin, must name MAILDESK_BASE_URL's origin or the request's own scheme and Host; with
  neither header the request is refused (a cookie-holding client that is not a browser
  should use its bearer token);
- declare `Content-Type: application/json`, which no form can send (415 otherwise; a DELETE
  without a body needs no content type).

Bearer-token calls cannot be forged by another site and are not checked; requests without the
cookie (anonymous, e.g. /auth/login) neither. The HTML form routes carry CSRF tokens instead
(pages/csrf.py) and are marked opt={"form": True}, which this guard skips.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from maildesk.web.auth import SESSION_COOKIE

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str | None) -> str | None:
    """scheme://host[:port] of a URL, lower-case, default port left out; None when it has none
    (including the opaque origin "null")."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{scheme}://{host}" if port in (None, _DEFAULT_PORTS[scheme]) else f"{scheme}://{host}:{port}"


def own_origins(base_url: str, scheme: str, host_header: str | None) -> set[str]:
    """The origins a same-site request may come from: BASE_URL's and this request's own."""
    origins = {o for o in (origin_of(base_url),) if o}
    if host_header:
        own = origin_of(f"{scheme}://{host_header}")
        if own:
            origins.add(own)
    return origins


def is_json(content_type: str | None) -> bool:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return media_type == "application/json"


def check_cookie_write(
    *, method: str, has_bearer: bool, has_cookie: bool, origin: str | None, referer: str | None,
    content_type: str | None, has_body: bool, allowed: set[str],
) -> None:
    """Raise 403 (not our origin) or 415 (not JSON) for a cookie-authenticated API write."""
    if method not in WRITE_METHODS or has_bearer or not has_cookie:
        return
    source = origin_of(origin) if origin is not None else origin_of(referer)
    if source is None or source not in allowed:
        said = f"Origin {origin!r}" if origin is not None else (
            f"Referer origin {origin_of(referer)!r}" if referer else "no Origin or Referer header")
        raise PermissionDeniedException(
            f"cross-site request refused: a write signed in by the session cookie must come from this "
            f"site ({said}); scripts and other clients should send Authorization: Bearer <token>"
        )
    if (method != "DELETE" or has_body) and not is_json(content_type):
        raise HTTPException(
            status_code=415,
            detail=f"Content-Type must be application/json (got {content_type or 'none'!r})",
        )


async def cookie_write_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """App-wide Litestar guard applying check_cookie_write to every JSON route.

    A coroutine on purpose, as every guard here: Litestar runs a plain function guard in a
    worker thread (litestar.utils.ensure_async_callable), a thread hop per guard per request."""
    if handler.opt.get("form") or connection.scope.get("method", "GET") not in WRITE_METHODS:
        return  # reads are never checked (check_cookie_write): no origins to work out
    headers = connection.headers
    scheme, _, value = headers.get("authorization", "").partition(" ")
    rt = connection.app.state.runtime
    check_cookie_write(
        method=connection.scope.get("method", "GET"),  # type: ignore[arg-type]
        has_bearer=scheme.lower() == "bearer" and bool(value.strip()),
        has_cookie=bool(connection.cookies.get(SESSION_COOKIE)),
        origin=headers.get("origin"),
        referer=headers.get("referer"),
        content_type=headers.get("content-type"),
        has_body=headers.get("content-length", "0") not in ("", "0") or "transfer-encoding" in headers,
        allowed=own_origins(rt.settings.base_url, connection.url.scheme, headers.get("host")),
    )
