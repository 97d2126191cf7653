"""The stats cache: the last stats per range, fresh for a few seconds, refreshed in the background."""

from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable, Hashable

from maildesk.web.schemas import StatsOut

STATS_CACHE_SECONDS = 5.0
STATS_STALE_SECONDS = 60.0


class StatsCache:
    """The last stats per `days`: the dashboard polls, the numbers move slowly, and on a large
    database one computation is a pass over every ticket.

    An answer younger than `fresh_seconds` is reused. An older one (up to `stale_seconds`) is
    still returned at once while one background task computes the next; older than that,
    or none yet, the caller waits, sharing one computation with any concurrent callers.
    """

    def __init__(self, fresh_seconds: float = STATS_CACHE_SECONDS, stale_seconds: float = STATS_STALE_SECONDS) -> None:
        self.fresh_seconds = fresh_seconds
        self.stale_seconds = stale_seconds
        self._entries: dict[Hashable, tuple[float, StatsOut]] = {}
        self._running: dict[Hashable, asyncio.Task[StatsOut]] = {}

    async def get(self, days: Hashable, compute: Callable[[], Awaitable[StatsOut]], *, fresh: bool = False) -> StatsOut:
        entry = self._entries.get(days)
        age = time.monotonic() - entry[0] if entry else None
        if fresh:
            value = await compute()
            self._entries[days] = (time.monotonic(), value)
            return value
        if entry is not None and age is not None and age < self.fresh_seconds:
            return entry[1]
        task = self._start(days, compute)
        if entry is not None and age is not None and age < self.stale_seconds:
            return entry[1]
        return await asyncio.shield(task)

    def _start(self, days: Hashable, compute: Callable[[], Awaitable[StatsOut]]) -> asyncio.Task[StatsOut]:
        task = self._running.get(days)
        if task is None:
            task = asyncio.ensure_future(compute())
            self._running[days] = task

            def done(t: asyncio.Task[StatsOut]) -> None:
                self._running.pop(days, None)
                if not t.cancelled() and t.exception() is None:
                    self._entries[days] = (time.monotonic(), t.result())

            task.add_done_callback(done)
        return task
