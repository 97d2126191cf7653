"""The SLA pass and the auto-closer.

Every pass keeps the stored clocks (tickets/clocks.py, tickets/due.py) of the tickets not yet
resolved or closed current, and escalates each target a ticket has missed while its clock
runs (first response, resolution) once: the flag is set, the target is recorded in
first_response_escalated_at / resolution_escalated_at and the admins are emailed which
target was missed and by how much (one email naming both when both are missed at once). A
`resolved` ticket nobody reopened within MAILDESK_AUTOCLOSE_DAYS is closed.

The service stores every ticket's clocks at each change, so the pass asks the database for
the few running tickets whose stored clocks need it (_needs_work: a basis missing or not the
current one, so a changed calendar or target reaches tickets nobody touched; a due time come
and not yet escalated) and computes only theirs, not the clocks of every running ticket
(~50,000 at 100,000 tickets: seconds of the event loop every minute). Those are locked (FOR
UPDATE SKIP LOCKED), checked again and computed inside the write transaction, so passes
running in several daemons at once escalate each ticket and target exactly once and SQLite's
write lock is held only for real changes. Every search over the table (which tickets need
work, which to backfill or close) runs in a read session, on its own thread when it takes
longer than a read may hold the loop (_ids).

The pass also stores the clock outcomes (tickets/due.py) of the resolved and closed tickets
whose outcomes are missing (rows from before migration 0012) or were computed under other
settings (a changed calendar or target), at most BACKFILL of them per pass in write
transactions of BACKFILL_BATCH, so the stats soon read numbers for every ticket again
without one pass holding the writer for a whole table.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import flag_modified

from maildesk.logs import event
from maildesk.models import Ticket, utcnow
from maildesk.context import Context
from maildesk.tickets.service import TicketService
from maildesk.tickets import due
from maildesk.tickets.clocks import FIRST_RESPONSE, RESOLUTION, TARGET_WORDS, Clock, Clocks, duration_words

# Tickets computed per write transaction. Only the tickets that need it are computed (most
# passes: none); after a change of calendar or targets every running ticket does, and a batch
# of 100 takes a few ms of the loop.
BATCH = 100
FINISHED = ("resolved", "closed")
BACKFILL = 5000
BACKFILL_BATCH = 200  # tickets computed per write transaction: SQLite's writer is held briefly
CLOSE_BATCH = 500  # resolved tickets closed per write transaction


class SlaContext(Context, Protocol):
    """The SLA pass also changes tickets, through the ticket service."""

    def service(self, session: AsyncSession) -> TicketService: ...


log = logging.getLogger("maildesk.sla")


def _reason(target: str, clock: Clock, priority: str, now: datetime) -> str:
    assert clock.due_at is not None
    hours = clock.target_seconds / 3600.0
    return (
        f"Missed the {TARGET_WORDS[target]} target ({hours:g} business hours for {priority} priority) "
        f"by {duration_words((now - clock.due_at).total_seconds())}: it was due "
        f"{clock.due_at.strftime('%Y-%m-%d %H:%M UTC')}."
    )


def _missed(ticket: Ticket, clocks: Clocks) -> list[tuple[str, Clock, str]]:
    """The targets this ticket has missed while its clock runs and that are not escalated yet."""
    return [
        (target, clock, column)
        for target, clock, column in (
            (FIRST_RESPONSE, clocks.first_response, "first_response_escalated_at"),
            (RESOLUTION, clocks.resolution, "resolution_escalated_at"),
        )
        if clock.running and clock.breached and clock.due_at and getattr(ticket, column) is None
    ]


async def _ids(rt: "SlaContext", *conditions: Any, after_id: int = 0, limit: int | None = None) -> list[int]:
    """The ids of the tickets matching `conditions` after `after_id`, in id order, read
    without the write lock. On SQLite the write engine runs its statements on the event
    loop's thread (sqlite_conn.py), so a search over the table in a write transaction would
    hold every web request for its whole length (~60 ms at 100,000 tickets); a read session
    searches on its own thread (past sqlite_conn.READ_BUDGET_SECONDS on the loop), and the
    write transaction only locks the rows found by id."""
    async with rt.db.read() as session:
        stmt = select(Ticket.id).where(Ticket.id > after_id, *conditions).order_by(Ticket.id)
        return list(await session.scalars(stmt if limit is None else stmt.limit(limit)))


def _needs_work(basis: str, now: datetime) -> ColumnElement[bool]:
    """In SQL: a running ticket whose stored clocks cannot be trusted as they are.

    The service stores a ticket's due times, breach and outcomes with the basis at every
    change (tickets/due.py), and those columns only change with time when a running clock
    reaches its stored due time (its breach starts; nothing else a clock stores depends on
    the time). So a ticket needs its clocks computed when its basis is missing or not the
    current one (an upgrade, a changed calendar or target, a history edited by hand), or when
    a stored due time has come and that target is not yet escalated or the breach is not yet
    stored. Every other running ticket would compute to what it already stores."""
    return or_(
        Ticket.sla_basis.is_(None),
        Ticket.sla_basis != basis,
        and_(
            Ticket.first_response_due_at <= now,
            or_(Ticket.first_response_escalated_at.is_(None), Ticket.sla_breached.is_(None),
                Ticket.sla_breached != FIRST_RESPONSE),
        ),
        # A breached resolution clock stores "resolution", or "first_response" when that
        # target was missed first: either way not null.
        and_(
            Ticket.resolution_due_at <= now,
            or_(Ticket.resolution_escalated_at.is_(None), Ticket.sla_breached.is_(None)),
        ),
    )


async def _needing_work(rt: "SlaContext", after_id: int, now: datetime, basis: str) -> list[int]:
    """One batch, read without the write lock: the ids of the running tickets after
    `after_id` that need their clocks computed (_needs_work). The database picks them; no
    clock is computed here."""
    return await _ids(rt, Ticket.status.not_in(FINISHED), _needs_work(basis, now), after_id=after_id, limit=BATCH)


async def check_sla(rt: "SlaContext") -> list[str]:
    """Run one SLA pass; return the numbers of the tickets it escalated (a ticket missing
    both targets in one pass is escalated once, naming both)."""
    now = utcnow()
    basis = due.basis(rt.settings)
    escalated: list[str] = []
    last_id = 0
    while work := await _needing_work(rt, last_id, now, basis):
        last_id = work[-1]
        late: list[tuple[str, str, list[tuple[str, float]]]] = []  # (number, priority, [(target, seconds late)])
        async with rt.db.write() as session:
            # Locked and computed again: another daemon's pass or a change may have come first.
            tickets = (
                await session.scalars(
                    select(Ticket)
                    .where(Ticket.id.in_(work), Ticket.status.not_in(FINISHED), _needs_work(basis, now))
                    .order_by(Ticket.id)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            changes = await due.status_changes(session, [t.id for t in tickets])
            service = rt.service(session)
            for ticket in tickets:
                clocks = due.clocks_of(ticket, changes.get(ticket.id, []), rt.settings, now)
                if due.store(ticket, clocks, basis):
                    flag_modified(ticket, "updated_at")  # a recomputation is not an update
                missed = _missed(ticket, clocks)
                if not missed:
                    continue
                for _target, _clock, column in missed:
                    setattr(ticket, column, now)
                # One alert per ticket and pass, naming every target it missed.
                overdue = [(target, (now - clock.due_at).total_seconds()) for target, clock, _ in missed if clock.due_at]
                await service.escalate(
                    ticket, None,
                    reason=" ".join(_reason(target, clock, ticket.priority, now) for target, clock, _ in missed),
                    missed=overdue,
                )
                escalated.append(ticket.ticket_number or str(ticket.id))
                late.append((escalated[-1], ticket.priority, overdue))
        for number, priority, targets in late:  # committed with the batch
            rt.metrics.sla_escalations.inc()
            for target, seconds in targets:
                log.warning("escalated %s (%s priority): %s target missed by %s", number, priority,
                            TARGET_WORDS[target], duration_words(seconds),
                            extra=event("sla.escalated", ticket=number, priority=priority, target=target,
                                        hours_late=round(seconds / 3600, 3), seconds_late=round(seconds)))
    await backfill_outcomes(rt, now)
    return escalated


async def backfill_outcomes(rt: "SlaContext", now: datetime, limit: int = BACKFILL) -> int:
    """Store the clock outcomes of up to `limit` finished (resolved or closed) tickets whose
    stored basis is missing or stale; return how many were stored. (Running tickets get
    theirs in the pass above.) Finished clocks do not change with time, so nothing else
    about these tickets changes: no escalation, no update time."""
    basis = due.basis(rt.settings)
    stale = or_(Ticket.sla_basis.is_(None), Ticket.sla_basis != basis)
    finished = Ticket.status.in_(FINISHED)
    stored, after_id = 0, 0
    while stored < limit:
        ids = await _ids(rt, finished, stale, after_id=after_id, limit=min(BACKFILL_BATCH, limit - stored))
        if not ids:
            break
        after_id = ids[-1]
        async with rt.db.write() as session:
            # Checked again under the lock: a change or another daemon may have come first.
            tickets = (
                await session.scalars(
                    select(Ticket).where(Ticket.id.in_(ids), finished, stale).order_by(Ticket.id)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            changes = await due.status_changes(session, [t.id for t in tickets])
            for ticket in tickets:
                clocks = due.clocks_of(ticket, changes.get(ticket.id, []), rt.settings, now)
                if due.store(ticket, clocks, basis):
                    flag_modified(ticket, "updated_at")  # a recomputation is not an update
            stored += len(tickets)
    return stored


async def autoclose(rt: "SlaContext") -> list[str]:
    """Close resolved tickets older than the configured days; return their numbers."""
    cutoff = utcnow() - timedelta(days=rt.settings.autoclose_days)
    due_to_close = (Ticket.status == "resolved", Ticket.resolved_at <= cutoff)
    closed: list[str] = []
    after_id = 0
    while ids := await _ids(rt, *due_to_close, after_id=after_id, limit=CLOSE_BATCH):
        after_id = ids[-1]
        async with rt.db.write() as session:
            tickets = (
                await session.scalars(
                    select(Ticket).where(Ticket.id.in_(ids), *due_to_close).order_by(Ticket.id)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            service = rt.service(session)
            for ticket in tickets:
                await service.close_resolved(ticket)
                closed.append(ticket.ticket_number or str(ticket.id))
    return closed
