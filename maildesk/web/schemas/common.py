"""The API's shapes every resource shares: a plain detail, the error body, and its OpenAPI entries."""

from __future__ import annotations

from typing import Any

from msgspec import Struct


class Detail(Struct):
    detail: str


class ErrorOut(Struct):
    """Every error: the HTTP status again, and what is wrong (naming the field for 422)."""

    status_code: int
    detail: str


_ERROR_TEXT = {
    400: "The body is not valid JSON",
    401: "Not signed in, or the token was revoked or expired",
    403: "Signed in, but not allowed",
    404: "No such ticket (or attachment, or message)",
    409: "The ticket rules refuse the change; the detail says what is allowed",
    410: "The sign-in link was used already or has expired",
    422: "A field is wrong: unknown, wrong type, or a value not allowed; the detail names it",
    429: "Too many attempts; see Retry-After",
}


def errors(*codes: int) -> dict[int, Any]:
    """OpenAPI `responses` for the error statuses a handler can answer."""
    from litestar.openapi.datastructures import ResponseSpec

    return {
        code: ResponseSpec(data_container=ErrorOut, description=_ERROR_TEXT[code], generate_examples=False)
        for code in codes
    }
