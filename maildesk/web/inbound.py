"""Reprocessing a received message, as HTTP: shared by POST /admin/support/inbound/{id}/reprocess
and the /admin/inbound page, so both refuse and accept exactly the same messages. The state
change itself is the pipeline's (pipeline/requeue.py); this maps its refusals to 404 and 409."""

from __future__ import annotations

from litestar.exceptions import HTTPException, NotFoundException
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.intake.store import WAKE_PIPELINE
from maildesk.models import InboundMessage, User
from maildesk.pipeline import requeue as requeuing
from maildesk.pipeline.requeue import REPROCESSABLE
from maildesk.web.schemas import MAX_ID

INBOUND_STATUSES = ("received", "processed", "failed", "ignored")
__all__ = ["INBOUND_STATUSES", "REPROCESSABLE", "requeue"]


async def requeue(session: AsyncSession, inbound_id: int, actor: User) -> tuple[InboundMessage, str | None]:
    """pipeline.requeue.requeue inside the caller's write transaction: 404 for an unknown id,
    409 (saying why) for a message that is not failed or ignored."""
    if not 0 < inbound_id <= MAX_ID:  # beyond the database's integers: unknown, not a 500
        raise NotFoundException(f"no inbound message {inbound_id}")
    try:
        return await requeuing.requeue(session, inbound_id, actor, wake_flag=WAKE_PIPELINE)
    except requeuing.NoSuchInbound as exc:
        raise NotFoundException(str(exc)) from None
    except requeuing.NotReprocessable as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
