"""A signed-in read costs no trip to a thread but the query's own (issue 14).

Each hand-off from the event loop to a thread and back costs wake-ups and a GIL hand-over;
under load they were a good part of a list request's cost. Guards are coroutines (Litestar
runs a plain function guard in its thread pool), and on SQLite a read session's BEGIN and
closing ROLLBACK run on the loop (they take no lock and touch no file); a ROLLBACK that has
rows to undo still goes to the connection's thread. Checked on the real app and a real
SQLite database, watching Litestar's executor (its public `set_asyncio_executor`) and the
thread each SQLite statement runs on (sqlite3's trace callback).
"""

from __future__ import annotations

import asyncio
import threading
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
from maildesk.sqlite_conn import SQLiteConnection
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
    """Record (thread, statement) for every statement of the read engine's new connections."""

    @event.listens_for(db.read_engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        driver = dbapi_connection.driver_connection
        assert isinstance(driver, SQLiteConnection)
        driver.sqlite().set_trace_callback(lambda sql: statements.append((threading.get_ident(), sql.strip())))


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
    assert ran == [("BEGIN", True), ("SELECT", False), ("ROLLBACK", True)], statements


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
                                 ("BEGIN", True), ("SELECT", False), ("ROLLBACK", True)]
