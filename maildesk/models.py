"""The ORM models: every table maildesk stores, in one place that matches the migrations.

Times are stored as UTC and always come back timezone-aware, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC (SQLite has no time zones)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


# BigInteger ids on PostgreSQL, INTEGER PRIMARY KEY (the rowid) on SQLite.
Id = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(16), default="user")  # user | admin
    password_hash: Mapped[str | None] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_status_created", "status", "created_at"),
        Index("ix_tickets_user_created", "user_id", "created_at"),
        # The admin queue's default and "recently active" orders (migration 0004).
        Index("ix_tickets_created_at", "created_at"),
        Index("ix_tickets_updated_at", "updated_at"),
        # Covers everything tickets/stats.py reads, so the dashboard scans the index, not the rows.
        Index(
            "ix_tickets_stats", "status", "priority", "category", "escalated",
            "created_at", "first_response_at", "resolved_at", "closed_at",
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    # Assigned from the row id inside the creating transaction: SUP-00042.
    ticket_number: Mapped[str | None] = mapped_column(String(32), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    user_email: Mapped[str] = mapped_column(String(320))
    category: Mapped[str] = mapped_column(String(64), default="other")
    priority: Mapped[str] = mapped_column(String(16), default="medium")
    status: Mapped[str] = mapped_column(String(32), default="open")
    subject: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text)
    assigned_to: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    escalated_at: Mapped[datetime | None]
    resolution_notes: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    first_response_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    source: Mapped[str] = mapped_column(String(16), default="email")  # email | api | contact
    # The Message-ID every outbound mail of this ticket threads under.
    root_message_id: Mapped[str | None] = mapped_column(String(998))
    linked_ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    # Raised by every change (tickets/service.py); a stale one in If-Match is a 409 (migration 0009).
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # Set when this ticket was merged into another one (tickets/merge.py); it is then closed.
    merged_into: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    # SLA clocks (tickets/clocks.py, migration 0007): due times while each clock runs (null
    # otherwise), kept current by the service at every change and by the SLA pass, so the
    # queue sorts by them in SQL; the first target missed; when each breach was escalated.
    first_response_due_at: Mapped[datetime | None]
    resolution_due_at: Mapped[datetime | None]
    sla_breached: Mapped[str | None] = mapped_column(String(16))
    first_response_escalated_at: Mapped[datetime | None]
    resolution_escalated_at: Mapped[datetime | None]
    # Satisfaction (tickets/csat.py, migration 0010): the requester's one rating (good | bad),
    # changeable until the ticket is closed, with an optional comment.
    satisfaction_rating: Mapped[str | None] = mapped_column(String(8))
    satisfaction_comment: Mapped[str | None] = mapped_column(Text)
    satisfaction_at: Mapped[datetime | None]

    messages: Mapped[list[TicketMessage]] = relationship(
        back_populates="ticket", order_by="TicketMessage.id", lazy="raise"
    )


class Notification(Base):
    """An in-app notice for one admin about a ticket (tickets/notify.py); unread until read_at."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_read", "user_id", "read_at", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))  # new_ticket | reply | escalation | assigned | mention
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]


class TicketParticipant(Base):
    """Addresses besides the requester who may post to a ticket (CCs of the first message)."""

    __tablename__ = "ticket_participants"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TicketMessage(Base):
    __tablename__ = "ticket_messages"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    sender_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    sender_email: Mapped[str] = mapped_column(String(320))
    sender_role: Mapped[str] = mapped_column(String(16))  # user | admin | system
    body: Mapped[str] = mapped_column(Text)  # what is shown: quotes and signature stripped
    full_body: Mapped[str | None] = mapped_column(Text)  # the whole text as received
    body_html: Mapped[str | None] = mapped_column(Text)  # sanitised HTML, when the mail had some
    is_internal: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(16), default="web")  # email | web | api | system
    email_message_id: Mapped[str | None] = mapped_column(String(998), index=True)
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    # From authenticated by a trusted Authentication-Results (mail/senderauth.py); None: unknown.
    sender_verified: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="messages", lazy="raise")
    attachments: Mapped[list[Attachment]] = relationship(order_by="Attachment.id", lazy="raise")


class Attachment(Base):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("ticket_messages.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))  # sanitised, for display only
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Integer)
    storage_key: Mapped[str] = mapped_column(String(128), unique=True)  # generated; the path on disk
    content_id: Mapped[str | None] = mapped_column(String(998))
    inline: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TicketEvent(Base):
    """The audit trail: who changed what on a ticket, and when."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(320))  # email address, or "system"
    kind: Mapped[str] = mapped_column(String(32))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class InboundMessage(Base):
    """A raw message as received (SMTP or IMAP), stored before it is answered with 250."""

    __tablename__ = "inbound_messages"
    __table_args__ = (Index("ix_inbound_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    # Message-ID, or sha256 of the content when there is none: the duplicate check.
    dedupe_key: Mapped[str] = mapped_column(String(1000), unique=True)
    message_id: Mapped[str | None] = mapped_column(String(998))
    envelope_from: Mapped[str | None] = mapped_column(String(998))
    envelope_to: Mapped[list[str]] = mapped_column(JSON, default=list)
    source: Mapped[str] = mapped_column(String(16), default="smtp")  # smtp | imap
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str | None] = mapped_column(String(500))
    from_addr: Mapped[str | None] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(16), default="received")  # received | processed | failed | ignored
    reason: Mapped[str | None] = mapped_column(Text)
    classification: Mapped[str | None] = mapped_column(String(32))
    matched_by: Mapped[str | None] = mapped_column(String(32))
    # From authenticated by a trusted Authentication-Results (mail/senderauth.py); None: unknown.
    sender_verified: Mapped[bool | None] = mapped_column(Boolean)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_until: Mapped[datetime | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]


class OutboundMessage(Base):
    """The transactional outbox: a rendered email waiting for (or done with) delivery."""

    __tablename__ = "outbound_messages"
    __table_args__ = (
        Index("ix_outbound_due", "status", "next_attempt_at"),
        Index("ix_outbound_to_created", "to_addr", "created_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # confirmation | update | new_ticket | escalation | magic_link
    to_addr: Mapped[str] = mapped_column(String(320))
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    subject: Mapped[str] = mapped_column(String(998))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    automatic: Mapped[bool] = mapped_column(Boolean, default=False)  # counts against the per-address budget
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sending | sent | failed | suppressed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class AuthToken(Base):
    """Bearer/session tokens and single-use sign-in links; only a hash of the token is stored."""

    __tablename__ = "auth_tokens"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # session | magic
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class SuppressedAddress(Base):
    """Hard-bounce history of an address, and whether maildesk stops mailing it (mail/bounces.py).

    One row per address. `suppressed_at` set and `cleared_at` empty: the outbox stores mail to
    it as `suppressed` instead of sending. An admin clears it; the count then starts again.
    """

    __tablename__ = "suppressed_addresses"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    reason: Mapped[str | None] = mapped_column(Text)  # the latest hard bounce: status and remote answer
    bounce_count: Mapped[int] = mapped_column(Integer, default=0)  # hard bounces in the current window
    first_bounce_at: Mapped[datetime | None]  # start of the counting window
    last_bounce_at: Mapped[datetime | None]
    suppressed_at: Mapped[datetime | None]
    cleared_at: Mapped[datetime | None]
    cleared_by: Mapped[str | None] = mapped_column(String(320))

    @property
    def active(self) -> bool:
        return self.suppressed_at is not None and self.cleared_at is None


class ImapSeen(Base):
    """A message the IMAP poller has taken from a mailbox kept under MAILDESK_IMAP_AFTER=keep.

    Keyed by mailbox (URL without the password), UIDVALIDITY and UID (RFC 3501 §2.3.1.1: a
    UID names one message only while the folder's UIDVALIDITY stays the same), so a message
    is never taken twice, whatever its flags say.
    """

    __tablename__ = "imap_seen"

    mailbox: Mapped[str] = mapped_column(String(600), primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    uid: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    taken_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookEndpoint(Base):
    """A URL the host site registered for ticket events (maildesk/webhooks/).

    The secret is kept (it signs every delivery) and shown only once, when created. An endpoint
    whose deliveries keep failing for the whole retry schedule is disabled with the reason.
    """

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    secret: Mapped[str] = mapped_column(String(200))  # whsec_<base64>, Standard Webhooks format
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    last_success_at: Mapped[datetime | None]
    created_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One event for one endpoint, written with the change (a webhook outbox row).

    `event_id` is the `webhook-id` header: the same on every retry, and unique per endpoint,
    so the receiver can drop a repeat and maildesk never queues one event twice.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_deliveries_endpoint_event"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint_id", "endpoint_id", "id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(32))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    payload: Mapped[str] = mapped_column(Text)  # the JSON body exactly as signed and sent
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_until: Mapped[datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]


class WebhookAttempt(Base):
    """One try at a delivery: when, the HTTP status (None when no answer came) and what went wrong."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int | None] = mapped_column(Integer)


class SavedReply(Base):
    """A canned answer the support team inserts into replies (tickets/saved_replies.py).

    The body is a restricted Jinja template, validated when saved and rendered per ticket.
    """

    __tablename__ = "saved_replies"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
