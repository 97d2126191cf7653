"""Errors as JSON {"status_code": N, "detail": "..."}: never a traceback, always what is wrong.

- A body that is not JSON at all, or JSON nested too deeply to decode: 400. A body or query parameter of the wrong shape (unknown
  field, wrong type, value out of range or not one of the allowed ones): 422 naming the field.
- The ticket rules' refusals map to HTTP here, so controllers stay thin: an illegal status
  change is 409 naming the allowed next statuses, an unknown category/priority/status or
  assignee is 422 naming the field, any other refusal (e.g. answering a closed ticket) is 409.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import ClientException, HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from maildesk.tickets.queries import BadQuery
from maildesk.tickets.rules import IllegalTransition
from maildesk.tickets.service import ServiceError, UnknownValue

log = logging.getLogger("maildesk.web")

_UNKNOWN_FIELD = re.compile(r"Object contains unknown field `([^`]*)`")
_MISSING_FIELD = re.compile(r"Object missing required field `([^`]*)`")


class FieldError(HTTPException):
    """422 naming the field that is wrong."""

    status_code = 422

    def __init__(self, field_name: str, message: str) -> None:
        self.field = field_name
        super().__init__(detail=f"{field_name}: {message}", status_code=422)


def _json(status: int, detail: str, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(
        content={"status_code": status, "detail": detail},
        status_code=status,
        media_type=MediaType.JSON,
        headers=headers,
    )


def _validation_detail(exc: ValidationException) -> str:
    extra = exc.extra if isinstance(exc.extra, list) else []
    parts = []
    for item in extra:
        if not isinstance(item, dict):
            continue
        key = str(item.get("key") or "")
        message = str(item.get("message") or "").replace("`", "")
        raw = str(item.get("message") or "")
        if m := _UNKNOWN_FIELD.search(raw):
            key, message = m.group(1), "unknown field"
        elif m := _MISSING_FIELD.search(raw):
            key, message = m.group(1), "required field missing"
        elif key == "data":
            key = "body"
        parts.append(f"{key}: {message}" if key else message)
    return "; ".join(parts) or str(exc.detail)


def http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status, detail = exc.status_code, str(exc.detail)
    if isinstance(exc, ValidationException):
        status, detail = 422, _validation_detail(exc)
    elif type(exc) is ClientException and status == 400 and request.method in ("POST", "PUT", "PATCH"):
        # Litestar's JSON decoder failing on the body: say so plainly.
        detail = f"malformed JSON in the request body: {detail}"
    return _json(status, detail, getattr(exc, "headers", None))


def illegal_transition(request: Request[Any, Any, Any], exc: IllegalTransition) -> Response[Any]:
    return _json(409, str(exc))


def unknown_value(request: Request[Any, Any, Any], exc: UnknownValue) -> Response[Any]:
    return _json(422, f"{exc.field}: {exc}")


def bad_query(request: Request[Any, Any, Any], exc: BadQuery) -> Response[Any]:
    return _json(422, f"{exc.field}: {exc}")


def service_error(request: Request[Any, Any, Any], exc: ServiceError) -> Response[Any]:
    return _json(409, str(exc))


def too_deep(request: Request[Any, Any, Any], exc: RecursionError) -> Response[Any]:
    """msgspec gives up on JSON nested deeper than the interpreter's recursion limit with a
    RecursionError ("... while deserializing an object"): that is the client's body, a 400.
    Any other RecursionError is ours."""
    if "deserializ" in str(exc):
        return _json(400, "malformed JSON in the request body: nested too deeply")
    return internal_error(request, exc)


def internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _json(HTTP_500_INTERNAL_SERVER_ERROR, "internal error")


EXCEPTION_HANDLERS = {
    HTTPException: http_exception,
    IllegalTransition: illegal_transition,
    UnknownValue: unknown_value,
    ServiceError: service_error,
    BadQuery: bad_query,
    RecursionError: too_deep,
    Exception: internal_error,
}
