"""/support/tickets: requesters open, follow, answer and close their own tickets.

Anyone may open a ticket (anonymous callers name the requester in user_email, as on the
contact form); everything else needs a signed-in owner, or an admin.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from litestar import Controller, Request, Response, get, patch, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.params import FromPath, HeaderParameter, JSONBody, Parameter
from msgspec import Meta, Struct
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.tickets.users import normal_email
from maildesk.models import Ticket, User
from maildesk.runtime import Runtime
from maildesk.tickets import collisions, conversation, csat, queries
from maildesk.tickets.rules import IllegalTransition
from maildesk.tickets.service import NewMessage
from maildesk.web.auth import requires_user
from maildesk.web.errors import FieldError
from maildesk.web.schemas import (
    MAX_ID,
    MessageOut,
    ReplyIn,
    RequesterPatchIn,
    TicketIn,
    TicketOut,
    TicketPage,
    TicketSummary,
    errors,
)
from maildesk.web.views import load_visible, not_found, ticket_out

# Bounded so that (page - 1) * page_size always fits a 64-bit SQL integer: a larger page
# is 422 naming it, not an OverflowError in the database driver.
MAX_PAGE = 1_000_000
Page = Annotated[int, Parameter(ge=1, le=MAX_PAGE, description=f"1-based page number (at most {MAX_PAGE})")]
PageSize = Annotated[int, Parameter(ge=1, le=100, description="items per page (1-100)")]
IfMatch = Annotated[str | None, HeaderParameter(name="If-Match", description="the ticket version you saw")]

class SatisfactionIn(Struct, forbid_unknown_fields=True):
    rating: Annotated[str, Meta(max_length=16)]
    comment: Annotated[str, Meta(max_length=csat.MAX_COMMENT)] | None = None


class SatisfactionOut(Struct):
    ticket_number: str
    rating: str
    comment: str | None
    rated_at: datetime

    @classmethod
    def of(cls, t: Ticket) -> "SatisfactionOut":
        return cls(ticket_number=t.ticket_number or str(t.id), rating=t.satisfaction_rating or "",
                   comment=t.satisfaction_comment, rated_at=t.satisfaction_at or t.updated_at)


_SAFE_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+$")


def nonblank(field_name: str, value: str) -> str:
    if not value.strip():
        raise FieldError(field_name, "must not be empty")
    return value


def seen_version(if_match: str | None, body_version: int | None) -> int | None:
    """The version a change was made from (If-Match or "version"); 422 when unreadable."""
    try:
        return collisions.expected_version(if_match, body_version)
    except collisions.BadVersion as exc:
        raise FieldError("If-Match", str(exc)) from None


def content_disposition(filename: str) -> str:
    """attachment; with an ASCII fallback and the exact name as RFC 5987 filename*."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\;' else "_" for c in filename) or "attachment"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


class SupportTicketController(Controller):
    path = "/support/tickets"
    tags = ["support"]
    guards = [requires_user]

    @post("/", status_code=201, opt={"anonymous": True}, summary="Open a ticket",
          responses=errors(400, 403, 422))
    async def create(
        self,
        rt: NamedDependency[Runtime],
        db_write: NamedDependency[AsyncSession],
        viewer: NamedDependency[User | None],
        data: JSONBody[TicketIn],
    ) -> TicketOut:
        """Signed in: the ticket is yours (admins may name another requester in user_email).
        Anonymous: user_email is required and becomes the requester, who gets the confirmation."""
        nonblank("description", data.description)
        if viewer is None:
            if not data.user_email:
                raise FieldError("user_email", "required when not signed in")
            email = data.user_email
        elif data.user_email and normal_email(data.user_email) != viewer.email and not viewer.is_admin:
            raise PermissionDeniedException("user_email: signed-in users open tickets under their own address")
        else:
            email = data.user_email or viewer.email
        service = rt.service(db_write)
        requester = await service.get_or_create_user(email)
        ticket = await service.create_ticket(
            requester,
            subject=data.subject,
            message=NewMessage(body=data.description, source="api"),
            category=data.category,
            source="api",
        )
        return await ticket_out(db_write, ticket, viewer)

    @get("/", summary="My tickets, newest first", responses=errors(401, 422))
    async def list_mine(
        self,
        request: Request[User, Any, Any],
        db_session: NamedDependency[AsyncSession],
        page: Page = 1,
        page_size: PageSize = 20,
    ) -> TicketPage:
        # request.user (requires_user made sure), not the `user` dependency: with db_session's
        # `rt` it would be resolved in a task group of two, a cost on every page.
        rows, total = await queries.ticket_page(
            db_session, queries.QueueFilter(user_id=request.user.id), page=page, page_size=page_size
        )
        return TicketPage(items=TicketSummary.page_of(rows), total=total, page=page, page_size=page_size)

    @get("/{ref:str}", summary="One ticket with its messages", responses=errors(401, 403, 404))
    async def detail(
        self,
        db_session: NamedDependency[AsyncSession],
        user: NamedDependency[User],
        ref: FromPath[str],
    ) -> TicketOut:
        """By id or number (SUP-00042); internal notes only for admins."""
        ticket = await load_visible(db_session, ref, user)
        return await ticket_out(db_session, ticket, user)

    @post("/{ref:str}/messages", status_code=201, summary="Add a message",
          responses=errors(400, 401, 403, 404, 409, 422))
    async def reply(
        self,
        rt: NamedDependency[Runtime],
        db_write: NamedDependency[AsyncSession],
        user: NamedDependency[User],
        ref: FromPath[str],
        data: JSONBody[ReplyIn],
        if_match: IfMatch = None,
    ) -> MessageOut:
        """The requester's reply (reopens a waiting or resolved ticket), or an admin's public reply.
        With If-Match (or "version"), a ticket changed since that version is 409 naming the changes."""
        nonblank("body", data.body)
        seen = seen_version(if_match, data.version)
        message = NewMessage(body=data.body, source="api")
        ticket = await load_visible(db_write, ref, user, for_update=True)
        await collisions.check(db_write, ticket, seen)
        service = rt.service(db_write)
        if ticket.user_id == user.id:
            row = await service.requester_reply(ticket, user, message)
        else:
            row = await service.admin_reply(ticket, user, message)
        return MessageOut.of(row)

    @patch("/{ref:str}", summary="Confirm a resolved ticket is done",
           responses=errors(400, 401, 403, 404, 409, 422))
    async def confirm(
        self,
        rt: NamedDependency[Runtime],
        db_write: NamedDependency[AsyncSession],
        user: NamedDependency[User],
        ref: FromPath[str],
        data: JSONBody[RequesterPatchIn],
        if_match: IfMatch = None,
    ) -> TicketOut:
        """`{"status": "closed"}` on your own resolved ticket; anything else is 409. If-Match as
        for replies."""
        seen = seen_version(if_match, data.version)
        ticket = await queries.ticket_by_ref(db_write, ref, for_update=True)
        if ticket is None:
            raise not_found(ref)
        if ticket.user_id != user.id:
            raise PermissionDeniedException("only the requester can close their ticket here")
        await collisions.check(db_write, ticket, seen)
        if data.status != "closed" or ticket.status != "resolved":
            allowed = "closed" if ticket.status == "resolved" else "none"
            raise IllegalTransitionForRequester(ticket.status, data.status, allowed)
        await rt.service(db_write).confirm_closed(ticket, user)
        return await ticket_out(db_write, ticket, user)

    @post("/{ref:str}/satisfaction", status_code=200, summary="Rate how support did (good or bad)",
          responses=errors(400, 401, 403, 404, 409, 422))
    async def satisfaction(
        self, rt: NamedDependency[Runtime], db_write: NamedDependency[AsyncSession], user: NamedDependency[User],
        ref: FromPath[str], data: JSONBody[SatisfactionIn],
    ) -> SatisfactionOut:
        """`{"rating": "good"|"bad", "comment"?}` on your own ticket (403 for anyone else, admins
        included). One rating per ticket: a new one replaces it until the ticket is closed (409)."""
        try:
            rating = csat.check_rating(data.rating)
        except csat.BadRating as exc:
            raise FieldError("rating", str(exc)) from None
        try:
            comment = csat.check_comment(data.comment)
        except csat.BadRating as exc:
            raise FieldError("comment", str(exc)) from None
        ticket = await queries.ticket_by_ref(db_write, ref, for_update=True)
        if ticket is None:
            raise not_found(ref)
        if ticket.user_id != user.id:
            raise PermissionDeniedException("only the requester can rate their ticket")
        await rt.service(db_write).rate(ticket, user, rating, comment)
        return SatisfactionOut.of(ticket)

    @get("/{ref:str}/attachments/{attachment_id:int}", summary="Download an attachment",
         media_type="application/octet-stream", responses=errors(401, 403, 404))
    async def attachment(
        self,
        rt: NamedDependency[Runtime],
        db_session: NamedDependency[AsyncSession],
        user: NamedDependency[User],
        ref: FromPath[str],
        attachment_id: FromPath[int],
    ) -> Response[bytes]:
        """For the requester and admins; always a download (never rendered inline)."""
        ticket = await load_visible(db_session, ref, user)
        found = None
        if 0 < attachment_id <= MAX_ID:  # a larger id cannot exist (and would overflow the driver)
            found = await conversation.attachment_of_ticket(db_session, ticket.id, attachment_id)
        if found is None or (found[1].is_internal and not user.is_admin):
            raise NotFoundException(f"no attachment {attachment_id} on {ticket.ticket_number}")
        att = found[0]
        try:
            data = await asyncio.to_thread(rt.attachments.read, att.storage_key)
        except (OSError, ValueError):
            raise NotFoundException("the attachment's file is missing") from None
        content_type = att.content_type if _SAFE_TYPE.match(att.content_type or "") else "application/octet-stream"
        return Response(
            data,
            media_type=content_type,
            headers={
                "Content-Disposition": content_disposition(att.filename),
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "private, no-store",
            },
        )


class IllegalTransitionForRequester(IllegalTransition):
    """A requester may only close a resolved ticket; the message says what is allowed to them."""

    def __init__(self, current: str, wanted: str, allowed: str) -> None:
        super().__init__(current, wanted)
        self.args = (
            f"cannot change status from {current} to {wanted}; allowed next statuses for the requester: "
            f"{allowed} (a requester can only close a resolved ticket)",
        )

    def __str__(self) -> str:
        return str(self.args[0])
