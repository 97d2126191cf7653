"""/auth: the JSON API's sign-in, sign-out and sign-in-link routes."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.runtime import Runtime
from maildesk.web.auth.limits import check_rate, client_ip
from maildesk.web.auth.links import send_magic_link, use_magic_token
from maildesk.web.auth.signin import normal_email, password_sign_in, revoke_session
from maildesk.web.auth.tokens import SESSION_COOKIE, session_cookie
from maildesk.web.ratelimit import RateLimiter
from maildesk.web.schemas import Detail, LoginIn, LoginOut, MagicLinkIn, UserOut, errors

AFTER_MAGIC_LINK = "/help/tickets"


class AuthController(Controller):
    path = "/auth"
    tags = ["auth"]

    @post("/login", status_code=200, summary="Sign in with email and password",
          responses=errors(400, 401, 422, 429))
    async def login(
        self,
        request: Request[Any, Any, Any],
        rt: NamedDependency[Runtime],
        limiter: NamedDependency[RateLimiter],
        data: JSONBody[LoginIn],
    ) -> Response[LoginOut]:
        """A session token (also set as the session cookie). The same 401 for an unknown
        address and a wrong password."""
        user, token = await password_sign_in(rt, limiter, request, data.email, data.password)
        return Response(LoginOut(token=token, user=UserOut.of(user)), cookies=[session_cookie(rt, token)])

    @post("/logout", status_code=204, summary="Sign out (revoke the token in use)")
    async def logout(
        self, request: Request[Any, Any, Any], db_write: NamedDependency[AsyncSession]
    ) -> Response[None]:
        await revoke_session(db_write, request.auth, request.app.state.token_cache)
        response: Response[None] = Response(None, status_code=204)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @post("/magic-link", status_code=202, summary="Email a single-use sign-in link",
          responses=errors(400, 422, 429))
    async def magic_link(
        self,
        request: Request[Any, Any, Any],
        rt: NamedDependency[Runtime],
        limiter: NamedDependency[RateLimiter],
        data: JSONBody[MagicLinkIn],
    ) -> Response[Detail]:
        """Always 202, whether or not the address has an account; the link is valid 30 minutes."""
        email = normal_email(data.email)
        check_rate(limiter, "magic", email, client_ip(request))
        return Response(
            Detail("If this address has an account, a sign-in link is on its way. It is valid for 30 minutes."),
            status_code=202,
            background=BackgroundTask(send_magic_link, rt, email),
        )

    @get("/magic/{token:str}", status_code=303, summary="Use a sign-in link", responses=errors(400, 410),
         response_description="Redirect to /help/tickets with the session cookie set")
    async def use_magic_link(
        self,
        request: Request[Any, Any, Any],
        rt: NamedDependency[Runtime],
        db_write: NamedDependency[AsyncSession],
        token: FromPath[str],
    ) -> Response[Any]:
        """Signs the browser in and redirects (303) to /help/tickets; 410 for a used or expired link."""
        # A used or expired link raises LinkRefused: a page for a browser, JSON otherwise
        # (the handler is the app's, web/pages/login.py's link_refused).
        _user, session_token = await use_magic_token(db_write, token)
        return Redirect(AFTER_MAGIC_LINK, status_code=303, cookies=[session_cookie(rt, session_token)])
