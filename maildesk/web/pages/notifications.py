"""/admin/notifications as a page: an admin's notifications with links to their tickets, and a
"mark all read" form.

GET /admin/notifications is one path for the page and the JSON list (CONTRACT sections 5 and
7): web/api/notifications.py answers it and hands browsers (Accept: text/html) to `page` here.
Its errors follow the same choice (web/pages/negotiate.py).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.tickets import notify
from maildesk.web.pages import render as pages
from maildesk.web.pages.help import PAGE_SIZE, page_number
from maildesk.web.pages.render import admin_user, page_post, posted_form, redirect

_TRUE = {"1", "on", "true", "yes"}




async def page(request: Request[Any, Any, Any], session: AsyncSession) -> Response[str]:
    me = admin_user(request)
    unread_only = request.query_params.get("unread", "") in _TRUE
    number = page_number(request)
    rows, total = await notify.page_of(session, me.id, unread_only=unread_only, page=number, page_size=PAGE_SIZE)
    unread = await notify.unread_count(session, me.id)
    request.state[pages.UNREAD_STATE] = unread
    done = "All notifications are marked read." if request.query_params.get("done") == "read" else None
    return pages.render(request, "notifications.html", {
        "items": rows, "total": total, "unread": unread, "unread_only": unread_only, "page": number,
        "pages": max(1, -(-total // PAGE_SIZE)), "query": {"unread": "true"} if unread_only else {}, "done": done,
    })


@page_post("/admin/notifications/mark-read")
async def mark_all_read(request: Request[Any, Any, Any], db_write: NamedDependency[AsyncSession]) -> Response[Any]:
    me = admin_user(request)
    await posted_form(request)
    await notify.mark_read(db_write, me.id, None)
    return redirect("/admin/notifications", done="read")


HANDLERS = [mark_all_read]
