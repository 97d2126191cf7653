"""The "How did we do?" page the resolved email links to: /help/satisfaction/<token>.

The token (mail/tokens.py) names the ticket and the rating, signed with the secret key, so
following the link needs no sign-in. GET only shows a confirm form: mail scanners and link
previewers follow links, and must not vote. The form's POST records the rating (and the
optional comment) through TicketService.rate, as POST /support/tickets/{id}/satisfaction does.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.outbound import tokens
from maildesk.models import Ticket, User
from maildesk.runtime import Runtime
from maildesk.tickets import csat
from maildesk.tickets.service import ServiceError
from maildesk.web.pages.render import page_get, page_post, posted_form, render, sentence

_WORDS = {"good": "Good", "bad": "Bad"}


def _read(rt: Runtime, token: str) -> tuple[int, str]:
    found = tokens.read_satisfaction_token(rt.settings.secret_key, token[:100])
    if found is None or found[1] not in csat.RATINGS:
        raise NotFoundException("This link is not valid. Copy the whole link from the email, or reply to the email instead.")
    return found


def _page(request: Request[Any, Any, Any], rt: Runtime, ticket: Ticket, rating: str, *, done: bool = False,
          error: str | None = None, comment: str = "", status_code: int = 200) -> Response[str]:
    other = "bad" if rating == "good" else "good"
    return render(request, "satisfaction.html", {
        "ticket": ticket, "rating": rating, "rating_word": _WORDS[rating],
        "token": tokens.satisfaction_token(rt.settings.secret_key, ticket.id, rating),
        "other_token": tokens.satisfaction_token(rt.settings.secret_key, ticket.id, other),
        "other_word": _WORDS[other], "done": done, "error": error, "comment": comment,
        "closed": ticket.status == "closed",
    }, status_code=status_code)


@page_get("/help/satisfaction/{token:str}")
async def satisfaction_page(request: Request[Any, Any, Any], rt: NamedDependency[Runtime],
                            db_session: NamedDependency[AsyncSession], token: FromPath[str]) -> Response[str]:
    """Shows the answer the link carries and a Confirm button; changes nothing."""
    ticket_id, rating = _read(rt, token)
    ticket = await db_session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFoundException("This request no longer exists.")
    return _page(request, rt, ticket, rating, done=request.query_params.get("done") == "1",
                 comment=ticket.satisfaction_comment or "" if ticket.satisfaction_rating == rating else "")


@page_post("/help/satisfaction/{token:str}")
async def satisfaction_confirm(request: Request[Any, Any, Any], rt: NamedDependency[Runtime],
                               db_write: NamedDependency[AsyncSession], token: FromPath[str]) -> Response[Any]:
    ticket_id, rating = _read(rt, token)
    form = await posted_form(request)
    raw_comment = form.get("comment", "")
    ticket = await db_write.get(Ticket, ticket_id, with_for_update=True)
    if ticket is None:
        raise NotFoundException("This request no longer exists.")
    requester = await db_write.get(User, ticket.user_id)
    try:
        comment = csat.check_comment(raw_comment)
        if requester is None:
            raise ServiceError("the requester's account no longer exists")
        await rt.service(db_write).rate(ticket, requester, rating, comment)
    except csat.BadRating as exc:
        return _page(request, rt, ticket, rating, error=f"Comment: {sentence(exc)}", comment=raw_comment,
                     status_code=422)
    except ServiceError as exc:
        return _page(request, rt, ticket, rating, error=sentence(exc), comment=raw_comment, status_code=409)
    return _page(request, rt, ticket, rating, done=True, comment=comment or "")


HANDLERS = [satisfaction_page, satisfaction_confirm]
