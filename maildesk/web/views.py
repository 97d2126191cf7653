"""Turning tickets into API responses: the one place that decides what a caller may see.

Requesters never see internal notes (nor automatic mail recorded on their ticket, which is
stored as internal); admins see everything, and the admin view adds the timeline.
"""

from __future__ import annotations

from litestar.exceptions import NotFoundException, PermissionDeniedException
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.models import Ticket, User
from maildesk.tickets import conversation, queries
from maildesk.web.schemas import AdminTicketOut, AttachmentOut, EventOut, MessageOut, TicketOut


def not_found(ref: str) -> NotFoundException:
    return NotFoundException(f"no ticket {ref}")


def check_access(ticket: Ticket, user: User) -> None:
    """Owner or admin; everyone else gets 403 (the ticket's existence is not a secret to them)."""
    if ticket.user_id != user.id and not user.is_admin:
        raise PermissionDeniedException("this ticket belongs to someone else")


async def load_visible(session: AsyncSession, ref: str, user: User, *, for_update: bool = False) -> Ticket:
    ticket = await queries.ticket_by_ref(session, ref, for_update=for_update)
    if ticket is None:
        raise not_found(ref)
    check_access(ticket, user)
    return ticket


async def _messages(session: AsyncSession, ticket: Ticket, *, include_internal: bool) -> list[MessageOut]:
    number = ticket.ticket_number or str(ticket.id)
    return [
        MessageOut.of(m, [AttachmentOut.of(a, number) for a in atts])
        for m, atts in await conversation.messages_with_attachments(session, ticket.id, include_internal=include_internal)
    ]


async def ticket_out(session: AsyncSession, ticket: Ticket, viewer: User | None) -> TicketOut:
    admin = viewer is not None and viewer.is_admin
    return TicketOut.of(ticket, await _messages(session, ticket, include_internal=admin))


async def admin_ticket_out(session: AsyncSession, ticket: Ticket) -> AdminTicketOut:
    base = TicketOut.of(ticket, await _messages(session, ticket, include_internal=True))
    return AdminTicketOut(
        **{f: getattr(base, f) for f in TicketOut.__struct_fields__},
        participants=await conversation.participants(session, ticket.id),
        events=[EventOut.of(e) for e in await conversation.timeline(session, ticket.id)],
    )
