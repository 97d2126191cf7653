"""Password sign-in and sign-out (the JSON API and the /login page share these)."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request
from litestar.exceptions import NotAuthorizedException
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.outbound.tokens import hash_token
from maildesk.models import AuthToken, User, utcnow
from maildesk.runtime import Runtime
from maildesk.tickets.users import normal_email, verify_password
from maildesk.web.auth.cache import TokenCache
from maildesk.web.auth.limits import begin_login, client_ip, end_login
from maildesk.web.auth.tokens import issue_token
from maildesk.web.ratelimit import RateLimiter

WRONG_LOGIN = "wrong email or password"


async def password_sign_in(
    rt: Runtime, limiter: RateLimiter, request: Request[Any, Any, Any], email: str, password: str
) -> tuple[User, str]:
    """Check a password and open a session: (user, session token). 429 when rate-limited; the
    same 401 for an unknown address and a wrong password.

    Not a handler's db_session/db_write on purpose: a short read, then argon2 (slow, in a
    thread) outside any transaction, then a short write, so SQLite's write lock is never held
    while a password is checked."""
    email = normal_email(email)
    keys = begin_login(limiter, email, client_ip(request))
    ok = False
    try:
        async with rt.db.read() as session:
            user = await session.scalar(select(User).where(User.email == email))
        # argon2 is deliberately slow: off the event loop, and run for unknown addresses too.
        ok = await asyncio.to_thread(verify_password, user.password_hash if user else None, password)
        ok = ok and user is not None and user.is_active
    finally:
        end_login(limiter, keys, ok)
    if not ok or user is None:
        raise NotAuthorizedException(WRONG_LOGIN)
    async with rt.db.write() as session:
        token = await issue_token(session, user)
    return user, token


async def revoke_session(session: AsyncSession, token: str | None, cache: TokenCache | None = None) -> None:
    """Sign out, inside the caller's write transaction: the session token stops working
    everywhere (in other daemons within TOKEN_CACHE_SECONDS). Pass request.app.state.token_cache
    so this one forgets it at once."""
    if not token:
        return
    if cache is not None:
        cache.forget(token)
    await session.execute(
        update(AuthToken)
        .where(AuthToken.token_hash == hash_token(token), AuthToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
