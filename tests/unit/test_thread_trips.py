"""A signed-in read costs no trip to a thread but what a long query needs (issue 14).

Each hand-off from the event loop to a thread and back costs wake-ups and a GIL hand-over;
under load they were a good part of a list request's cost. Guards are coroutines (Litestar
runs a plain function guard in its thread pool), and on SQLite a read session's BEGIN and
closing ROLLBACK run on the loop (they take no lock and touch no file); a ROLLBACK that has
rows to undo still goes to the connection's thread. A SELECT runs on the loop when SQLite
finishes it within the read budget (sqlite_conn.READ_BUDGET_SECONDS); a longer one is
interrupted and runs again in the connection's thread, on the same snapshot. Checked on the
real app and a real SQLite database, watching Litestar's executor (its public
`set_asyncio_executor`) and the thread each SQLite statement runs on (sqlite3's trace callback).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from litestar import get
from litestar.concurrency import get_asyncio_executor, set_asyncio_executor
from litestar.di import NamedDependency
from litestar.testing import TestClient
from sqlalchemy import event, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.config import Settings
from maildesk.db import Database, migrate
from maildesk.models import User, utcnow
from maildesk.runtime import Runtime
from maildesk.sqlite_conn import READ_BUDGET_SECONDS, SQLiteConnection, connector
from maildesk.web.app import create_app
from maildesk.web.auth import issue_token

LOOP_THREADS: list[int] = []


@get("/test/tickets-count", opt={"anonymous": True})
async def tickets_count(db_session: NamedDependency[AsyncSession]) -> dict[str, int]:
    LOOP_THREADS.append(threading.get_ident())
    return {"count": await db_session.scalar(text("SELECT count(*) FROM tickets")) or 0}


class CountingExecutor(ThreadPoolExecutor):
    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self.calls = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.calls += 1
        return super().submit(fn, *args, **kwargs)


def _trace(db: Database, statements: list[tuple[int, str]]) -> None:
    """Record (thread, statement) for every statement of the read engine's new connections
    (but the PRAGMAs that set a read's busy timeout around its run on the loop)."""

    def record(sql: str) -> None:
        if not sql.startswith("PRAGMA busy_timeout"):
            statements.append((threading.get_ident(), sql.strip()))

    @event.listens_for(db.read_engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        driver = dbapi_connection.driver_connection
        assert isinstance(driver, SQLiteConnection)
        driver.sqlite().set_trace_callback(record)


@pytest.fixture
def rt(tmp_path: Path) -> Runtime:
    url = f"sqlite:///{tmp_path / 'md.db'}"
    migrate(url)
    return Runtime.build(Settings(database_url=url, secret_key="unit-secret", data_dir=tmp_path))


@pytest.fixture
def counting() -> Iterator[CountingExecutor]:
    before = get_asyncio_executor()
    executor = CountingExecutor()
    set_asyncio_executor(executor)
    try:
        yield executor
    finally:
        set_asyncio_executor(before)
        executor.shutdown()


def _admin_token(rt: Runtime) -> str:
    async def go() -> str:
        async with rt.db.write() as session:
            admin = User(email="admin@example.com", name="Admin", role="admin", is_active=True, created_at=utcnow())
            session.add(admin)
            await session.flush()
            token = await issue_token(session, admin)
        await rt.db.dispose()  # the test client's loop opens its own connections
        return token

    return asyncio.run(go())


def test_guarded_routes_run_their_guards_on_the_loop(rt: Runtime, counting: CountingExecutor) -> None:
    token = _admin_token(rt)
    with TestClient(create_app(rt)) as client:
        client.get("/admin/support/tickets", headers={"Authorization": f"Bearer {token}"}).raise_for_status()
        counting.calls = 0
        for path in ("/admin/support/tickets", "/support/tickets"):  # requires_admin, requires_user
            r = client.get(path, headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200 and r.json()["total"] == 0
        assert client.get("/admin/support/tickets").status_code == 401  # still guarded
        assert counting.calls == 0  # before: two trips per request (cookie_write_guard, then the route's)


def test_a_read_session_begins_and_ends_on_the_loop(rt: Runtime) -> None:
    statements: list[tuple[int, str]] = []
    _trace(rt.db, statements)
    LOOP_THREADS.clear()
    with TestClient(create_app(rt, extra_handlers=[tickets_count])) as client:
        assert client.get("/test/tickets-count").json() == {"count": 0}
        statements.clear()
        assert client.get("/test/tickets-count").json() == {"count": 0}
    loop = LOOP_THREADS[-1]
    ran = [(sql.split()[0].upper(), thread == loop) for thread, sql in statements]
    assert ran == [("BEGIN", True), ("SELECT", True), ("ROLLBACK", True)], statements


def test_a_rollback_with_changes_to_undo_goes_to_the_connection_thread(rt: Runtime) -> None:
    statements: list[tuple[int, str]] = []
    _trace(rt.db, statements)

    async def go() -> list[tuple[str, bool]]:
        loop = threading.get_ident()
        async with rt.db.read() as session:
            await session.execute(text("INSERT INTO saved_replies (title, body, created_at, updated_at) "
                                       "VALUES ('t', 'b', '2026-01-01', '2026-01-01')"))
            await session.rollback()
            assert await session.scalar(select(func.count()).select_from(text("saved_replies"))) == 0
        await rt.db.dispose()
        return [(sql.split()[0].upper(), thread == loop) for thread, sql in statements]

    assert asyncio.run(go()) == [("BEGIN", True), ("INSERT", False), ("ROLLBACK", False),
                                 ("BEGIN", True), ("SELECT", True), ("ROLLBACK", True)]


# A SELECT that takes SQLite well over the read budget (a million rows generated and counted).
LONG_SELECT = ("SELECT count(*) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
               "WHERE x < 1000000) SELECT x FROM c)")


def test_a_long_read_is_interrupted_on_the_loop_and_run_in_the_connection_thread(rt: Runtime) -> None:
    statements: list[tuple[int, str]] = []
    _trace(rt.db, statements)

    async def go() -> tuple[int, list[tuple[str, bool]]]:
        loop = threading.get_ident()
        async with rt.db.read() as session:
            n = await session.scalar(text(LONG_SELECT))
            assert await session.scalar(text(LONG_SELECT)) == n
        await rt.db.dispose()
        return n, [(sql.split()[0].upper(), thread == loop) for thread, sql in statements]

    n, ran = asyncio.run(go())
    assert n == 1_000_000
    # Tried on the loop, interrupted, run in the thread; run again: known long, straight to the thread.
    assert ran == [("BEGIN", True), ("SELECT", True), ("SELECT", False), ("SELECT", False), ("ROLLBACK", True)]


def test_an_interrupted_read_keeps_its_snapshot(tmp_path: Path) -> None:
    """The second run, in the thread, reads the snapshot the interrupted first one began."""
    path = tmp_path / "snap.db"
    setup = sqlite3.connect(path, isolation_level=None)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE t (x INTEGER)")
    setup.execute("INSERT INTO t VALUES (1)")

    async def go() -> tuple[Any, Any]:
        conn = await connector(str(path), inline=False)()
        try:
            conn.sqlite().execute("BEGIN")
            sql = f"SELECT ({LONG_SELECT}) + (SELECT count(*) FROM t)"  # reads t: its snapshot begins
            first = conn.briefly(sql, lambda: conn.sqlite().execute(sql).fetchall())
            assert first is None and conn.in_transaction  # over budget: interrupted, still in the transaction
            setup.execute("INSERT INTO t VALUES (2)")  # committed by another connection meanwhile
            again = await conn.in_thread(lambda: conn.sqlite().execute("SELECT count(*) FROM t").fetchall())
            await conn.rollback()
            after = await conn.in_thread(lambda: conn.sqlite().execute("SELECT count(*) FROM t").fetchall())
            return again, after
        finally:
            await conn.close()

    again, after = asyncio.run(go())
    assert again == [(1,)]  # the snapshot of the interrupted read, not the later insert
    assert after == [(2,)]
    setup.close()


def test_a_read_over_budget_without_an_interruption_goes_to_the_thread_next_time(tmp_path: Path) -> None:
    """count(*) of a whole table is one step of SQLite's machine: the progress handler never
    sees inside it. A read found over budget once done is remembered as long all the same."""
    path = tmp_path / "one-step.db"
    sqlite3.connect(path).close()

    def busy() -> str:  # CPU on the loop's thread with no SQLite step for the handler to see
        until = time.thread_time() + 2 * READ_BUDGET_SECONDS
        while time.thread_time() < until:
            pass
        return "done"

    async def go() -> tuple[Any, Any]:
        conn = await connector(str(path), inline=False)()
        try:
            return conn.briefly("SELECT one_long_step", busy), conn.briefly("SELECT one_long_step", busy)
        finally:
            await conn.close()

    assert asyncio.run(go()) == ("done", None)  # finished on the loop; next time: the thread
