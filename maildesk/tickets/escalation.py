"""Escalating a ticket: by hand (an admin) or by the SLA pass (sla.py), telling the admins."""

from __future__ import annotations

from typing import Any, Sequence

from maildesk.models import Ticket, User, utcnow
from maildesk.tickets import clocks, notify
from maildesk.tickets.clocks import duration_words
from maildesk.tickets.desk import Desk
from maildesk.webhooks import events as webhooks


async def escalate(
    desk: Desk, ticket: Ticket, actor: User | None, *, reason: str, missed: Sequence[tuple[str, float]] = (),
) -> bool:
    """Set the escalation flag and tell the admins; False when nothing was done.

    By hand (nothing `missed`): once, while the flag is not set. By the SLA pass (`missed`:
    the targets first_response / resolution it escalates now, each with seconds overdue;
    it escalates each target once): the admins are told even when the flag is already up."""
    if ticket.escalated and not missed:
        return False
    admins = await desk.active_admins()  # read before the change's writes, once for both uses
    now, was = utcnow(), ticket.escalated
    if not ticket.escalated:
        ticket.escalated = True
        ticket.escalated_at = now
    ticket.updated_at = now
    detail: dict[str, Any] = {"reason": reason}
    if missed:
        detail.update(targets=[t for t, _ in missed], overdue_seconds={t: round(s) for t, s in missed})
    desk.event(ticket, actor, "escalated", old_value=was, new_value=True, detail=detail)
    context = {
        "reason": reason,
        "missed": [{"target": clocks.TARGET_WORDS[t], "overdue": duration_words(s)} for t, s in missed],
    }
    for admin in desk.admin_mail_to(admins):
        await desk.outbox.enqueue(desk.session, "escalation", admin, ticket, context=context)
    await webhooks.publish(desk.session, ticket)
    notify.escalation(desk.session, ticket, actor, reason, admins)
    return True
