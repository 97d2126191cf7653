"""/admin/notifications: an admin's own in-app notifications (tickets/notify.py writes them).

Only ever the signed-in admin's rows: listing filters on them, and marking read ignores any
id that is someone else's (it is reported as not marked, never changed).
"""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.models import User
from maildesk.tickets import notify
from maildesk.web.api.support import Page, PageSize
from maildesk.web.auth import requires_admin
from maildesk.web.errors import FieldError
from maildesk.web.pages.negotiate import NEGOTIATED_HANDLERS, wants_html
from maildesk.web.pages.notifications import page as notifications_page
from maildesk.web.schemas import (
    NotificationOut,
    NotificationPage,
    NotificationsReadIn,
    NotificationsReadOut,
    errors,
)


class NotificationController(Controller):
    path = "/admin/notifications"
    tags = ["admin"]
    guards = [requires_admin]

    @get("/", summary="My notifications, newest first", responses=errors(401, 403, 422),
         exception_handlers=NEGOTIATED_HANDLERS)
    async def list_mine(
        self,
        request: Request,  # type: ignore[type-arg]
        db_session: NamedDependency[AsyncSession],
        user: NamedDependency[User],
        unread: Annotated[bool, Parameter(description="only unread ones")] = False,
        page: Page = 1,
        page_size: PageSize = 20,
    ) -> NotificationPage:
        """Browsers asking for HTML get the /admin/notifications page (web/pages/notifications.py)."""
        if wants_html(request):
            return await notifications_page(request, db_session)  # type: ignore[return-value]
        rows, total = await notify.page_of(db_session, user.id, unread_only=unread, page=page, page_size=page_size)
        count = await notify.unread_count(db_session, user.id)
        return NotificationPage(items=[NotificationOut.of(n) for n in rows], total=total, page=page,
                                page_size=page_size, unread=count)

    @post("/read", status_code=200, summary="Mark notifications read", responses=errors(400, 401, 403, 422))
    async def mark_read(
        self,
        db_write: NamedDependency[AsyncSession],
        user: NamedDependency[User],
        data: JSONBody[NotificationsReadIn],
    ) -> NotificationsReadOut:
        """`{"ids": [...]}` or `{"all": true}`; ids that are not yours are ignored."""
        if data.all == (data.ids is not None):
            raise FieldError("ids", 'give either "ids" or "all": true')
        marked = await notify.mark_read(db_write, user.id, None if data.all else data.ids)
        count = await notify.unread_count(db_write, user.id)
        return NotificationsReadOut(marked=marked, unread=count)
