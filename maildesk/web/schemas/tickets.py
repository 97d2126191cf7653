"""The API's ticket shapes: request bodies for opening, replying, changing and merging, and tickets out.

Kept apart from the ORM models so the API says only what callers may see; the `of`
helpers convert.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from maildesk.models import Attachment, Ticket, TicketEvent, TicketMessage, utcnow
from maildesk.tickets.change import TicketChange
from maildesk.tickets.due import live_breach
from maildesk.tickets.rules import format_number
from maildesk.web.schemas.fields import (
    Email, Priority, RowId, Status, Strict, Subject, Text, TicketRef, Version, change_value,
)


class TicketIn(Strict):
    subject: Subject
    description: Text
    category: str = "other"
    user_email: Email | None = None


class ReplyIn(Strict):
    body: Text
    version: Version | None = None


class AdminReplyIn(Strict):
    body: Text
    is_internal: bool = False
    version: Version | None = None


class RequesterPatchIn(Strict):
    status: Status
    version: Version | None = None


class AdminPatchIn(Strict):
    """Only the fields present are changed; `assigned_to: null` unassigns."""

    status: Status | UnsetType = UNSET
    priority: Priority | UnsetType = UNSET
    assigned_to: RowId | None | UnsetType = UNSET
    escalated: bool | UnsetType = UNSET
    resolution_notes: Annotated[str, Meta(max_length=20_000)] | None | UnsetType = UNSET
    version: Version | None = None  # not a change: the version the caller saw

    def changes(self) -> TicketChange:
        return TicketChange(**{f: change_value(getattr(self, f)) for f in self.__struct_fields__ if f != "version"})


class MergeIn(Strict):
    into: TicketRef


class AttachmentOut(Struct):
    id: int
    filename: str
    content_type: str
    size: int
    url: str

    @classmethod
    def of(cls, att: Attachment, ticket_number: str) -> "AttachmentOut":
        return cls(id=att.id, filename=att.filename, content_type=att.content_type, size=att.size,
                   url=f"/support/tickets/{ticket_number}/attachments/{att.id}")


class MessageOut(Struct):
    id: int
    sender_email: str
    sender_role: str
    body: str
    is_internal: bool
    source: str
    created_at: datetime
    attachments: list[AttachmentOut] = msgspec.field(default_factory=list)
    # Mail only: From authenticated by a trusted Authentication-Results; null when unknown.
    sender_verified: bool | None = None

    @classmethod
    def of(cls, m: TicketMessage, attachments: list[AttachmentOut] | None = None) -> "MessageOut":
        return cls(id=m.id, sender_email=m.sender_email, sender_role=m.sender_role, body=m.body,
                   is_internal=m.is_internal, source=m.source, created_at=m.created_at,
                   attachments=attachments or [], sender_verified=m.sender_verified)


SlaTarget = Literal["first_response", "resolution"]


def sla_fields(t: Any, now: datetime | None = None) -> dict[str, Any]:
    """The SLA fields of a ticket (or a queue row): stored due times and the breach as of now."""
    return {
        "first_response_due_at": t.first_response_due_at,
        "resolution_due_at": t.resolution_due_at,
        "sla_breached": live_breach(t.sla_breached, t.first_response_due_at, t.resolution_due_at, now or utcnow()),
    }


class TicketSummary(Struct):
    id: int
    ticket_number: str
    subject: str
    status: str
    priority: str
    category: str
    user_email: str
    assigned_to: int | None
    escalated: bool
    source: str
    created_at: datetime
    updated_at: datetime
    first_response_at: datetime | None
    # SLA (tickets/clocks.py): due while the clock runs, else null; the first target missed.
    first_response_due_at: datetime | None = None
    resolution_due_at: datetime | None = None
    sla_breached: SlaTarget | None = None

    @classmethod
    def of(cls, t: Ticket) -> "TicketSummary":
        return cls(
            id=t.id, ticket_number=t.ticket_number or "", subject=t.subject, status=t.status,
            priority=t.priority, category=t.category, user_email=t.user_email,
            assigned_to=t.assigned_to, escalated=t.escalated, source=t.source,
            created_at=t.created_at, updated_at=t.updated_at, first_response_at=t.first_response_at,
            **sla_fields(t),
        )

    @classmethod
    def of_row(cls, row: Any, now: datetime | None = None) -> "TicketSummary":
        """From a row of tickets.queries.SUMMARY_COLUMNS (same order as the fields); `now`, the
        moment the breach is judged at, once for a whole page."""
        return cls(*row[:13], **sla_fields(row, now))

    @classmethod
    def page_of(cls, rows: Any) -> list["TicketSummary"]:
        """A list page's items, every breach judged at the same moment."""
        now = utcnow()
        return [cls.of_row(row, now) for row in rows]


class TicketOut(Struct):
    id: int
    ticket_number: str
    subject: str
    description: str
    status: str
    priority: str
    category: str
    user_email: str
    assigned_to: int | None
    escalated: bool
    escalated_at: datetime | None
    resolution_notes: str | None
    source: str
    created_at: datetime
    updated_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    linked_ticket_id: int | None
    messages: list[MessageOut] = msgspec.field(default_factory=list)
    version: int = 1  # raised by every change; send it back in If-Match to detect collisions
    merged_into: str | None = None  # the number of the ticket this one was merged into
    first_response_due_at: datetime | None = None
    resolution_due_at: datetime | None = None
    sla_breached: SlaTarget | None = None

    @classmethod
    def of(cls, t: Ticket, messages: list[MessageOut]) -> "TicketOut":
        return cls(
            id=t.id, ticket_number=t.ticket_number or "", subject=t.subject, description=t.description,
            status=t.status, priority=t.priority, category=t.category, user_email=t.user_email,
            assigned_to=t.assigned_to, escalated=t.escalated, escalated_at=t.escalated_at,
            resolution_notes=t.resolution_notes, source=t.source, created_at=t.created_at,
            updated_at=t.updated_at, first_response_at=t.first_response_at, resolved_at=t.resolved_at,
            closed_at=t.closed_at, linked_ticket_id=t.linked_ticket_id, messages=messages,
            version=t.version or 1,
            merged_into=format_number(t.merged_into) if t.merged_into is not None else None,
            **sla_fields(t),
        )


class EventOut(Struct):
    id: int
    kind: str
    actor: str
    old_value: str | None
    new_value: str | None
    detail: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, e: TicketEvent) -> "EventOut":
        return cls(id=e.id, kind=e.kind, actor=e.actor, old_value=e.old_value, new_value=e.new_value,
                   detail=e.detail or {}, created_at=e.created_at)


class AdminTicketOut(TicketOut):
    participants: list[str] = msgspec.field(default_factory=list)
    events: list[EventOut] = msgspec.field(default_factory=list)


class TicketPage(Struct):
    items: list[TicketSummary]
    total: int
    page: int
    page_size: int
