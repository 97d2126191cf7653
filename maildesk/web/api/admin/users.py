"""/admin/users: the user list as JSON (role=admin for the assignee list), or the users page for browsers.

Admin-only (401 anonymous, 403 signed-in non-admins).
"""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.tickets import admin_lists
from maildesk.web.api.admin.filters import choices
from maildesk.web.api.support import Page
from maildesk.web.auth import requires_admin
from maildesk.web.errors import FieldError
from maildesk.web.pages.negotiate import NEGOTIATED_HANDLERS, wants_html
from maildesk.web.pages.users import page as users_page
from maildesk.web.schemas import AdminUserOut, UserPage, errors

ROLES = ("user", "admin")


class AdminUserController(Controller):
    path = "/admin/users"
    tags = ["admin"]
    guards = [requires_admin]

    @get("/", summary="Users (role=admin for the assignee list)", responses=errors(401, 403, 422),
         exception_handlers=NEGOTIATED_HANDLERS)
    async def list_users(
        self,
        request: Request,  # type: ignore[type-arg]
        db_session: NamedDependency[AsyncSession],
        role: Annotated[str | None, Parameter(description="user or admin")] = None,
        page: Page = 1,
        page_size: Annotated[int, Parameter(ge=1, le=500)] = 100,
    ) -> UserPage:
        """Browsers asking for HTML get the /admin/users page (web/pages/users.py)."""
        if wants_html(request):
            return await users_page(request, db_session)  # type: ignore[return-value]
        wanted = choices("role", role, ROLES)
        if len(wanted) > 1:
            raise FieldError("role", "give one role")
        rows, total = await admin_lists.user_page(
            db_session, role=wanted[0] if wanted else None, page=page, page_size=page_size
        )
        return UserPage(items=[AdminUserOut.of(u) for u in rows], total=total, page=page, page_size=page_size)
