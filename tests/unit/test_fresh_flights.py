"""FreshFlights: callers needing a fresh result share computations by generation.

The "database" here is a version number that commits raise; a computation reads it when it
starts and holds until the test opens its gate, so the interleavings are exact, not timed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from maildesk.web.api.admin.fresh_flights import FreshFlights


class Store:
    def __init__(self) -> None:
        self.version = 0
        self.reads: list[int] = []  # the version each computation read, in order
        self.gates: list[asyncio.Event] = []
        self.fail: set[int] = set()  # computations (by index) that raise

    async def compute(self) -> int:
        n = len(self.reads)
        self.reads.append(self.version)
        self.gates.append(asyncio.Event())
        await self.gates[n].wait()
        if n in self.fail:
            raise RuntimeError(f"computation {n} failed")
        return self.reads[n]

    async def started(self, n: int) -> None:
        """Until computation n has started reading."""
        while len(self.reads) <= n:
            await asyncio.sleep(0)


def test_callers_during_a_computation_share_the_next_one_and_see_every_commit_before_they_asked() -> None:
    async def go() -> None:
        store, flights = Store(), FreshFlights[int]()
        first = asyncio.ensure_future(flights.get("k", store.compute))
        await store.started(0)
        store.version = 1  # committed while computation 0 reads: only later computations see it
        later = [asyncio.ensure_future(flights.get("k", store.compute)) for _ in range(7)]
        await asyncio.sleep(0)
        assert len(store.reads) == 1  # the next computation waits for the running one
        store.gates[0].set()
        assert await first == 0
        await store.started(1)
        store.version = 2
        latest = asyncio.ensure_future(flights.get("k", store.compute))  # arrived while 1 reads
        store.gates[1].set()
        assert await asyncio.gather(*later) == [1] * 7  # one computation for all seven
        await store.started(2)
        store.gates[2].set()
        assert await latest == 2
        assert store.reads == [0, 1, 2]
        assert flights.in_use() == 0  # nothing kept once done

    asyncio.run(go())


def test_an_error_reaches_every_caller_sharing_the_computation_and_the_next_caller_computes_again() -> None:
    async def go() -> None:
        store, flights = Store(), FreshFlights[int]()
        store.fail.add(0)
        callers = [asyncio.ensure_future(flights.get("k", store.compute)) for _ in range(3)]
        await store.started(0)
        store.gates[0].set()
        results: list[Any] = await asyncio.gather(*callers, return_exceptions=True)
        assert [str(r) for r in results] == ["computation 0 failed"] * 3
        again = asyncio.ensure_future(flights.get("k", store.compute))
        await store.started(1)
        store.gates[1].set()
        assert await again == 0
        assert flights.in_use() == 0

    asyncio.run(go())


def test_a_caller_going_away_does_not_cancel_the_computation_the_others_share() -> None:
    async def go() -> None:
        store, flights = Store(), FreshFlights[int]()
        leaving = asyncio.ensure_future(flights.get("k", store.compute))
        staying = asyncio.ensure_future(flights.get("k", store.compute))
        await store.started(0)
        leaving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await leaving
        store.version = 5
        store.gates[0].set()
        assert await staying == 0
        assert len(store.reads) == 1

    asyncio.run(go())


def test_keys_do_not_wait_for_each_other() -> None:
    async def go() -> None:
        store, flights = Store(), FreshFlights[int]()
        a = asyncio.ensure_future(flights.get(("30 days",), store.compute))
        b = asyncio.ensure_future(flights.get(("7 days",), store.compute))
        await store.started(1)  # both read at once
        store.gates[1].set()
        assert await b == 0
        assert not a.done()
        store.gates[0].set()
        assert await a == 0

    asyncio.run(go())
