"""A small in-process sliding-window rate limiter for sign-in attempts.

Per process, in memory: with several daemons behind one address each counts on its own,
which still bounds guessing to a small multiple of the limit. Keys are tuples such as
("login-address", "ada@example.org") or ("login-ip", "203.0.113.9").
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Limit:
    count: int
    seconds: float


class RateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self._clock = clock
        self._hits: dict[tuple[str, str], deque[float]] = {}
        self._max_keys = max_keys

    def hit(self, checks: list[tuple[tuple[str, str], Limit]]) -> float | None:
        """Record one attempt against every key; None when all are within their limits,
        else the seconds until the most constrained key frees up (nothing is recorded then)."""
        now = self._clock()
        retry_after = 0.0
        for key, limit in checks:
            window = self._window(key, now, limit)
            if len(window) >= limit.count:
                retry_after = max(retry_after, window[0] + limit.seconds - now)
        if retry_after > 0:
            return max(1.0, math.ceil(retry_after))
        for key, _limit in checks:
            self._hits.setdefault(key, deque()).append(now)
        if len(self._hits) > self._max_keys:
            self._prune(now, max(limit.seconds for _, limit in checks))
        return None

    def _window(self, key: tuple[str, str], now: float, limit: Limit) -> deque[float]:
        window = self._hits.get(key)
        if window is None:
            return deque()
        while window and window[0] <= now - limit.seconds:
            window.popleft()
        return window

    def _prune(self, now: float, seconds: float) -> None:
        for key in [k for k, w in self._hits.items() if not w or w[-1] <= now - seconds]:
            del self._hits[key]
