"""Keeping a ticket's stored SLA columns in step with its clocks.

The clocks themselves are pure (tickets/clocks.py); this module reads what they need from
the database (the ticket's status changes in ticket_events) and writes the results to the
ticket row: first_response_due_at, resolution_due_at and sla_breached. The ticket service
calls `refresh` after every change, the SLA pass for every running ticket (so a changed
calendar, targets or clock reaches tickets nobody touched), the stats read the same clocks.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.config import Settings
from maildesk.models import Ticket, TicketEvent
from maildesk.tickets.clocks import FIRST_RESPONSE, RESOLUTION, Clocks, StatusChange, compute

# A ticket's history: the "created" event starts it open, each "status" event names the new status.
_STATUS_KINDS = ("status",)


async def status_changes(session: AsyncSession, ticket_ids: Iterable[int]) -> dict[int, list[StatusChange]]:
    """The status changes of these tickets, oldest first, by ticket id."""
    ids = list(ticket_ids)
    changes: dict[int, list[StatusChange]] = defaultdict(list)
    for start in range(0, len(ids), 500):  # keep the IN list within every driver's limits
        rows = await session.execute(
            select(TicketEvent.ticket_id, TicketEvent.created_at, TicketEvent.new_value)
            .where(TicketEvent.ticket_id.in_(ids[start:start + 500]), TicketEvent.kind.in_(_STATUS_KINDS))
            .order_by(TicketEvent.ticket_id, TicketEvent.created_at, TicketEvent.id)
        )
        for ticket_id, at, new in rows:
            if new:
                changes[ticket_id].append(StatusChange(at, new))
    return changes


def clocks_of(ticket: Any, changes: list[StatusChange], settings: Settings, now: datetime) -> Clocks:
    """Both clocks of a ticket (a Ticket or a row with created_at, first_response_at, priority)."""
    return compute(
        created_at=ticket.created_at,
        changes=changes,
        first_response_at=ticket.first_response_at,
        priority=ticket.priority,
        calendar=settings.calendar,
        first_response_hours=settings.sla_hours,
        resolution_hours=settings.resolution_hours,
        now=now,
    )


def _wanted(clocks: Clocks) -> dict[str, Any]:
    return {
        "first_response_due_at": clocks.first_response.due_at,
        "resolution_due_at": clocks.resolution.due_at,
        "sla_breached": clocks.breached,
    }


def differs(ticket: Ticket, clocks: Clocks) -> bool:
    """True when storing these clocks would change the ticket (its due times are stale)."""
    return any(getattr(ticket, name) != value for name, value in _wanted(clocks).items())


def store(ticket: Ticket, clocks: Clocks) -> bool:
    """Write the clocks' due times and breach to the ticket; True when anything changed.

    The clocks are the authority: a late answer keeps the breach (the clock ran too long),
    a priority lowered in time removes it."""
    changed = False
    for name, value in _wanted(clocks).items():
        if getattr(ticket, name) != value:
            setattr(ticket, name, value)
            changed = True
    return changed


def _unflushed(session: AsyncSession, ticket_id: int) -> list[StatusChange]:
    """The status changes this transaction has added but not yet written (session.new)."""
    return [
        StatusChange(row.created_at, row.new_value)
        for row in session.new
        if isinstance(row, TicketEvent) and row.ticket_id == ticket_id
        and row.kind in _STATUS_KINDS and row.new_value
    ]


async def refresh(session: AsyncSession, ticket: Ticket, settings: Settings, now: datetime) -> Clocks:
    """Recompute one ticket's clocks from its event log and store the due times.

    The log is what is written plus the status events of the change being made that are still
    pending: read without flushing them first, so the change's rows go out in one flush."""
    with session.no_autoflush:
        changes = (await status_changes(session, [ticket.id])).get(ticket.id, [])
    clocks = clocks_of(ticket, changes + _unflushed(session, ticket.id), settings, now)
    store(ticket, clocks)
    return clocks


def start(ticket: Ticket, settings: Settings, now: datetime) -> None:
    """A new ticket's due times, set before its INSERT: its log is its "created" event only."""
    store(ticket, clocks_of(ticket, [], settings, now))


def live_breach(breached: str | None, first_response_due_at: datetime | None,
                resolution_due_at: datetime | None, now: datetime) -> str | None:
    """sla_breached as of now: the stored breach, or a running clock whose due time has passed
    since the ticket was last recomputed."""
    if breached == FIRST_RESPONSE or (first_response_due_at is not None and first_response_due_at <= now):
        return FIRST_RESPONSE
    if breached == RESOLUTION or (resolution_due_at is not None and resolution_due_at <= now):
        return RESOLUTION
    return breached
