"""/admin/webhooks: the host site's endpoints for ticket events, and what was delivered to them.

Admin-only (401 anonymous, 403 signed-in non-admins). The secret that signs deliveries is
returned once, by POST; lists never show it. A URL must be http(s) and, unless
MAILDESK_WEBHOOK_ALLOW_PRIVATE=1, resolve only to public addresses (422 otherwise).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, JSONBody
from msgspec import Meta, Struct
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.models import User, WebhookAttempt, WebhookDelivery, WebhookEndpoint, utcnow
from maildesk.runtime import Runtime
from maildesk.web.api.support import Page, PageSize
from maildesk.web.auth import requires_admin
from maildesk.web.errors import FieldError
from maildesk.web.schemas import errors
from maildesk.webhooks import signing, urls
from maildesk.webhooks.events import EVENT_TYPES

_ATTEMPTS_SHOWN = 20


class WebhookIn(Struct, forbid_unknown_fields=True):
    url: Annotated[str, Meta(min_length=1, max_length=urls.MAX_URL_LENGTH)]
    events: Annotated[list[str], Meta(min_length=1, max_length=len(EVENT_TYPES))]


class WebhookOut(Struct):
    id: int
    url: str
    events: list[str]
    enabled: bool
    disabled_at: datetime | None
    disabled_reason: str | None
    last_success_at: datetime | None
    created_by: str | None
    created_at: datetime

    @classmethod
    def of(cls, e: WebhookEndpoint) -> "WebhookOut":
        return cls(id=e.id, url=e.url, events=list(e.events or []), enabled=e.enabled, disabled_at=e.disabled_at,
                   disabled_reason=e.disabled_reason, last_success_at=e.last_success_at,
                   created_by=e.created_by, created_at=e.created_at)


class WebhookCreatedOut(WebhookOut):
    secret: str = ""  # whsec_...: shown here once, never again


class WebhookPage(Struct):
    items: list[WebhookOut]
    total: int
    page: int
    page_size: int


class AttemptOut(Struct):
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int | None


class DeliveryOut(Struct):
    id: int
    event_id: str  # the webhook-id header
    type: str
    status: str  # pending | sending | delivered | failed
    attempt_count: int
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    attempts: list[AttemptOut]  # newest first, the last 20


class DeliveryPage(Struct):
    items: list[DeliveryOut]
    total: int
    page: int
    page_size: int


def _events(values: list[str]) -> list[str]:
    for value in values:
        if value not in EVENT_TYPES:
            raise FieldError("events", f"unknown event {value!r}; allowed: {', '.join(EVENT_TYPES)}")
    return list(dict.fromkeys(values))


class WebhookController(Controller):
    path = "/admin/webhooks"
    tags = ["admin", "webhooks"]
    guards = [requires_admin]

    @get("/", summary="Registered webhook endpoints", responses=errors(401, 403, 422))
    async def list_endpoints(
        self, db_session: NamedDependency[AsyncSession], page: Page = 1, page_size: PageSize = 20
    ) -> WebhookPage:
        total = await db_session.scalar(select(func.count()).select_from(WebhookEndpoint)) or 0
        rows = await db_session.scalars(
            select(WebhookEndpoint).order_by(WebhookEndpoint.id).offset((page - 1) * page_size).limit(page_size)
        )
        return WebhookPage(items=[WebhookOut.of(e) for e in rows], total=total, page=page, page_size=page_size)

    @post("/", status_code=201, summary="Register an endpoint; the answer holds its secret, shown once",
          responses=errors(400, 401, 403, 422))
    async def create(
        self, rt: NamedDependency[Runtime], user: NamedDependency[User], data: JSONBody[WebhookIn]
    ) -> WebhookCreatedOut:
        """events: ticket.created, ticket.updated, message.created (public messages),
        note.created (internal notes). 422 naming `url` for a URL that is not http(s) or whose
        host resolves to a loopback, private or link-local address."""
        events = _events(data.events)
        url = data.url.strip()
        try:
            await urls.resolve(url, allow_private=rt.settings.webhook_allow_private)
        except urls.UnsafeUrl as exc:
            raise FieldError("url", str(exc)) from None
        endpoint = WebhookEndpoint(url=url, events=events, secret=signing.new_secret(), enabled=True,
                                   created_by=user.email, created_at=utcnow())
        # Not db_write: resolving the URL (DNS, seconds at worst) comes first and must not hold
        # SQLite's write lock; the write is one short transaction afterwards.
        async with rt.db.write() as session:
            session.add(endpoint)
            await session.flush()
        out = WebhookOut.of(endpoint)
        return WebhookCreatedOut(**{f: getattr(out, f) for f in out.__struct_fields__}, secret=endpoint.secret)

    @delete("/{endpoint_id:int}", status_code=204, summary="Remove an endpoint and its delivery history",
            responses=errors(401, 403, 404))
    async def remove(self, db_write: NamedDependency[AsyncSession], endpoint_id: FromPath[int]) -> None:
        endpoint = await db_write.get(WebhookEndpoint, endpoint_id)
        if endpoint is None:
            raise NotFoundException(f"no webhook endpoint {endpoint_id}")
        await db_write.delete(endpoint)

    @get("/{endpoint_id:int}/deliveries", summary="Recent deliveries to an endpoint, newest first",
         responses=errors(401, 403, 404, 422))
    async def deliveries(
        self, db_session: NamedDependency[AsyncSession], endpoint_id: FromPath[int], page: Page = 1,
        page_size: PageSize = 20,
    ) -> DeliveryPage:
        """Each delivery with its attempts (HTTP status, or the error when no answer came)."""
        if await db_session.get(WebhookEndpoint, endpoint_id) is None:
            raise NotFoundException(f"no webhook endpoint {endpoint_id}")
        total = await db_session.scalar(
            select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
        ) or 0
        rows = list(await db_session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
            .order_by(WebhookDelivery.id.desc()).offset((page - 1) * page_size).limit(page_size)
        ))
        attempts: dict[int, list[AttemptOut]] = {r.id: [] for r in rows}
        if rows:
            for a in await db_session.scalars(
                select(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(attempts))
                .order_by(WebhookAttempt.id.desc())
            ):
                shown = attempts[a.delivery_id]
                if len(shown) < _ATTEMPTS_SHOWN:
                    shown.append(AttemptOut(a.attempted_at, a.status_code, a.error, a.duration_ms))
        items = [
            DeliveryOut(
                id=r.id, event_id=r.event_id, type=r.event_type, status=r.status, attempt_count=r.attempts,
                last_status_code=r.last_status_code, last_error=r.last_error, created_at=r.created_at,
                next_attempt_at=r.next_attempt_at if r.status == "pending" else None,
                delivered_at=r.delivered_at, attempts=attempts[r.id],
            )
            for r in rows
        ]
        return DeliveryPage(items=items, total=total, page=page, page_size=page_size)
