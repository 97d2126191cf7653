"""/admin/support: stats, the SLA pass, received mail (list, reprocess, raw) and suppressed addresses.

Admin-only (401 anonymous, 403 signed-in non-admins).
"""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, Parameter, QueryParameter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.outbound import bounces
from maildesk.models import InboundMessage, User
from maildesk.runtime import Runtime
from maildesk.tickets import admin_lists
from maildesk.tickets.sla import check_sla
from maildesk.web.api.admin.filters import choices
from maildesk.web.api.admin.stats import cached_stats
from maildesk.web.api.support import Page, PageSize
from maildesk.web.auth import requires_admin
from maildesk.web.errors import FieldError
from maildesk.web.inbound import INBOUND_STATUSES
from maildesk.web.inbound import requeue as requeue_inbound
from maildesk.web.pages.negotiate import NEGOTIATED_HANDLERS, wants_html
from maildesk.web.pages.stats import stats_page
from maildesk.web.schemas import MAX_ID, EscalatedOut, InboundOut, InboundPage, StatsOut, SuppressedOut, errors


class AdminSupportController(Controller):
    path = "/admin/support"
    tags = ["admin"]
    guards = [requires_admin]

    @get("/stats", summary="Volume, response times and SLA compliance", responses=errors(401, 403, 422),
         exception_handlers=NEGOTIATED_HANDLERS)
    async def stats(
        self,
        rt: NamedDependency[Runtime],
        request: Request,  # type: ignore[type-arg]
        days: Annotated[int, Parameter(ge=1, le=366, description="length of the by_day series")] = 30,
        fresh: Annotated[bool, Parameter(description="skip the few-seconds cache")] = False,
        date_from: Annotated[str | None, QueryParameter(name="from", description="first day (YYYY-MM-DD) of the SLA report")] = None,
        date_to: Annotated[str | None, QueryParameter(name="to", description="last day (YYYY-MM-DD), default today")] = None,
    ) -> StatsOut:
        """See maildesk.tickets.stats for the definitions (SLA compliance: first public reply
        within the priority's window, or no reply yet and the window not yet passed). The SLA
        report (range, daily, first_response, resolution) covers the tickets opened from
        `from` to `to` (default the last 30 days), in business time. Answers may be up to 5
        seconds old (up to 60 while a new one is computed); fresh=true computes after the request
        arrived (concurrent fresh requests share that computation)."""
        stats = await cached_stats(request, rt, days=days, fresh=fresh, date_from=date_from, date_to=date_to)
        if wants_html(request):  # a browser: the stats page (same path, same numbers)
            return stats_page(request, stats)  # type: ignore[return-value]
        return stats

    @post("/check-sla", status_code=200, summary="Run one SLA pass now", responses=errors(401, 403))
    async def check_sla(self, rt: NamedDependency[Runtime]) -> EscalatedOut:
        """Escalates open, unanswered tickets past their window (once each); returns their numbers."""
        return EscalatedOut(escalated=await check_sla(rt))

    @get("/inbound", summary="Received messages, newest first", responses=errors(401, 403, 422))
    async def inbound(
        self,
        db_session: NamedDependency[AsyncSession],
        status: Annotated[str | None, Parameter(description="received, processed, failed or ignored")] = None,
        page: Page = 1,
        page_size: PageSize = 20,
    ) -> InboundPage:
        wanted = choices("status", status, INBOUND_STATUSES)
        if len(wanted) > 1:
            raise FieldError("status", "give one status")
        rows, total = await admin_lists.inbound_page(
            db_session, status=wanted[0] if wanted else None, page=page, page_size=page_size
        )
        return InboundPage(items=[InboundOut.of(m, n) for m, n in rows], total=total, page=page, page_size=page_size)

    @post("/inbound/{inbound_id:int}/reprocess", status_code=202, summary="Run the pipeline again on a message",
          responses=errors(401, 403, 404, 409))
    async def reprocess(
        self,
        db_write: NamedDependency[AsyncSession],
        user: NamedDependency[User],
        inbound_id: FromPath[int],
    ) -> InboundOut:
        """Puts a `failed` or `ignored` message back to `received` (pipeline/requeue.py: any other status 409)."""
        inbound, number = await requeue_inbound(db_write, inbound_id, user)
        return InboundOut.of(inbound, number)

    @get("/inbound/{inbound_id:int}/raw", summary="The message exactly as received", media_type="message/rfc822",
         responses=errors(401, 403, 404))
    async def inbound_raw(self, db_session: NamedDependency[AsyncSession], inbound_id: FromPath[int]) -> Response[bytes]:
        """The stored raw bytes, as a download (never rendered by the browser)."""
        if not 0 < inbound_id <= MAX_ID:
            raise NotFoundException(f"no inbound message {inbound_id}")
        raw = await db_session.scalar(select(InboundMessage.raw).where(InboundMessage.id == inbound_id))
        if raw is None:
            raise NotFoundException(f"no inbound message {inbound_id}")
        return Response(
            content=raw,
            media_type="message/rfc822",
            headers={
                "Content-Disposition": f'attachment; filename="inbound-{inbound_id}.eml"',
                "X-Content-Type-Options": "nosniff",
            },
        )

    @get("/suppressed", summary="Addresses not mailed after hard bounces", responses=errors(401, 403))
    async def suppressed(
        self,
        db_session: NamedDependency[AsyncSession],
        include_cleared: Annotated[bool, Parameter(description="also list cleared entries")] = False,
    ) -> list[SuppressedOut]:
        rows = await bounces.suppressed_addresses(db_session, include_cleared=include_cleared)
        return [SuppressedOut.of(r) for r in rows]

    @delete("/suppressed/{email:str}", status_code=200, summary="Mail an address again",
            responses=errors(401, 403, 404))
    async def clear_suppressed(
        self, db_write: NamedDependency[AsyncSession], user: NamedDependency[User], email: FromPath[str]
    ) -> SuppressedOut:
        row = await bounces.clear_suppression(db_write, email, user)
        if row is None:
            raise NotFoundException(f"{email} is not suppressed")
        return SuppressedOut.of(row)
