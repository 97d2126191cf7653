"""Sign-in: password login, single-use emailed links, session tokens, and who the caller is.

Tokens are `secrets.token_urlsafe(32)`; only their SHA-256 is stored (auth_tokens), so a
database dump does not sign anyone in. A session token works as `Authorization: Bearer` or
as the HttpOnly `maildesk_session` cookie (SameSite=Lax; Secure when BASE_URL is https).
Sign-in links (kind "magic") are single-use and expire after 30 minutes; using one creates a
session. Password attempts slow down per (address, client IP) with a growing delay and are
capped per client IP; link requests are limited per (address, client IP) and per client IP.

`TokenAuthMiddleware` puts the signed-in User (or None) on every request; the guards
`requires_user` / `requires_admin` turn None into 401 and a non-admin into 403.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from datetime import timedelta
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.authentication import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.params import FromPath, JSONBody
from litestar.response import Redirect
from sqlalchemy import select, update

from maildesk.mail.tokens import hash_token
from maildesk.models import AuthToken, User, utcnow
from maildesk.runtime import Runtime
from maildesk.users import verify_password
from maildesk.web.ratelimit import Backoff, Limit, RateLimiter
from maildesk.web.schemas import Detail, LoginIn, LoginOut, MagicLinkIn, UserOut, errors

log = logging.getLogger("maildesk.web.auth")

SESSION_COOKIE = "maildesk_session"
SESSION_LIFETIME = timedelta(days=30)
MAGIC_LIFETIME = timedelta(minutes=30)
TOKEN_CACHE_SECONDS = 5.0
# Password sign-in: a growing delay per (address, client IP) after 5 failures (1 s, 2 s, 4 s ...
# up to 15 minutes), and a looser cap per client IP across addresses. There is deliberately no
# lock per address alone: anyone could then keep an admin out by guessing from elsewhere.
LOGIN_PER_PAIR = Backoff(free=5, first_delay=1.0, max_delay=15 * 60)
LOGIN_PER_IP = Limit(30, 15 * 60)
# Sign-in link requests, per (address, client IP) and per client IP (how much mail one address
# may receive is capped by the outbox, MAILDESK_AUTOMAIL_PER_HOUR).
MAGIC_PER_PAIR = Limit(10, 15 * 60)
MAGIC_PER_IP = Limit(30, 15 * 60)
AFTER_MAGIC_LINK = "/help/tickets"
_MAX_TOKEN_LENGTH = 200
_WRONG_LOGIN = "wrong email or password"


# --- tokens -----------------------------------------------------------------------------------


async def issue_token(session: Any, user: User, kind: str = "session") -> str:
    """Create a token for user inside the caller's write transaction; returns the token itself."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    lifetime = SESSION_LIFETIME if kind == "session" else MAGIC_LIFETIME
    session.add(AuthToken(user_id=user.id, token_hash=hash_token(token), kind=kind,
                          created_at=now, expires_at=now + lifetime))
    return token


class TokenCache:
    """Who a session token belongs to, remembered for a few seconds (app.state.token_cache).

    Saves a database round trip on every API call. Signing out through this process forgets
    the token at once; a revocation made by another daemon on the same database, or a user
    deactivated or demoted, takes effect here within `seconds`. Unknown tokens are never
    remembered, so a guessed token always costs a lookup.
    """

    def __init__(self, seconds: float = TOKEN_CACHE_SECONDS, max_entries: int = 10_000) -> None:
        self.seconds = seconds
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, User]] = {}

    def get(self, token: str) -> User | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        if time.monotonic() - entry[0] >= self.seconds:
            self._entries.pop(token, None)
            return None
        return entry[1]

    def put(self, token: str, user: User) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[token] = (time.monotonic(), user)

    def forget(self, token: str) -> None:
        self._entries.pop(token, None)


async def user_for_token(rt: Runtime, token: str) -> User | None:
    """The active user a live session token belongs to, or None."""
    if not token or len(token) > _MAX_TOKEN_LENGTH:
        return None
    async with rt.db.read() as session:
        return await session.scalar(
            select(User)
            .join(AuthToken, AuthToken.user_id == User.id)
            .where(
                AuthToken.token_hash == hash_token(token),
                AuthToken.kind == "session",
                AuthToken.revoked_at.is_(None),
                AuthToken.expires_at > utcnow(),
                User.is_active.is_(True),
            )
        )


def session_cookie(rt: Runtime, token: str) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=rt.settings.base_url.startswith("https://"),
    )


def _token_of(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    authorization = connection.headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return connection.cookies.get(SESSION_COOKIE) or None


class TokenAuthMiddleware(AbstractAuthenticationMiddleware):
    """Sets request.user to the signed-in User, or None for anonymous callers."""

    async def authenticate_request(
        self,
        connection: ASGIConnection[Any, Any, Any, Any],
    ) -> AuthenticationResult:
        token = _token_of(connection)
        if not token:
            return AuthenticationResult(user=None, auth=None)
        cache: TokenCache = connection.app.state.token_cache
        user = cache.get(token)
        if user is None:
            user = await user_for_token(connection.app.state.runtime, token)
            if user is not None:
                cache.put(token, user)
        return AuthenticationResult(user=user, auth=token if user is not None else None)


# --- guards and dependencies --------------------------------------------------------------------


def _unauthorized() -> NotAuthorizedException:
    return NotAuthorizedException("sign in first", headers={"WWW-Authenticate": "Bearer"})


def requires_user(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """401 for anonymous callers, unless the handler is marked opt={"anonymous": True}."""
    if connection.user is None and not handler.opt.get("anonymous"):
        raise _unauthorized()


def requires_admin(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    if connection.user is None:
        raise _unauthorized()
    if not connection.user.is_admin:
        raise PermissionDeniedException("admins only")


def current_user(request: Request[Any, Any, Any]) -> User:
    if request.user is None:
        raise _unauthorized()
    return request.user  # type: ignore[no-any-return]


def optional_user(request: Request[Any, Any, Any]) -> User | None:
    return request.user  # type: ignore[no-any-return]


def client_ip(request: Request[Any, Any, Any]) -> str:
    # The socket peer, or the client a trusted proxy names: uvicorn rewrites the peer from
    # X-Forwarded-For only for peers in MAILDESK_TRUSTED_PROXIES (daemon.py); anyone else can
    # send that header, so it is not read here.
    return request.client.host if request.client else "unknown"


def _too_many(retry_after: float) -> HTTPException:
    return HTTPException(
        status_code=429,
        detail=f"too many attempts; try again in {int(retry_after)} seconds",
        headers={"Retry-After": str(int(retry_after))},
    )


def check_rate(limiter: RateLimiter, action: str, email: str, ip: str) -> None:
    """Sign-in link requests (action "magic"): 429 over the per-(address, IP) or per-IP limit."""
    retry_after = limiter.hit([((f"{action}-pair:{ip}", email), MAGIC_PER_PAIR), ((f"{action}-ip", ip), MAGIC_PER_IP)])
    if retry_after is not None:
        raise _too_many(retry_after)


def _begin_login(limiter: RateLimiter, email: str, ip: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """Count a password attempt, or raise 429; returns the keys for _end_login."""
    pair, per_ip = (f"login-pair:{ip}", email), ("login-ip", ip)
    retry_after = limiter.hit([(per_ip, LOGIN_PER_IP)])
    if retry_after is None:
        retry_after = limiter.attempt(pair, LOGIN_PER_PAIR)
        if retry_after is not None:
            limiter.unhit(per_ip)
    if retry_after is not None:
        raise _too_many(retry_after)
    return pair, per_ip


def _end_login(limiter: RateLimiter, keys: tuple[tuple[str, str], tuple[str, str]], ok: bool) -> None:
    pair, per_ip = keys
    limiter.settle(pair, ok)
    if ok:
        limiter.unhit(per_ip)


def _normal(email: str) -> str:
    return email.strip().lower()


# --- password sign-in and sign-out (the JSON API and the /login page share these) ----------------


async def password_sign_in(
    rt: Runtime, limiter: RateLimiter, request: Request[Any, Any, Any], email: str, password: str
) -> tuple[User, str]:
    """Check a password and open a session: (user, session token). 429 when rate-limited; the
    same 401 for an unknown address and a wrong password."""
    email = _normal(email)
    keys = _begin_login(limiter, email, client_ip(request))
    ok = False
    try:
        async with rt.db.read() as session:
            user = await session.scalar(select(User).where(User.email == email))
        # argon2 is deliberately slow: off the event loop, and run for unknown addresses too.
        ok = await asyncio.to_thread(verify_password, user.password_hash if user else None, password)
        ok = ok and user is not None and user.is_active
    finally:
        _end_login(limiter, keys, ok)
    if not ok or user is None:
        raise NotAuthorizedException(_WRONG_LOGIN)
    async with rt.db.write() as session:
        token = await issue_token(session, user)
    return user, token


async def revoke_session(rt: Runtime, token: str | None, cache: TokenCache | None = None) -> None:
    """Sign out: the session token stops working everywhere (in other daemons within
    TOKEN_CACHE_SECONDS). Pass request.app.state.token_cache so this one forgets it at once."""
    if not token:
        return
    if cache is not None:
        cache.forget(token)
    async with rt.db.write() as session:
        await session.execute(
            update(AuthToken)
            .where(AuthToken.token_hash == hash_token(token), AuthToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )


# --- sign-in links --------------------------------------------------------------------------------


async def send_magic_link(rt: Runtime, email: str) -> None:
    """Email a sign-in link when an active user has this address; otherwise do nothing.

    Runs after the 202 is sent, so the answer (and its timing) says nothing about whether
    the address has an account.
    """
    try:
        async with rt.db.write() as session:
            user = await session.scalar(select(User).where(User.email == email))
            if user is None or not user.is_active:
                return
            token = await issue_token(session, user, "magic")
            link = f"{rt.settings.base_url}/auth/magic/{token}"
            await rt.outbox.enqueue(session, "magic_link", user.email, None, to_name=user.name,
                                    context={"link": link})
    except Exception:
        log.exception("could not queue a sign-in link")


class _LinkRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


async def _use_magic_token(rt: Runtime, token: str) -> tuple[User, str]:
    """Spend a sign-in link (once, atomically) and open a session; returns the user and session token."""
    if not token or len(token) > _MAX_TOKEN_LENGTH:
        raise _LinkRefused(400, "This sign-in link is not valid.")
    now = utcnow()
    async with rt.db.write() as session:
        row = await session.scalar(
            select(AuthToken).where(AuthToken.token_hash == hash_token(token), AuthToken.kind == "magic")
        )
        if row is None:
            raise _LinkRefused(400, "This sign-in link is not valid.")
        if row.used_at is not None or row.revoked_at is not None:
            raise _LinkRefused(410, "This sign-in link has already been used. Ask for a new one.")
        if row.expires_at <= now:
            raise _LinkRefused(410, "This sign-in link has expired. Ask for a new one.")
        spent = await session.execute(
            update(AuthToken).where(AuthToken.id == row.id, AuthToken.used_at.is_(None)).values(used_at=now)
        )
        if spent.rowcount != 1:  # someone else spent it a moment ago
            raise _LinkRefused(410, "This sign-in link has already been used. Ask for a new one.")
        user = await session.get(User, row.user_id)
        if user is None or not user.is_active:
            raise _LinkRefused(400, "This sign-in link is not valid.")
        return user, await issue_token(session, user, "session")


def _link_error(request: Request[Any, Any, Any], exc: _LinkRefused) -> Response[Any]:
    message = str(exc)
    if "text/html" in request.headers.get("accept", ""):
        from maildesk.web.pages.render import render  # pages import this module: import late

        return render(request, "error.html", {"title": "Sign-in link", "status": exc.status, "message": message},
                      status_code=exc.status)
    return Response({"status_code": exc.status, "detail": message}, status_code=exc.status)


# --- the controller ----------------------------------------------------------------------------------


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
    async def logout(self, request: Request[Any, Any, Any], rt: NamedDependency[Runtime]) -> Response[None]:
        await revoke_session(rt, request.auth, request.app.state.token_cache)
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
        email = _normal(data.email)
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
        token: FromPath[str],
    ) -> Response[Any]:
        """Signs the browser in and redirects (303) to /help/tickets; 410 for a used or expired link."""
        try:
            _user, session_token = await _use_magic_token(rt, token)
        except _LinkRefused as exc:
            return _link_error(request, exc)
        return Redirect(AFTER_MAGIC_LINK, status_code=303, cookies=[session_cookie(rt, session_token)])
