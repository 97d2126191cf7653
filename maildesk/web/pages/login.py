"""/login: sign in with a password, or ask for an emailed sign-in link; /logout; / points onwards.

Both sign-in forms use the same code as the JSON API (maildesk.web.auth): the same rate limits,
the same answer for an unknown address and a wrong password, and a link request always shows
the same message whether or not the address has an account.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.background_tasks import BackgroundTask
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, NotAuthorizedException
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.models import User
from maildesk.runtime import Runtime
from maildesk.tickets.users import normal_email
from maildesk.web.auth import (
    SESSION_COOKIE,
    check_rate,
    client_ip,
    password_sign_in,
    revoke_session,
    send_magic_link,
    session_cookie,
)
from maildesk.web.auth.links import LinkRefused
from maildesk.web.pages.negotiate import wants_html
from maildesk.web.pages.render import page_get, page_post, posted_form, redirect, render, safe_next, sentence
from maildesk.web.ratelimit import RateLimiter

LINK_SENT = ("If the address is known, a link is on its way. Open it within 30 minutes to sign in; "
             "it works once.")


def link_refused(request: Request[Any, Any, Any], exc: LinkRefused) -> Response[Any]:
    """A used, expired or unknown sign-in link (GET /auth/magic/...): a page for the browser
    that followed it from the email, the JSON error body for API clients."""
    message = str(exc)
    if wants_html(request) or "text/html" in request.headers.get("accept", ""):
        return render(request, "error.html", {"title": "Sign-in link", "status": exc.status, "message": message},
                      status_code=exc.status)
    return Response({"status_code": exc.status, "detail": message}, status_code=exc.status)


def home_of(user: User) -> str:
    return "/admin/support" if user.is_admin else "/help/tickets"


def _login_page(
    request: Request[Any, Any, Any], *, status_code: int = 200, **context: Any
) -> Response[str]:
    context.setdefault("values", {})
    context.setdefault("errors", {})
    context.setdefault("next", safe_next(request.query_params.get("next")))
    return render(request, "login.html", context, status_code=status_code)


def _retry_after(exc: HTTPException, page: Response[str]) -> Response[str]:
    """A 429 page carries the same Retry-After as the JSON answer (RFC 9110 section 10.2.3)."""
    value = (exc.headers or {}).get("Retry-After")
    if value:
        page.set_header("Retry-After", value)
    return page


@page_get("/")
async def home(request: Request[Any, Any, Any]) -> Response[Any]:
    """Signed in: your tickets (or the queue); otherwise the contact form."""
    user = request.user
    return redirect(home_of(user) if user is not None else "/help/contact")


@page_get("/login")
async def login_page(request: Request[Any, Any, Any]) -> Response[str]:
    notice = "You are signed out." if request.query_params.get("signed_out") else None
    return _login_page(request, notice=notice)


@page_post("/login")
async def login_submit(
    request: Request[Any, Any, Any], rt: NamedDependency[Runtime], limiter: NamedDependency[RateLimiter]
) -> Response[Any]:
    form = await posted_form(request)
    email, password = form.get("email", "").strip(), form.get("password", "")
    next_path = safe_next(form.get("next"))
    values = {"email": email}
    errors = {}
    if not email:
        errors["email"] = "Enter your email address."
    if not password:
        errors["password"] = "Enter your password."
    if errors:
        return _login_page(request, values=values, errors=errors, next=next_path, status_code=422)
    try:
        user, token = await password_sign_in(rt, limiter, request, email, password[:1024])
    except NotAuthorizedException:
        return _login_page(request, values=values, next=next_path, status_code=401,
                           errors={"password": "Wrong email or password."})
    except HTTPException as exc:  # 429: too many attempts
        return _retry_after(exc, _login_page(request, values=values, next=next_path, status_code=exc.status_code,
                                             errors={"password": sentence(exc.detail)}))
    return redirect(next_path or home_of(user), cookies=[session_cookie(rt, token)])


@page_post("/login/link")
async def link_submit(
    request: Request[Any, Any, Any], rt: NamedDependency[Runtime], limiter: NamedDependency[RateLimiter]
) -> Response[str]:
    form = await posted_form(request)
    email = form.get("email", "").strip()
    if "@" not in email or len(email) > 320:
        return _login_page(request, link_values={"email": email}, status_code=422,
                           link_errors={"email": "Enter your email address, like name@example.com."})
    address = normal_email(email)
    try:
        check_rate(limiter, "magic", address, client_ip(request))
    except HTTPException as exc:
        return _retry_after(exc, _login_page(request, link_values={"email": email}, status_code=exc.status_code,
                                             link_errors={"email": sentence(exc.detail)}))
    return render(
        request, "login.html",
        {"values": {}, "errors": {}, "next": None, "link_sent": LINK_SENT, "link_values": {"email": email}},
        background=BackgroundTask(send_magic_link, rt, address),
    )


@page_post("/logout")
async def logout_submit(request: Request[Any, Any, Any], db_write: NamedDependency[AsyncSession]) -> Response[Any]:
    if request.user is not None:
        await posted_form(request)
        await revoke_session(db_write, request.auth, request.app.state.token_cache)
    response = redirect("/login", signed_out="1")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


HANDLERS = [home, login_page, login_submit, link_submit, logout_submit]
