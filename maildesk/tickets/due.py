"""Keeping a ticket's stored SLA columns in step with its clocks.

The clocks themselves are pure (tickets/clocks.py); this module reads what they need from
the database (the ticket's status changes in ticket_events) and writes the results to the
ticket row: first_response_due_at, resolution_due_at and sla_breached, and the outcomes the
stats aggregate (migration 0012): the business seconds each clock used once it is not
running, the wall-clock seconds to the first reply and to resolution, and `sla_basis`, the
fingerprint of the calendar and targets they were computed with. The ticket service calls
`start` for a new ticket and `refresh` after every change, so every ticket, running or not,
carries them under the current basis. The SLA pass computes them again for the tickets whose
basis is missing or stale (so a changed calendar or targets reaches tickets nobody touched)
and for the running tickets whose stored due time has come (the breach starts; nothing else
stored changes with time); the stats read the stored outcomes where the basis is current, and
compute the clocks of the other tickets from their event log.

The stored outcomes are a cache of the event log: whoever rewrites a ticket's history by
hand (created_at, first_response_at, priority, status or its status events) sets its
sla_basis to null, and the stats and the next SLA pass compute it afresh; otherwise the pass
trusts the stored due times and takes no notice of the edit.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import bindparam, select
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


def basis(settings: Settings) -> str:
    """The fingerprint of everything besides the event log that the clocks depend on: the
    business calendar (hours, time zone, holidays) and both targets of every priority. Stored
    outcomes with another basis were computed under other settings and are not used."""
    calendar = settings.calendar
    text = repr((
        calendar.week, calendar.zone.key, sorted(calendar.holidays),
        sorted((k, float(v)) for k, v in settings.sla_hours.items()),
        sorted((k, float(v)) for k, v in settings.resolution_hours.items()),
    ))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _seconds(later: datetime | None, earlier: datetime) -> float | None:
    return None if later is None else (later - earlier).total_seconds()


def columns(ticket: Any, clocks: Clocks, basis: str | None) -> dict[str, Any]:
    """The ticket columns these clocks give (a Ticket or a row with created_at,
    first_response_at, resolved_at, closed_at): due times, breach, outcomes under `basis`."""
    fr, res = clocks.first_response, clocks.resolution
    wanted: dict[str, Any] = {
        "first_response_due_at": fr.due_at,
        "resolution_due_at": res.due_at,
        "sla_breached": clocks.breached,
    }
    if basis is None:  # outcomes not known under a basis: stored as unknown (the stats compute them)
        wanted.update(first_response_seconds=None, resolution_seconds=None, first_response_wall_seconds=None,
                      resolution_wall_seconds=None, sla_basis=None)
        return wanted
    wanted.update(
        # A running clock's seconds grow with time: its due time (above) says when it breaches.
        first_response_seconds=None if fr.running else fr.elapsed_seconds,
        resolution_seconds=None if res.running else res.elapsed_seconds,
        first_response_wall_seconds=_seconds(ticket.first_response_at, ticket.created_at),
        resolution_wall_seconds=_seconds(ticket.resolved_at or ticket.closed_at, ticket.created_at),
        sla_basis=basis,
    )
    return wanted


def differs(ticket: Ticket, clocks: Clocks, basis: str | None = None) -> bool:
    """True when storing these clocks would change the ticket (its due times or outcomes are stale)."""
    return any(getattr(ticket, name) != value for name, value in columns(ticket, clocks, basis).items())


def store(ticket: Ticket, clocks: Clocks, basis: str | None = None) -> bool:
    """Write the clocks' due times, breach and outcomes (computed under `basis`, see basis())
    to the ticket; True when anything changed. Without a basis the outcomes are stored as
    unknown.

    The clocks are the authority: a late answer keeps the breach (the clock ran too long),
    a priority lowered in time removes it."""
    changed = False
    for name, value in columns(ticket, clocks, basis).items():
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


_EVENTS = TicketEvent.__table__
# One ticket's status changes, oldest first (status_changes' query for one id), built once and
# run on the session's connection (Core): the ORM's execution path for this read cost more
# than the read itself on every reply. Like the Core path, it flushes nothing.
_ONE_TICKETS_CHANGES = (
    select(_EVENTS.c.created_at, _EVENTS.c.new_value)
    .where(_EVENTS.c.ticket_id == bindparam("ticket_id"), _EVENTS.c.kind.in_(_STATUS_KINDS))
    .order_by(_EVENTS.c.created_at, _EVENTS.c.id)
)


async def refresh(session: AsyncSession, ticket: Ticket, settings: Settings, now: datetime) -> Clocks:
    """Recompute one ticket's clocks from its event log and store the due times.

    The log is what is written plus the status events of the change being made that are still
    pending: read without flushing them first, so the change's rows go out in one flush."""
    connection = await session.connection()
    rows = await connection.execute(_ONE_TICKETS_CHANGES, {"ticket_id": ticket.id})
    changes = [StatusChange(at, new) for at, new in rows if new]
    clocks = clocks_of(ticket, changes + _unflushed(session, ticket.id), settings, now)
    store(ticket, clocks, basis(settings))
    return clocks


def start(ticket: Ticket, settings: Settings, now: datetime) -> None:
    """A new ticket's due times, set before its INSERT: its log is its "created" event only."""
    store(ticket, clocks_of(ticket, [], settings, now), basis(settings))


def live_breach(breached: str | None, first_response_due_at: datetime | None,
                resolution_due_at: datetime | None, now: datetime) -> str | None:
    """sla_breached as of now: the stored breach, or a running clock whose due time has passed
    since the ticket was last recomputed."""
    if breached == FIRST_RESPONSE or (first_response_due_at is not None and first_response_due_at <= now):
        return FIRST_RESPONSE
    if breached == RESOLUTION or (resolution_due_at is not None and resolution_due_at <= now):
        return RESOLUTION
    return breached
