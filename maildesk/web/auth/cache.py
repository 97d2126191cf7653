"""A few seconds' memory of who a session token belongs to, sparing a database lookup per request."""

from __future__ import annotations

import time

from maildesk.models import User

TOKEN_CACHE_SECONDS = 5.0


class TokenCache:
    """Who a session token belongs to, remembered for a few seconds (app.state.token_cache).

    Saves a database round trip on every API call. Signing out through this process forgets
    the token at once; a revocation made by another daemon on the same database, or a user
    deactivated or demoted, takes effect here within `seconds`. Unknown tokens are never
    remembered, so a guessed token always costs a lookup.
    """

    def __init__(self, seconds: float = TOKEN_CACHE_SECONDS, max_entries: int = 10_000) -> None:
        self.seconds = seconds
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, User]] = {}

    def get(self, token: str) -> User | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        if time.monotonic() - entry[0] >= self.seconds:
            self._entries.pop(token, None)
            return None
        return entry[1]

    def put(self, token: str, user: User) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[token] = (time.monotonic(), user)

    def forget(self, token: str) -> None:
        self._entries.pop(token, None)
