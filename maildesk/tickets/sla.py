"""The SLA pass and the auto-closer.

A ticket still `open` with no admin response past its priority's first-response window is
escalated once (flag set, admins emailed). A `resolved` ticket nobody reopened within
MAILDESK_AUTOCLOSE_DAYS is closed. Rows are locked with FOR UPDATE SKIP LOCKED, so passes
running in several daemons at once escalate each ticket exactly once.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import and_, or_, select

from maildesk.logs import event
from maildesk.models import Ticket, utcnow
from maildesk.runtime import Runtime
from maildesk.tickets.rules import PRIORITIES

log = logging.getLogger("maildesk.sla")


async def check_sla(rt: Runtime) -> list[str]:
    """Run one SLA pass; return the numbers of the tickets it escalated."""
    now = utcnow()
    breached = or_(
        *(
            and_(Ticket.priority == p, Ticket.created_at <= now - timedelta(hours=rt.settings.sla_hours[p]))
            for p in PRIORITIES
        )
    )
    escalated: list[str] = []
    late: list[tuple[str, str, float, float]] = []  # (number, priority, SLA hours, hours late)
    async with rt.db.write() as session:
        tickets = (
            await session.scalars(
                select(Ticket)
                .where(
                    Ticket.status == "open",
                    Ticket.first_response_at.is_(None),
                    Ticket.escalated.is_(False),
                    breached,
                )
                .order_by(Ticket.id)
                .with_for_update(skip_locked=True)
            )
        ).all()
        service = rt.service(session)
        for ticket in tickets:
            hours = rt.settings.sla_hours[ticket.priority]
            reason = (
                f"No response within the {hours:g}-hour first-response SLA for {ticket.priority} priority."
            )
            if await service.escalate(ticket, None, reason=reason):
                escalated.append(ticket.ticket_number or str(ticket.id))
                overdue = (now - ticket.created_at).total_seconds() / 3600 - hours
                late.append((escalated[-1], ticket.priority, hours, overdue))
    for number, priority, hours, overdue in late:  # committed
        rt.metrics.sla_escalations.inc()
        log.warning("escalated %s (%s priority): no first response %.2f h after the %g-hour SLA ran out",
                    number, priority, overdue, hours,
                    extra=event("sla.escalated", ticket=number, priority=priority, sla_hours=hours,
                                hours_late=round(overdue, 3), seconds_late=round(overdue * 3600)))
    return escalated


async def autoclose(rt: Runtime) -> list[str]:
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
