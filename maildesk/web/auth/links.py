"""Sign-in links: emailing one, and spending one (single-use, 30 minutes) to open a session.

`queue_magic_link` and `use_magic_token` work inside the caller's write transaction (a
handler's `db_write`); `send_magic_link` opens its own, as it runs after the response.
"""

from __future__ import annotations

import logging

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.outbound.tokens import hash_token
from maildesk.models import AuthToken, User, utcnow
from maildesk.runtime import Runtime
from maildesk.web.auth.tokens import MAX_TOKEN_LENGTH, issue_token

log = logging.getLogger("maildesk.web.auth")  # the name it had before the split: logging config keeps working


async def queue_magic_link(rt: Runtime, session: AsyncSession, email: str) -> bool:
    """Queue a sign-in link email inside the caller's write transaction when an active user
    has this address (True); otherwise do nothing (False)."""
    user = await session.scalar(select(User).where(User.email == email))
    if user is None or not user.is_active:
        return False
    token = await issue_token(session, user, "magic")
    link = f"{rt.settings.base_url}/auth/magic/{token}"
    await rt.outbox.enqueue(session, "magic_link", user.email, None, to_name=user.name, context={"link": link})
    return True


async def send_magic_link(rt: Runtime, email: str) -> None:
    """Email a sign-in link when an active user has this address; otherwise do nothing.

    Runs after the 202 is sent (a background task, so its own transaction: a request's
    dependencies are cleaned up before that), so the answer (and its timing) says nothing
    about whether the address has an account.
    """
    try:
        async with rt.db.write() as session:
            await queue_magic_link(rt, session, email)
    except Exception:
        log.exception("could not queue a sign-in link")


class LinkRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


async def use_magic_token(session: AsyncSession, token: str) -> tuple[User, str]:
    """Spend a sign-in link (once, atomically) and open a session inside the caller's write
    transaction; returns the user and session token. LinkRefused (raised: the caller's
    transaction rolls back) when the link is unknown, used or expired."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise LinkRefused(400, "This sign-in link is not valid.")
    now = utcnow()
    row = await session.scalar(
        select(AuthToken).where(AuthToken.token_hash == hash_token(token), AuthToken.kind == "magic")
    )
    if row is None:
        raise LinkRefused(400, "This sign-in link is not valid.")
    if row.used_at is not None or row.revoked_at is not None:
        raise LinkRefused(410, "This sign-in link has already been used. Ask for a new one.")
    if row.expires_at <= now:
        raise LinkRefused(410, "This sign-in link has expired. Ask for a new one.")
    spent = await session.execute(
        update(AuthToken).where(AuthToken.id == row.id, AuthToken.used_at.is_(None)).values(used_at=now)
    )
    if spent.rowcount != 1:  # someone else spent it a moment ago
        raise LinkRefused(410, "This sign-in link has already been used. Ask for a new one.")
    user = await session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise LinkRefused(400, "This sign-in link is not valid.")
    return user, await issue_token(session, user, "session")
