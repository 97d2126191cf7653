"""Changing a ticket's state: an admin's TicketChange (status, priority, assignee, escalation,
resolution notes), the requester's rating and confirmation, and the auto-close of resolved
tickets. Each is one change: the version goes up once, however many fields it touches."""

from __future__ import annotations

from maildesk.models import Ticket, User, utcnow
from maildesk.outbound import tokens
from maildesk.tickets import notify, rules
from maildesk.tickets.change import CLEAR, TicketChange
from maildesk.tickets.desk import Desk
from maildesk.tickets.errors import ServiceError, UnknownValue
from maildesk.tickets.escalation import escalate
from maildesk.webhooks import events as webhooks


async def update(desk: Desk, ticket: Ticket, actor: User, change: TicketChange) -> Ticket:
    """Apply an admin's change: status, priority, assigned_to, escalated, resolution_notes."""
    with desk.change(ticket):
        if change.priority is not None and change.priority != ticket.priority:
            if change.priority not in rules.PRIORITIES:
                raise UnknownValue("priority", f"unknown priority {change.priority!r}")
            desk.event(ticket, actor, "priority", old_value=ticket.priority, new_value=change.priority)
            ticket.priority = change.priority
        assignee_id = None if change.assigned_to is CLEAR else change.assigned_to
        if change.assigned_to is not None and assignee_id != ticket.assigned_to:
            await _assign(desk, ticket, actor, assignee_id)
        notes = None if change.resolution_notes is CLEAR else change.resolution_notes
        if change.resolution_notes is not None and notes != ticket.resolution_notes:
            desk.event(ticket, actor, "resolution_notes", new_value=notes)
            ticket.resolution_notes = notes
        if change.status is not None and change.status != ticket.status:
            if change.status not in rules.STATUSES:
                raise UnknownValue("status", f"unknown status {change.status!r}")
            desk.set_status(ticket, actor, change.status)
            if ticket.status == "resolved":
                await _mail_resolved(desk, ticket)
        if change.escalated is not None and change.escalated != ticket.escalated:
            if change.escalated:
                await escalate(desk, ticket, actor, reason=f"Escalated by {actor.email}.")
            else:
                ticket.escalated = False
                desk.event(ticket, actor, "escalated", old_value=True, new_value=False)
        ticket.updated_at = utcnow()
        await desk.refresh_clocks(ticket)
        await webhooks.publish(desk.session, ticket)
        return ticket


async def _assign(desk: Desk, ticket: Ticket, actor: User, assignee_id: int | None) -> None:
    """Assign to an active admin (told by a notification), or unassign (None)."""
    assignee = None
    if assignee_id is not None:
        assignee = await desk.session.get(User, assignee_id)
        if assignee is None or not assignee.is_admin or not assignee.is_active:
            raise UnknownValue("assigned_to", f"no admin with id {assignee_id}")
    desk.event(ticket, actor, "assigned", old_value=ticket.assigned_to, new_value=assignee.email if assignee else None)
    ticket.assigned_to = assignee_id
    if assignee is not None:
        notify.assigned(desk.session, ticket, assignee, actor)


async def _mail_resolved(desk: Desk, ticket: Ticket) -> None:
    """Tell the requester their ticket is resolved, asking "How did we do?" (signed links)."""
    requester = await desk.session.get(User, ticket.user_id)
    key, base = desk.settings.secret_key, desk.settings.base_url
    links = {r: f"{base}/help/satisfaction/{tokens.satisfaction_token(key, ticket.id, r)}" for r in ("good", "bad")}
    await desk.outbox.enqueue(
        desk.session, "resolved", ticket.user_email, ticket,
        to_name=requester.name if requester else "",
        context={"good_url": links["good"], "bad_url": links["bad"]},
    )


async def rate(desk: Desk, ticket: Ticket, requester: User, rating: str, comment: str | None) -> Ticket:
    """The requester's satisfaction rating (tickets/csat.py): one per ticket, replaced by a
    new one until the ticket is closed. One event in the timeline."""
    if ticket.status == "closed":
        raise ServiceError("this ticket is closed; its rating can no longer change")
    with desk.change(ticket):
        desk.event(ticket, requester, "satisfaction", old_value=ticket.satisfaction_rating, new_value=rating,
                   detail={"comment": comment} if comment else None)
    ticket.satisfaction_rating = rating
    ticket.satisfaction_comment = comment
    ticket.satisfaction_at = ticket.updated_at = utcnow()
    return ticket


async def confirm_closed(desk: Desk, ticket: Ticket, requester: User) -> Ticket:
    """The requester confirms a resolved ticket is done."""
    if ticket.status != "resolved":
        raise rules.IllegalTransition(ticket.status, "closed")
    desk.set_status(ticket, requester, "closed")
    await desk.refresh_clocks(ticket)
    await webhooks.publish(desk.session, ticket)
    return ticket


async def close_resolved(desk: Desk, ticket: Ticket) -> None:
    """Auto-close: a resolved ticket nobody reopened within the configured days."""
    desk.set_status(ticket, None, "closed")
    await desk.refresh_clocks(ticket)
    await webhooks.publish(desk.session, ticket)
