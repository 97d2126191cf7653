"""The API's shapes for received mail and suppressed addresses (the admin's mail views)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from msgspec import Struct

from maildesk.models import InboundMessage


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
    """An address maildesk stopped mailing after hard bounces (maildesk/outbound/bounces.py)."""

    email: str
    reason: str | None
    bounce_count: int
    suppressed_at: datetime | None
    cleared_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> "SuppressedOut":
        return cls(email=row.email, reason=row.reason, bounce_count=row.bounce_count,
                   suppressed_at=row.suppressed_at, cleared_at=row.cleared_at)
