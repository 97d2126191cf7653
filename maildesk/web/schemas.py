"""The JSON API's shapes: request bodies (strict: unknown fields are refused) and responses.

Kept apart from the ORM models so the API says only what callers may see; the `from_*`
helpers convert. Request Structs use forbid_unknown_fields, so a misspelt field is a 422
naming it rather than a silently ignored value.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from maildesk.models import Attachment, InboundMessage, Notification, Ticket, TicketEvent, TicketMessage, User, utcnow
from maildesk.tickets.due import live_breach
from maildesk.tickets.rules import format_number

Status = Literal["open", "in_progress", "waiting_on_user", "resolved", "closed"]
Priority = Literal["urgent", "high", "medium", "low"]

Email = Annotated[str, Meta(min_length=3, max_length=320, pattern=r"^[^@\s<>,]+@[^@\s<>,]+$")]
Subject = Annotated[str, Meta(max_length=500)]
Text = Annotated[str, Meta(min_length=1, max_length=200_000)]
Password = Annotated[str, Meta(max_length=1024)]
# A row id: what fits a 64-bit SQL integer (a larger one is 422 naming the field, not an
# OverflowError in the database driver).
MAX_ID = 2**63 - 1
RowId = Annotated[int, Meta(ge=1, le=MAX_ID)]
# The ticket version a change was made from (collision check); If-Match carries the same.
Version = Annotated[int, Meta(ge=1)]
TicketRef = Annotated[str, Meta(min_length=1, max_length=32)]


class _Strict(Struct, forbid_unknown_fields=True):
    pass


# --- requests --------------------------------------------------------------------------------


class LoginIn(_Strict):
    email: Annotated[str, Meta(max_length=320)]
    password: Password


class MagicLinkIn(_Strict):
    email: Annotated[str, Meta(max_length=320)]


class TicketIn(_Strict):
    subject: Subject
    description: Text
    category: str = "other"
    user_email: Email | None = None


class ContactIn(_Strict):
    email: Email
    category: str
    description: Text
    name: Annotated[str, Meta(max_length=200)] = ""
    subject: Subject = ""


class ReplyIn(_Strict):
    body: Text
    version: Version | None = None


class AdminReplyIn(_Strict):
    body: Text
    is_internal: bool = False
    version: Version | None = None


class RequesterPatchIn(_Strict):
    status: Status
    version: Version | None = None


class AdminPatchIn(_Strict):
    """Only the fields present are changed; `assigned_to: null` unassigns."""

    status: Status | UnsetType = UNSET
    priority: Priority | UnsetType = UNSET
    assigned_to: RowId | None | UnsetType = UNSET
    escalated: bool | UnsetType = UNSET
    resolution_notes: Annotated[str, Meta(max_length=20_000)] | None | UnsetType = UNSET
    version: Version | None = None  # not a change: the version the caller saw

    def changes(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__struct_fields__
                if f != "version" and getattr(self, f) is not UNSET}


class MergeIn(_Strict):
    into: TicketRef


class BulkChanges(_Strict):
    status: Status | UnsetType = UNSET
    priority: Priority | UnsetType = UNSET
    assigned_to: int | None | UnsetType = UNSET

    def changes(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__struct_fields__ if getattr(self, f) is not UNSET}


class BulkIn(_Strict):
    tickets: Annotated[list[int | TicketRef], Meta(min_length=1, max_length=500)]
    changes: BulkChanges


class NotificationsReadIn(_Strict):
    """Either the ids to mark read, or all: true."""

    ids: Annotated[list[int], Meta(max_length=1000)] | None = None
    all: bool = False


# --- responses -------------------------------------------------------------------------------


class UserOut(Struct):
    id: int
    email: str
    name: str
    role: str

    @classmethod
    def of(cls, user: User) -> "UserOut":
        return cls(id=user.id, email=user.email, name=user.name, role=user.role)


class AdminUserOut(UserOut):
    is_active: bool = True
    created_at: datetime | None = None

    @classmethod
    def of(cls, user: User) -> "AdminUserOut":
        return cls(id=user.id, email=user.email, name=user.name, role=user.role,
                   is_active=user.is_active, created_at=user.created_at)


class LoginOut(Struct):
    token: str
    user: UserOut


class Detail(Struct):
    detail: str


class ErrorOut(Struct):
    """Every error: the HTTP status again, and what is wrong (naming the field for 422)."""

    status_code: int
    detail: str


_ERROR_TEXT = {
    400: "The body is not valid JSON",
    401: "Not signed in, or the token was revoked or expired",
    403: "Signed in, but not allowed",
    404: "No such ticket (or attachment, or message)",
    409: "The ticket rules refuse the change; the detail says what is allowed",
    410: "The sign-in link was used already or has expired",
    422: "A field is wrong: unknown, wrong type, or a value not allowed; the detail names it",
    429: "Too many attempts; see Retry-After",
}


def errors(*codes: int) -> dict[int, Any]:
    """OpenAPI `responses` for the error statuses a handler can answer."""
    from litestar.openapi.datastructures import ResponseSpec

    return {
        code: ResponseSpec(data_container=ErrorOut, description=_ERROR_TEXT[code], generate_examples=False)
        for code in codes
    }


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


def sla_fields(t: Any) -> dict[str, Any]:
    """The SLA fields of a ticket (or a queue row): stored due times and the breach as of now."""
    return {
        "first_response_due_at": t.first_response_due_at,
        "resolution_due_at": t.resolution_due_at,
        "sla_breached": live_breach(t.sla_breached, t.first_response_due_at, t.resolution_due_at, utcnow()),
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
    def of_row(cls, row: Any) -> "TicketSummary":
        """From a row of tickets.queries.SUMMARY_COLUMNS (same order as the fields)."""
        return cls(*row[:13], **sla_fields(row))


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


class ContactOut(Struct):
    ticket_number: str
    id: int
    message: str


class TicketPage(Struct):
    items: list[TicketSummary]
    total: int
    page: int
    page_size: int


class UserPage(Struct):
    items: list[AdminUserOut]
    total: int
    page: int
    page_size: int


class InboundOut(Struct):
    id: int
    message_id: str | None
    from_addr: str | None
    subject: str | None
    status: str
    reason: str | None
    classification: str | None
    matched_by: str | None
    ticket_id: int | None
    ticket_number: str | None
    source: str
    size: int
    attempts: int
    received_at: datetime
    processed_at: datetime | None
    sender_verified: bool | None = None  # see MessageOut

    @classmethod
    def of(cls, m: InboundMessage, ticket_number: str | None) -> "InboundOut":
        return cls(
            id=m.id, message_id=m.message_id, from_addr=m.from_addr, subject=m.subject, status=m.status,
            reason=m.reason, classification=m.classification, matched_by=m.matched_by,
            ticket_id=m.ticket_id, ticket_number=ticket_number, source=m.source, size=m.size,
            attempts=m.attempts, received_at=m.received_at, processed_at=m.processed_at,
            sender_verified=m.sender_verified,
        )


class InboundPage(Struct):
    items: list[InboundOut]
    total: int
    page: int
    page_size: int


class SuppressedOut(Struct):
    """An address maildesk stopped mailing after hard bounces (maildesk/mail/bounces.py)."""

    email: str
    reason: str | None
    bounce_count: int
    suppressed_at: datetime | None
    cleared_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> "SuppressedOut":
        return cls(email=row.email, reason=row.reason, bounce_count=row.bounce_count,
                   suppressed_at=row.suppressed_at, cleared_at=row.cleared_at)


class EscalatedOut(Struct):
    escalated: list[str]


class DayCount(Struct):
    day: str  # YYYY-MM-DD (UTC)
    count: int


class SlaOut(Struct):
    """First-response SLA compliance; see maildesk.tickets.stats for the definition."""

    compliance: float | None  # met / total, None when there are no tickets
    met: int
    missed: int
    by_priority: dict[str, float | None]
    window_hours: dict[str, float]


class ComplianceOut(Struct):
    met: int
    missed: int
    compliance: float | None  # met / (met + missed), None without tickets


class TargetOut(Struct):
    """One SLA target (first response or resolution) over the tickets opened in the range."""

    target_hours: dict[str, float]  # per priority, business hours
    median_hours: float | None  # business hours, over the clocks that stopped
    p90_hours: float | None
    samples: int  # how many clocks stopped (answered / resolved)
    met: int
    missed: int
    compliance: float | None
    by_priority: dict[str, ComplianceOut]
    by_category: dict[str, ComplianceOut]


class DailyOut(Struct):
    day: str  # YYYY-MM-DD (UTC)
    opened: int
    resolved: int


class RangeOut(Struct):
    from_: str = msgspec.field(name="from")
    to: str = ""


class SatisfactionStatsOut(Struct):
    """Ratings given in the stats range: score = good / rated (null when none)."""

    good: int
    bad: int
    rated: int
    score: float | None


class StatsOut(Struct):
    total: int
    by_status: dict[str, int]
    by_priority: dict[str, int]
    by_category: dict[str, int]
    by_day: list[DayCount]
    open_escalated: int
    avg_first_response_seconds: float | None
    avg_resolution_seconds: float | None
    sla: SlaOut
    generated_at: datetime
    # The SLA report over ?from=&to= (tickets opened in the range; tickets/stats.sla_report).
    range: RangeOut | None = None
    daily: list[DailyOut] = msgspec.field(default_factory=list)
    first_response: TargetOut | None = None
    resolution: TargetOut | None = None
    satisfaction: SatisfactionStatsOut | None = None


class BulkResult(Struct, omit_defaults=True):
    """One ticket's outcome in a bulk change: ok, or the error it would have had on its own."""

    ticket: str
    ok: bool
    status_code: int | None = None
    detail: str | None = None


class BulkOut(Struct):
    results: list[BulkResult]


class NotificationOut(Struct):
    id: int
    kind: str  # new_ticket | reply | escalation | assigned | mention
    ticket_id: int | None
    ticket_number: str | None
    text: str
    created_at: datetime
    read_at: datetime | None

    @classmethod
    def of(cls, n: Notification) -> "NotificationOut":
        return cls(id=n.id, kind=n.kind, ticket_id=n.ticket_id,
                   ticket_number=format_number(n.ticket_id) if n.ticket_id is not None else None,
                   text=n.text, created_at=n.created_at, read_at=n.read_at)


class NotificationPage(Struct):
    items: list[NotificationOut]
    total: int
    page: int
    page_size: int
    unread: int


class NotificationsReadOut(Struct):
    marked: int  # how many of yours went from unread to read
    unread: int
