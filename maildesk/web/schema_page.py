"""The /schema pages: the OpenAPI document as JSON and a plain HTML index in the site's layout.

Litestar's default /schema page loads Redoc, fonts and a favicon from CDNs: blank without
internet and at odds with the pages' Content-Security-Policy. Here everything is local: a
documented render plugin serves /schema/openapi.json, another a list of the operations rendered
with the site's Jinja layout. `schema_security_headers` (a before_send hook) gives /schema
responses the same security headers as every other page.
"""

from __future__ import annotations

from typing import Any

from litestar import HttpMethod, Request, Router, route
from litestar.datastructures import MutableScopeHeaders
from litestar.openapi.plugins import JsonRenderPlugin, OpenAPIRenderPlugin
from litestar.types import Message, Scope

from maildesk.web.pages.render import SECURITY_HEADERS, STATIC_PATH

SCHEMA_PATH = "/schema"
_METHODS = ("get", "head", "post", "put", "patch", "delete")


def operations(openapi_schema: dict[str, Any]) -> list[dict[str, str]]:
    """(method, path, summary) of every operation in an OpenAPI document, in path order."""
    rows = []
    for path, item in sorted((openapi_schema.get("paths") or {}).items()):
        for method in _METHODS:
            op = item.get(method)
            if isinstance(op, dict):
                rows.append({"method": method.upper(), "path": path, "summary": str(op.get("summary") or "")})
    return rows


class LocalIndexPlugin(OpenAPIRenderPlugin):
    """/schema: the operations as an HTML table, nothing loaded from other origins."""

    def __init__(self) -> None:
        super().__init__(path="/")

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        info = openapi_schema.get("info") or {}
        html = request.app.template_engine.get_template("schema.html").render(
            user=None,  # /schema is public and outside the sign-in middleware
            csrf_field="",
            csrf_token="",
            path=request.url.path,
            static=STATIC_PATH,
            title=info.get("title", ""),
            version=info.get("version", ""),
            description=info.get("description", ""),
            json_url=f"{SCHEMA_PATH}/openapi.json",
            operations=operations(openapi_schema),
        )
        return html.encode()

    def receive_router(self, router: Router) -> None:
        """HEAD /schema too (Litestar registers the plugin's page for GET only)."""

        @route(self.paths, http_method=[HttpMethod.HEAD], media_type=self.media_type, sync_to_thread=False)
        def head(request: Request) -> bytes:
            return self.render(request, request.app.openapi_schema.to_schema())

        router.register(head)


def render_plugins() -> list[OpenAPIRenderPlugin]:
    return [LocalIndexPlugin(), JsonRenderPlugin()]


async def schema_security_headers(message: Message, scope: Scope) -> None:
    """before_send hook: the pages' security headers on every /schema response."""
    if message["type"] != "http.response.start" or not str(scope.get("path", "")).startswith(SCHEMA_PATH):
        return
    headers = MutableScopeHeaders.from_message(message)
    for name, value in SECURITY_HEADERS.items():
        if name == "Cache-Control":
            continue  # the schema is public; caching it is fine
        headers[name] = value
