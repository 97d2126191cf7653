"""The ticket service: the one place that changes tickets.

The mail pipeline, the web API and the SLA pass all call this, so every rule (status
transitions, first response, who is told what) lives here once. Each method works inside
the caller's write transaction: it changes rows, records a TicketEvent for the audit trail,
and queues the emails the change causes in the same transaction (outbox.py).

This class is the entry point; the changes themselves live in small modules that take its
`Desk` (desk.py): creating, replies, updates, escalation, merge_into; users in users.py.
"""

from __future__ import annotations

from typing import Any, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.attachments import AttachmentStore
from maildesk.config import Settings
from maildesk.models import Ticket, TicketMessage, User
from maildesk.outbound.outbox import Outbox
from maildesk.tickets import creating, replies, updates, users
from maildesk.tickets.change import TicketChange
from maildesk.tickets.desk import Desk
from maildesk.tickets.errors import ServiceError, UnknownValue
from maildesk.tickets.escalation import escalate
from maildesk.tickets.merge_into import merge_into
from maildesk.tickets.messages import NewMessage, subject_from

__all__ = ["NewMessage", "ServiceError", "TicketService", "UnknownValue", "subject_from"]


class TicketService:
    def __init__(
        self, session: AsyncSession, settings: Settings, outbox: Outbox, attachments: AttachmentStore
    ) -> None:
        self.desk = Desk(session, settings, outbox, attachments)
        self.session = session
        self.settings = settings
        self.outbox = outbox
        self.attachments = attachments

    # --- users (tickets/users.py) -----------------------------------------------------------

    async def user_by_email(self, email: str) -> User | None:
        return await users.user_by_email(self.session, email)

    async def get_or_create_user(self, email: str, name: str = "") -> User:
        """The user record of an address, created on first contact."""
        return (await users.get_or_create_user(self.session, email, name))[0]

    async def admin_recipients(self) -> list[str]:
        return await self.desk.admin_recipients()

    # --- creating (tickets/creating.py) -----------------------------------------------------

    async def open_contact_ticket(
        self, *, email: str, name: str, subject: str, description: str, category: str
    ) -> tuple[Ticket, User]:
        return await creating.open_contact_ticket(
            self.desk, email=email, name=name, subject=subject, description=description, category=category
        )

    async def create_ticket(
        self,
        requester: User,
        *,
        subject: str,
        message: NewMessage,
        category: str = "other",
        priority: str = "medium",
        source: str = "email",
        context: dict[str, Any] | None = None,
        cc: Sequence[str] = (),
        linked_ticket: Ticket | None = None,
        send_confirmation: bool = True,
    ) -> Ticket:
        return await creating.create_ticket(
            self.desk, requester, subject=subject, message=message, category=category, priority=priority,
            source=source, context=context, cc=cc, linked_ticket=linked_ticket,
            send_confirmation=send_confirmation,
        )

    # --- messages (tickets/replies.py) ------------------------------------------------------

    async def requester_reply(self, ticket: Ticket, author: User, message: NewMessage) -> TicketMessage:
        return await replies.requester_reply(self.desk, ticket, author, message)

    async def admin_reply(
        self, ticket: Ticket, admin: User, message: NewMessage, *, is_internal: bool = False
    ) -> TicketMessage:
        return await replies.admin_reply(self.desk, ticket, admin, message, is_internal=is_internal)

    async def record_automatic(self, ticket: Ticket, sender_email: str, message: NewMessage, kind: str) -> None:
        await replies.record_automatic(self.desk, ticket, sender_email, message, kind)

    # --- changes (tickets/updates.py, escalation.py, merge_into.py) -------------------------

    async def update(self, ticket: Ticket, actor: User, change: TicketChange) -> Ticket:
        """An admin's change; all its fields are one change (the version goes up once)."""
        return await updates.update(self.desk, ticket, actor, change)

    async def rate(self, ticket: Ticket, requester: User, rating: str, comment: str | None) -> Ticket:
        return await updates.rate(self.desk, ticket, requester, rating, comment)

    async def confirm_closed(self, ticket: Ticket, requester: User) -> Ticket:
        return await updates.confirm_closed(self.desk, ticket, requester)

    async def close_resolved(self, ticket: Ticket) -> None:
        await updates.close_resolved(self.desk, ticket)

    async def escalate(
        self, ticket: Ticket, actor: User | None, *, reason: str, missed: Sequence[tuple[str, float]] = (),
    ) -> bool:
        return await escalate(self.desk, ticket, actor, reason=reason, missed=missed)

    async def merge(self, source: Ticket, target: Ticket, actor: User) -> Ticket:
        return await merge_into(self.desk, source, target, actor)
