"""Session and sign-in-link tokens: issuing them, finding who a session token belongs to, the cookie.

Tokens are `secrets.token_urlsafe(32)`; only their SHA-256 is stored (auth_tokens), so a
database dump does not sign anyone in. A session token works as `Authorization: Bearer` or
as the HttpOnly `maildesk_session` cookie (SameSite=Lax; Secure when BASE_URL is https).
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from litestar.datastructures import Cookie
from sqlalchemy import select

from maildesk.outbound.tokens import hash_token
from maildesk.models import AuthToken, User, utcnow
from maildesk.runtime import Runtime

SESSION_COOKIE = "maildesk_session"
SESSION_LIFETIME = timedelta(days=30)
MAGIC_LIFETIME = timedelta(minutes=30)
MAX_TOKEN_LENGTH = 200


async def issue_token(session: Any, user: User, kind: str = "session") -> str:
    """Create a token for user inside the caller's write transaction; returns the token itself."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    lifetime = SESSION_LIFETIME if kind == "session" else MAGIC_LIFETIME
    session.add(AuthToken(user_id=user.id, token_hash=hash_token(token), kind=kind,
                          created_at=now, expires_at=now + lifetime))
    return token


async def user_for_token(rt: Runtime, token: str) -> User | None:
    """The active user a live session token belongs to, or None.

    Its own read session: the auth middleware calls it, before any handler dependency exists."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
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
