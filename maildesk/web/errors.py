"""Errors as JSON {"status_code": N, "detail": "..."}: never a traceback, always what is wrong."""

from __future__ import annotations

import logging

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

log = logging.getLogger("maildesk.web")


def _validation_detail(exc: ValidationException) -> str:
    extra = exc.extra if isinstance(exc.extra, list) else []
    parts = []
    for item in extra:
        if isinstance(item, dict):
            key = item.get("key") or ""
            message = item.get("message") or ""
            parts.append(f"{key}: {message}" if key else str(message))
    return "; ".join(parts) or str(exc.detail)


def http_exception(request: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    detail = exc.detail
    if isinstance(exc, ValidationException):
        detail = _validation_detail(exc)
        if "malformed" in str(exc.detail).lower() or "json" in str(exc.detail).lower() and "decode" in str(exc.detail).lower():
            status = 400
    body = {"status_code": status, "detail": detail}
    return Response(content=body, status_code=status, media_type=MediaType.JSON, headers=getattr(exc, "headers", None))


def internal_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    body = {"status_code": 500, "detail": "internal error"}
    return Response(content=body, status_code=HTTP_500_INTERNAL_SERVER_ERROR, media_type=MediaType.JSON)


EXCEPTION_HANDLERS = {HTTPException: http_exception, Exception: internal_error}
