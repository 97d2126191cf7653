"""StatsCache: answers kept per range for a few seconds, but only for a bounded number of ranges;
fresh requests never get a kept answer."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Awaitable, Callable

from maildesk.web.api.admin.stats_cache import StatsCache
from maildesk.web.schemas import SlaOut, StatsOut


def _answer(total: int) -> StatsOut:
    return StatsOut(
        total=total, by_status={}, by_priority={}, by_category={}, by_day=[], open_escalated=0,
        avg_first_response_seconds=None, avg_resolution_seconds=None,
        sla=SlaOut(compliance=None, met=0, missed=0, by_priority={}, window_hours={}),
        generated_at=datetime.now(timezone.utc),
    )


def test_the_least_recently_used_range_is_forgotten_beyond_max_keys_and_fresh_always_computes() -> None:
    async def go() -> None:
        cache = StatsCache(max_keys=2)
        computed: list[str] = []

        def compute(key: str) -> Callable[[], Awaitable[StatsOut]]:
            async def run() -> StatsOut:
                computed.append(key)
                return _answer(len(computed))
            return run

        for key in ("a", "b", "a", "c"):  # "a" used again before "c": "b" is the oldest
            await cache.get(key, compute(key))
        assert computed == ["a", "b", "c"]
        await cache.get("a", compute("a"))
        await cache.get("c", compute("c"))
        assert computed == ["a", "b", "c"]  # still kept
        await cache.get("b", compute("b"))
        assert computed == ["a", "b", "c", "b"]  # forgotten, so computed again
        assert (await cache.get("b", compute("b"), fresh=True)).total == 5
        assert computed[-1] == "b" and len(computed) == 5

    asyncio.run(go())
