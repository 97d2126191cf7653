"""One poller per mailbox: a PostgreSQL session advisory lock keyed on the mailbox.

The key is derived from the mailbox URL without the password, so every daemon (and a changed
password) names the same lock. The lock belongs to a database session, not a transaction, and
dies with the connection; on SQLite (no advisory locks) it is always held.
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import AsyncIterator

from sqlalchemy import text

from maildesk.config import ImapConfig
from maildesk.db import Database
from maildesk.intake.imap_mailbox import mailbox_name


def lock_key(cfg: ImapConfig) -> int:
    """A signed 64-bit advisory-lock key for the mailbox (stable across daemons and restarts)."""
    digest = hashlib.sha256(b"maildesk-imap:" + mailbox_name(cfg).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class DatabaseError(Exception):
    """The database, not the IMAP server, failed: said so, so the operator looks in the right place."""


class MailboxLock:
    """The held lock: its connection (None on SQLite), checked while the poller waits."""

    def __init__(self, conn) -> None:  # type: ignore[no-untyped-def]
        self.conn = conn

    async def check(self) -> None:
        """Raise when the connection holding the lock is gone (then so is the lock)."""
        if self.conn is not None:
            try:
                await self.conn.execute(text("SELECT 1"))
                await self.conn.commit()
            except Exception as exc:
                raise DatabaseError(f"lost the mailbox lock: {type(exc).__name__}: {exc}") from exc


@contextlib.asynccontextmanager
async def mailbox_lock(db: Database, cfg: ImapConfig) -> AsyncIterator[MailboxLock | None]:
    """Yield a held lock, or None when another process holds it. SQLite: always held."""
    if db.is_sqlite:
        yield MailboxLock(None)
        return
    key = lock_key(cfg)
    try:
        conn = await db.write_engine.connect()
    except Exception as exc:
        raise DatabaseError(f"{type(exc).__name__}: {exc}") from exc
    try:
        try:
            got = (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})).scalar()
            await conn.commit()  # the lock belongs to the session; no transaction stays open
        except Exception as exc:
            raise DatabaseError(f"{type(exc).__name__}: {exc}") from exc
        if not got:
            yield None
            return
        try:
            yield MailboxLock(conn)
        finally:
            try:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                await conn.commit()
            except Exception:
                # The lock dies with the connection: make sure the pool does not keep it.
                with contextlib.suppress(Exception):
                    await conn.invalidate()
    finally:
        with contextlib.suppress(Exception):
            await conn.close()
