"""create_app: the Litestar application (JSON API and HTML pages) over one Runtime."""

from __future__ import annotations

from litestar import Litestar, get
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig

from maildesk import __version__
from maildesk.runtime import Runtime
from maildesk.web.errors import EXCEPTION_HANDLERS


@get("/healthz", sync_to_thread=False, include_in_schema=True, tags=["health"])
async def healthz(state: State) -> dict[str, str]:
    """200 {"status": "ok"} when the database answers, 503 otherwise."""
    rt: Runtime = state.runtime
    if not await rt.db.ping():
        raise HTTPException(status_code=503, detail="database unavailable")
    return {"status": "ok"}


def create_app(rt: Runtime) -> Litestar:
    return Litestar(
        route_handlers=[healthz],
        state=State({"runtime": rt}),
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=OpenAPIConfig(title="maildesk", version=__version__, path="/schema"),
        debug=False,
    )
