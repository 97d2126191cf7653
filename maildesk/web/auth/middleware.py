"""The middleware that puts the signed-in User (or None) on every request, from Bearer or cookie."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.middleware.authentication import AbstractAuthenticationMiddleware, AuthenticationResult

from maildesk.web.auth.cache import TokenCache
from maildesk.web.auth.tokens import SESSION_COOKIE, user_for_token


def _token_of(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    authorization = connection.headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return connection.cookies.get(SESSION_COOKIE) or None


class TokenAuthMiddleware(AbstractAuthenticationMiddleware):
    """Sets request.user to the signed-in User, or None for anonymous callers."""

    async def authenticate_request(
        self,
        connection: ASGIConnection[Any, Any, Any, Any],
    ) -> AuthenticationResult:
        token = _token_of(connection)
        if not token:
            return AuthenticationResult(user=None, auth=None)
        cache: TokenCache = connection.app.state.token_cache
        user = cache.get(token)
        if user is None:
            user = await user_for_token(connection.app.state.runtime, token)
            if user is not None:
                cache.put(token, user)
        return AuthenticationResult(user=user, auth=token if user is not None else None)
