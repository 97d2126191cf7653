"""Opening tickets: from mail, the API, the pages and the contact form. A new ticket gets its
number from its row id, its first message, its CC'd participants, a "created" event, and the
mail it causes (the requester's confirmation, the admins' notice)."""

from __future__ import annotations

from typing import Any, Sequence

from maildesk.models import Ticket, TicketParticipant, User, utcnow
from maildesk.outbound import tokens
from maildesk.tickets import notify, rules, users
from maildesk.tickets.desk import Desk
from maildesk.tickets.errors import UnknownValue
from maildesk.tickets.messages import NewMessage, add_message, subject_from
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
    now = utcnow()
    ticket = Ticket(
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
    )
    desk.session.add(ticket)
    await desk.session.flush()  # the row id is the ticket number, inside this transaction
    ticket.ticket_number = rules.format_number(ticket.id)
    ticket.version = 1
    await add_message(desk, ticket, requester, "user", message, created_at=now)
    for address in dict.fromkeys(a.lower() for a in cc):
        if address and address != requester.email:
            desk.session.add(TicketParticipant(ticket_id=ticket.id, email=address))
    with desk.change(ticket, new=True):
        desk.event(ticket, requester, "created", new_value="open", detail={"source": source})
        if linked_ticket is not None:
            desk.event(ticket, None, "linked", new_value=linked_ticket.ticket_number,
                       detail={"reason": "reply to a closed ticket"})
    await notify.new_ticket(desk.session, ticket, requester)
    if send_confirmation:
        await desk.outbox.enqueue(desk.session, "confirmation", requester.email, ticket, to_name=requester.name)
    for admin in await desk.admin_recipients():
        await desk.outbox.enqueue(desk.session, "new_ticket", admin, ticket, context={"body": message.body})
    await desk.refresh_clocks(ticket)
    await webhooks.publish(desk.session, ticket, created=True)
    return ticket
