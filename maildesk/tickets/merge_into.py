"""Merging one ticket into another (the change; merge.py has the rules and the readers):
the source is closed with merged_into, its requester and CCs become participants of the
target, its thread shows in the target's, and both timelines say so."""

from __future__ import annotations

from sqlalchemy import select

from maildesk.models import Ticket, TicketParticipant, User, utcnow
from maildesk.tickets import merge as merging
from maildesk.tickets.desk import Desk
from maildesk.tickets.errors import ServiceError
from maildesk.webhooks import events as webhooks


async def merge_into(desk: Desk, source: Ticket, target: Ticket, actor: User) -> Ticket:
    """Close `source` into `target`; ServiceError (saying why) when merging.refusal refuses."""
    session = desk.session
    why = merging.refusal(source, target, await merging.chain(session, target))
    if why is not None:
        raise ServiceError(why)
    existing = set(await session.scalars(
        select(TicketParticipant.email).where(TicketParticipant.ticket_id == target.id)
    ))
    incoming = [source.user_email, *await session.scalars(
        select(TicketParticipant.email).where(TicketParticipant.ticket_id == source.id)
    )]
    for address in dict.fromkeys(a.lower() for a in incoming):
        if address != target.user_email and address not in existing:
            session.add(TicketParticipant(ticket_id=target.id, email=address))
    now = utcnow()
    with desk.change(source):
        source.merged_into = target.id
        desk.event(source, actor, "merged", new_value=target.ticket_number)
        desk.set_status(source, actor, "closed", check=False)
        source.updated_at = now
    with desk.change(target):
        desk.event(target, actor, "merged_in", new_value=source.ticket_number,
                   detail={"participants": [a for a in dict.fromkeys(incoming) if a != target.user_email]})
        target.updated_at = now
    await desk.refresh_clocks(source)
    await desk.refresh_clocks(target)
    await webhooks.publish(session, source)
    await webhooks.publish(session, target)
    return target
