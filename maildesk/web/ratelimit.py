"""Small in-process rate limits for sign-in: sliding windows and exponential backoff.

`hit` counts attempts in a sliding window (Limit: so many per so many seconds). `attempt` /
`settle` implement a growing delay per key (Backoff, as OWASP's authentication cheat sheet
recommends instead of a hard lock-out): after `free` failures each further failure doubles
the wait, up to `max_delay`, and a success clears the key.

Per process, in memory: with several daemons behind one address each counts on its own,
which still bounds guessing to a small multiple of the limit. Keys are tuples such as
("login-pair:203.0.113.9", "ada@example.org") or ("login-ip", "203.0.113.9").
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


@dataclass(frozen=True)
class Backoff:
    free: int  # failures allowed before any wait
    first_delay: float  # the wait after failure number `free`; doubles with each further one
    max_delay: float  # the longest wait; failures are forgotten after this long without one

    def delay(self, failures: int) -> float:
        if failures < self.free:
            return 0.0
        return min(self.first_delay * 2 ** min(failures - self.free, 40), self.max_delay)


class RateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self._clock = clock
        self._hits: dict[tuple[str, str], deque[float]] = {}
        self._failures: dict[tuple[str, str], tuple[int, float]] = {}  # key -> (failures, last one)
        self._max_keys = max_keys

    # --- growing delay per key -----------------------------------------------------------------

    def attempt(self, key: tuple[str, str], policy: Backoff) -> float | None:
        """Start an attempt: the seconds to wait when `key` is still in its delay (nothing is
        recorded then), else None, and the attempt counts as a failure until `settle` says
        otherwise, so that many guesses sent at once cannot all slip through before the first
        answer."""
        now = self._clock()
        failures, last = self._failures.get(key, (0, now))
        if failures and now - last > max(policy.max_delay, policy.delay(failures)):
            failures = 0  # quiet long enough: start afresh
        wait = last + policy.delay(failures) - now if failures else 0.0
        if wait > 0:
            return max(1.0, math.ceil(wait))
        self._failures[key] = (failures + 1, now)
        if len(self._failures) > self._max_keys:
            self._prune_failures(now, policy)
        return None

    def settle(self, key: tuple[str, str], ok: bool) -> None:
        """The outcome of an attempt: success clears the key; a failure's delay runs from now."""
        if ok:
            self._failures.pop(key, None)
        elif key in self._failures:
            self._failures[key] = (self._failures[key][0], self._clock())

    def unhit(self, key: tuple[str, str]) -> None:
        """Take back the latest `hit` on key (a sign-in that succeeded does not count)."""
        window = self._hits.get(key)
        if window:
            window.pop()

    def _prune_failures(self, now: float, policy: Backoff) -> None:
        for key in [k for k, (n, last) in self._failures.items()
                    if now - last > max(policy.max_delay, policy.delay(n))]:
            del self._failures[key]

    # --- sliding windows -------------------------------------------------------------------------

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
