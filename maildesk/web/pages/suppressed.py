"""/admin/suppressed: addresses not mailed after hard bounces, and a form to clear one. Same
functions as GET and DELETE /admin/support/suppressed (mail/bounces.py)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.outbound import bounces
from maildesk.web.pages.render import admin_user, page_get, page_post, posted_form, redirect, render


async def _page(request: Request[Any, Any, Any], session: AsyncSession, *, done: str | None = None,
                notices: list[str] | None = None, status_code: int = 200) -> Response[str]:
    rows = await bounces.suppressed_addresses(session)
    return render(request, "suppressed.html", {"rows": rows, "done": done, "notices": notices or []},
                  status_code=status_code)


@page_get("/admin/suppressed")
async def suppressed_page(request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Response[str]:
    admin_user(request)
    cleared = request.query_params.get("cleared")
    done = f"{cleared} will be mailed again." if cleared else None
    return await _page(request, db_session, done=done)


@page_post("/admin/suppressed/clear")
async def suppressed_clear(request: Request[Any, Any, Any], db_write: NamedDependency[AsyncSession]) -> Response[Any]:
    me = admin_user(request)
    form = await posted_form(request)
    email = form.get("email", "").strip()
    row = await bounces.clear_suppression(db_write, email, me) if email else None
    if row is None:
        return await _page(request, db_write, notices=[f"{email or 'That address'} is not suppressed."], status_code=404)
    return redirect("/admin/suppressed", cleared=row.email)


HANDLERS = [suppressed_page, suppressed_clear]
