"""One path, two audiences: a page for browsers, JSON for API clients.

Some contract paths (`/admin/notifications`, `/admin/saved-replies`, `/admin/users`,
`/admin/support/stats`) are both a JSON endpoint and a page. The handler answers HTML when the
request prefers text/html (a browser navigating) and JSON otherwise (API clients send `*/*` or
JSON); its errors follow the same choice, through `NEGOTIATED_HANDLERS`.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response

from maildesk.web import errors as api_errors
from maildesk.web.pages import render as pages


def wants_html(request: Request[Any, Any, Any]) -> bool:
    """True when the client prefers text/html over JSON (a browser); `*/*` means JSON."""
    return request.accept.best_match(["application/json", "text/html"], default="application/json") == "text/html"


def _handler_for(table: dict[Any, Any], exc: Exception) -> Any:
    for cls in type(exc).__mro__:
        if cls in table:
            return table[cls]
    return table[Exception]


def negotiated_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """An error as a page for browsers, as the JSON error body for everyone else."""
    table = pages.EXCEPTION_HANDLERS if wants_html(request) else api_errors.EXCEPTION_HANDLERS
    return _handler_for(table, exc)(request, exc)  # type: ignore[no-any-return]


# Litestar picks the most specific class among every layer's handlers, so every class either
# table names must point here, not just Exception.
NEGOTIATED_HANDLERS: dict[Any, Any] = {
    key: negotiated_error for key in {*pages.EXCEPTION_HANDLERS, *api_errors.EXCEPTION_HANDLERS}
}
