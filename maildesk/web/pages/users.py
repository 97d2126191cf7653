"""/admin/users: the accounts (filter by role), and forms to add an admin (no password is taken:
a sign-in link is emailed), disable or enable a user, and email someone a sign-in link.

GET /admin/users is one path for this page and the JSON list (web/api/admin.py hands browsers
to `page`); both run the same list query; accounts change through maildesk/tickets/users.py and links go out
through web/auth.queue_magic_link, as POST /auth/magic-link does (there after the answer, here in the
same transaction as the change).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.tickets import admin_lists, users
from maildesk.runtime import Runtime
from maildesk.web.auth import queue_magic_link
from maildesk.web.pages.help import PAGE_SIZE, page_number
from maildesk.web.pages.render import admin_user, header_counts, page_post, posted_form, redirect, render
from maildesk.web.schemas import MAX_ID, Email

ROLES = {"admin": "Admins", "user": "Requesters"}
DONE = {
    "added": "{email} is an admin now; a sign-in link has been emailed to them.",
    "disabled": "{email} is disabled: they cannot sign in and their sessions have ended.",
    "enabled": "{email} can sign in again.",
    "link": "A sign-in link has been emailed to {email}.",
}


async def _page(request: Request[Any, Any, Any], session: AsyncSession, *, errors: dict[str, str] | None = None,
                form: dict[str, str] | None = None, notices: list[str] | None = None,
                status_code: int = 200) -> Response[str]:
    role = request.query_params.get("role", "").strip()
    notices = list(notices or [])
    if role and role not in ROLES:
        notices.append(f"Unknown role {role!r} was ignored.")
        role = ""
    number = page_number(request)
    rows, total = await admin_lists.user_page(session, role=role or None, page=number, page_size=PAGE_SIZE)
    done_key = request.query_params.get("done", "")
    done = DONE[done_key].format(email=request.query_params.get("email", "")) if done_key in DONE else None
    return render(request, "users.html", {
        "rows": rows, "total": total, "page": number, "pages": max(1, -(-total // PAGE_SIZE)), "roles": ROLES,
        "chosen": role, "query": {"role": role} if role else {}, "errors": errors or {}, "form": form or {},
        "notices": notices, "done": done,
    }, status_code=status_code)


async def page(request: Request[Any, Any, Any], session: AsyncSession) -> Response[str]:
    """GET /admin/users for browsers: web/api/admin.py answers the path (one path for the JSON
    list and the page, CONTRACT sections 5 and 7) and hands requests for text/html here."""
    admin_user(request)
    await header_counts(request)
    return await _page(request, session)


def _email(value: str) -> str | None:
    """The address the API's Email type accepts (web/schemas.py), lower-cased; None when not one."""
    try:
        return msgspec.convert(value.strip(), Email).lower()
    except msgspec.ValidationError:
        return None


@page_post("/admin/users/add")
async def users_add(
    request: Request[Any, Any, Any], rt: NamedDependency[Runtime], db_write: NamedDependency[AsyncSession]
) -> Response[Any]:
    admin_user(request)
    form = await posted_form(request)
    email = _email(form.get("email", ""))
    name = form.get("name", "").strip()
    errors = {}
    if email is None or len(email) > 320:
        errors["email"] = "Enter an email address, like name@example.com."
    if len(name) > 200:
        errors["name"] = "Keep the name under 200 characters."
    if errors or email is None:
        return await _page(request, db_write, errors=errors, form=form, status_code=422)
    await users.add_admin(db_write, email, name)
    await queue_magic_link(rt, db_write, email)
    return redirect("/admin/users", done="added", email=email)


async def _set_active(request: Request[Any, Any, Any], session: AsyncSession, user_id: int,
                      active: bool) -> Response[Any]:
    me = admin_user(request)
    await posted_form(request)
    if not 0 < user_id <= MAX_ID:
        raise NotFoundException(f"no user {user_id}")
    try:
        user = await users.set_active(session, user_id, active, me)
    except users.UserChangeRefused as exc:  # refused before anything was changed
        return await _page(request, session, notices=[str(exc)], status_code=409)
    if user is None:
        raise NotFoundException(f"no user {user_id}")
    email = user.email
    return redirect("/admin/users", done="enabled" if active else "disabled", email=email)


@page_post("/admin/users/{user_id:int}/disable")
async def users_disable(request: Request[Any, Any, Any], db_write: NamedDependency[AsyncSession],
                        user_id: FromPath[int]) -> Response[Any]:
    return await _set_active(request, db_write, user_id, False)


@page_post("/admin/users/{user_id:int}/enable")
async def users_enable(request: Request[Any, Any, Any], db_write: NamedDependency[AsyncSession],
                       user_id: FromPath[int]) -> Response[Any]:
    return await _set_active(request, db_write, user_id, True)


@page_post("/admin/users/{user_id:int}/sign-in-link")
async def users_link(request: Request[Any, Any, Any], rt: NamedDependency[Runtime],
                     db_write: NamedDependency[AsyncSession], user_id: FromPath[int]) -> Response[Any]:
    admin_user(request)
    await posted_form(request)
    if not 0 < user_id <= MAX_ID:
        raise NotFoundException(f"no user {user_id}")
    user = await db_write.get(users.User, user_id)
    if user is None:
        raise NotFoundException(f"no user {user_id}")
    if not user.is_active:
        return await _page(request, db_write, notices=[f"{user.email} is disabled; enable them before sending a link."],
                           status_code=409)
    email = user.email
    await queue_magic_link(rt, db_write, email)
    return redirect("/admin/users", done="link", email=email)


HANDLERS = [users_add, users_disable, users_enable, users_link]
