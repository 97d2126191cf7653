"""maildesk's own asyncio SQLite connection, handed to SQLAlchemy's aiosqlite dialect.

SQLAlchemy's `sqlite+aiosqlite` dialect accepts any object with aiosqlite's public shape from
`create_async_engine(..., async_creator=...)` (a documented parameter): `cursor()`, a cursor
whose `execute/executemany/fetch*/close` are awaitable, awaitable `commit/rollback/close/
create_function`, `isolation_level`. This class offers exactly that over a plain
`sqlite3.Connection` and a worker thread of its own, without deriving from or reaching into
aiosqlite (issue 14: its internals changed under us once). tests/unit/test_sqlite_conn.py runs
the same statements through stock aiosqlite and through this class and compares them, so a
SQLAlchemy release that calls the driver differently is caught (SQLAlchemy is pinned <2.2).

Why not stock aiosqlite: it hands every cursor(), execute, fetch and close to its thread and
back — three or four thread and loop wake-ups per statement, about a millisecond on a busy
machine, more than the statement itself; the pipeline issues dozens per message (bench/README.md).

A read connection's SELECT runs on the loop's thread too when SQLite finishes it within a
small budget (READ_BUDGET_SECONDS): most reads (a queue page, a ticket, who a token belongs
to) take well under a millisecond, and the trip to the thread and back cost a list request
~4 ms at the median on a loaded machine, far more at the tail (issue 14: the queue's p99).
A read that would take longer is interrupted (sqlite3's progress handler) and run again in
the connection's thread: within its transaction, so on the same snapshot, with the same rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Awaitable, Callable, Iterator, TypeVar

T = TypeVar("T")

# Statements that may wait for another connection's lock (busy_timeout) or for the disk.
_MAY_WAIT = ("BEGIN", "COMMIT", "END", "ROLLBACK")
# ...except a deferred BEGIN, which only ends autocommit: it takes no lock and reads nothing
# until the first statement after it (https://sqlite.org/lang_transaction.html).
_DEFERRED_BEGIN = frozenset({"BEGIN", "BEGIN DEFERRED", "BEGIN TRANSACTION", "BEGIN DEFERRED TRANSACTION"})
BUSY_TIMEOUT_MS = 30000
BLOB_CHUNK = 1024 * 1024
# How much SQLite work (CPU time of the loop's thread) a read may do on the loop before it is
# handed to the connection's thread: a queue page (its count included) takes ~0.6 ms at
# 100,000 tickets; the trip it saves, ~4. CPU time, not the clock: on a busy machine a
# statement of 0.1 ms of work can take 4 ms by the clock (the thread preempted, or waiting for
# the GIL at a progress callback), and moving it to a thread would not make that shorter.
READ_BUDGET_SECONDS = 0.002
# ...and by the clock, what a read waiting on the disk (a cold page cache) may hold the loop.
READ_WAIT_SECONDS = 0.02
# SQLite virtual-machine steps between two looks at the clocks (~0.05-0.4 ms of work).
BUDGET_CHECK_STEPS = 5000
# What a read run briefly gives up on: the budget spent, or a lock it would wait for (a reader
# under WAL only waits while another connection recovers the log).
_NOT_BRIEF = ("SQLITE_INTERRUPT", "SQLITE_BUSY")
# A statement that overran the budget goes straight to the thread for its next runs, then is
# tried on the loop again (its parameters may make it short then). Without this memory every
# search or stats statement spent the budget on the loop first: +10-20 ms on those requests.
LONG_READ_SKIPS = 50
LONG_READS_KEPT = 1000  # statement texts remembered per database (then forgotten at once)


@functools.lru_cache(maxsize=4096)
def _kind(sql: str) -> tuple[bool, bool, bool, bool]:
    """(may wait, is a BEGIN, is a deferred BEGIN, is a SELECT) for a statement's text. Worked
    out once per text: SQLAlchemy hands the same compiled strings over and over (a dozen per
    message)."""
    head = sql.lstrip()[:8].upper()
    return (head.startswith(_MAY_WAIT), head.startswith("BEGIN"), " ".join(sql.split()).upper() in _DEFERRED_BEGIN,
            head.startswith("SELECT"))


@contextlib.contextmanager
def _without_waiting(conn: sqlite3.Connection) -> Iterator[None]:
    """No busy_timeout inside: what runs on the loop's thread must fail at once (SQLITE_BUSY)
    rather than wait there for another connection's lock; the caller then uses the thread."""
    conn.execute("PRAGMA busy_timeout=0")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


class Cursor:
    """A cursor that runs, fetches and closes a statement in one go.

    Here a statement is one hand-off to the connection's thread, or none on an `inline`
    connection: there it runs on the loop's thread, which it blocks only for SQLite's own work
    on an already locked database (tens to hundreds of microseconds). What can wait on another
    process's lock or on the disk — COMMIT, ROLLBACK, and BEGIN when the lock is not free at
    once — still goes to the thread. On a read connection a SELECT runs on the loop's thread
    when it is done within READ_BUDGET_SECONDS (SQLiteConnection.briefly), else in the thread.
    """

    __slots__ = ("connection", "rows", "description", "rowcount", "lastrowid", "arraysize")

    def __init__(self, connection: "SQLiteConnection") -> None:
        self.connection = connection
        self.rows: list[Any] = []
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    async def __aenter__(self) -> "Cursor":
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.rows = []

    def __aiter__(self) -> "Cursor":
        return self

    async def __anext__(self) -> Any:
        if not self.rows:
            raise StopAsyncIteration
        return self.rows.pop(0)

    def _run(self, sql: str, parameters: Any, many: bool) -> tuple[list[Any], Any, int, int | None]:
        cursor = self.connection.sqlite().cursor()
        try:
            if many:
                cursor.executemany(sql, parameters)
            else:
                cursor.execute(sql, parameters)
            rows = cursor.fetchall() if cursor.description else []
            return rows, cursor.description, cursor.rowcount, cursor.lastrowid
        finally:
            cursor.close()

    def _begin_now(self, sql: str) -> bool:
        return self.connection.begin_now(sql)

    async def _go(self, sql: str, parameters: Any, many: bool) -> "Cursor":
        may_wait, begin, deferred_begin, select = _kind(sql)
        inline = self.connection.inline
        result: tuple[list[Any], Any, int, int | None] | None = None
        if inline and not may_wait:
            result = self._run(sql, parameters, many)
        elif not parameters and deferred_begin:
            # Every read session starts so (db.py): one trip to the thread saved per request.
            result = self._run(sql, (), False)
        elif inline and begin and not parameters and self._begin_now(sql):
            result = ([], None, -1, None)
        elif select and not many:
            result = self.connection.briefly(sql, self._run, sql, parameters, False)  # None: too long
        if result is None:
            # May wait (another process's lock, busy_timeout; or fsync at COMMIT), or a long
            # read: in the thread.
            result = await self.connection.in_thread(self._run, sql, parameters, many)
        if begin:
            self.connection.began()
        self.rows, self.description, self.rowcount, self.lastrowid = result
        return self

    async def execute(self, sql: str, parameters: Any = None) -> "Cursor":
        return await self._go(sql, () if parameters is None else parameters, False)

    async def executemany(self, sql: str, parameters: Any) -> "Cursor":
        return await self._go(sql, parameters, True)

    async def fetchall(self) -> list[Any]:
        rows, self.rows = self.rows, []
        return rows

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        size = size or self.arraysize
        rows, self.rows = self.rows[:size], self.rows[size:]
        return rows

    async def fetchone(self) -> Any:
        return self.rows.pop(0) if self.rows else None

    async def setinputsizes(self, *sizes: Any) -> None:
        return None

    async def close(self) -> None:
        self.rows = []


class SQLiteConnection:
    """One sqlite3 connection and one thread of its own; statements run inline or there.

    Statements run on the loop's thread (`inline`, the write engine's short ones) or on the
    connection's thread, never at the same time: a connection serves one session at a time.
    """

    def __init__(self, connection: sqlite3.Connection, executor: ThreadPoolExecutor, inline: bool,
                 long_reads: dict[str, int] | None = None) -> None:
        # SQLAlchemy's adapter tests `driver._connection` ("still open?") before commit and
        # rollback (the name aiosqlite uses); the sqlite3 connection is kept under that name.
        self._connection: sqlite3.Connection | None = connection
        self._executor = executor
        self.inline = inline
        # sqlite3's total_changes when the current transaction began (None: not known).
        self._changes_at_begin: int | None = None
        # Statement text -> how many more runs go straight to the thread (it overran the budget);
        # shared by the connections of one engine (connector()): they run the same statements.
        self._long_reads: dict[str, int] = {} if long_reads is None else long_reads

    def sqlite(self) -> sqlite3.Connection:
        """The open sqlite3 connection; the error aiosqlite raises (which SQLAlchemy's dialect
        treats as a disconnect) once it is closed."""
        if self._connection is None:
            raise ValueError("no active connection")
        return self._connection

    async def in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """Run fn(*args) on the connection's thread (what may wait on a lock or the disk)."""
        self.sqlite()
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def briefly(self, sql: str, fn: Callable[..., T], *args: Any) -> T | None:
        """fn(*args), a read running the statement `sql`, on the loop's thread if SQLite
        finishes it within READ_BUDGET_SECONDS of work (and READ_WAIT_SECONDS by the clock)
        without waiting for a lock; None if it would take longer or wait, or if `sql` overran
        the budget lately (LONG_READ_SKIPS).

        The read is then interrupted (sqlite3's progress handler) and has had no effect: the
        caller runs it again in the thread. An interrupted SELECT leaves the transaction open
        and its snapshot in place (SQLite rolls back only an interrupted write), so the second
        run reads what the first one would have."""
        skips = self._long_reads.get(sql)
        if skips is not None:
            if skips > 1:
                self._long_reads[sql] = skips - 1
            else:
                del self._long_reads[sql]
            return None
        conn = self.sqlite()
        work_until = time.thread_time() + READ_BUDGET_SECONDS
        wait_until = time.perf_counter() + READ_WAIT_SECONDS
        conn.set_progress_handler(lambda: time.thread_time() > work_until or time.perf_counter() > wait_until,
                                  BUDGET_CHECK_STEPS)
        try:
            with _without_waiting(conn):
                result = fn(*args)
        except sqlite3.OperationalError as exc:
            name = exc.sqlite_errorname or ""
            if name == "SQLITE_INTERRUPT":
                self._long_read(sql)
            if name.startswith(_NOT_BRIEF):
                return None
            raise
        finally:
            conn.set_progress_handler(None, 0)
        if time.thread_time() > work_until:
            # Over budget without an interruption: the work was in one step the handler does
            # not see inside (count(*) of a whole table is one step), or in its last steps.
            self._long_read(sql)
        return result

    def _long_read(self, sql: str) -> None:
        if len(self._long_reads) >= LONG_READS_KEPT:
            self._long_reads.clear()
        self._long_reads[sql] = LONG_READ_SKIPS

    # --- what SQLAlchemy's aiosqlite adapter calls -------------------------------------------

    @property
    def isolation_level(self) -> str | None:
        return None if self._connection is None else self._connection.isolation_level  # None (connect)

    @property
    def in_transaction(self) -> bool:
        return self._connection is not None and self._connection.in_transaction

    def cursor(self) -> Cursor:
        return Cursor(self)

    async def commit(self) -> None:
        if self.in_transaction:  # the pool's reset after a commit needs no trip
            await self.in_thread(self.sqlite().commit)

    def begin_now(self, sql: str) -> bool:
        """BEGIN on the loop's thread if the lock is free now; False if another process holds it."""
        conn = self.sqlite()
        try:
            with _without_waiting(conn):
                conn.execute(sql)
            return True
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                return False
            raise

    async def begin_immediate(self) -> None:
        """BEGIN IMMEDIATE as a Cursor does it on an inline connection: on the loop's thread when
        the write lock is free, else in the thread (it may wait for another process's lock)."""
        if not (self.inline and self.begin_now("BEGIN IMMEDIATE")):
            await self.in_thread(self.sqlite().execute, "BEGIN IMMEDIATE")
        self.began()

    def began(self) -> None:
        """Note that a transaction began (its statements changed no row yet)."""
        self._changes_at_begin = self.sqlite().total_changes

    def _read_only(self) -> bool:
        """Whether the open transaction has changed no row (so far as SQLite counts them)."""
        return self._changes_at_begin is not None and self.sqlite().total_changes == self._changes_at_begin

    async def rollback(self) -> None:
        if not self.in_transaction:
            return
        if self._read_only():
            # Ending a transaction that wrote nothing only lets go of its read snapshot: no
            # lock to wait for, nothing to undo on disk. Every read session ends so (the
            # pool resets the connection with a rollback): one trip to the thread saved.
            self.sqlite().rollback()
        else:
            await self.in_thread(self.sqlite().rollback)
        self._changes_at_begin = None

    async def create_function(self, name: str, num_params: int, func: Callable[..., Any], *,
                              deterministic: bool = False) -> None:
        self.sqlite().create_function(name, num_params, func, deterministic=deterministic)

    async def close(self) -> None:
        """Close (a second close is a no-op, as DBAPI expects); the thread then ends."""
        if self._connection is None:
            return
        conn, self._connection = self._connection, None
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, conn.close)
        finally:
            self._executor.shutdown(wait=False)

    def stop(self) -> None:
        """Close without waiting (SQLAlchemy's terminate outside the loop, e.g. at GC)."""
        if self._connection is None:
            return
        conn, self._connection = self._connection, None
        try:
            self._executor.submit(conn.close)
        except RuntimeError:  # interpreter shutting down: the thread is gone
            conn.close()
        self._executor.shutdown(wait=False)

    # --- incremental blob I/O (sqlite3.Connection.blobopen, Python 3.11) ---------------------

    async def write_blob(self, table: str, column: str, rowid: int, data: bytes) -> None:
        """Fill a zeroblob(len(data)) already in the row, in chunks, in the thread."""

        def write() -> None:
            view = memoryview(data)
            with self.sqlite().blobopen(table, column, rowid) as blob:
                for start in range(0, len(view), BLOB_CHUNK):
                    blob.write(view[start : start + BLOB_CHUNK])

        await self.in_thread(write)

    async def read_blob(self, table: str, column: str, rowid: int) -> bytes:
        def read() -> bytes:
            with self.sqlite().blobopen(table, column, rowid, readonly=True) as blob:
                return blob.read()

        return await self.in_thread(read)


def connector(path: str, *, inline: bool) -> Callable[[], Awaitable[SQLiteConnection]]:
    """An `async_creator` for create_async_engine: a file database, opened as SQLAlchemy's
    pysqlite dialect opens one, with transaction control taken from the sqlite3 module
    (isolation_level=None) so that BEGIN is ours and SAVEPOINT works."""

    long_reads: dict[str, int] = {}  # SQLiteConnection.briefly's memory, for all of them

    async def connect() -> SQLiteConnection:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="maildesk-sqlite")
        try:
            conn = await asyncio.get_running_loop().run_in_executor(
                executor, lambda: sqlite3.connect(path, check_same_thread=False, isolation_level=None))
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return SQLiteConnection(conn, executor, inline, long_reads)

    return connect
