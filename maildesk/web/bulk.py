"""Bulk ticket changes, shared by the JSON API and the queue page's "Apply to selected" form.

Each ticket goes through the ticket service in its own savepoint of the caller's write
transaction (the handler's `db_write`), so a refused ticket (unknown, illegal transition) rolls back alone and is reported with the status
and detail it would have had on its own; the others apply.
"""

from __future__ import annotations

from litestar.exceptions import NotFoundException
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.models import User
from maildesk.runtime import Runtime
from maildesk.tickets import queries
from maildesk.tickets.change import TicketChange
from maildesk.tickets.rules import IllegalTransition
from maildesk.tickets.service import ServiceError, UnknownValue
from maildesk.web.schemas import BulkResult


async def bulk_change(
    rt: Runtime, session: AsyncSession, user: User, refs: list[str], change: TicketChange
) -> list[BulkResult]:
    """In `session`'s write transaction, one savepoint per ticket: a refused ticket rolls back alone."""
    results: list[BulkResult] = []
    service = rt.service(session)
    for ref in dict.fromkeys(refs):
        try:
            async with session.begin_nested():
                ticket = await queries.ticket_by_ref(session, ref, for_update=True)
                if ticket is None:
                    raise NotFoundException(f"no ticket {ref}")
                ref = ticket.ticket_number or ref
                await service.update(ticket, user, change)
            results.append(BulkResult(ticket=ref, ok=True))
        except NotFoundException as exc:
            results.append(BulkResult(ticket=ref, ok=False, status_code=404, detail=str(exc.detail)))
        except UnknownValue as exc:
            results.append(BulkResult(ticket=ref, ok=False, status_code=422, detail=f"{exc.field}: {exc}"))
        except (IllegalTransition, ServiceError) as exc:
            results.append(BulkResult(ticket=ref, ok=False, status_code=409, detail=str(exc)))
    return results
