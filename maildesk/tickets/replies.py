"""Messages added to an existing ticket: the requester's replies, an admin's answers and
internal notes, and automatic mail (auto-replies, bounces) kept for the record."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, select

from maildesk.models import Notification, Ticket, TicketEvent, TicketMessage, TicketParticipant, User, utcnow
from maildesk.tickets import notify, rules
from maildesk.tickets.desk import Desk
from maildesk.tickets.errors import ServiceError
from maildesk.tickets.messages import NewMessage, add_message
from maildesk.tickets.rows import insert_rows
from maildesk.webhooks import events as webhooks


async def requester_reply(desk: Desk, ticket: Ticket, author: User, message: NewMessage) -> TicketMessage:
    """The requester (or a participant) adds to their ticket; the ball is back with support."""
    if ticket.status == "closed":
        raise ServiceError("this ticket is closed; write a new request instead")
    admins = await desk.active_admins()  # read before the change's writes (no flush of its own)
    assignee = None
    if ticket.assigned_to is not None:
        assignee = next((a for a in admins if a.id == ticket.assigned_to), None)
        if assignee is None:  # not an active admin (any more): looked up, then not mailed
            assignee = await desk.session.get(User, ticket.assigned_to)
    row = await add_message(desk, ticket, author, "user", message)
    with desk.change(ticket):
        # The reply's event and the notifications as Core INSERTs (rows.py), not pending ORM
        # objects for the unit of work: written here, before anything can flush the status
        # event below, so the timeline's rows keep their order.
        added: list[tuple[Table, dict[str, Any]]] = [(TicketEvent.__table__, desk.event_values(
            ticket, author, "reply", detail={"message_id": row.id, "source": message.source}))]
        added.extend((Notification.__table__, n) for n in notify.requester_reply_values(ticket, author, admins))
        await insert_rows(desk.session, added)
        if ticket.status in rules.REOPENED_BY_REPLY:
            desk.set_status(ticket, author, "in_progress")
    ticket.updated_at = utcnow()
    if assignee is not None and assignee.is_active:
        await desk.outbox.enqueue(
            desk.session, "requester_reply", assignee.email, ticket, context={"body": message.body}
        )
    await desk.refresh_clocks(ticket)
    await webhooks.publish(desk.session, ticket, message=row)
    return row


async def admin_reply(
    desk: Desk, ticket: Ticket, admin: User, message: NewMessage, *, is_internal: bool = False
) -> TicketMessage:
    """An admin answers (emailed to the requester) or leaves an internal note (emailed to nobody)."""
    if not admin.is_admin:
        raise ServiceError("only admins may answer as support")
    if ticket.status == "closed" and not is_internal:
        raise ServiceError("this ticket is closed; it cannot be answered")
    row = await add_message(desk, ticket, admin, "admin", message, is_internal=is_internal)
    with desk.change(ticket):
        desk.event(ticket, admin, "note" if is_internal else "reply", detail={"message_id": row.id})
        ticket.updated_at = utcnow()
        if is_internal:
            await notify.note_mentions(desk.session, ticket, admin, message.body)
            await webhooks.publish(desk.session, ticket, message=row)
            return row
        if ticket.first_response_at is None:
            ticket.first_response_at = row.created_at
        if ticket.status == "open":
            desk.set_status(ticket, admin, "in_progress")
        await desk.refresh_clocks(ticket)
    requester = await desk.session.get(User, ticket.user_id)
    author = admin.name or "Support"
    await desk.outbox.enqueue(
        desk.session, "update", ticket.user_email, ticket,
        to_name=requester.name if requester else "", context={"body": message.body, "author": author},
    )
    participants = await desk.session.scalars(
        select(TicketParticipant.email).where(TicketParticipant.ticket_id == ticket.id)
    )
    for address in participants:  # people CC'd on the request follow its public answers
        await desk.outbox.enqueue(desk.session, "update", address, ticket,
                                  context={"body": message.body, "author": author})
    await webhooks.publish(desk.session, ticket, message=row)
    return row


async def record_automatic(desk: Desk, ticket: Ticket, sender_email: str, message: NewMessage, kind: str) -> None:
    """Automatic mail (auto-reply, bounce) about a ticket: kept for the record, changes nothing."""
    row = await add_message(desk, ticket, None, "system", message, is_internal=True, sender_email=sender_email)
    # Kept for the record only: not a change an agent could collide with (no version bump).
    desk.event(ticket, None, "automatic_mail", new_value=kind, detail={"message_id": row.id, "from": sender_email},
               bump=False)
