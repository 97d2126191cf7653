"""The SLA pass and the auto-closer.

Every pass recomputes the clocks (tickets/clocks.py) of every ticket not yet resolved or
closed from its event log, stores the due times (so a changed calendar or target reaches
tickets nobody touched), and escalates each target a ticket has missed while its clock runs
(first response, resolution) once: the flag is set, the target is recorded in
first_response_escalated_at / resolution_escalated_at and the admins are emailed which
target was missed and by how much (one email naming both when both are missed at once). A
`resolved` ticket nobody reopened within MAILDESK_AUTOCLOSE_DAYS is closed. The clocks are computed outside the write transaction;
only the tickets whose due times are stale or that missed a target are then locked (FOR
UPDATE SKIP LOCKED) and computed again, so passes running in several daemons at once escalate
each ticket and target exactly once and SQLite's write lock is held only for real changes.

The pass also stores the clock outcomes (tickets/due.py) of the resolved and closed tickets
whose outcomes are missing (rows from before migration 0012) or were computed under other
settings (a changed calendar or target), at most BACKFILL of them per pass in write
transactions of BACKFILL_BATCH, so the stats soon read numbers for every ticket again
without one pass holding the writer for a whole table.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import flag_modified

from maildesk.logs import event
from maildesk.models import Ticket, utcnow
from maildesk.context import Context
from maildesk.tickets.service import TicketService
from maildesk.tickets import due
from maildesk.tickets.clocks import FIRST_RESPONSE, RESOLUTION, TARGET_WORDS, Clock, Clocks, duration_words

# Small batches, and a yield to the event loop every YIELD_EVERY tickets while computing: at
# 100k tickets a pass computes ~50,000 clocks, and one block of 500 held the web's requests
# for 40-70 ms each.
BATCH = 100
YIELD_EVERY = 20
BACKFILL = 5000
BACKFILL_BATCH = 200  # tickets computed per write transaction: SQLite's writer is held briefly


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


async def _needing_work(rt: "SlaContext", after_id: int, now: datetime, basis: str) -> tuple[list[int], int | None]:
    """One batch read without the write lock: the ids of the tickets whose stored due times are
    stale or that missed a target, and the last id looked at (None when none are left).

    Computing the clocks takes real time (business hours, the event log); doing it inside
    the write transaction would hold SQLite's one write lock, and so delay every SMTP 250,
    for the whole pass. Only the tickets found here are locked and recomputed."""
    async with rt.db.read() as session:
        tickets = (
            await session.scalars(
                select(Ticket)
                .where(Ticket.status.not_in(("resolved", "closed")), Ticket.id > after_id)
                .order_by(Ticket.id)
                .limit(BATCH)
            )
        ).all()
        if not tickets:
            return [], None
        changes = await due.status_changes(session, [t.id for t in tickets])
    work = []
    for index, ticket in enumerate(tickets):
        if index and index % YIELD_EVERY == 0:
            await asyncio.sleep(0)  # let queued requests run between slices of the batch
        clocks = due.clocks_of(ticket, changes.get(ticket.id, []), rt.settings, now)
        if due.differs(ticket, clocks, basis) or _missed(ticket, clocks):
            work.append(ticket.id)
    return work, tickets[-1].id


async def check_sla(rt: "SlaContext") -> list[str]:
    """Run one SLA pass; return the numbers of the tickets it escalated (a ticket missing
    both targets in one pass is escalated once, naming both)."""
    now = utcnow()
    basis = due.basis(rt.settings)
    escalated: list[str] = []
    last_id: int | None = 0
    while last_id is not None:
        work, last_id = await _needing_work(rt, last_id, now, basis)
        if not work:
            continue
        late: list[tuple[str, str, list[tuple[str, float]]]] = []  # (number, priority, [(target, seconds late)])
        async with rt.db.write() as session:
            # Locked and computed again: another daemon's pass or a change may have come first.
            tickets = (
                await session.scalars(
                    select(Ticket)
                    .where(Ticket.id.in_(work), Ticket.status.not_in(("resolved", "closed")))
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
    finished = Ticket.status.in_(("resolved", "closed"))
    stored = 0
    while stored < limit:
        async with rt.db.write() as session:
            tickets = (
                await session.scalars(
                    select(Ticket).where(finished, stale).order_by(Ticket.id)
                    .limit(min(BACKFILL_BATCH, limit - stored)).with_for_update(skip_locked=True)
                )
            ).all()
            if not tickets:
                break
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
    closed: list[str] = []
    async with rt.db.write() as session:
        tickets = (
            await session.scalars(
                select(Ticket)
                .where(Ticket.status == "resolved", Ticket.resolved_at <= cutoff)
                .order_by(Ticket.id)
                .with_for_update(skip_locked=True)
            )
        ).all()
        service = rt.service(session)
        for ticket in tickets:
            await service.close_resolved(ticket)
            closed.append(ticket.ticket_number or str(ticket.id))
    return closed
