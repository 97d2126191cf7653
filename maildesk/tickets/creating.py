"""Opening tickets: from mail, the API, the pages and the contact form. A new ticket gets its
number from its row id (known before the INSERT, numbering.py), its first message, its CC'd participants, a "created" event, and the
mail it causes (the requester's confirmation, the admins' notice)."""

from __future__ import annotations

from typing import Any, Sequence

from sqlalchemy import Table

from maildesk.models import (
    Attachment,
    Notification,
    OutboundMessage,
    Ticket,
    TicketEvent,
    TicketMessage,
    TicketParticipant,
    User,
    utcnow,
)
from maildesk.outbound import tokens
from maildesk.tickets import due, notify, numbering, rules, users
from maildesk.tickets.desk import Desk
from maildesk.tickets.errors import UnknownValue
from maildesk.tickets.messages import NewMessage, attachment_values, message_values, subject_from
from maildesk.tickets.rows import insert_object, insert_returning_id, insert_rows
from maildesk.webhooks import events as webhooks


def check_category(category: str, categories: Sequence[str]) -> str:
    """The category if it is one of the configured ones; UnknownValue naming them otherwise."""
    if category not in categories:
        raise UnknownValue("category", f"unknown category {category!r}; allowed: {', '.join(categories)}")
    return category


async def open_contact_ticket(
    desk: Desk, *, email: str, name: str, subject: str, description: str, category: str
) -> tuple[Ticket, User]:
    """The website's contact form (API and page alike): a ticket with source "contact" for the
    address given, titled by the subject or else the description's first line."""
    requester, _created = await users.get_or_create_user(desk.session, email, name.strip())
    ticket = await create_ticket(
        desk,
        requester,
        subject=subject.strip() or subject_from(description),
        message=NewMessage(body=description, source="web"),
        category=category,
        source="contact",
    )
    return ticket, requester


async def create_ticket(
    desk: Desk,
    requester: User,
    *,
    subject: str,
    message: NewMessage,
    category: str = "other",
    priority: str = "medium",
    source: str = "email",
    context: dict[str, Any] | None = None,
    cc: Sequence[str] = (),
    linked_ticket: Ticket | None = None,
    send_confirmation: bool = True,
) -> Ticket:
    check_category(category, desk.settings.categories)
    if priority not in rules.PRIORITIES:
        raise UnknownValue("priority", f"unknown priority {priority!r}")
    session = desk.session
    # Reads first (with whatever the caller left pending flushed by the first): the ticket then
    # goes out in one INSERT with its number and due times, and the rest of the change in one
    # Core INSERT per table (rows.py).
    ticket_id = await numbering.next_ticket_id(session)
    admins = await desk.active_admins()
    now = utcnow()
    ticket = Ticket(
        id=ticket_id,
        ticket_number=None if ticket_id is None else rules.format_number(ticket_id),
        user_id=requester.id,
        user_email=requester.email,
        category=category,
        priority=priority,
        status="open",
        subject=(subject.strip() or "(no subject)")[:500],
        description=message.body,
        created_at=now,
        updated_at=now,
        context=context or {},
        source=source,
        root_message_id=message.email_message_id
        or tokens.new_message_id(desk.settings.secret_key, desk.settings.support_domain),
        linked_ticket_id=linked_ticket.id if linked_ticket else None,
        escalated=False,
        version=1,
    )
    due.start(ticket, desk.settings, now)
    # On its own first: the rows below refer to it. One Core INSERT (rows.py): the ticket is
    # written as built, every column given, so the unit of work has nothing to add.
    if ticket_id is not None:
        await insert_object(session, ticket)
        numbering.inserted(session, ticket)
    else:  # a database numbering.py does not know: the INSERT picks the id
        session.add(ticket)
        await session.flush()
        ticket.ticket_number = rules.format_number(ticket.id)
    # The rest of the change (message, participants, events, notifications, mail) is written
    # with Core INSERTs after the reads (rows.py). The outbox's checks read suppressions and
    # this hour's automatic mail to the requester, which nothing pending here touches.
    rows: list[tuple[Table, dict[str, Any]]] = []
    with session.no_autoflush:
        attachments = attachment_values(desk, message, now)
        message_row = message_values(ticket, requester, "user", message, created_at=now)
        if attachments:  # they refer to the message: it goes first, for its id
            message_id = await insert_returning_id(session, TicketMessage.__table__, message_row)
            rows.extend((Attachment.__table__, {**a, "message_id": message_id}) for a in attachments)
        else:
            rows.append((TicketMessage.__table__, message_row))
        for address in dict.fromkeys(a.lower() for a in cc):
            if address and address != requester.email:
                rows.append((TicketParticipant.__table__, dict(ticket_id=ticket.id, email=address, created_at=now)))
        with desk.change(ticket, new=True):
            rows.append((TicketEvent.__table__, desk.event_values(
                ticket, requester, "created", new_value="open", detail={"source": source})))
            if linked_ticket is not None:
                rows.append((TicketEvent.__table__, desk.event_values(
                    ticket, None, "linked", new_value=linked_ticket.ticket_number,
                    detail={"reason": "reply to a closed ticket"})))
        rows.extend((Notification.__table__, n) for n in notify.new_ticket_values(ticket, requester, admins))
        if send_confirmation:
            rows.append((OutboundMessage.__table__, await desk.outbox.prepare(
                session, "confirmation", requester.email, ticket, to_name=requester.name)))
        for admin in desk.admin_mail_to(admins):
            rows.append((OutboundMessage.__table__, await desk.outbox.prepare(
                session, "new_ticket", admin, ticket, context={"body": message.body})))
    await insert_rows(session, rows)
    await webhooks.publish(session, ticket, created=True)
    return ticket
