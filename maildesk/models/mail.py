"""The mail queues: messages received (inbound), the outbox, suppressed addresses, IMAP's memory."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from maildesk.models.base import Base, Id, utcnow


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
    # From authenticated by a trusted Authentication-Results (mime/senderauth.py); None: unknown.
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


class SuppressedAddress(Base):
    """Hard-bounce history of an address, and whether maildesk stops mailing it (outbound/bounces.py).

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
