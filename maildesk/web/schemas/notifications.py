"""The API's shapes for an admin's notifications: marking read, and notifications out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from msgspec import Meta, Struct

from maildesk.models import Notification
from maildesk.tickets.rules import format_number
from maildesk.web.schemas.fields import Strict


class NotificationsReadIn(Strict):
    """Either the ids to mark read, or all: true."""

    ids: Annotated[list[int], Meta(max_length=1000)] | None = None
    all: bool = False


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
