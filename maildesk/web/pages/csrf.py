"""CSRF tokens for the HTML forms.

Signed-in forms carry HMAC(secret_key, session token): only a page served to that session can
know it. Anonymous forms (sign-in, contact) use a signed double-submit cookie: a random value
in the HttpOnly `maildesk_csrf` cookie, and HMAC(secret_key, that value) in the hidden field.
A POST is accepted when its field matches either; anything else is refused with a 403 page.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Any

from litestar import Request
from litestar.datastructures import Cookie
from litestar.exceptions import PermissionDeniedException

from maildesk.runtime import Runtime

CSRF_COOKIE = "maildesk_csrf"
CSRF_FIELD = "csrf_token"
_COOKIE_SHAPE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")


class CsrfRejected(PermissionDeniedException):
    """A state-changing form arrived without the right token."""

    def __init__(self) -> None:
        super().__init__(
            "This form's security token is missing or wrong (CSRF check failed), so nothing was changed. "
            "Go back, reload the page and send the form again."
        )


def _sign(rt: Runtime, purpose: str, value: str) -> str:
    return hmac.new(rt.settings.secret_key.encode(), f"csrf:{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def _anon_cookie(request: Request[Any, Any, Any]) -> str | None:
    value = request.cookies.get(CSRF_COOKIE, "")
    return value if _COOKIE_SHAPE.match(value) else None


def token_for(rt: Runtime, request: Request[Any, Any, Any]) -> tuple[str, Cookie | None]:
    """The token to put in this page's forms, and the cookie to set when a new one is needed."""
    session_token = request.auth
    if session_token:
        return _sign(rt, "session", session_token), None
    value = _anon_cookie(request)
    cookie = None
    if value is None:
        value = secrets.token_urlsafe(32)
        cookie = Cookie(
            key=CSRF_COOKIE,
            value=value,
            path="/",
            httponly=True,
            samesite="lax",
            secure=rt.settings.base_url.startswith("https://"),
        )
    return _sign(rt, "anon", value), cookie


def check(rt: Runtime, request: Request[Any, Any, Any], submitted: str | None) -> None:
    """Raise CsrfRejected unless `submitted` is this session's or this browser's token."""
    if not submitted or len(submitted) > 128:
        raise CsrfRejected()
    expected = []
    if request.auth:
        expected.append(_sign(rt, "session", request.auth))
    if (value := _anon_cookie(request)) is not None:
        expected.append(_sign(rt, "anon", value))
    if not any(hmac.compare_digest(submitted, e) for e in expected):
        raise CsrfRejected()
