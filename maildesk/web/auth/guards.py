"""Guards and dependencies on the caller: `requires_user` / `requires_admin` turn None into 401
and a non-admin into 403; `current_user` / `optional_user` hand handlers the User.

The guards are coroutines although they never wait: Litestar runs a plain function guard in a
worker thread, a thread hop on every request (issue 14)."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from maildesk.models import User


def _unauthorized() -> NotAuthorizedException:
    return NotAuthorizedException("sign in first", headers={"WWW-Authenticate": "Bearer"})


async def requires_user(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """401 for anonymous callers, unless the handler is marked opt={"anonymous": True}."""
    if connection.user is None and not handler.opt.get("anonymous"):
        raise _unauthorized()


async def requires_admin(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    if connection.user is None:
        raise _unauthorized()
    if not connection.user.is_admin:
        raise PermissionDeniedException("admins only")


def current_user(request: Request[Any, Any, Any]) -> User:
    if request.user is None:
        raise _unauthorized()
    return request.user  # type: ignore[no-any-return]


def optional_user(request: Request[Any, Any, Any]) -> User | None:
    return request.user  # type: ignore[no-any-return]
