"""Reprocessing a received message: shared by POST /admin/support/inbound/{id}/reprocess and the
/admin/inbound page, so both refuse and accept exactly the same messages."""

from __future__ import annotations

from litestar.exceptions import HTTPException, NotFoundException
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.intake.store import WAKE_PIPELINE
from maildesk.models import InboundMessage, Ticket, User
from maildesk.web.schemas import MAX_ID

INBOUND_STATUSES = ("received", "processed", "failed", "ignored")
REPROCESSABLE = ("failed", "ignored")  # CONTRACT: reprocess is for these; a message is never applied twice


async def requeue(session: AsyncSession, inbound_id: int, actor: User) -> tuple[InboundMessage, str | None]:
    """Puts a `failed` or `ignored` message back to `received` inside the caller's write
    transaction; the pipeline worker takes it within seconds. Returns it with its ticket number.

    Any other status is 409: a `processed` message has been applied (a second pass would open a
    second ticket and send a second confirmation), a `received` one is still waiting. The row
    lock makes two concurrent calls take turns: the second finds `received` and gets 409.
    """
    if not 0 < inbound_id <= MAX_ID:
        raise NotFoundException(f"no inbound message {inbound_id}")
    inbound = await session.scalar(select(InboundMessage).where(InboundMessage.id == inbound_id).with_for_update())
    if inbound is None:
        raise NotFoundException(f"no inbound message {inbound_id}")
    if inbound.status not in REPROCESSABLE:
        waiting = " (still waiting for the pipeline)" if inbound.status == "received" else ""
        raise HTTPException(
            status_code=409,
            detail=f"inbound message {inbound_id} is {inbound.status}{waiting}; "
            f"only {' or '.join(REPROCESSABLE)} messages can be reprocessed",
        )
    inbound.status = "received"
    inbound.reason = f"reprocess requested by {actor.email}"
    inbound.claimed_until = None
    session.info[WAKE_PIPELINE] = True
    number = None
    if inbound.ticket_id is not None:
        number = await session.scalar(select(Ticket.ticket_number).where(Ticket.id == inbound.ticket_id))
    return inbound, number
