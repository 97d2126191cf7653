"""Sign-in: password login, single-use emailed links, session tokens, and who the caller is.

Tokens are `secrets.token_urlsafe(32)`; only their SHA-256 is stored (auth_tokens), so a
database dump does not sign anyone in. A session token works as `Authorization: Bearer` or
as the HttpOnly `maildesk_session` cookie (SameSite=Lax; Secure when BASE_URL is https).
Sign-in links (kind "magic") are single-use and expire after 30 minutes; using one creates a
session. Password attempts slow down per (address, client IP) with a growing delay and are
capped per client IP; link requests are limited per (address, client IP) and per client IP.

`TokenAuthMiddleware` puts the signed-in User (or None) on every request; the guards
`requires_user` / `requires_admin` turn None into 401 and a non-admin into 403.

One job per module: tokens, cache, middleware, guards, limits, signin (password and
sign-out), links (sign-in links), controller (/auth). This package re-exports the names
other modules import.
"""

from maildesk.web.auth.cache import TOKEN_CACHE_SECONDS, TokenCache
from maildesk.web.auth.controller import AFTER_MAGIC_LINK, AuthController
from maildesk.web.auth.guards import current_user, optional_user, requires_admin, requires_user
from maildesk.web.auth.limits import LOGIN_PER_IP, LOGIN_PER_PAIR, MAGIC_PER_IP, MAGIC_PER_PAIR, check_rate, client_ip
from maildesk.web.auth.links import queue_magic_link, send_magic_link
from maildesk.web.auth.middleware import TokenAuthMiddleware
from maildesk.web.auth.signin import password_sign_in, revoke_session
from maildesk.web.auth.tokens import (
    MAGIC_LIFETIME,
    SESSION_COOKIE,
    SESSION_LIFETIME,
    issue_token,
    session_cookie,
    user_for_token,
)

__all__ = [
    "AFTER_MAGIC_LINK", "LOGIN_PER_IP", "LOGIN_PER_PAIR", "MAGIC_LIFETIME", "MAGIC_PER_IP", "MAGIC_PER_PAIR",
    "SESSION_COOKIE", "SESSION_LIFETIME", "TOKEN_CACHE_SECONDS", "AuthController", "TokenAuthMiddleware",
    "TokenCache", "check_rate", "client_ip", "current_user", "issue_token", "optional_user", "password_sign_in",
    "queue_magic_link", "requires_admin", "requires_user", "revoke_session", "send_magic_link", "session_cookie", "user_for_token",
]
