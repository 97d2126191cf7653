"""Fresh computations shared by generation: concurrent callers that all need a result read after
they asked share one computation instead of each running its own.

A caller of `get(key, compute)` must get a result whose reads all started after it called,
so it can never join the computation already running for the key (its reads may have
started earlier). It joins the *next* one instead: the computation that starts as soon as the
running one ends, shared by every caller that arrived meanwhile. Each caller therefore waits
for at most the rest of one computation plus one whole computation, however many callers
there are, and the work done is at most one computation at a time per key.

Per key there is at most one running and one waiting computation (both forgotten when they
end), so memory is bounded by the keys in use. A computation's error reaches every caller
that shares it; a caller that goes away (its request cancelled) does not cancel the shared
computation, which still answers the others (asyncio.shield).
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, Generic, Hashable, TypeVar

T = TypeVar("T")


class FreshFlights(Generic[T]):
    def __init__(self) -> None:
        self._running: dict[Hashable, asyncio.Task[T]] = {}
        # Created but not yet reading: callers arriving now may still share it.
        self._next: dict[Hashable, asyncio.Task[T]] = {}

    def in_use(self) -> int:
        """How many computations are running or waiting to run."""
        return len(self._running) + len(self._next)

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        task = self._next.get(key)
        if task is None:
            task = asyncio.ensure_future(self._run(key, self._running.get(key), compute))
            self._next[key] = task
            task.add_done_callback(_retrieve)
        return await asyncio.shield(task)

    async def _run(self, key: Hashable, previous: asyncio.Task[T] | None, compute: Callable[[], Awaitable[T]]) -> T:
        if previous is not None:
            # Its outcome (or error) belongs to its own callers; this one only starts after it.
            await asyncio.wait([previous])
        me = asyncio.current_task()
        # From here on this computation reads: later callers need the one after it.
        if self._next.get(key) is me:
            del self._next[key]
        self._running[key] = me  # type: ignore[assignment]
        try:
            return await compute()
        finally:
            if self._running.get(key) is me:
                del self._running[key]


def _retrieve(task: asyncio.Task[T]) -> None:
    """Mark the error as seen: when every caller went away, nobody else will (no asyncio warning)."""
    if not task.cancelled():
        task.exception()
