"""Webhook events, written in the transaction of the ticket change that causes them.

The ticket service calls `track` from its audit trail (each status, priority, assignee or
escalation change) and `publish` once at the end of each change it makes. `publish` writes
one `webhook_deliveries` row per enabled endpoint subscribed to the event, so a change is
never committed without its events, nor an event sent for a change that rolled back (the
same transactional outbox as mail). Events: `ticket.created`, `ticket.updated` (with the
changed fields, old and new), `message.created` (public messages only) and `note.created`
(internal notes, only for endpoints that subscribe to it).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.models import Ticket, TicketMessage, WebhookDelivery, WebhookEndpoint, utcnow
from maildesk.webhooks.signing import new_event_id

EVENT_TYPES = ("ticket.created", "ticket.updated", "message.created", "note.created")
WAKE_WEBHOOKS = "wake:webhooks"

# Audit-trail event kinds (TicketEvent.kind) that make a ticket.updated, and the field each names.
_TRACKED = {"status": "status", "priority": "priority", "assigned": "assigned_to", "escalated": "escalated"}
_CHANGES = "webhooks:changes"  # session.info: {ticket id: {field: value before this transaction}}
_ENDPOINTS = "webhooks:endpoints"  # session.info: the enabled endpoints, read once per transaction
# Built once: it runs in every transaction that changes a ticket.
_ENABLED = select(WebhookEndpoint.id, WebhookEndpoint.events).where(WebhookEndpoint.enabled.is_(True))


def track(session: AsyncSession, ticket: Ticket, kind: str, old_value: Any) -> None:
    """Remember a field's value before its first change in this transaction (no I/O)."""
    field = _TRACKED.get(kind)
    if field is None:
        return
    changes = session.info.setdefault(_CHANGES, {}).setdefault(ticket.id, {})
    changes.setdefault(field, old_value)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if value else None


def ticket_data(t: Ticket) -> dict[str, Any]:
    return {
        "id": t.id, "ticket_number": t.ticket_number, "subject": t.subject, "status": t.status,
        "priority": t.priority, "category": t.category, "user_email": t.user_email,
        "assigned_to": t.assigned_to, "escalated": t.escalated, "source": t.source,
        "created_at": _iso(t.created_at), "updated_at": _iso(t.updated_at),
        "first_response_at": _iso(t.first_response_at), "resolved_at": _iso(t.resolved_at),
        "closed_at": _iso(t.closed_at),
    }


def message_data(m: TicketMessage) -> dict[str, Any]:
    return {
        "id": m.id, "sender_email": m.sender_email, "sender_role": m.sender_role, "body": m.body,
        "is_internal": m.is_internal, "source": m.source, "created_at": _iso(m.created_at),
    }


def _payload(event_type: str, data: dict[str, Any]) -> str:
    # Standard Webhooks payload shape: {type, timestamp, data}.
    return json.dumps({"type": event_type, "timestamp": _iso(utcnow()), "data": data},
                      separators=(",", ":"), ensure_ascii=False)


async def _endpoints(session: AsyncSession) -> list[tuple[int, tuple[str, ...]]]:
    cached = session.info.get(_ENDPOINTS)
    if cached is None:
        rows = await session.execute(_ENABLED)
        cached = [(row[0], tuple(row[1] or ())) for row in rows]
        session.info[_ENDPOINTS] = cached
    return cached


def _add(session: AsyncSession, endpoints: list[int], event_type: str, ticket: Ticket, data: dict[str, Any]) -> None:
    if not endpoints:
        return
    event_id, body, now = new_event_id(), _payload(event_type, data), utcnow()
    for endpoint_id in endpoints:
        session.add(WebhookDelivery(
            endpoint_id=endpoint_id, event_id=event_id, event_type=event_type, ticket_id=ticket.id,
            payload=body, status="pending", attempts=0, next_attempt_at=now, created_at=now,
        ))
    session.info[WAKE_WEBHOOKS] = True  # Database.write() wakes the delivery worker after the commit


async def publish(
    session: AsyncSession, ticket: Ticket, *, created: bool = False, message: TicketMessage | None = None
) -> None:
    """Write the deliveries for what just happened to `ticket` in this transaction.

    `created`: a ticket.created event; `message`: message.created (or note.created when
    internal); and a ticket.updated for the tracked fields whose value now differs.
    """
    before = session.info.get(_CHANGES, {}).pop(ticket.id, {})
    endpoints = await _endpoints(session)
    if not endpoints:
        return

    def wanting(event_type: str) -> list[int]:
        return [endpoint_id for endpoint_id, events in endpoints if event_type in events]

    # Built inside the session's greenlet: columns refreshed by a flush load on access.
    t = await session.run_sync(lambda _s: ticket_data(ticket))
    if created:
        _add(session, wanting("ticket.created"), "ticket.created", ticket, {"ticket": t})
    if message is not None:
        m = await session.run_sync(lambda _s: message_data(message))
        event_type = "note.created" if message.is_internal else "message.created"
        _add(session, wanting(event_type), event_type, ticket, {"ticket": t, "message": m})
    changes = {
        field: {"old": old, "new": t[field]}
        for field, old in before.items()
        if not created and old != t[field]
    }
    if changes:
        _add(session, wanting("ticket.updated"), "ticket.updated", ticket, {"ticket": t, "changes": changes})
