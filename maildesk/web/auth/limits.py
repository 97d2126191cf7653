"""Rate limits on signing in: password attempts slow down per (address, client IP) with a growing
delay and are capped per client IP; link requests are limited per (address, client IP) and per IP."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import HTTPException

from maildesk.web.ratelimit import Backoff, Limit, RateLimiter

# Password sign-in: a growing delay per (address, client IP) after 5 failures (1 s, 2 s, 4 s ...
# up to 15 minutes), and a looser cap per client IP across addresses. There is deliberately no
# lock per address alone: anyone could then keep an admin out by guessing from elsewhere.
LOGIN_PER_PAIR = Backoff(free=5, first_delay=1.0, max_delay=15 * 60)
LOGIN_PER_IP = Limit(30, 15 * 60)
# Sign-in link requests, per (address, client IP) and per client IP (how much mail one address
# may receive is capped by the outbox, MAILDESK_AUTOMAIL_PER_HOUR).
MAGIC_PER_PAIR = Limit(10, 15 * 60)
MAGIC_PER_IP = Limit(30, 15 * 60)


def client_ip(request: Request[Any, Any, Any]) -> str:
    # The socket peer, or the client a trusted proxy names: uvicorn rewrites the peer from
    # X-Forwarded-For only for peers in MAILDESK_TRUSTED_PROXIES (daemon.py); anyone else can
    # send that header, so it is not read here.
    return request.client.host if request.client else "unknown"


def _too_many(retry_after: float) -> HTTPException:
    return HTTPException(
        status_code=429,
        detail=f"too many attempts; try again in {int(retry_after)} seconds",
        headers={"Retry-After": str(int(retry_after))},
    )


def check_rate(limiter: RateLimiter, action: str, email: str, ip: str) -> None:
    """Sign-in link requests (action "magic"): 429 over the per-(address, IP) or per-IP limit."""
    retry_after = limiter.hit([((f"{action}-pair:{ip}", email), MAGIC_PER_PAIR), ((f"{action}-ip", ip), MAGIC_PER_IP)])
    if retry_after is not None:
        raise _too_many(retry_after)


def begin_login(limiter: RateLimiter, email: str, ip: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """Count a password attempt, or raise 429; returns the keys for end_login."""
    pair, per_ip = (f"login-pair:{ip}", email), ("login-ip", ip)
    retry_after = limiter.hit([(per_ip, LOGIN_PER_IP)])
    if retry_after is None:
        retry_after = limiter.attempt(pair, LOGIN_PER_PAIR)
        if retry_after is not None:
            limiter.unhit(per_ip)
    if retry_after is not None:
        raise _too_many(retry_after)
    return pair, per_ip


def end_login(limiter: RateLimiter, keys: tuple[tuple[str, str], tuple[str, str]], ok: bool) -> None:
    pair, per_ip = keys
    limiter.settle(pair, ok)
    if ok:
        limiter.unhit(per_ip)
