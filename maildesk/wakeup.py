"""Wake-ups across daemons on PostgreSQL: a commit that creates work tells the other daemons.

Inside one daemon a commit that queues work wakes that daemon's worker at once
(Database.on_commit). Several daemons on one database would otherwise find each other's
work only at their next poll (the workers poll every second). Here every daemon keeps one
connection that LISTENs on a channel; after a local commit that set a wake flag it sends
NOTIFY with the flag's name, and the other daemons set the matching event. Notifications
between two sends are coalesced (one per flag), so a burst costs a few NOTIFYs, not one per
commit. NOTIFY is only a hint: the claim (FOR UPDATE SKIP LOCKED) decides who does the
work, and if the connection is lost the workers' polling still finds everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from maildesk.db import Database

log = logging.getLogger("maildesk.wakeup")

CHANNEL = "maildesk_wake"
_HEALTH_SECONDS = 30.0
_RETRY_SECONDS = (1.0, 5.0, 30.0, 60.0)


class CrossWake:
    def __init__(self, db: Database, events: dict[str, asyncio.Event]) -> None:
        self.db = db
        self.events = events
        self._pending: set[str] = set()
        self._kick = asyncio.Event()
        for flag in events:
            db.on_commit(flag, lambda flag=flag: self._committed(flag))

    def _committed(self, flag: str) -> None:
        self._pending.add(flag)
        self._kick.set()

    async def run(self, stop: asyncio.Event) -> None:
        """LISTEN and forward local commits as NOTIFY until `stop`; never dies on a failure."""
        failures = 0
        while not stop.is_set():
            try:
                await self._session(stop)
                failures = 0
            except Exception as exc:
                delay = _RETRY_SECONDS[min(failures, len(_RETRY_SECONDS) - 1)]
                failures += 1
                log.warning("wake-ups from other daemons are off (%s: %s); workers still poll; retrying in %gs",
                            type(exc).__name__, " ".join(str(exc).split())[:200], delay)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)

    async def _session(self, stop: asyncio.Event) -> None:
        conn = await self.db.write_engine.connect()
        try:
            raw = await conn.get_raw_connection()
            apg: Any = raw.driver_connection  # the asyncpg connection under SQLAlchemy's adapter
            own_pid = apg.get_server_pid()

            def heard(_conn: Any, pid: int, _channel: str, payload: str) -> None:
                event = self.events.get(payload)
                if event is not None and pid != own_pid:
                    event.set()

            await apg.add_listener(CHANNEL, heard)
            # Work may have been queued elsewhere while we were not listening.
            for event in self.events.values():
                event.set()
            stopping = asyncio.ensure_future(stop.wait())
            try:
                while not stop.is_set():
                    kicked = asyncio.ensure_future(self._kick.wait())
                    await asyncio.wait({kicked, stopping}, timeout=_HEALTH_SECONDS,
                                       return_when=asyncio.FIRST_COMPLETED)
                    kicked.cancel()
                    self._kick.clear()
                    flags, self._pending = self._pending, set()
                    for flag in sorted(flags):
                        await apg.execute("SELECT pg_notify($1, $2)", CHANNEL, flag)
                    if not flags:
                        await apg.execute("SELECT 1")  # notice a dead connection
            finally:
                stopping.cancel()
        finally:
            # Never hand a LISTENing connection back to the pool: close it.
            with contextlib.suppress(Exception):
                await conn.invalidate()
            with contextlib.suppress(Exception):
                await conn.close()
