"""The support team's saved replies: the /admin/saved-replies page (list, add, edit, delete)
and the admin ticket page's "Insert" button, all plain forms that work without JavaScript.

GET /admin/saved-replies is shared with the JSON list (web/api/saved_replies.py): a browser
gets this page. Bodies are checked exactly as the API checks them (tickets/saved_replies.py).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.models import SavedReply, Ticket, User, utcnow
from maildesk.tickets import saved_replies as templates
from maildesk.web.pages.render import admin_user, page_post, posted_form, redirect, render, sentence
from maildesk.web.schemas import MAX_ID

DONE = {"added": "The saved reply has been added.", "saved": "The saved reply has been changed.",
        "deleted": "The saved reply has been deleted."}


async def list_replies(session: AsyncSession, page: int = 1, page_size: int = 500) -> tuple[list[SavedReply], int]:
    total = await session.scalar(select(func.count()).select_from(SavedReply)) or 0
    rows = await session.scalars(
        select(SavedReply).order_by(func.lower(SavedReply.title), SavedReply.id)
        .offset((page - 1) * page_size).limit(page_size)
    )
    return list(rows), total


async def render_for(session: AsyncSession, reply: SavedReply, ticket: Ticket, agent: User) -> str:
    """The reply's text for this ticket and agent (InvalidTemplate when the stored body no longer passes)."""
    requester = await session.get(User, ticket.user_id)
    ctx = templates.ReplyContext(
        ticket_number=ticket.ticket_number or str(ticket.id), ticket_subject=ticket.subject,
        requester_name=(requester.name if requester else "") or "", requester_email=ticket.user_email,
        agent_name=agent.name or agent.email,
    )
    return templates.render(reply.body, ctx)


def _form_errors(title: str, body: str) -> dict[str, str]:
    errors = {}
    if not title.strip():
        errors["title"] = "Give it a title."
    elif len(title) > templates.MAX_TITLE:
        errors["title"] = f"Use at most {templates.MAX_TITLE} characters."
    try:
        templates.validate(body)
    except templates.InvalidTemplate as exc:
        errors["body"] = sentence(exc)
    return errors


async def manage_page(request: Request[Any, Any, Any], session: AsyncSession, *, errors: dict[str, str] | None = None,
                      values: dict[str, str] | None = None, editing: int | None = None,
                      status_code: int = 200) -> Response[str]:
    admin_user(request)
    replies, _total = await list_replies(session)
    done = DONE.get(request.query_params.get("done", "")) if status_code == 200 else None
    return render(request, "saved_replies.html", {
        "replies": replies, "errors": errors or {}, "values": values or {}, "editing": editing, "done": done,
        "variables": [f"{{{{ {v}.{a} }}}}" for v, attrs in templates.VARIABLES.items() for a in sorted(attrs)],
        "filters": sorted(templates.SAFE_FILTERS),
    }, status_code=status_code)


def _reply_id(value: int) -> int:
    if not 0 < value <= MAX_ID:
        raise NotFoundException(f"no saved reply {value}")
    return value


@page_post("/admin/saved-replies/add")
async def add_reply(request: Request[Any, Any, Any], db_write: NamedDependency[AsyncSession]) -> Response[Any]:
    me = admin_user(request)
    form = await posted_form(request)
    title, body = form.get("title", "").strip(), form.get("body", "")
    errors = _form_errors(title, body)
    if errors:
        return await manage_page(request, db_write, errors=errors, values={"title": title, "body": body},
                                 status_code=422)
    now = utcnow()
    db_write.add(SavedReply(title=title, body=body, created_by=me.email, created_at=now, updated_at=now))
    return redirect("/admin/saved-replies", done="added")


@page_post("/admin/saved-replies/{reply_id:int}/edit")
async def edit_reply(request: Request[Any, Any, Any], db_write: NamedDependency[AsyncSession],
                     reply_id: FromPath[int]) -> Response[Any]:
    admin_user(request)
    form = await posted_form(request)
    title, body = form.get("title", "").strip(), form.get("body", "")
    errors = _form_errors(title, body)
    if errors:
        return await manage_page(request, db_write, errors=errors, values={"title": title, "body": body},
                                 editing=reply_id, status_code=422)
    reply = await db_write.get(SavedReply, _reply_id(reply_id))
    if reply is None:
        raise NotFoundException(f"no saved reply {reply_id}")
    reply.title, reply.body, reply.updated_at = title, body, utcnow()
    return redirect("/admin/saved-replies", done="saved")


@page_post("/admin/saved-replies/{reply_id:int}/delete")
async def delete_reply(request: Request[Any, Any, Any], db_write: NamedDependency[AsyncSession],
                       reply_id: FromPath[int]) -> Response[Any]:
    admin_user(request)
    await posted_form(request)
    reply = await db_write.get(SavedReply, _reply_id(reply_id))
    if reply is None:
        raise NotFoundException(f"no saved reply {reply_id}")
    await db_write.delete(reply)
    return redirect("/admin/saved-replies", done="deleted")


HANDLERS = [add_reply, edit_reply, delete_reply]
