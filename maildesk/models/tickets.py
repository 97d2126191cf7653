"""A ticket and its conversation: participants, messages with their attachments, the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from maildesk.models.base import Base, Id, utcnow


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_status_created", "status", "created_at"),
        Index("ix_tickets_user_created", "user_id", "created_at"),
        # The admin queue's default and "recently active" orders (migration 0004).
        Index("ix_tickets_created_at", "created_at"),
        Index("ix_tickets_updated_at", "updated_at"),
        # Covers everything tickets/stats.py reads, so the dashboard scans narrow index entries,
        # not the rows (ticket_stats the whole table, sla_report a range of created_at;
        # ix_tickets_unstored: the same over the rows without stored outcomes; migration 0012).
        Index(
            "ix_tickets_stats", "status", "priority", "category", "first_response_wall_seconds",
            "resolution_wall_seconds", "escalated", "sla_basis",
        ),
        Index(
            "ix_tickets_unstored", "status", "priority", "category", "escalated", "created_at", "first_response_at",
            "resolved_at", "closed_at", "sla_basis",
            sqlite_where=text("sla_basis IS NULL"), postgresql_where=text("sla_basis IS NULL"),
        ),
        Index(
            "ix_tickets_sla_report", "created_at", "sla_basis", "priority", "category", "status", "first_response_at",
            "first_response_due_at", "resolution_due_at", "first_response_seconds", "resolution_seconds",
        ),
        Index("ix_tickets_resolved_at", "resolved_at"),
        Index("ix_tickets_satisfaction", "satisfaction_at", "satisfaction_rating"),
        # Which tickets were merged into this one (every ticket view asks: tickets/merge.py);
        # partial, as merged tickets are few (migration 0013).
        Index(
            "ix_tickets_merged_into", "merged_into",
            sqlite_where=text("merged_into IS NOT NULL"), postgresql_where=text("merged_into IS NOT NULL"),
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
    # The clocks' outcomes, stored with the due times (tickets/due.py, migration 0012) so the
    # stats aggregate numbers: business seconds each clock used once it is not running,
    # wall-clock seconds from creation to the first reply and to resolution, and the
    # fingerprint of the calendar and targets they were computed with (null: not stored yet).
    first_response_seconds: Mapped[float | None] = mapped_column(Float)
    resolution_seconds: Mapped[float | None] = mapped_column(Float)
    first_response_wall_seconds: Mapped[float | None] = mapped_column(Float)
    resolution_wall_seconds: Mapped[float | None] = mapped_column(Float)
    sla_basis: Mapped[str | None] = mapped_column(String(32))
    # Satisfaction (tickets/csat.py, migration 0010): the requester's one rating (good | bad),
    # changeable until the ticket is closed, with an optional comment.
    satisfaction_rating: Mapped[str | None] = mapped_column(String(8))
    satisfaction_comment: Mapped[str | None] = mapped_column(Text)
    satisfaction_at: Mapped[datetime | None]

    messages: Mapped[list[TicketMessage]] = relationship(
        back_populates="ticket", order_by="TicketMessage.id", lazy="raise"
    )


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
    # From authenticated by a trusted Authentication-Results (mime/senderauth.py); None: unknown.
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
