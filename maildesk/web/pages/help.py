"""The requester's pages: the contact form, my tickets, one ticket (read, reply, confirm resolved).

Tickets change through TicketService exactly as in the JSON API (web/api/contact.py and
web/api/support.py): the contact form opens a ticket with source "contact", a reply is the
requester's reply, and "confirm resolved" closes a resolved ticket. Requesters never see
internal notes; another person's ticket is a 403 page, an unknown one a 404 page.
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Request, Response
from litestar.di import NamedDependency
from litestar.exceptions import PermissionDeniedException
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.runtime import Runtime
from maildesk.tickets import queries
from maildesk.tickets.rules import IllegalTransition
from maildesk.tickets.creating import check_category
from maildesk.tickets.service import NewMessage, ServiceError, UnknownValue
from maildesk.web.pages.render import page_get, page_post, posted_form, redirect, render, sentence, signed_in
from maildesk.web.schemas import contact_field_errors
from maildesk.web.views import load_visible, ticket_out

PAGE_SIZE = 20
_NUMBER = re.compile(r"^SUP-\d{1,12}$")
_MAX_TEXT = 200_000  # a reply's limit, as the API's Text

DONE = {
    "reply": "Your reply has been added. The support team has been told.",
    "closed": "Thank you for confirming. This request is now closed.",
}


def page_number(request: Request[Any, Any, Any]) -> int:
    """The ?page= of a list page, clamped to 1..100,000; anything else (words, "²", a
    20-digit number) is page 1 or the last one, never an error page."""
    value = request.query_params.get("page", "1")
    if not (value.isascii() and value.isdigit()):  # str.isdigit() is also true for "²", which int() refuses
        return 1
    return max(1, min(int(value[:7]), 100_000))


# --- contact form ------------------------------------------------------------------------------


def _contact_page(
    request: Request[Any, Any, Any], rt: Runtime, *, values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None, sent: str | None = None, status_code: int = 200,
) -> Response[str]:
    if values is None:
        user = request.user
        values = {"email": user.email, "name": user.name} if user is not None else {}
    return render(
        request, "contact.html",
        {"categories": rt.settings.categories, "values": values, "errors": errors or {}, "sent": sent},
        status_code=status_code,
    )


@page_get("/help/contact")
async def contact_page(request: Request[Any, Any, Any], rt: NamedDependency[Runtime]) -> Response[str]:
    sent = request.query_params.get("sent", "")
    return _contact_page(request, rt, sent=sent if _NUMBER.match(sent) else None)


# A person's words for each field ContactIn refuses (web/schemas/contact.py has the constraints).
_CONTACT_WORDS = {
    "email": "Enter your email address, like name@example.com.",
    "name": "Use at most 200 characters.",
    "category": "Choose a category from the list.",
    "subject": "Use at most 500 characters.",
    "description": "This is too long; please shorten it.",
}


def _contact_errors(rt: Runtime, values: dict[str, str]) -> dict[str, str]:
    """ContactIn's constraints and the service's own rules (a configured category, a
    description that is not blank), in words for a person, per field."""
    errors = {name: _CONTACT_WORDS[name] for name in contact_field_errors(values)}
    if not values["description"].strip():
        errors["description"] = "Describe what you need help with."
    try:
        check_category(values["category"], rt.settings.categories)
    except UnknownValue:
        errors["category"] = _CONTACT_WORDS["category"]
    return errors


@page_post("/help/contact/send")
async def contact_submit(request: Request[Any, Any, Any], rt: NamedDependency[Runtime],
                         db_write: NamedDependency[AsyncSession]) -> Response[Any]:
    form = await posted_form(request)
    values = {k: form.get(k, "") for k in ("email", "name", "category", "subject", "description")}
    values = {k: (v if k == "description" else v.strip()) for k, v in values.items()}
    errors = _contact_errors(rt, values)
    if errors:
        return _contact_page(request, rt, values=values, errors=errors, status_code=422)
    ticket, _requester = await rt.service(db_write).open_contact_ticket(
        email=values["email"], name=values["name"], subject=values["subject"],
        description=values["description"], category=values["category"],
    )
    return redirect("/help/contact", sent=ticket.ticket_number or str(ticket.id))


# --- my tickets ------------------------------------------------------------------------------------


@page_get("/help/tickets")
async def my_tickets(request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Response[str]:
    user = signed_in(request)
    page = page_number(request)
    rows, total = await queries.ticket_page(
        db_session, queries.QueueFilter(user_id=user.id), page=page, page_size=PAGE_SIZE
    )
    pages = max(1, -(-total // PAGE_SIZE))
    return render(request, "my_tickets.html",
                  {"tickets": rows, "total": total, "page": page, "pages": pages, "query": {}})


async def _ticket_page(
    request: Request[Any, Any, Any], session: AsyncSession, ref: str, *, errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None, status_code: int = 200,
) -> Response[str]:
    user = signed_in(request)
    ticket = await load_visible(session, ref, user)
    shown = await ticket_out(session, ticket, user)
    # This is the requester's view: only what the requester sees, whoever looks.
    messages = [m for m in shown.messages if not m.is_internal]
    done = DONE.get(request.query_params.get("done", "")) if status_code == 200 else None
    return render(
        request, "ticket.html",
        {"ticket": shown, "messages": messages, "is_owner": ticket.user_id == user.id,
         "errors": errors or {}, "values": values or {}, "done": done},
        status_code=status_code,
    )


@page_get("/help/tickets/{ref:str}")
async def ticket_page(request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession],
                      ref: FromPath[str]) -> Response[str]:
    return await _ticket_page(request, db_session, ref)


@page_post("/help/tickets/{ref:str}/reply")
async def ticket_reply(request: Request[Any, Any, Any], rt: NamedDependency[Runtime],
                       db_write: NamedDependency[AsyncSession], ref: FromPath[str]) -> Response[Any]:
    user = signed_in(request)
    form = await posted_form(request)
    body = form.get("body", "")
    if not body.strip() or len(body) > _MAX_TEXT:
        message = "Write your reply first." if not body.strip() else "This reply is too long."
        return await _ticket_page(request, db_write, ref, errors={"body": message}, values={"body": body},
                                  status_code=422)
    try:
        async with db_write.begin_nested():  # a refused reply rolls back before the page is read
            ticket = await load_visible(db_write, ref, user, for_update=True)
            service = rt.service(db_write)
            message = NewMessage(body=body, source="web")
            if ticket.user_id == user.id:
                await service.requester_reply(ticket, user, message)
            else:
                await service.admin_reply(ticket, user, message)
            number = ticket.ticket_number or str(ticket.id)
    except ServiceError as exc:
        return await _ticket_page(request, db_write, ref, errors={"body": sentence(exc)},
                                  values={"body": body}, status_code=409)
    return redirect(f"/help/tickets/{number}", done="reply")


@page_post("/help/tickets/{ref:str}/close")
async def ticket_close(request: Request[Any, Any, Any], rt: NamedDependency[Runtime],
                       db_write: NamedDependency[AsyncSession], ref: FromPath[str]) -> Response[Any]:
    user = signed_in(request)
    await posted_form(request)
    try:
        async with db_write.begin_nested():  # a refused close rolls back before the page is read
            ticket = await load_visible(db_write, ref, user, for_update=True)
            if ticket.user_id != user.id:
                raise PermissionDeniedException("Only the person who asked can confirm this request is resolved.")
            await rt.service(db_write).confirm_closed(ticket, user)
            number = ticket.ticket_number or str(ticket.id)
    except IllegalTransition:
        return await _ticket_page(
            request, db_write, ref, status_code=409,
            errors={"close": "This request is not marked resolved, so it cannot be closed yet."},
        )
    return redirect(f"/help/tickets/{number}", done="closed")


HANDLERS = [contact_page, contact_submit, my_tickets, ticket_page, ticket_reply, ticket_close]
