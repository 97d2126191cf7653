"""The transactional outbox: queue outbound mail in the caller's transaction.

Mail is rendered and written as a row in the same transaction as the ticket change that
causes it, so a change is never committed without its mail nor mail sent for a change that
rolled back. The sender worker (sender.py) delivers the rows. Automatic mail to one address
(confirmations, sign-in links) is capped per hour: over the budget the row is stored as
`suppressed`, so the decision is visible, and nothing is sent. Mail to an address suppressed
after hard bounces (bounces.py) is stored the same way, with that reason.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.config import Settings
from maildesk.outbound import bounces
from maildesk.outbound.compose import Composer
from maildesk.models import OutboundMessage, SuppressedAddress, Ticket, utcnow

# Mail whose sending is triggered by someone else's action, not a person writing: budgeted.
AUTOMATIC_KINDS = frozenset({"confirmation", "magic_link"})
WAKE_SENDER = "wake:sender"
_LOCK_TRIES, _LOCK_PAUSE = 200, 0.05  # up to ~10 s for another transaction's budget lock

log = logging.getLogger("maildesk.outbox")

# What an automatic message needs to know before it is queued, in one statement (built once):
# whether its address is suppressed now (bounces.active_suppressions' test; the address is
# unique there) and how much of the hour's budget it used. Each statement costs a round of
# autoflush, compile-cache lookup and result handling; this is on the path of every new ticket.
_SUPPRESSIONS, _OUTBOX = SuppressedAddress.__table__, OutboundMessage.__table__  # Core: no ORM compile state
_SUPPRESSED_NOW = (
    _SUPPRESSIONS.c.email == bindparam("address"),
    _SUPPRESSIONS.c.suppressed_at.is_not(None),
    _SUPPRESSIONS.c.cleared_at.is_(None),
)
_AUTOMATIC_CHECKS = select(
    select(func.count()).select_from(_SUPPRESSIONS).where(*_SUPPRESSED_NOW).scalar_subquery(),
    select(_SUPPRESSIONS.c.reason).where(*_SUPPRESSED_NOW).limit(1).scalar_subquery(),
    select(func.count())
    .select_from(_OUTBOX)
    .where(
        _OUTBOX.c.to_addr == bindparam("to_addr"),
        _OUTBOX.c.automatic.is_(True),
        _OUTBOX.c.status != "suppressed",
        _OUTBOX.c.created_at >= bindparam("since"),
    )
    .scalar_subquery(),
)


class Outbox:
    def __init__(self, settings: Settings, composer: Composer) -> None:
        self.settings = settings
        self.composer = composer

    async def _lock_budget(self, session: AsyncSession, to_addr: str) -> None:
        """Serialise count-then-insert for one address across transactions (PostgreSQL).

        Two daemons, or the pipeline and the web app, must not both see 9 and both send the
        10th. A transaction-scoped advisory lock per address does it; SQLite write transactions
        are serialised already. The lock is only tried, never waited on inside PostgreSQL: a
        pipeline batch holds it until commit, and two batches locking two addresses in opposite
        order must not deadlock (that would fail a message). After a bounded wait the count goes
        ahead without it, which at worst lets one extra message through.
        """
        if session.bind.dialect.name != "postgresql":
            return
        digest = hashlib.sha256(b"maildesk-automail:" + to_addr.encode()).digest()
        key = int.from_bytes(digest[:8], "big", signed=True)
        for _ in range(_LOCK_TRIES):
            if await session.scalar(select(func.pg_try_advisory_xact_lock(key))):
                return
            await asyncio.sleep(_LOCK_PAUSE)
        log.warning("automatic-mail budget of %s: lock busy, counting without it", to_addr)

    async def _automatic_checks(self, session: AsyncSession, to_addr: str) -> tuple[str | None, bool]:
        """(why `to_addr` is suppressed or None, whether its hourly budget is used up)."""
        await self._lock_budget(session, to_addr)
        if session.sync_session.autoflush and (session.new or session.dirty or session.deleted):
            await session.flush()  # what session.execute's autoflush would do: count pending mail
        # On the session's connection (Core): the ORM's execution path (compile state, result
        # adaptation) costs more than this one-row read on every new ticket; nothing is loaded.
        connection = await session.connection()
        suppressed, reason, count = (await connection.execute(_AUTOMATIC_CHECKS, {
            "address": to_addr.strip(), "to_addr": to_addr, "since": utcnow() - timedelta(hours=1),
        })).one()
        return ((reason or "suppressed") if suppressed else None), (count or 0) >= self.settings.automail_per_hour

    async def enqueue(
        self,
        session: AsyncSession,
        kind: str,
        to_addr: str,
        ticket: Ticket | None,
        *,
        to_name: str = "",
        context: dict[str, Any] | None = None,
    ) -> OutboundMessage:
        row = OutboundMessage(**await self.prepare(session, kind, to_addr, ticket, to_name=to_name, context=context))
        session.add(row)
        return row

    async def prepare(
        self,
        session: AsyncSession,
        kind: str,
        to_addr: str,
        ticket: Ticket | None,
        *,
        to_name: str = "",
        context: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The outbox row's columns, rendered and checked (suppression, budget), for the caller
        to write in its transaction (`enqueue` adds it; creating.py writes it with Core)."""
        to_addr = to_addr.lower()
        composed = self.composer.compose(kind, to_addr, ticket, to_name=to_name, context=context)
        automatic = kind in AUTOMATIC_KINDS
        row: dict[str, Any] = dict(
            ticket_id=ticket.id if ticket else None,
            kind=kind,
            to_addr=to_addr,
            message_id=composed.message_id,
            subject=composed.subject,
            raw=composed.raw,
            automatic=automatic,
            status="pending",
            next_attempt_at=utcnow(),
            last_error=None,
        )
        if automatic:
            suppressed, over_budget = await self._automatic_checks(session, to_addr)
        else:
            suppressed, over_budget = await bounces.suppression_reason(session, to_addr), False
        if suppressed is not None:
            row["status"] = "suppressed"
            row["last_error"] = f"not sent: {to_addr} is suppressed ({suppressed}); an admin can clear it"
        elif over_budget:
            row["status"] = "suppressed"
            row["last_error"] = f"not sent: {to_addr} already got {self.settings.automail_per_hour} automatic emails this hour"
        session.info[WAKE_SENDER] = True  # Database.write() wakes the sender after the commit
        return row
