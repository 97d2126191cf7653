"""Database access: URL normalisation, the async engines, SQLite pragmas, sessions, schema check.

SQLite is the embedded default. It allows one writer at a time, so on SQLite write
transactions take the write lock up front (BEGIN IMMEDIATE, serialised by an asyncio lock
in this process) while readers keep using deferred transactions under WAL. On PostgreSQL
both kinds of session use the same engine and concurrency is the server's business.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from contextlib import nullcontext
from typing import Any, AsyncIterator, Callable, TypeVar

from sqlalchemy import Column, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from maildesk.private import private_file, tighten_file
from maildesk.resources import resource_dir
from maildesk.sqlite_conn import BUSY_TIMEOUT_MS, SQLiteConnection, connector

_NO_LOCK = nullcontext()
T = TypeVar("T")
BIG_VALUE_BYTES = 1024 * 1024  # values above this go through write_blob/read_blob on SQLite
FOREGROUND_QUIET_SECONDS = 0.02
MIGRATIONS_DIR = resource_dir("migrations")


def async_url(url: str) -> str:
    """Turn the operator's URL (sqlite:///x.db, postgresql://...) into the async driver's URL."""
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + url[len("postgresql://") :]
    return url


def _sqlite_engine(url: str, *, immediate: bool, pool_size: int) -> AsyncEngine:
    parsed = make_url(url)
    path = parsed.database or ":memory:"
    options: dict[str, Any] = {}
    if path != ":memory:" and not parsed.query:  # URL options: leave the connection to SQLAlchemy
        # maildesk's own connection (sqlite_conn.py). Write transactions are short and
        # serialised: their statements run inline. Reads (the web app's lists, searches,
        # stats) may be long: each runs on the loop only within a small budget, a longer one
        # in the connection's thread (sqlite_conn.READ_BUDGET_SECONDS).
        options["async_creator"] = connector(os.path.abspath(path), inline=immediate)
    else:
        # Take transaction control from the sqlite3 module so BEGIN is ours (and SAVEPOINT
        # works): at connect, as sqlite_conn.connector does, not through the adapter's setter.
        options["connect_args"] = {"isolation_level": None}
    # An explicit queue pool: SQLAlchemy's default pool for aiosqlite file databases was NullPool
    # before 2.0.38 (a connection per checkout) and takes no size arguments.
    engine = create_async_engine(url, poolclass=AsyncAdaptedQueuePool, pool_size=pool_size, max_overflow=0,
                                 pool_timeout=60, **options)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a 250 to DATA promises the message survives a power cut, not just a crash.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.close()

    begin_sql = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn):  # type: ignore[no-untyped-def]
        # On the DBAPI cursor, as _on_connect does: BEGIN needs none of a statement's
        # execution context, result or events, and every write transaction starts here.
        cursor = conn.connection.dbapi_connection.cursor()
        cursor.execute(begin_sql)
        cursor.close()

    return engine


@dataclass
class CoreWrite:
    """A write transaction's connection, and flags for the commit hooks (Database.on_commit)."""

    connection: AsyncConnection
    info: dict[str, Any]


class Database:
    """Owns the engines; hands out read sessions and write transactions."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = async_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            sqlite_file(self.url)
            self.write_engine = _sqlite_engine(self.url, immediate=True, pool_size=1)
            parsed = make_url(self.url)
            # A file database without URL options runs on maildesk's own connection (sqlite_conn.py):
            # incremental blob I/O and transactions on the sqlite3 connection itself (write_sqlite).
            self.blob_io = bool(parsed.database) and parsed.database != ":memory:" and not parsed.query
            self.read_engine = _sqlite_engine(self.url, immediate=False, pool_size=pool_size)
            self._write_lock: asyncio.Lock | None = asyncio.Lock()
        else:
            self.write_engine = create_async_engine(
                self.url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )
            self.read_engine = self.write_engine
            self._write_lock = None
            self.blob_io = False  # write_blob/read_blob: SQLite's incremental blob I/O available
        # session.info flag -> callbacks run after a write transaction that set it commits
        self._commit_hooks: dict[str, list[Callable[[], None]]] = {}
        self._write_sessions = async_sessionmaker(self.write_engine, expire_on_commit=False)
        self._read_sessions = async_sessionmaker(self.read_engine, expire_on_commit=False)
        self._foreground = 0
        self._foreground_ended = 0.0

    # --- foreground first ------------------------------------------------------------------
    # One event loop (and, on SQLite, one writer) serves both the SMTP clients waiting for
    # their 250 and the background workers (pipeline, outbox). A client waits on every
    # millisecond the loop spends elsewhere, a worker only delays a ticket that is promised
    # "within seconds"; so while messages are arriving the workers hold back, up to a bound.

    def foreground_begin(self) -> None:
        """A client is waiting on work in this process (a message between DATA and its reply)."""
        self._foreground += 1

    def foreground_end(self) -> None:
        self._foreground -= 1
        self._foreground_ended = time.monotonic()

    def foreground_busy(self) -> bool:
        """True while a client waits, and for a moment after (the gap between one sender's
        messages), so a burst of mail is not interleaved with background work."""
        return self._foreground > 0 or time.monotonic() - self._foreground_ended < FOREGROUND_QUIET_SECONDS

    async def background_turn(self, max_wait: float) -> bool:
        """Wait until no client is waiting (True) or `max_wait` has passed (False: take a short
        turn anyway, so background work keeps moving under a sustained stream)."""
        deadline = time.monotonic() + max_wait
        while self.foreground_busy():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            await asyncio.sleep(min(FOREGROUND_QUIET_SECONDS, left))
        return True

    @property
    def dialect(self) -> str:
        return "sqlite" if self.is_sqlite else "postgresql"

    def on_commit(self, flag: str, callback: Callable[[], None]) -> None:
        """Run callback after any write transaction whose session.info[flag] is true commits."""
        self._commit_hooks.setdefault(flag, []).append(callback)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on normal exit, rolled back on error."""
        async with self._write_lock if self._write_lock is not None else _NO_LOCK:
            async with self._write_sessions() as session:
                async with session.begin():
                    yield session
                info = dict(session.info)
        self._after_commit(info)

    @asynccontextmanager
    async def write_connection(self) -> AsyncIterator["CoreWrite"]:
        """`write()` for Core statements only: the same lock, transaction and commit hooks
        (flags in `.info`), on a bare connection. Intake commits one of these per batch of
        arriving mail; an ORM session's set-up and commit bookkeeping cost a sixth of a
        millisecond of CPU each time, and intake loads no objects."""
        async with self._write_lock if self._write_lock is not None else _NO_LOCK:
            async with self.write_engine.begin() as connection:
                write = CoreWrite(connection, {})
                yield write
        self._after_commit(write.info)

    async def write_sqlite(self, work: Callable[[sqlite3.Connection, dict[str, Any]], T], *,
                           in_thread: bool = False) -> T:
        """SQLite on maildesk's own connection only (`blob_io`): one write transaction whose
        statements `work(connection, info)` runs on the sqlite3 connection itself, under the
        same lock as `write()`, with the same commit hooks (flags `work` sets in `info`, run
        once the COMMIT is done). BEGIN IMMEDIATE and COMMIT are handed to the connection's
        thread exactly as for `write()` (BEGIN only when another process holds the lock;
        COMMIT always: it waits for the disk, synchronous=FULL); `work` runs on the loop like
        the write engine's other short statements, or in the thread (`in_thread`: e.g. a big
        value written in place). Intake's batches were mostly SQLAlchemy's per-statement cost."""
        assert self.blob_io and self._write_lock is not None, "write_sqlite needs maildesk's SQLite connection"
        info: dict[str, Any] = {}
        async with self._write_lock:
            async with self.write_engine.connect() as connection:  # no BEGIN: SQLAlchemy begins on first execute
                driver = (await connection.get_raw_connection()).driver_connection
                assert isinstance(driver, SQLiteConnection)
                await driver.begin_immediate()
                try:
                    conn = driver.sqlite()
                    result = await driver.in_thread(work, conn, info) if in_thread else work(conn, info)
                    await driver.commit()
                except BaseException:
                    info.clear()  # nothing committed: no hooks
                    await driver.rollback()
                    raise
        self._after_commit(info)
        return result

    def _after_commit(self, info: dict[str, Any]) -> None:
        """The on_commit callbacks of the flags a committed transaction set in its info."""
        for flag in [f for f in self._commit_hooks if info.get(f)]:
            for callback in self._commit_hooks[flag]:
                callback()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._read_sessions() as session:
            yield session

    # --- big values ----------------------------------------------------------------------
    # Binding a 25 MB value makes SQLite copy it twice (the bound value, then the record it
    # builds), and reading one back makes it assemble the value and Python copy it again:
    # ~50 MB of peak memory each way. SQLite's incremental blob I/O moves the bytes in place.

    async def write_blob(self, session: AsyncSession | AsyncConnection, column: Column[Any], rowid: int,
                         data: bytes) -> None:
        """Fill a zeroblob(len(data)) that this transaction inserted (only when `blob_io`), in the thread."""
        driver = await self._driver(session)
        await driver.write_blob(column.table.name, column.name, rowid, data)

    async def read_blob(self, session: AsyncSession, column: Column[Any], rowid: int) -> bytes:
        """One row's value (by its integer primary key `id`); on SQLite read in place, in the thread."""
        if not self.blob_io:
            return bytes(await session.scalar(select(column).where(column.table.c.id == rowid)))
        driver = await self._driver(session)
        return await driver.read_blob(column.table.name, column.name, rowid)

    @staticmethod
    async def _driver(session: AsyncSession | AsyncConnection) -> SQLiteConnection:
        connection = session if isinstance(session, AsyncConnection) else await session.connection()
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert isinstance(driver, SQLiteConnection), "blob I/O needs maildesk's SQLite connection"
        return driver

    async def ping(self) -> bool:
        try:
            async with self.read_engine.connect() as conn:
                await conn.exec_driver_sql("SELECT 1")
            return True
        except Exception:
            return False

    async def dispose(self) -> None:
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()


def sqlite_file(url: str) -> None:
    """Create a SQLite database file owner-only (0600, and so its -wal/-shm) before SQLite does."""
    path = make_url(async_url(url)).database
    if path and path != ":memory:" and not path.startswith("file:"):
        private_file(Path(path))
        for companion in ("-wal", "-shm", "-journal"):  # left by an older maildesk
            tighten_file(Path(path + companion))


def alembic_config(url: str):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["maildesk_url"] = url
    return cfg


# The newest revision in migrations/versions, which this code needs. Written down so that a
# daemon starting on a current schema need not load alembic to learn it: alembic and what it
# imports are ~10 MB of the daemon's idle memory, which has a target (issue 14,
# bench/memory.py). tests/unit/test_schema_check.py holds it equal to alembic's head, so a new
# migration that forgets it fails the tests.
SCHEMA_HEAD = "0013_web_indexes"


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


async def at_schema_head(db: Database) -> bool:
    """True when the database's schema is exactly at SCHEMA_HEAD: its alembic_version table
    holds that one revision. Read with one plain query; anything else (no such table, another
    revision, several, an error) is False, and the caller asks alembic."""
    try:
        async with db.read_engine.connect() as conn:
            rows = (await conn.exec_driver_sql("SELECT version_num FROM alembic_version")).all()
    except DBAPIError:  # no alembic_version table yet, or no database: alembic's path says which
        return False
    return [tuple(row) for row in rows] == [(SCHEMA_HEAD,)]


async def current_revision(db: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    async with db.read_engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


def _revision_now(url: str) -> str | None:
    """The database's schema revision (None when it has none), on a throwaway engine."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy.pool import NullPool

    async def read() -> str | None:
        engine = create_async_engine(async_url(url), poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
        finally:
            await engine.dispose()

    return asyncio.run(read())


def migrate(url: str) -> tuple[str | None, str | None]:
    """Bring the schema to the newest revision; return (revision before, revision after).

    Blocking; run it from the CLI or a thread, not inside a running event loop.
    """
    from alembic import command

    if url.startswith("sqlite"):
        sqlite_file(url)
    before = _revision_now(url)
    command.upgrade(alembic_config(url), "head")
    return before, _revision_now(url)
