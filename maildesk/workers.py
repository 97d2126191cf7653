"""The loop every background worker runs: a pass, then sleep until woken or the poll interval."""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

log = logging.getLogger("maildesk")


async def run_worker(
    name: str,
    one_pass: Callable[[], Awaitable[int]],
    wake: asyncio.Event,
    stop: asyncio.Event,
    poll_seconds: float = 1.0,
) -> None:
    """Run `one_pass` (returning how much it did) until `stop` is set; never dies on an error.

    A pass that did something is followed at once by another; otherwise the worker sleeps until
    `wake` is set (a commit that made work for it) or `poll_seconds` pass (work made elsewhere).
    """
    while not stop.is_set():
        wake.clear()  # before the pass: work committed during it wakes the next one
        try:
            if await one_pass():
                continue
        except Exception:
            log.exception("%s pass failed; retrying", name)
        try:
            await asyncio.wait_for(wake.wait(), timeout=poll_seconds)
        except asyncio.TimeoutError:
            pass
