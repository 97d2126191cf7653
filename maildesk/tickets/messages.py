"""A message joining a ticket's thread, whichever way it arrived: `NewMessage` (what it
carries) and `add_message` (the row and its attachments, inside the caller's transaction)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Sequence

from maildesk.models import Attachment, Ticket, TicketMessage, User, utcnow
from maildesk.tickets.desk import SYSTEM, Desk
from maildesk.tickets.rows import insert_object


@dataclass
class NewMessage:
    """What a message carries into a ticket, whichever way it arrived."""

    body: str
    full_body: str | None = None
    body_html: str | None = None
    source: str = "web"  # email | web | api | system
    email_message_id: str | None = None
    inbound_id: int | None = None
    attachments: Sequence[Any] = field(default_factory=tuple)
    sender_verified: bool | None = None  # mail only: see mail/senderauth.py


_SUBJECT_CHARS = 80


def subject_from(description: str) -> str:
    """No subject given: the first line of the description, shortened on a word boundary."""
    first = next((line.strip() for line in description.splitlines() if line.strip()), "")
    if len(first) <= _SUBJECT_CHARS:
        return first or "Contact form"
    return first[:_SUBJECT_CHARS].rsplit(" ", 1)[0].rstrip(" ,.;:") + "…"


def message_values(
    ticket: Ticket,
    author: User | None,
    role: str,
    message: NewMessage,
    *,
    created_at: datetime,
    is_internal: bool = False,
    sender_email: str | None = None,
) -> dict[str, Any]:
    """The message row's columns (for the ORM object or a Core INSERT: one definition)."""
    return dict(
        ticket_id=ticket.id,
        sender_user_id=author.id if author else None,
        sender_email=sender_email or (author.email if author else SYSTEM),
        sender_role=role,
        body=message.body,
        full_body=message.full_body,
        body_html=message.body_html,
        is_internal=is_internal,
        source=message.source,
        email_message_id=message.email_message_id,
        inbound_id=message.inbound_id,
        sender_verified=message.sender_verified,
        created_at=created_at,
    )


def attachment_values(desk: Desk, message: NewMessage, created_at: datetime) -> list[dict[str, Any]]:
    """The attachment rows' columns but their message id; each part's bytes saved to the store."""
    return [
        dict(
            filename=part.filename,
            content_type=part.content_type,
            size=len(part.data),
            storage_key=desk.attachments.save(part.data),
            content_id=part.content_id,
            inline=part.inline,
            created_at=created_at,
        )
        for part in message.attachments
    ]


async def add_message(
    desk: Desk,
    ticket: Ticket,
    author: User | None,
    role: str,
    message: NewMessage,
    *,
    is_internal: bool = False,
    created_at: datetime | None = None,
    sender_email: str | None = None,
    need_id: bool = True,
) -> TicketMessage:
    """The message row and its attachments (written with it: the relationship gives them its id).
    `need_id`: flush now, because the caller records the new row's id; otherwise the row goes
    out with the rest of the change."""
    created_at = created_at or utcnow()
    attachments = [Attachment(**values) for values in attachment_values(desk, message, created_at)]
    row = TicketMessage(
        **message_values(ticket, author, role, message, created_at=created_at, is_internal=is_internal,
                         sender_email=sender_email),
        attachments=attachments,
    )
    if need_id and not attachments:
        # One Core INSERT returning the id (rows.py): no flush of whatever else is pending.
        await insert_object(desk.session, row)
        return row
    desk.session.add(row)
    if need_id:
        await desk.session.flush()
    return row
