"""Reprocessing: an admin puts a `failed` or `ignored` message back in the pipeline's queue.

The pipeline owns every status change of an inbound message after intake stores it as
`received`; this is the one made at an admin's request. The web layer (web/inbound.py) maps
the two refusals below to 404 and 409.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.models import InboundMessage, Ticket, User

REPROCESSABLE = ("failed", "ignored")  # CONTRACT: reprocess is for these; a message is never applied twice


class NoSuchInbound(LookupError):
    def __init__(self, inbound_id: int) -> None:
        super().__init__(f"no inbound message {inbound_id}")


class NotReprocessable(ValueError):
    """str() says why, in words for the admin who asked."""


async def requeue(
    session: AsyncSession, inbound_id: int, actor: User, *, wake_flag: str
) -> tuple[InboundMessage, str | None]:
    """Puts a `failed` or `ignored` message back to `received` inside the caller's write
    transaction and sets `session.info[wake_flag]`, so its commit wakes the pipeline worker
    (intake.store.WAKE_PIPELINE; intake is a sibling package this one does not import).
    Returns the message with its ticket number.

    Any other status is refused: a `processed` message has been applied (a second pass would
    open a second ticket and send a second confirmation), a `received` one is still waiting.
    The row lock makes two concurrent calls take turns: the second finds `received`.
    """
    inbound = await session.scalar(select(InboundMessage).where(InboundMessage.id == inbound_id).with_for_update())
    if inbound is None:
        raise NoSuchInbound(inbound_id)
    if inbound.status not in REPROCESSABLE:
        waiting = " (still waiting for the pipeline)" if inbound.status == "received" else ""
        raise NotReprocessable(
            f"inbound message {inbound_id} is {inbound.status}{waiting}; "
            f"only {' or '.join(REPROCESSABLE)} messages can be reprocessed"
        )
    inbound.status = "received"
    inbound.reason = f"reprocess requested by {actor.email}"
    inbound.claimed_until = None
    session.info[wake_flag] = True
    number = None
    if inbound.ticket_id is not None:
        number = await session.scalar(select(Ticket.ticket_number).where(Ticket.id == inbound.ticket_id))
    return inbound, number
