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

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.config import Settings
from maildesk.outbound import bounces
from maildesk.outbound.compose import Composer
from maildesk.models import OutboundMessage, Ticket, utcnow

# Mail whose sending is triggered by someone else's action, not a person writing: budgeted.
AUTOMATIC_KINDS = frozenset({"confirmation", "magic_link"})
WAKE_SENDER = "wake:sender"
_LOCK_TRIES, _LOCK_PAUSE = 200, 0.05  # up to ~10 s for another transaction's budget lock

log = logging.getLogger("maildesk.outbox")


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

    async def _over_budget(self, session: AsyncSession, to_addr: str) -> bool:
        await self._lock_budget(session, to_addr)
        since = utcnow() - timedelta(hours=1)
        count = await session.scalar(
            select(func.count())
            .select_from(OutboundMessage)
            .where(
                OutboundMessage.to_addr == to_addr,
                OutboundMessage.automatic.is_(True),
                OutboundMessage.status != "suppressed",
                OutboundMessage.created_at >= since,
            )
        )
        return (count or 0) >= self.settings.automail_per_hour

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
        to_addr = to_addr.lower()
        composed = self.composer.compose(kind, to_addr, ticket, to_name=to_name, context=context)
        automatic = kind in AUTOMATIC_KINDS
        row = OutboundMessage(
            ticket_id=ticket.id if ticket else None,
            kind=kind,
            to_addr=to_addr,
            message_id=composed.message_id,
            subject=composed.subject,
            raw=composed.raw,
            automatic=automatic,
            status="pending",
            next_attempt_at=utcnow(),
        )
        suppressed = await bounces.suppression_reason(session, to_addr)
        if suppressed is not None:
            row.status = "suppressed"
            row.last_error = f"not sent: {to_addr} is suppressed ({suppressed}); an admin can clear it"
        elif automatic and await self._over_budget(session, to_addr):
            row.status = "suppressed"
            row.last_error = f"not sent: {to_addr} already got {self.settings.automail_per_hour} automatic emails this hour"
        session.add(row)
        session.info[WAKE_SENDER] = True  # Database.write() wakes the sender after the commit
        return row
