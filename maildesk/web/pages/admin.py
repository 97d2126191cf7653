"""The support team's pages: the queue (filters, search, paging) and one ticket (messages with
internal notes marked, timeline, changes, replies and notes).

Admins only: a signed-in non-admin gets a 403 page, an anonymous visitor is sent to /login.
The queue runs the same query as GET /admin/support/tickets; changes and replies go through
TicketService as PATCH /admin/support/tickets/{id} and POST .../messages do.

A form the service refuses (a collision, an illegal status change) is answered with the page
and its error: the change is tried in a savepoint of the handler's `db_write`, rolled back
alone, and the page is read in the same transaction, as it was before the attempt.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Request, Response
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.models import SavedReply, User, utcnow
from maildesk.runtime import Runtime
from maildesk.tickets import admin_lists, collisions, queries, rules
from maildesk.tickets import merge as merging
from maildesk.tickets.change import CLEAR, Clear, TicketChange
from maildesk.tickets.clocks import duration_words
from maildesk.tickets.rules import IllegalTransition
from maildesk.tickets.saved_replies import InvalidTemplate
from maildesk.tickets.service import NewMessage, ServiceError, UnknownValue
from maildesk.web.pages.help import PAGE_SIZE, page_number
from maildesk.web.pages import saved_replies as saved
from maildesk.web.pages.render import admin_user, page_get, page_post, posted_form, redirect, render, sentence
from maildesk.web.schemas import MAX_ID
from maildesk.web.bulk import bulk_change
from maildesk.web.views import admin_ticket_out

SORTS = {
    "-created_at": "Newest first",
    "created_at": "Oldest first",
    "-updated_at": "Recently updated",
    "priority": "Most urgent first",
    "due": "Due soonest (overdue first)",
}
DONE = {
    "updated": "The ticket has been updated.",
    "merged": "The ticket has been merged into this one.",
    "reply": "Your reply has been sent to the requester.",
    "note": "Your internal note has been added. It was not emailed to the requester.",
}
_TRUE = {"1", "on", "true", "yes"}


async def _admins(session: AsyncSession) -> list[User]:
    rows, _total = await admin_lists.user_page(session, role="admin", page=1, page_size=500)
    return [u for u in rows if u.is_active]


def _pick(value: str | None, allowed: Any, notices: list[str], what: str) -> str:
    value = (value or "").strip()
    if value and value not in allowed:
        notices.append(f"Unknown {what} {value!r} was ignored.")
        return ""
    return value


def _user_id(value: str) -> int | None:
    """A user id from a form or query value; None for anything that cannot be one (words,
    "²", a number too large for a 64-bit key)."""
    if value.isascii() and value.isdigit() and 0 < int(value) <= MAX_ID:
        return int(value)
    return None


@page_get("/admin/support")
async def queue(request: Request[Any, Any, Any], rt: NamedDependency[Runtime],
                db_session: NamedDependency[AsyncSession]) -> Response[str]:
    return await _queue_page(request, rt, db_session, [])


async def _queue_page(
    request: Request[Any, Any, Any], rt: Runtime, session: AsyncSession, notices: list[str], *,
    done: list[str] | None = None, status_code: int = 200,
) -> Response[str]:
    me = admin_user(request)
    params = request.query_params
    chosen = {
        "status": _pick(params.get("status"), rules.STATUSES, notices, "status"),
        "priority": _pick(params.get("priority"), rules.PRIORITIES, notices, "priority"),
        "category": _pick(params.get("category"), rt.settings.categories, notices, "category"),
        "assignee": (params.get("assignee") or "").strip(),
        "q": (params.get("q") or "").strip()[:500],
        "sort": _pick(params.get("sort"), SORTS, notices, "sort order") or "-created_at",
    }
    page = page_number(request)
    assignee = chosen["assignee"]
    f = queries.QueueFilter(
        status=[chosen["status"]] if chosen["status"] else [],
        priority=[chosen["priority"]] if chosen["priority"] else [],
        category=[chosen["category"]] if chosen["category"] else [],
        assigned_to=me.id if assignee == "me" else _user_id(assignee),
        unassigned=assignee == "none",
        q=chosen["q"] or None,
        sort=chosen["sort"],
    )
    rows, total = await queries.ticket_page(session, f, page=page, page_size=PAGE_SIZE)
    admins = await _admins(session)
    now = utcnow()
    due = {t.id: due_text(t.first_response_due_at, t.resolution_due_at, now) for t in rows}
    pages = max(1, -(-total // PAGE_SIZE))
    query = {k: v for k, v in chosen.items() if v and not (k == "sort" and v == "-created_at")}
    return render(request, "queue.html", {
        "tickets": rows, "total": total, "page": page, "pages": pages, "chosen": chosen, "query": query,
        "statuses": rules.STATUSES, "priorities": rules.PRIORITIES, "categories": rt.settings.categories,
        "admins": admins, "admin_names": {a.id: a.name or a.email for a in admins}, "sorts": SORTS,
        "due": due, "notices": notices, "filtered": any(v for k, v in chosen.items() if k != "sort"),
        "done_lines": done or [],
    }, status_code=status_code)


@page_post("/admin/support/bulk")
async def queue_bulk(request: Request[Any, Any, Any], rt: NamedDependency[Runtime],
                     db_write: NamedDependency[AsyncSession]) -> Response[Any]:
    """The queue's "Apply to selected" form: the same per-ticket changes as the bulk API."""
    me = admin_user(request)
    csrf_values = await posted_form(request)  # checks the CSRF token; single values only
    form = await request.form()  # the same parsed form again, for the repeated "ticket" field
    refs = [v for v in form.getall("ticket", []) if isinstance(v, str) and v.strip()]
    notices: list[str] = []
    status = _pick(csrf_values.get("bulk_status"), rules.STATUSES, notices, "status")
    priority = _pick(csrf_values.get("bulk_priority"), rules.PRIORITIES, notices, "priority")
    assignee = (csrf_values.get("bulk_assigned_to") or "").strip()
    assigned_to: int | Clear | None = None
    if assignee == "none":
        assigned_to = CLEAR
    elif assignee == "me":
        assigned_to = me.id
    elif assignee.isdigit():
        assigned_to = int(assignee)
    elif assignee:
        notices.append(f"Unknown assignee {assignee!r} was ignored.")
    change = TicketChange(status=status or None, priority=priority or None, assigned_to=assigned_to)
    if not refs:
        notices.append("Select at least one ticket first.")
    elif not change:
        notices.append("Choose a status, priority or assignee to apply.")
    if notices:
        return await _queue_page(request, rt, db_write, notices, status_code=422)
    results = await bulk_change(rt, db_write, me, refs, change)
    done = [f"{r.ticket}: updated." for r in results if r.ok]
    failed = [f"{r.ticket}: not changed. {sentence(r.detail or '')}" for r in results if not r.ok]
    return await _queue_page(request, rt, db_write, failed, done=done, status_code=200 if not failed else 409)


def due_text(first_response: datetime | None, resolution: datetime | None,
             now: datetime) -> tuple[datetime, str, bool] | None:
    """The nearest SLA due time of a queue row, with "overdue by 3 h" / "in 2 h 10 min" words."""
    pending = [(d, what) for d, what in ((first_response, "first response"), (resolution, "resolution")) if d]
    if not pending:
        return None
    at, what = min(pending)
    if at <= now:
        return at, f"{what} overdue by {duration_words((now - at).total_seconds())}", True
    return at, f"{what} in {duration_words((at - now).total_seconds())}", False


async def _ticket_page(
    request: Request[Any, Any, Any], session: AsyncSession, ref: str, *, errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None, status_code: int = 200, version: int | None = None,
) -> Response[str]:
    """`version`: the version the posted form was made from, kept in its hidden fields (so an
    Insert does not silently accept changes made since the page was first opened)."""
    admin_user(request)
    ticket = await queries.ticket_by_ref(session, ref)
    if ticket is None:
        raise NotFoundException(f"no ticket {ref}")
    shown = await admin_ticket_out(session, ticket)
    admins = await _admins(session)
    merged_from = [rules.format_number(i) for i in await merging.thread_ids(session, ticket.id) if i != ticket.id]
    replies, _total = await saved.list_replies(session)
    done = DONE.get(request.query_params.get("done", "")) if status_code == 200 else None
    return render(request, "admin_ticket.html", {
        "ticket": shown,
        "next_statuses": (shown.status, *rules.TRANSITIONS.get(shown.status, ())),
        "priorities": rules.PRIORITIES,
        "admins": admins,
        "admin_names": {a.id: a.name or a.email for a in admins},
        "errors": errors or {},
        "values": values or {},
        "done": done,
        "merged_from": merged_from,
        "form_version": version or shown.version,
        "saved_replies": replies,
        "satisfaction": (ticket.satisfaction_rating, ticket.satisfaction_comment, ticket.satisfaction_at),
    }, status_code=status_code)


@page_get("/admin/support/{ref:str}")
async def ticket_page(request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession],
                      ref: FromPath[str]) -> Response[str]:
    return await _ticket_page(request, db_session, ref)


def _changes(form: dict[str, str], ticket: Any) -> tuple[TicketChange, dict[str, str]]:
    """What the update form asks to change (only what differs), and errors per field."""
    errors: dict[str, str] = {}
    status = form.get("status", ticket.status)
    priority = form.get("priority", ticket.priority)
    assignee = form.get("assigned_to", "")
    assigned_to: int | Clear | None = None
    if assignee and _user_id(assignee) is None:
        errors["assigned_to"] = "Choose someone from the list."
    elif _user_id(assignee) != ticket.assigned_to:
        assigned_to = _user_id(assignee) or CLEAR
    notes = form.get("resolution_notes", "").strip()
    resolution_notes: str | Clear | None = None
    if len(notes) > 20_000:
        errors["resolution_notes"] = "Use at most 20,000 characters."
    elif (notes or None) != (ticket.resolution_notes or None):
        resolution_notes = notes or CLEAR
    escalated = form.get("escalated", "") in _TRUE
    change = TicketChange(
        status=status if status != ticket.status else None,
        priority=priority if priority != ticket.priority else None,
        assigned_to=assigned_to,
        escalated=escalated if escalated != ticket.escalated else None,
        resolution_notes=resolution_notes,
    )
    return change, errors


@page_post("/admin/support/{ref:str}/update")
async def ticket_update(request: Request[Any, Any, Any], rt: NamedDependency[Runtime],
                        db_write: NamedDependency[AsyncSession], ref: FromPath[str]) -> Response[Any]:
    me = admin_user(request)
    form = await posted_form(request)
    keep = {k: form.get(k, "") for k in ("status", "priority", "assigned_to", "resolution_notes", "escalated")}
    try:
        async with db_write.begin_nested():  # a refused change rolls back before the page is read
            ticket = await queries.ticket_by_ref(db_write, ref, for_update=True)
            if ticket is None:
                raise NotFoundException(f"no ticket {ref}")
            await collisions.check(db_write, ticket, _form_version(form))
            change, errors = _changes(form, ticket)
            if errors:
                raise _FormErrors(errors)
            if change:
                await rt.service(db_write).update(ticket, me, change)
            number = ticket.ticket_number or str(ticket.id)
    except _FormErrors as exc:
        return await _ticket_page(request, db_write, ref, errors=exc.errors, values=keep, status_code=422)
    except collisions.StaleVersion as exc:
        return await _ticket_page(request, db_write, ref, errors={"collision": _collision(exc, "changes were")},
                                  values=keep, status_code=409)
    except IllegalTransition as exc:
        return await _ticket_page(request, db_write, ref, errors={"status": sentence(exc)},
                                  values=keep, status_code=409)
    except UnknownValue as exc:
        return await _ticket_page(request, db_write, ref, errors={exc.field: sentence(exc)},
                                  values=keep, status_code=422)
    except ServiceError as exc:
        return await _ticket_page(request, db_write, ref, errors={"status": sentence(exc)},
                                  values=keep, status_code=409)
    return redirect(f"/admin/support/{number}", done="updated")


class _FormErrors(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(errors.values()))


@page_post("/admin/support/{ref:str}/reply")
async def ticket_reply(request: Request[Any, Any, Any], rt: NamedDependency[Runtime],
                       db_write: NamedDependency[AsyncSession], ref: FromPath[str]) -> Response[Any]:
    me = admin_user(request)
    form = await posted_form(request)
    body = form.get("body", "")
    internal = form.get("is_internal", "") in _TRUE
    keep = {"body": body, "is_internal": "1" if internal else ""}
    if not body.strip() or len(body) > 200_000:
        message = "Write the message first." if not body.strip() else "This message is too long."
        return await _ticket_page(request, db_write, ref, errors={"body": message}, values=keep, status_code=422)
    try:
        async with db_write.begin_nested():  # a refused reply rolls back before the page is read
            ticket = await queries.ticket_by_ref(db_write, ref, for_update=True)
            if ticket is None:
                raise NotFoundException(f"no ticket {ref}")
            await collisions.check(db_write, ticket, _form_version(form))
            await rt.service(db_write).admin_reply(ticket, me, NewMessage(body=body, source="web"),
                                                   is_internal=internal)
            number = ticket.ticket_number or str(ticket.id)
    except collisions.StaleVersion as exc:
        what = "note was" if internal else "reply was"
        return await _ticket_page(request, db_write, ref, errors={"collision": _collision(exc, what)},
                                  values=keep, status_code=409)
    except ServiceError as exc:
        return await _ticket_page(request, db_write, ref, errors={"body": sentence(exc)},
                                  values=keep, status_code=409)
    return redirect(f"/admin/support/{number}", done="note" if internal else "reply")


@page_post("/admin/support/{ref:str}/insert-reply")
async def ticket_insert_reply(request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession],
                              ref: FromPath[str]) -> Response[Any]:
    """The reply form's "Insert" button (formaction, no JavaScript): the page again with the
    chosen saved reply, rendered for this ticket, added to what was already typed. Nothing is
    sent; the form keeps its version, so a later Send still detects collisions."""
    me = admin_user(request)
    form = await posted_form(request)
    body = form.get("body", "")
    keep = {"body": body, "is_internal": "1" if form.get("is_internal", "") in _TRUE else "",
            "saved_reply": form.get("saved_reply", "")}
    reply_id = _user_id(form.get("saved_reply", "").strip())
    ticket = await queries.ticket_by_ref(db_session, ref)
    if ticket is None:
        raise NotFoundException(f"no ticket {ref}")
    reply = await db_session.get(SavedReply, reply_id) if reply_id is not None else None
    if reply is None:
        return await _ticket_page(request, db_session, ref, errors={"saved_reply": "Choose a saved reply from the list."},
                                  values=keep, status_code=422, version=_form_version(form))
    try:
        text = await saved.render_for(db_session, reply, ticket, me)
    except InvalidTemplate as exc:
        return await _ticket_page(request, db_session, ref, errors={"saved_reply": sentence(exc)}, values=keep,
                                  status_code=422, version=_form_version(form))
    keep["body"] = f"{body.rstrip()}\n\n{text}" if body.strip() else text
    return await _ticket_page(request, db_session, ref, values=keep, version=_form_version(form))


def _form_version(form: dict[str, str]) -> int | None:
    """The version the form's page showed (hidden field); absent or unreadable: no check."""
    value = form.get("version", "").strip()
    return int(value) if value.isdigit() else None


def _collision(exc: collisions.StaleVersion, what: str) -> str:
    return (f"Someone changed this ticket after you opened it: {exc}. Your {what} not saved; "
            f"it is kept below. Check the changes, then send it again.")


@page_post("/admin/support/{ref:str}/merge")
async def ticket_merge(request: Request[Any, Any, Any], rt: NamedDependency[Runtime],
                       db_write: NamedDependency[AsyncSession], ref: FromPath[str]) -> Response[Any]:
    """The "Merge into" form: this ticket is closed into the one named; shows the target."""
    me = admin_user(request)
    form = await posted_form(request)
    into = form.get("into", "").strip()
    keep = {"into": into}
    if rules.parse_ticket_ref(into) is None:
        return await _ticket_page(request, db_write, ref, errors={"into": "Enter a ticket number like SUP-00042."},
                                  values=keep, status_code=422)
    try:
        async with db_write.begin_nested():  # a refused merge rolls back before the page is read
            source = await queries.ticket_by_ref(db_write, ref, for_update=True)
            if source is None:
                raise NotFoundException(f"no ticket {ref}")
            target = await queries.ticket_by_ref(db_write, into, for_update=True)
            if target is None:
                raise _FormErrors({"into": f"There is no ticket {into}."})
            await rt.service(db_write).merge(source, target, me)
            number = target.ticket_number or str(target.id)
    except _FormErrors as exc:
        return await _ticket_page(request, db_write, ref, errors=exc.errors, values=keep, status_code=422)
    except ServiceError as exc:
        return await _ticket_page(request, db_write, ref, errors={"into": sentence(exc)}, values=keep, status_code=409)
    return redirect(f"/admin/support/{number}", done="merged")


HANDLERS = [queue, queue_bulk, ticket_page, ticket_update, ticket_reply, ticket_merge, ticket_insert_reply]
