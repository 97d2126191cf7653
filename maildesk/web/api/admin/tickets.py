"""/admin/support/tickets: the support team's queue, ticket changes, replies, merges and bulk changes.

Admin-only (401 anonymous, 403 signed-in non-admins). Ticket changes go through
TicketService, which records each one as a ticket event.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.models import User
from maildesk.runtime import Runtime
from maildesk.tickets import collisions, queries, rules
from maildesk.tickets.service import NewMessage
from maildesk.web.api.admin.filters import assignee, choices
from maildesk.web.api.support import IfMatch, Page, PageSize, nonblank, seen_version
from maildesk.web.auth import requires_admin
from maildesk.web.bulk import bulk_change
from maildesk.web.errors import FieldError
from maildesk.web.schemas import (
    AdminPatchIn,
    AdminReplyIn,
    AdminTicketOut,
    BulkIn,
    BulkOut,
    MergeIn,
    MessageOut,
    TicketPage,
    TicketSummary,
    errors,
)
from maildesk.web.views import admin_ticket_out, not_found


class AdminTicketController(Controller):
    path = "/admin/support/tickets"
    tags = ["admin"]
    guards = [requires_admin]

    @get("/", summary="The ticket queue", responses=errors(401, 403, 422))
    async def queue(
        self,
        request: Request[User, Any, Any],
        rt: NamedDependency[Runtime],
        db_session: NamedDependency[AsyncSession],
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
        # The admin from request.user (requires_admin made sure), not the `user` dependency:
        # with `rt` it would be resolved in a task group of two, a cost on every page.
        who, unassigned = assignee(assigned_to, request.user)
        f = queries.QueueFilter(
            status=choices("status", status, rules.STATUSES),
            priority=choices("priority", priority, rules.PRIORITIES),
            category=choices("category", category, rt.settings.categories),
            assigned_to=who,
            unassigned=unassigned,
            escalated=escalated,
            q=q,
            sort=sort,
        )
        rows, total = await queries.ticket_page(db_session, f, page=page, page_size=page_size)
        return TicketPage(items=TicketSummary.page_of(rows), total=total, page=page, page_size=page_size)

    @get("/{ref:str}", summary="A ticket with all messages and its timeline", responses=errors(401, 403, 404))
    async def detail(self, db_session: NamedDependency[AsyncSession], ref: FromPath[str]) -> AdminTicketOut:
        ticket = await queries.ticket_by_ref(db_session, ref)
        if ticket is None:
            raise not_found(ref)
        return await admin_ticket_out(db_session, ticket)

    @patch("/{ref:str}", summary="Change status, priority, assignee, escalation, resolution notes",
           responses=errors(400, 401, 403, 404, 409, 422))
    async def update(
        self,
        rt: NamedDependency[Runtime],
        db_write: NamedDependency[AsyncSession],
        user: NamedDependency[User],
        ref: FromPath[str],
        data: JSONBody[AdminPatchIn],
        if_match: IfMatch = None,
    ) -> AdminTicketOut:
        """Only the fields given change. An illegal status change is 409 naming the allowed next
        statuses; an assignee who is not an active admin is 422 naming assigned_to. With
        If-Match (or "version"), a ticket changed since that version is 409 naming the changes."""
        seen = seen_version(if_match, data.version)
        ticket = await queries.ticket_by_ref(db_write, ref, for_update=True)
        if ticket is None:
            raise not_found(ref)
        await collisions.check(db_write, ticket, seen)
        change = data.changes()
        if change:
            await rt.service(db_write).update(ticket, user, change)
        return await admin_ticket_out(db_write, ticket)

    @post("/{ref:str}/messages", status_code=201, summary="Reply to the requester or add an internal note",
          responses=errors(400, 401, 403, 404, 409, 422))
    async def reply(
        self,
        rt: NamedDependency[Runtime],
        db_write: NamedDependency[AsyncSession],
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
        ticket = await queries.ticket_by_ref(db_write, ref, for_update=True)
        if ticket is None:
            raise not_found(ref)
        await collisions.check(db_write, ticket, seen)
        row = await rt.service(db_write).admin_reply(
            ticket, user, NewMessage(body=data.body, source="api"), is_internal=data.is_internal
        )
        return MessageOut.of(row)

    @post("/{ref:str}/merge", status_code=200, summary="Merge this ticket into another one",
          responses=errors(400, 401, 403, 404, 409, 422))
    async def merge(
        self,
        rt: NamedDependency[Runtime],
        db_write: NamedDependency[AsyncSession],
        user: NamedDependency[User],
        ref: FromPath[str],
        data: JSONBody[MergeIn],
    ) -> AdminTicketOut:
        """`{"into": "SUP-..."}`: this ticket is closed with merged_into; its messages show in
        the target's thread, its requester and CCs become the target's participants, and later
        mail to it lands in the target. Into itself, a closed ticket or a loop: 409. Answers
        the target."""
        source = await queries.ticket_by_ref(db_write, ref, for_update=True)
        if source is None:
            raise not_found(ref)
        target = await queries.ticket_by_ref(db_write, data.into, for_update=True)
        if target is None:
            raise FieldError("into", f"no ticket {data.into}")
        await rt.service(db_write).merge(source, target, user)
        return await admin_ticket_out(db_write, target)

    @post("/bulk", status_code=200, summary="Change several tickets at once", responses=errors(400, 401, 403, 422))
    async def bulk(
        self, rt: NamedDependency[Runtime], db_write: NamedDependency[AsyncSession], user: NamedDependency[User],
        data: JSONBody[BulkIn],
    ) -> BulkOut:
        """Applies `changes` to each ticket as PATCH would, each on its own: a ticket the rules
        refuse (illegal status change: 409) or that does not exist (404) is reported in its
        result and the others still change."""
        return BulkOut(results=await bulk_change(
            rt, db_write, user, [str(t) for t in data.tickets], data.changes.changes()
        ))
