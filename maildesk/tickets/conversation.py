"""Reading one ticket's conversation for the ticket view: its messages with their attachments
(the thread of tickets merged into it included), one attachment, its timeline and participants.

The statements are built once and reused with bound values (building one cost about as much
as running it)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.models import Attachment, TicketEvent, TicketMessage, TicketParticipant
from maildesk.tickets import merge as merging


@lru_cache(maxsize=4)
def _messages_statement(merged: bool, include_internal: bool) -> Select[Any]:
    if not merged:
        stmt = select(TicketMessage).where(TicketMessage.ticket_id == bindparam("ticket_id"))
        stmt = stmt.order_by(TicketMessage.id)
    else:  # ids interleave across tickets: time order
        stmt = select(TicketMessage).where(TicketMessage.ticket_id.in_(bindparam("thread", expanding=True)))
        stmt = stmt.order_by(TicketMessage.created_at, TicketMessage.id)
    return stmt if include_internal else stmt.where(TicketMessage.is_internal.is_(False))


@lru_cache(maxsize=1)
def _attachments_statement() -> Select[Any]:
    return (
        select(Attachment)
        .join(TicketMessage, TicketMessage.id == Attachment.message_id)
        .where(TicketMessage.ticket_id.in_(bindparam("thread", expanding=True)))
        .order_by(Attachment.id)
    )


@lru_cache(maxsize=1)
def _timeline_statement() -> Select[Any]:
    return select(TicketEvent).where(TicketEvent.ticket_id == bindparam("ticket_id")).order_by(TicketEvent.id)


@lru_cache(maxsize=1)
def _participants_statement() -> Select[Any]:
    return (
        select(TicketParticipant.email)
        .where(TicketParticipant.ticket_id == bindparam("ticket_id"))
        .order_by(TicketParticipant.email)
    )


async def messages_with_attachments(
    session: AsyncSession, ticket_id: int, *, include_internal: bool
) -> list[tuple[TicketMessage, list[Attachment]]]:
    """A ticket's messages, oldest first, each with its attachments; the messages of tickets
    merged into it are part of its thread, in time order (tickets/merge.py)."""
    ids = await merging.thread_ids(session, ticket_id)
    stmt = _messages_statement(len(ids) > 1, include_internal)
    messages = list((await session.scalars(stmt, {"ticket_id": ticket_id, "thread": ids})).all())
    by_message: dict[int, list[Attachment]] = {m.id: [] for m in messages}
    if messages:
        attachments = await session.scalars(_attachments_statement(), {"thread": ids})
        for att in attachments:
            if att.message_id in by_message:
                by_message[att.message_id].append(att)
    return [(m, by_message[m.id]) for m in messages]


async def attachment_of_ticket(
    session: AsyncSession, ticket_id: int, attachment_id: int
) -> tuple[Attachment, TicketMessage] | None:
    """An attachment with the message that carries it, only if that message is in this ticket's
    thread (its own messages and those of tickets merged into it)."""
    ids = await merging.thread_ids(session, ticket_id)
    row = (
        await session.execute(
            select(Attachment, TicketMessage)
            .join(TicketMessage, TicketMessage.id == Attachment.message_id)
            .where(Attachment.id == attachment_id, TicketMessage.ticket_id.in_(ids))
        )
    ).first()
    return (row[0], row[1]) if row else None


async def timeline(session: AsyncSession, ticket_id: int) -> list[TicketEvent]:
    return list(await session.scalars(_timeline_statement(), {"ticket_id": ticket_id}))


async def participants(session: AsyncSession, ticket_id: int) -> list[str]:
    return list(await session.scalars(_participants_statement(), {"ticket_id": ticket_id}))
