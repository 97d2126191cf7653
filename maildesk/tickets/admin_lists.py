"""Read-only admin lists besides the ticket queue: the users (by role) and the received
messages (by status, with the ticket each went to). Nothing here changes a row."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from maildesk.models import InboundMessage, Ticket, User


async def user_page(
    session: AsyncSession, *, role: str | None, page: int, page_size: int
) -> tuple[list[User], int]:
    stmt = select(User)
    count = select(func.count()).select_from(User)
    if role:
        stmt, count = stmt.where(User.role == role), count.where(User.role == role)
    total = await session.scalar(count)
    rows = await session.scalars(stmt.order_by(User.email).limit(page_size).offset((page - 1) * page_size))
    return list(rows), int(total or 0)


async def inbound_page(
    session: AsyncSession, *, status: str | None, page: int, page_size: int
) -> tuple[list[tuple[InboundMessage, str | None]], int]:
    """Received messages, newest first, with the number of the ticket each went to (never the raw bytes)."""
    count = select(func.count()).select_from(InboundMessage)
    stmt = (
        select(InboundMessage, Ticket.ticket_number)
        .outerjoin(Ticket, Ticket.id == InboundMessage.ticket_id)
        .options(defer(InboundMessage.raw), defer(InboundMessage.envelope_to))
    )
    if status:
        count = count.where(InboundMessage.status == status)
        stmt = stmt.where(InboundMessage.status == status)
    total = await session.scalar(count)
    rows = (
        await session.execute(stmt.order_by(InboundMessage.id.desc()).limit(page_size).offset((page - 1) * page_size))
    ).all()
    return [(r[0], r[1]) for r in rows], int(total or 0)
