"""What every page shares: rendering a template, security headers, who may see it, HTML errors.

Pages are plain HTML forms (no JavaScript). Every page response carries a strict
Content-Security-Policy (`default-src 'self'`: nothing is loaded from another origin) and
`Cache-Control: no-store` (pages show private tickets). Errors on pages are pages too: a
403/404 page, and anonymous visitors of a signed-in page are sent to /login?next=<page>.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timezone
from typing import Any, Mapping
from urllib.parse import urlencode

from litestar import HttpMethod, MediaType, Request, Response, post, route
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import Cookie
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
)
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect
from litestar.template.config import TemplateConfig

from maildesk.models import User
from maildesk.resources import resource_dir
from maildesk.runtime import Runtime
from maildesk.tickets import notify
from maildesk.tickets.queries import BadQuery
from maildesk.tickets.rules import IllegalTransition
from maildesk.tickets.service import ServiceError
from maildesk.web.pages import csrf

log = logging.getLogger("maildesk.web.pages")

TEMPLATES_DIR = resource_dir("templates") / "web"
STATIC_DIR = TEMPLATES_DIR / "static"
STATIC_PATH = "/static"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

# --- words for values ---------------------------------------------------------------------------

STATUS_WORDS = {
    "open": "Open",
    "in_progress": "In progress",
    "waiting_on_user": "Waiting on requester",
    "resolved": "Resolved",
    "closed": "Closed",
}
# What the requester reads about their own ticket.
STATUS_WORDS_FOR_REQUESTER = {**STATUS_WORDS, "waiting_on_user": "Waiting for your reply"}
PRIORITY_WORDS = {"urgent": "Urgent", "high": "High", "medium": "Medium", "low": "Low"}


def status_word(value: str | None, requester: bool = False) -> str:
    words = STATUS_WORDS_FOR_REQUESTER if requester else STATUS_WORDS
    return words.get(value or "", _words(value))


def priority_word(value: str | None) -> str:
    return PRIORITY_WORDS.get(value or "", _words(value))


def _words(value: Any) -> str:
    """getting_started -> Getting started."""
    text = str(value or "").replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def sentence(message: object) -> str:
    """A refusal from the rules as a sentence: capital first letter, full stop."""
    text = str(message).strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def when(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def iso(value: datetime | None) -> str:
    return value.astimezone(timezone.utc).isoformat() if value else ""


def age(value: datetime | None, now: datetime | None = None) -> str:
    """How long ago, in the largest whole unit: "12 min", "3 h", "2 d" (a queue column)."""
    if value is None:
        return ""
    seconds = max(0, int(((now or datetime.now(timezone.utc)) - value).total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 48 * 3600:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def size_words(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def _configure(engine: JinjaTemplateEngine) -> None:
    engine.engine.filters.update(
        status_word=status_word, priority_word=priority_word, words=_words, when=when, iso=iso,
        size_words=size_words, age=age,
    )
    engine.engine.trim_blocks = True
    engine.engine.lstrip_blocks = True


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    """Jinja2 over templates/web/ (autoescaped), with the filters the pages use."""
    return TemplateConfig(directory=TEMPLATES_DIR, engine=JinjaTemplateEngine, engine_callback=_configure)


# --- rendering -------------------------------------------------------------------------------------


def runtime(request: Request[Any, Any, Any]) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


def render(
    request: Request[Any, Any, Any],
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    cookies: list[Cookie] | None = None,
    background: BackgroundTask | None = None,
) -> Response[str]:
    """A page: the template with the viewer, a CSRF token for its forms and the security headers."""
    token, new_cookie = csrf.token_for(runtime(request), request)
    html = request.app.template_engine.get_template(template).render(
        user=request.user,
        csrf_field=csrf.CSRF_FIELD,
        csrf_token=token,
        path=request.url.path,
        static=STATIC_PATH,
        unread_notifications=request.state.get(UNREAD_STATE),
        **(context or {}),
    )
    all_cookies = [*(cookies or []), *([new_cookie] if new_cookie else [])]
    return Response(
        html,
        status_code=status_code,
        media_type=MediaType.HTML,
        headers=dict(SECURITY_HEADERS),
        cookies=all_cookies,
        background=background,
    )


def redirect(path: str, *, cookies: list[Cookie] | None = None, **query: str) -> Redirect:
    """303 See Other (after a POST the browser GETs the target)."""
    target = f"{path}?{urlencode(query)}" if query else path
    return Redirect(target, status_code=303, cookies=cookies, headers=dict(SECURITY_HEADERS))


# --- forms ------------------------------------------------------------------------------------------


async def posted_form(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The submitted form's text fields, after the CSRF check (a 403 page when it fails)."""
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    csrf.check(runtime(request), request, values.get(csrf.CSRF_FIELD))
    return values


_SAFE_NEXT = re.compile(r"^/(?![/\\])[^\s\\]*$")


def safe_next(value: str | None) -> str | None:
    """A path on this site to return to after signing in; anything else (other hosts) is dropped."""
    if value and len(value) <= 500 and _SAFE_NEXT.match(value):
        return value
    return None


# --- who may see a page ----------------------------------------------------------------------------


class SignInRequired(NotAuthorizedException):
    """An anonymous visitor on a signed-in page: sent to /login, and back after signing in."""


def signed_in(request: Request[Any, Any, Any]) -> User:
    if request.user is None:
        raise SignInRequired("sign in first")
    return request.user  # type: ignore[no-any-return]


def admin_user(request: Request[Any, Any, Any]) -> User:
    user = signed_in(request)
    if not user.is_admin:
        raise PermissionDeniedException("This page is for the support team only.")
    return user


# --- errors as pages --------------------------------------------------------------------------------

_TITLES = {400: "Bad request", 401: "Sign in", 403: "Not allowed", 404: "Not found", 405: "Not allowed",
           409: "Not possible", 413: "Too large", 422: "Not accepted", 429: "Too many attempts",
           500: "Something went wrong", 503: "Unavailable"}


def error_page(request: Request[Any, Any, Any], status: int, message: str) -> Response[str]:
    return render(
        request, "error.html", {"title": _TITLES.get(status, "Error"), "status": status, "message": message},
        status_code=status,
    )


def _to_login(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        here = request.url.path.rsplit("/", 1)[0] if request.url.path.count("/") > 1 else "/"
    return redirect("/login", next=safe_next(here) or "/")


def _not_found(request: Request[Any, Any, Any], exc: NotFoundException) -> Response[Any]:
    detail = str(exc.detail)
    message = f"There is {detail}." if detail.startswith("no ") else detail
    return error_page(request, 404, message)


def _forbidden(request: Request[Any, Any, Any], exc: PermissionDeniedException) -> Response[Any]:
    detail = str(exc.detail)
    if detail == "this ticket belongs to someone else":
        detail = "This ticket belongs to someone else. You can only see your own requests."
    return error_page(request, 403, detail)


def _http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    return error_page(request, exc.status_code, str(exc.detail))


def _refused(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    return error_page(request, 409, str(exc))


def _internal(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on page %s %s", request.method, request.url.path)
    try:
        return error_page(request, 500, "Something went wrong on our side. Please try again in a moment.")
    except Exception:  # the error page itself failed: a bare answer, never a traceback
        return Response("Internal error", status_code=500, media_type=MediaType.TEXT)


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    NotAuthorizedException: _to_login,
    PermissionDeniedException: _forbidden,
    NotFoundException: _not_found,
    HTTPException: _http,
    IllegalTransition: _refused,
    ServiceError: _refused,
    BadQuery: _refused,
    Exception: _internal,
}


UNREAD_STATE = "unread_notifications"


async def header_counts(request: Request[Any, Any, Any]) -> None:
    """Before every page: an admin's unread notification count, for the header (base.html)."""
    user = request.user
    if user is not None and user.is_admin:
        # Its own read session: a before_request hook runs before the handler's dependencies.
        async with runtime(request).db.read() as session:
            request.state[UNREAD_STATE] = await notify.unread_count(session, user.id)


def page_get(path: str, **kwargs: Any) -> Any:
    """GET and HEAD for a page: HTML errors, not in the OpenAPI schema.

    Pages are registered on the app one by one (not as a Router) so that a page and a JSON
    endpoint can share a path with different methods (GET /help/contact, POST /help/contact).
    HEAD runs the GET handler (RFC 9110 9.3.2: same headers as GET); the server (uvicorn)
    sends no content for HEAD.
    """
    return route(path, http_method=[HttpMethod.GET, HttpMethod.HEAD], include_in_schema=False,
                 exception_handlers=EXCEPTION_HANDLERS, before_request=header_counts, **kwargs)


def page_post(path: str, **kwargs: Any) -> Any:
    """@post for a page form: answers 200 (a page) or 303 (onwards), HTML errors.

    opt "form" tells web/sameorigin.py that this route checks a CSRF token instead."""
    opt = {"form": True, **kwargs.pop("opt", {})}
    return post(path, include_in_schema=False, exception_handlers=EXCEPTION_HANDLERS, status_code=200,
                opt=opt, before_request=header_counts, **kwargs)
