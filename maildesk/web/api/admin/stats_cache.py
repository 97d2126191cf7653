"""The stats cache: the last stats per range, fresh for a few seconds, refreshed in the background;
fresh=true requests share computations by generation (fresh_flights.py)."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import Awaitable, Callable, Hashable

from maildesk.web.api.admin.fresh_flights import FreshFlights
from maildesk.web.schemas import StatsOut

STATS_CACHE_SECONDS = 5.0
STATS_STALE_SECONDS = 60.0
STATS_CACHE_KEYS = 64  # ranges remembered (least recently used dropped): memory stays bounded


class StatsCache:
    """The last stats per `days`: the dashboard polls, the numbers move slowly, and on a large
    database one computation is a pass over every ticket.

    An answer younger than `fresh_seconds` is reused. An older one (up to `stale_seconds`) is
    still returned at once while one background task computes the next; older than that,
    or none yet, the caller waits, sharing one computation with any concurrent callers.

    `fresh` callers get numbers read after they asked, never a cached or already running
    computation's; concurrent ones share the next computation (FreshFlights), so eight
    dashboards asking at once cost about two computations' time each, not eight.
    """

    def __init__(self, fresh_seconds: float = STATS_CACHE_SECONDS, stale_seconds: float = STATS_STALE_SECONDS,
                 max_keys: int = STATS_CACHE_KEYS) -> None:
        self.fresh_seconds = fresh_seconds
        self.stale_seconds = stale_seconds
        self.max_keys = max_keys
        self._entries: OrderedDict[Hashable, tuple[float, StatsOut]] = OrderedDict()
        self._running: dict[Hashable, asyncio.Task[StatsOut]] = {}
        self._fresh: FreshFlights[StatsOut] = FreshFlights()

    async def get(self, days: Hashable, compute: Callable[[], Awaitable[StatsOut]], *, fresh: bool = False) -> StatsOut:
        if fresh:
            async def compute_and_keep() -> StatsOut:
                value = await compute()
                self._keep(days, value)
                return value

            return await self._fresh.get(days, compute_and_keep)
        entry = self._entries.get(days)
        age = time.monotonic() - entry[0] if entry else None
        if entry is not None:
            self._entries.move_to_end(days)
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
                    self._keep(days, t.result())

            task.add_done_callback(done)
        return task

    def _keep(self, days: Hashable, value: StatsOut) -> None:
        self._entries[days] = (time.monotonic(), value)
        self._entries.move_to_end(days)
        while len(self._entries) > self.max_keys:
            self._entries.popitem(last=False)
