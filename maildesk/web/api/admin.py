"""/admin: the support team's queue, ticket changes and replies, stats, SLA pass, users, inbound mail.

Every route is admin-only (401 anonymous, 403 signed-in non-admins). Ticket changes go
through TicketService, which records each one as a ticket event.
"""

from __future__ import annotations

import asyncio
import time
from datetime import date, timedelta
from typing import Annotated, Any, Awaitable, Callable, Hashable

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery, JSONBody, Parameter, QueryParameter
from sqlalchemy import select

from maildesk.mail import bounces
from maildesk.models import InboundMessage, User, utcnow
from maildesk.runtime import Runtime
from maildesk.tickets import collisions, csat, queries, rules
from maildesk.tickets.service import NewMessage
from maildesk.tickets.sla import check_sla
from maildesk.tickets.stats import SlaReport, Stats, TargetReport, sla_report, ticket_stats
from maildesk.web.api.support import IfMatch, Page, PageSize, nonblank, seen_version
from maildesk.web.auth import requires_admin
from maildesk.web.bulk import bulk_change
from maildesk.web.errors import FieldError
from maildesk.web.inbound import INBOUND_STATUSES
from maildesk.web.inbound import requeue as requeue_inbound
from maildesk.web.pages.stats import NEGOTIATED_HANDLERS, stats_page, wants_html
from maildesk.web.pages.users import page as users_page
from maildesk.web.schemas import (
    MAX_ID,
    AdminPatchIn,
    AdminReplyIn,
    AdminTicketOut,
    AdminUserOut,
    BulkIn,
    BulkOut,
    ComplianceOut,
    DailyOut,
    DayCount,
    EscalatedOut,
    InboundOut,
    InboundPage,
    MergeIn,
    MessageOut,
    RangeOut,
    SlaOut,
    SatisfactionStatsOut,
    StatsOut,
    SuppressedOut,
    TargetOut,
    TicketPage,
    TicketSummary,
    UserPage,
    errors,
)
from maildesk.web.views import admin_ticket_out, not_found

ROLES = ("user", "admin")
STATS_CACHE_SECONDS = 5.0
STATS_STALE_SECONDS = 60.0


def _choices(field_name: str, value: str | None, allowed: tuple[str, ...] | list[str]) -> list[str]:
    """A comma-separated filter value, each item one of `allowed` (else 422 naming the field)."""
    if value is None or not value.strip():
        return []
    items = [v.strip() for v in value.split(",") if v.strip()]
    for item in items:
        if item not in allowed:
            raise FieldError(field_name, f"unknown value {item!r}; allowed: {', '.join(allowed)}")
    return items


def _assignee(value: str | None, me: User) -> tuple[int | None, bool]:
    """assigned_to=<user id> | me | none -> (id, unassigned)."""
    if value is None or value == "":
        return None, False
    if value == "none":
        return None, True
    if value == "me":
        return me.id, False
    if value.isascii() and value.isdigit() and int(value) <= MAX_ID:
        return int(value), False
    raise FieldError("assigned_to", "expected a user id, 'me' or 'none'")


class AdminTicketController(Controller):
    path = "/admin/support/tickets"
    tags = ["admin"]
    guards = [requires_admin]

    @get("/", summary="The ticket queue", responses=errors(401, 403, 422))
    async def queue(
        self,
        rt: NamedDependency[Runtime],
        user: NamedDependency[User],
        status: Annotated[str | None, Parameter(description="comma-separated statuses")] = None,
        priority: Annotated[str | None, Parameter(description="comma-separated priorities")] = None,
        category: Annotated[str | None, Parameter(description="comma-separated categories")] = None,
        assigned_to: Annotated[str | None, Parameter(description="user id, 'me' or 'none'")] = None,
        escalated: FromQuery[bool | None] = None,
        q: Annotated[str | None, Parameter(description="full-text search: subject, description, messages",
                                           max_length=500)] = None,
        sort: Annotated[str, Parameter(description=f"one of {', '.join(queries.SORT_CHOICES)}")] = "-created_at",
        page: Page = 1,
        page_size: PageSize = 20,
    ) -> TicketPage:
        assignee, unassigned = _assignee(assigned_to, user)
        f = queries.QueueFilter(
            status=_choices("status", status, rules.STATUSES),
            priority=_choices("priority", priority, rules.PRIORITIES),
            category=_choices("category", category, rt.settings.categories),
            assigned_to=assignee,
            unassigned=unassigned,
            escalated=escalated,
            q=q,
            sort=sort,
        )
        async with rt.db.read() as session:
            rows, total = await queries.ticket_page(session, f, page=page, page_size=page_size)
        return TicketPage(items=[TicketSummary.of_row(t) for t in rows], total=total, page=page, page_size=page_size)

    @get("/{ref:str}", summary="A ticket with all messages and its timeline", responses=errors(401, 403, 404))
    async def detail(self, rt: NamedDependency[Runtime], ref: FromPath[str]) -> AdminTicketOut:
        async with rt.db.read() as session:
            ticket = await queries.ticket_by_ref(session, ref)
            if ticket is None:
                raise not_found(ref)
            return await admin_ticket_out(session, ticket)

    @patch("/{ref:str}", summary="Change status, priority, assignee, escalation, resolution notes",
           responses=errors(400, 401, 403, 404, 409, 422))
    async def update(
        self,
        rt: NamedDependency[Runtime],
        user: NamedDependency[User],
        ref: FromPath[str],
        data: JSONBody[AdminPatchIn],
        if_match: IfMatch = None,
    ) -> AdminTicketOut:
        """Only the fields given change. An illegal status change is 409 naming the allowed next
        statuses; an assignee who is not an active admin is 422 naming assigned_to. With
        If-Match (or "version"), a ticket changed since that version is 409 naming the changes."""
        seen = seen_version(if_match, data.version)
        async with rt.db.write() as session:
            ticket = await queries.ticket_by_ref(session, ref, for_update=True)
            if ticket is None:
                raise not_found(ref)
            await collisions.check(session, ticket, seen)
            changes = data.changes()
            if changes:
                await rt.service(session).update(ticket, user, changes)
        async with rt.db.read() as session:
            return await admin_ticket_out(session, ticket)

    @post("/{ref:str}/messages", status_code=201, summary="Reply to the requester or add an internal note",
          responses=errors(400, 401, 403, 404, 409, 422))
    async def reply(
        self,
        rt: NamedDependency[Runtime],
        user: NamedDependency[User],
        ref: FromPath[str],
        data: JSONBody[AdminReplyIn],
        if_match: IfMatch = None,
    ) -> MessageOut:
        """A public reply is emailed to the requester, records the first response and moves an
        open ticket to in_progress; an internal note is emailed to nobody. @name or an
        address in a note notifies that admin. If-Match as for PATCH."""
        nonblank("body", data.body)
        seen = seen_version(if_match, data.version)
        async with rt.db.write() as session:
            ticket = await queries.ticket_by_ref(session, ref, for_update=True)
            if ticket is None:
                raise not_found(ref)
            await collisions.check(session, ticket, seen)
            row = await rt.service(session).admin_reply(
                ticket, user, NewMessage(body=data.body, source="api"), is_internal=data.is_internal
            )
        return MessageOut.of(row)

    @post("/{ref:str}/merge", status_code=200, summary="Merge this ticket into another one",
          responses=errors(400, 401, 403, 404, 409, 422))
    async def merge(
        self,
        rt: NamedDependency[Runtime],
        user: NamedDependency[User],
        ref: FromPath[str],
        data: JSONBody[MergeIn],
    ) -> AdminTicketOut:
        """`{"into": "SUP-..."}`: this ticket is closed with merged_into; its messages show in
        the target's thread, its requester and CCs become the target's participants, and later
        mail to it lands in the target. Into itself, a closed ticket or a loop: 409. Answers
        the target."""
        async with rt.db.write() as session:
            source = await queries.ticket_by_ref(session, ref, for_update=True)
            if source is None:
                raise not_found(ref)
            target = await queries.ticket_by_ref(session, data.into, for_update=True)
            if target is None:
                raise FieldError("into", f"no ticket {data.into}")
            await rt.service(session).merge(source, target, user)
        async with rt.db.read() as session:
            return await admin_ticket_out(session, target)

    @post("/bulk", status_code=200, summary="Change several tickets at once", responses=errors(400, 401, 403, 422))
    async def bulk(
        self, rt: NamedDependency[Runtime], user: NamedDependency[User], data: JSONBody[BulkIn]
    ) -> BulkOut:
        """Applies `changes` to each ticket as PATCH would, each on its own: a ticket the rules
        refuse (illegal status change: 409) or that does not exist (404) is reported in its
        result and the others still change."""
        return BulkOut(results=await bulk_change(rt, user, [str(t) for t in data.tickets], data.changes.changes()))


def _target_out(t: TargetReport) -> TargetOut:
    def out(c: Any) -> ComplianceOut:
        return ComplianceOut(met=c.met, missed=c.missed, compliance=c.compliance)

    return TargetOut(
        target_hours=t.target_hours, median_hours=t.median_hours, p90_hours=t.p90_hours,
        samples=len(t.samples), met=t.overall.met, missed=t.overall.missed, compliance=t.overall.compliance,
        by_priority={k: out(v) for k, v in t.by_priority.items()},
        by_category={k: out(v) for k, v in t.by_category.items()},
    )


MAX_RANGE_DAYS = 366


def stats_range(date_from: str | None, date_to: str | None, today: date) -> tuple[date, date]:
    """?from=&to= as dates (inclusive): default the 30 days up to today; 422 naming the field."""
    def parse(name: str, value: str | None, default: date) -> date:
        if value is None or not value.strip():
            return default
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise FieldError(name, f"{value.strip()[:40]!r} is not a date (YYYY-MM-DD)") from None

    end = parse("to", date_to, today)
    start = parse("from", date_from, end - timedelta(days=29))
    if start > end:
        raise FieldError("from", "must not be after to")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise FieldError("from", f"the range may span at most {MAX_RANGE_DAYS} days")
    return start, end


def _stats_out(s: Stats, sla_hours: dict[str, float], report: SlaReport | None = None) -> StatsOut:
    return StatsOut(
        total=s.total,
        by_status=s.by_status,
        by_priority=s.by_priority,
        by_category=s.by_category,
        by_day=[DayCount(day=d, count=n) for d, n in s.by_day],
        open_escalated=s.open_escalated,
        avg_first_response_seconds=s.avg_first_response_seconds,
        avg_resolution_seconds=s.avg_resolution_seconds,
        sla=SlaOut(
            compliance=s.sla_compliance,
            met=s.sla_met,
            missed=s.sla_missed,
            by_priority=s.sla_by_priority,
            window_hours=sla_hours,
        ),
        generated_at=s.generated_at,
        range=RangeOut(from_=report.start.isoformat(), to=report.end.isoformat()) if report else None,
        daily=[DailyOut(day=d, opened=o, resolved=r) for d, o, r in report.daily] if report else [],
        first_response=_target_out(report.first_response) if report else None,
        resolution=_target_out(report.resolution) if report else None,
        satisfaction=SatisfactionStatsOut(
            good=report.satisfaction_good, bad=report.satisfaction_rated - report.satisfaction_good,
            rated=report.satisfaction_rated, score=csat.score(report.satisfaction_good, report.satisfaction_rated),
        ) if report else None,
    )


class StatsCache:
    """The last stats per `days`: the dashboard polls, the numbers move slowly, and on a large
    database one computation is a pass over every ticket.

    An answer younger than `fresh_seconds` is reused. An older one (up to `stale_seconds`) is
    still returned at once while one background task computes the next; older than that,
    or none yet, the caller waits, sharing one computation with any concurrent callers.
    """

    def __init__(self, fresh_seconds: float = STATS_CACHE_SECONDS, stale_seconds: float = STATS_STALE_SECONDS) -> None:
        self.fresh_seconds = fresh_seconds
        self.stale_seconds = stale_seconds
        self._entries: dict[Hashable, tuple[float, StatsOut]] = {}
        self._running: dict[Hashable, asyncio.Task[StatsOut]] = {}

    async def get(self, days: Hashable, compute: Callable[[], Awaitable[StatsOut]], *, fresh: bool = False) -> StatsOut:
        entry = self._entries.get(days)
        age = time.monotonic() - entry[0] if entry else None
        if fresh:
            value = await compute()
            self._entries[days] = (time.monotonic(), value)
            return value
        if entry is not None and age is not None and age < self.fresh_seconds:
            return entry[1]
        task = self._start(days, compute)
        if entry is not None and age is not None and age < self.stale_seconds:
            return entry[1]
        return await asyncio.shield(task)

    def _start(self, days: Hashable, compute: Callable[[], Awaitable[StatsOut]]) -> asyncio.Task[StatsOut]:
        task = self._running.get(days)
        if task is None:
            task = asyncio.ensure_future(compute())
            self._running[days] = task

            def done(t: asyncio.Task[StatsOut]) -> None:
                self._running.pop(days, None)
                if not t.cancelled() and t.exception() is None:
                    self._entries[days] = (time.monotonic(), t.result())

            task.add_done_callback(done)
        return task


async def _stats(request: Request, rt: Runtime, *, days: int, fresh: bool,  # type: ignore[type-arg]
                 date_from: str | None, date_to: str | None) -> StatsOut:
    start, end = stats_range(date_from, date_to, utcnow().date())

    async def compute() -> StatsOut:
        async with rt.db.read() as session:
            s = await ticket_stats(session, rt.settings.sla_hours, days=days)
            report = await sla_report(session, rt.settings, start, end)
        return _stats_out(s, dict(rt.settings.sla_hours), report)

    cache: StatsCache = request.app.state.stats_cache
    return await cache.get((days, start, end), compute, fresh=fresh)


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
        seconds old (up to 60 while a new one is computed); fresh=true computes now."""
        stats = await _stats(request, rt, days=days, fresh=fresh, date_from=date_from, date_to=date_to)
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
        rt: NamedDependency[Runtime],
        status: Annotated[str | None, Parameter(description="received, processed, failed or ignored")] = None,
        page: Page = 1,
        page_size: PageSize = 20,
    ) -> InboundPage:
        wanted = _choices("status", status, INBOUND_STATUSES)
        if len(wanted) > 1:
            raise FieldError("status", "give one status")
        async with rt.db.read() as session:
            rows, total = await queries.inbound_page(
                session, status=wanted[0] if wanted else None, page=page, page_size=page_size
            )
        return InboundPage(items=[InboundOut.of(m, n) for m, n in rows], total=total, page=page, page_size=page_size)

    @post("/inbound/{inbound_id:int}/reprocess", status_code=202, summary="Run the pipeline again on a message",
          responses=errors(401, 403, 404, 409))
    async def reprocess(
        self,
        rt: NamedDependency[Runtime],
        user: NamedDependency[User],
        inbound_id: FromPath[int],
    ) -> InboundOut:
        """Puts a `failed` or `ignored` message back to `received` (web/inbound.py: any other status 409)."""
        async with rt.db.write() as session:
            inbound, number = await requeue_inbound(session, inbound_id, user)
        return InboundOut.of(inbound, number)


    @get("/inbound/{inbound_id:int}/raw", summary="The message exactly as received", media_type="message/rfc822",
         responses=errors(401, 403, 404))
    async def inbound_raw(self, rt: NamedDependency[Runtime], inbound_id: FromPath[int]) -> Response[bytes]:
        """The stored raw bytes, as a download (never rendered by the browser)."""
        if not 0 < inbound_id <= MAX_ID:
            raise NotFoundException(f"no inbound message {inbound_id}")
        async with rt.db.read() as session:
            raw = await session.scalar(select(InboundMessage.raw).where(InboundMessage.id == inbound_id))
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
        rt: NamedDependency[Runtime],
        include_cleared: Annotated[bool, Parameter(description="also list cleared entries")] = False,
    ) -> list[SuppressedOut]:
        async with rt.db.read() as session:
            rows = await bounces.suppressed_addresses(session, include_cleared=include_cleared)
        return [SuppressedOut.of(r) for r in rows]

    @delete("/suppressed/{email:str}", status_code=200, summary="Mail an address again",
            responses=errors(401, 403, 404))
    async def clear_suppressed(
        self, rt: NamedDependency[Runtime], user: NamedDependency[User], email: FromPath[str]
    ) -> SuppressedOut:
        async with rt.db.write() as session:
            row = await bounces.clear_suppression(session, email, user)
            if row is None:
                raise NotFoundException(f"{email} is not suppressed")
            return SuppressedOut.of(row)


class AdminUserController(Controller):
    path = "/admin/users"
    tags = ["admin"]
    guards = [requires_admin]

    @get("/", summary="Users (role=admin for the assignee list)", responses=errors(401, 403, 422),
         exception_handlers=NEGOTIATED_HANDLERS)
    async def list_users(
        self,
        request: Request,  # type: ignore[type-arg]
        rt: NamedDependency[Runtime],
        role: Annotated[str | None, Parameter(description="user or admin")] = None,
        page: Page = 1,
        page_size: Annotated[int, Parameter(ge=1, le=500)] = 100,
    ) -> UserPage:
        """Browsers asking for HTML get the /admin/users page (web/pages/users.py)."""
        if wants_html(request):
            return await users_page(request, rt)  # type: ignore[return-value]
        wanted = _choices("role", role, ROLES)
        if len(wanted) > 1:
            raise FieldError("role", "give one role")
        async with rt.db.read() as session:
            rows, total = await queries.user_page(
                session, role=wanted[0] if wanted else None, page=page, page_size=page_size
            )
        return UserPage(items=[AdminUserOut.of(u) for u in rows], total=total, page=page, page_size=page_size)
