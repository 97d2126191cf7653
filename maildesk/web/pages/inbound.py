"""/admin/inbound: received mail, newest first, filtered by status, with the pipeline's reason,
a link to download the original (GET /admin/support/inbound/{id}/raw) and a reprocess form for
failed and ignored messages. Same query as GET /admin/support/inbound and the same requeue rules
as its reprocess endpoint (web/inbound.py)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.tickets import admin_lists
from maildesk.web.inbound import INBOUND_STATUSES, REPROCESSABLE, requeue
from maildesk.web.pages.help import PAGE_SIZE, page_number
from maildesk.web.pages.render import admin_user, page_get, page_post, posted_form, redirect, render

STATUS_WORDS = {"received": "Received (waiting)", "processed": "Processed", "failed": "Failed", "ignored": "Ignored"}


@page_get("/admin/inbound")
async def inbound_page(request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Response[str]:
    admin_user(request)
    status = request.query_params.get("status", "").strip()
    notices = []
    if status and status not in INBOUND_STATUSES:
        notices.append(f"Unknown status {status!r} was ignored.")
        status = ""
    number = page_number(request)
    rows, total = await admin_lists.inbound_page(db_session, status=status or None, page=number, page_size=PAGE_SIZE)
    done = None
    if request.query_params.get("done") == "requeued":
        done = f"Message {request.query_params.get('id', '')} is queued to be processed again."
    return render(request, "inbound.html", {
        "rows": rows, "total": total, "page": number, "pages": max(1, -(-total // PAGE_SIZE)),
        "statuses": STATUS_WORDS, "chosen": status, "query": {"status": status} if status else {},
        "reprocessable": REPROCESSABLE, "notices": notices, "done": done,
    })


@page_post("/admin/inbound/{inbound_id:int}/reprocess")
async def inbound_reprocess(
    request: Request[Any, Any, Any], db_write: NamedDependency[AsyncSession], inbound_id: FromPath[int]
) -> Response[Any]:
    me = admin_user(request)
    await posted_form(request)
    try:
        await requeue(db_write, inbound_id, me)
    except HTTPException as exc:
        if exc.status_code != 409:
            raise
        # Refused (already processed, or still waiting) before anything was changed: the list
        # again, saying why, with 409.
        rows, total = await admin_lists.inbound_page(db_write, status=None, page=1, page_size=PAGE_SIZE)
        return render(request, "inbound.html", {
            "rows": rows, "total": total, "page": 1, "pages": max(1, -(-total // PAGE_SIZE)),
            "statuses": STATUS_WORDS, "chosen": "", "query": {}, "reprocessable": REPROCESSABLE,
            "notices": [exc.detail], "done": None,
        }, status_code=409)
    return redirect("/admin/inbound", done="requeued", id=str(inbound_id))


HANDLERS = [inbound_page, inbound_reprocess]
