"""create_app: the Litestar application (JSON API and HTML pages) over one Runtime.

Everything a handler needs arrives by dependency injection: `rt` (the Runtime), `user` (the
signed-in User, 401 otherwise), `viewer` (User or None), `limiter` (sign-in rate limits),
`db_session` / `db_write` (a read session / one write transaction: web/sessions.py).
JSON writes signed in by the session cookie must be same-origin JSON (sameorigin.py).
Per-process helpers (rate limiter, stats cache) live in app.state, built here, never global.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig

from maildesk import __version__
from maildesk.runtime import Runtime
from maildesk.web.api.admin import AdminSupportController, AdminTicketController, AdminUserController, StatsCache
from maildesk.web.api.contact import ContactController
from maildesk.web.api.metrics import metrics
from maildesk.web.api.notifications import NotificationController
from maildesk.web.api.saved_replies import SavedReplyController
from maildesk.web.api.support import SupportTicketController
from maildesk.web.api.webhooks import WebhookController
from maildesk.web.auth import AuthController, TokenAuthMiddleware, TokenCache, current_user, optional_user
from maildesk.web.auth.links import LinkRefused
from maildesk.web.errors import EXCEPTION_HANDLERS
from maildesk.web.pages import PAGE_HANDLERS, STATIC_PATH, static_router, template_config
from maildesk.web.pages.login import link_refused
from maildesk.web.ratelimit import RateLimiter
from maildesk.web.sameorigin import cookie_write_guard
from maildesk.web.schema_page import SCHEMA_PATH, render_plugins, schema_security_headers
from maildesk.web.sessions import DEPENDENCIES as SESSION_DEPENDENCIES


@get("/healthz", tags=["health"])
async def healthz(state: State) -> dict[str, str]:
    """200 {"status": "ok"} when the database answers, 503 otherwise."""
    rt: Runtime = state.runtime
    if not await rt.db.ping():
        raise HTTPException(status_code=503, detail="database unavailable")
    return {"status": "ok"}


def _runtime(state: State) -> Runtime:
    return state.runtime  # type: ignore[no-any-return]


def _limiter(state: State) -> RateLimiter:
    return state.rate_limiter  # type: ignore[no-any-return]


API_HANDLERS: list[Any] = [
    AuthController,
    SupportTicketController,
    ContactController,
    AdminTicketController,
    AdminSupportController,
    AdminUserController,
    metrics,
    WebhookController,
    NotificationController,
    SavedReplyController,
]


def create_app(rt: Runtime, extra_handlers: list[Any] | None = None) -> Litestar:
    return Litestar(
        route_handlers=[healthz, *API_HANDLERS, *PAGE_HANDLERS, static_router(), *(extra_handlers or [])],
        template_config=template_config(),
        logging_config=None,  # the CLI configures logging once for the whole process
        state=State({"runtime": rt, "rate_limiter": RateLimiter(), "stats_cache": StatsCache(),
                     "token_cache": TokenCache()}),
        dependencies={
            "rt": Provide(_runtime, sync_to_thread=False),
            "limiter": Provide(_limiter, sync_to_thread=False),
            "user": Provide(current_user, sync_to_thread=False),
            "viewer": Provide(optional_user, sync_to_thread=False),
            **SESSION_DEPENDENCIES,  # db_session, db_write (web/sessions.py)
        },
        guards=[cookie_write_guard],  # cross-site writes with the session cookie: 403/415
        middleware=[DefineMiddleware(TokenAuthMiddleware, exclude=["^/schema", "^/healthz", f"^{STATIC_PATH}/"])],
        exception_handlers={**EXCEPTION_HANDLERS, LinkRefused: link_refused},
        before_send=[schema_security_headers],
        openapi_config=OpenAPIConfig(
            title="maildesk",
            version=__version__,
            path=SCHEMA_PATH,
            render_plugins=render_plugins(),  # local page + JSON: nothing from CDNs
            description="The maildesk JSON API. Authenticate with `Authorization: Bearer <token>` "
            "(from POST /auth/login) or the session cookie.",
        ),
        debug=False,
    )
