"""What every ticket change works with (`Desk`): the caller's write transaction, the settings,
the outbox and the attachment store, and the bookkeeping each change shares: one timeline
event per thing changed, the version raised once per change, the SLA clocks recomputed.

TicketService (service.py) holds one Desk; the modules that make the changes (creating,
replies, updates, escalation, merge_into) take it.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.attachments import AttachmentStore
from maildesk.config import Settings
from maildesk.models import Ticket, TicketEvent, User, utcnow
from maildesk.outbound.outbox import Outbox
from maildesk.outbound.recipients import admin_addresses, admin_recipients
from maildesk.tickets import due, notify, rules
from maildesk.webhooks import events as webhooks

SYSTEM = "system"


@dataclass
class Desk:
    session: AsyncSession
    settings: Settings
    outbox: Outbox
    attachments: AttachmentStore
    # Tickets inside one change (`change`), and whether that change has raised the version yet.
    changing: dict[int, bool] = field(default_factory=dict)

    async def admin_recipients(self) -> list[str]:
        return await admin_recipients(self.session, self.settings)

    async def active_admins(self) -> list[User]:
        """The active admins, oldest account first. A change that both notifies them in the app
        and mails the team reads them once and passes them to both (`admin_mail_to`)."""
        return await notify.active_admins(self.session)

    def admin_mail_to(self, admins: Sequence[User]) -> list[str]:
        """Where the team's mail goes (MAILDESK_ADMIN_NOTIFY, else these admins' addresses)."""
        return admin_addresses(self.settings, (a.email for a in admins))

    @contextmanager
    def change(self, ticket: Ticket, *, new: bool = False) -> Iterator[None]:
        """One change of a ticket, however many events it records: the version goes up once
        (on its first event). `new`: a ticket being created keeps version 1."""
        if ticket.id in self.changing:
            yield
            return
        self.changing[ticket.id] = new
        try:
            yield
        finally:
            self.changing.pop(ticket.id, None)

    def event(
        self,
        ticket: Ticket,
        actor: User | None,
        kind: str,
        *,
        old_value: Any = None,
        new_value: Any = None,
        detail: dict[str, Any] | None = None,
        bump: bool = True,
    ) -> None:
        """Record a change in the timeline; it raises the ticket's version (once per `change`),
        and the event carries the version it made, so a collision can say what changed since."""
        self.session.add(TicketEvent(**self.event_values(
            ticket, actor, kind, old_value=old_value, new_value=new_value, detail=detail, bump=bump)))

    def event_values(
        self,
        ticket: Ticket,
        actor: User | None,
        kind: str,
        *,
        old_value: Any = None,
        new_value: Any = None,
        detail: dict[str, Any] | None = None,
        bump: bool = True,
    ) -> dict[str, Any]:
        """`event`'s bookkeeping (webhooks, version), returning the event row's columns instead
        of adding it: for a change that writes its rows with Core INSERTs (creating.py)."""
        webhooks.track(self.session, ticket, kind, old_value)
        if bump and not self.changing.get(ticket.id, False):
            ticket.version = (ticket.version or 1) + 1
            if ticket.id in self.changing:
                self.changing[ticket.id] = True
        detail = {**(detail or {}), "version": ticket.version}
        return dict(
            ticket_id=ticket.id,
            actor_user_id=actor.id if actor else None,
            actor=actor.email if actor else SYSTEM,
            kind=kind,
            old_value=None if old_value is None else str(old_value),
            new_value=None if new_value is None else str(new_value),
            detail=detail,
            created_at=utcnow(),
        )

    async def refresh_clocks(self, ticket: Ticket) -> None:
        """Recompute the SLA due times after a change (status, priority, first response)."""
        await due.refresh(self.session, ticket, self.settings, utcnow())

    def set_status(self, ticket: Ticket, actor: User | None, status: str, *, check: bool = True) -> None:
        if ticket.status == status:
            return
        if check:
            rules.check_transition(ticket.status, status)
        old, now = ticket.status, utcnow()
        ticket.status = status
        ticket.updated_at = now
        if status == "resolved":
            ticket.resolved_at = now
        elif status == "closed":
            ticket.closed_at = now
        elif old == "resolved":
            ticket.resolved_at = None
        self.event(ticket, actor, "status", old_value=old, new_value=status)
