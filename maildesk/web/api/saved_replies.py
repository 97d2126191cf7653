"""/admin/saved-replies: canned answers the support team inserts into replies.

Admin-only (401 anonymous, 403 signed-in non-admins). A body is a restricted template
(tickets/saved_replies.py) checked when saved: anything beyond the five ticket values, a few
text filters and simple ifs is 422 naming `body`. POST .../{id}/render gives the text for one
ticket, as the admin ticket page's "Insert" button does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, JSONBody
from msgspec import UNSET, Meta, Struct, UnsetType
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.models import SavedReply, User, utcnow
from maildesk.tickets import queries
from maildesk.tickets import saved_replies as templates
from maildesk.web.api.support import Page, PageSize
from maildesk.web.auth import requires_admin
from maildesk.web.errors import FieldError
from maildesk.web.pages.saved_replies import list_replies, manage_page, render_for
from maildesk.web.pages.negotiate import NEGOTIATED_HANDLERS, wants_html
from maildesk.web.schemas import errors

Title = Annotated[str, Meta(min_length=1, max_length=templates.MAX_TITLE)]
Body = Annotated[str, Meta(min_length=1, max_length=templates.MAX_BODY)]


class SavedReplyIn(Struct, forbid_unknown_fields=True):
    title: Title
    body: Body


class SavedReplyPatchIn(Struct, forbid_unknown_fields=True):
    title: Title | UnsetType = UNSET
    body: Body | UnsetType = UNSET


class SavedReplyOut(Struct):
    id: int
    title: str
    body: str
    created_by: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, r: SavedReply) -> "SavedReplyOut":
        return cls(id=r.id, title=r.title, body=r.body, created_by=r.created_by, created_at=r.created_at,
                   updated_at=r.updated_at)


class SavedReplyPage(Struct):
    items: list[SavedReplyOut]
    total: int
    page: int
    page_size: int


class RenderIn(Struct, forbid_unknown_fields=True):
    ticket: Annotated[str, Meta(min_length=1, max_length=32)]  # SUP-00042 or the id


class RenderOut(Struct):
    text: str


def checked_title(title: str) -> str:
    title = title.strip()
    if not title:
        raise FieldError("title", "must not be empty")
    return title


def checked_body(body: str) -> str:
    try:
        templates.validate(body)
    except templates.InvalidTemplate as exc:
        raise FieldError("body", str(exc)) from None
    return body


class SavedReplyController(Controller):
    path = "/admin/saved-replies"
    tags = ["admin", "saved replies"]
    guards = [requires_admin]

    @get("/", summary="Saved replies, by title", responses=errors(401, 403, 422),
         exception_handlers=NEGOTIATED_HANDLERS)
    async def list_all(
        self, db_session: NamedDependency[AsyncSession], request: Request, page: Page = 1,  # type: ignore[type-arg]
        page_size: PageSize = 20,
    ) -> SavedReplyPage:
        """A browser (preferring text/html) gets the page that manages them instead."""
        if wants_html(request):
            return await manage_page(request, db_session)  # type: ignore[return-value]
        rows, total = await list_replies(db_session, page, page_size)
        return SavedReplyPage(items=[SavedReplyOut.of(r) for r in rows], total=total, page=page, page_size=page_size)

    @post("/", status_code=201, summary="Add a saved reply", responses=errors(400, 401, 403, 422))
    async def create(
        self, db_write: NamedDependency[AsyncSession], user: NamedDependency[User], data: JSONBody[SavedReplyIn]
    ) -> SavedReplyOut:
        """body may use {{ ticket.number }}, {{ ticket.subject }}, {{ requester.name }},
        {{ requester.email }}, {{ agent.name }}, the filters upper, lower, title, capitalize,
        trim, default('text'), and {% if %}/{% elif %}/{% else %} on those values; anything
        else is 422 naming `body`."""
        now = utcnow()
        reply = SavedReply(title=checked_title(data.title), body=checked_body(data.body), created_by=user.email,
                           created_at=now, updated_at=now)
        db_write.add(reply)
        await db_write.flush()
        return SavedReplyOut.of(reply)

    @patch("/{reply_id:int}", summary="Change a saved reply's title or body", responses=errors(400, 401, 403, 404, 422))
    async def change(
        self, db_write: NamedDependency[AsyncSession], reply_id: FromPath[int], data: JSONBody[SavedReplyPatchIn]
    ) -> SavedReplyOut:
        title = None if isinstance(data.title, UnsetType) else checked_title(data.title)
        body = None if isinstance(data.body, UnsetType) else checked_body(data.body)
        reply = await db_write.get(SavedReply, reply_id)
        if reply is None:
            raise NotFoundException(f"no saved reply {reply_id}")
        if title is not None:
            reply.title = title
        if body is not None:
            reply.body = body
        reply.updated_at = utcnow()
        await db_write.flush()
        return SavedReplyOut.of(reply)

    @delete("/{reply_id:int}", status_code=204, summary="Remove a saved reply", responses=errors(401, 403, 404))
    async def remove(self, db_write: NamedDependency[AsyncSession], reply_id: FromPath[int]) -> None:
        reply = await db_write.get(SavedReply, reply_id)
        if reply is None:
            raise NotFoundException(f"no saved reply {reply_id}")
        await db_write.delete(reply)

    @post("/{reply_id:int}/render", status_code=200, summary="The saved reply's text for one ticket",
          responses=errors(400, 401, 403, 404, 422))
    async def render(
        self, db_session: NamedDependency[AsyncSession], user: NamedDependency[User], reply_id: FromPath[int],
        data: JSONBody[RenderIn],
    ) -> RenderOut:
        reply = await db_session.get(SavedReply, reply_id)
        if reply is None:
            raise NotFoundException(f"no saved reply {reply_id}")
        ticket = await queries.ticket_by_ref(db_session, data.ticket)
        if ticket is None:
            raise NotFoundException(f"no ticket {data.ticket}")
        try:
            return RenderOut(text=await render_for(db_session, reply, ticket, user))
        except templates.InvalidTemplate as exc:
            raise FieldError("body", str(exc)) from None
