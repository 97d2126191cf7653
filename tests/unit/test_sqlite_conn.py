"""maildesk's SQLite connection (maildesk/sqlite_conn.py) behaves as stock aiosqlite does under
SQLAlchemy (issue 14).

The same statements run through SQLAlchemy's default aiosqlite connection and through
maildesk's (db.py builds both: a URL with options is left to SQLAlchemy) and what a caller sees
is compared: rows, column names, rowcount, lastrowid, errors, transaction and savepoint
behaviour, the write lock BEGIN IMMEDIATE takes, streaming results, SQLAlchemy's regexp
function, invalidation. SQLAlchemy is pinned <2.2 because this call pattern is what the connection implements;
a release that calls the driver differently fails here.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Integer, LargeBinary, MetaData, String, Table, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from maildesk.db import Database, _sqlite_engine
from maildesk.sqlite_conn import SQLiteConnection

metadata = MetaData()
items = Table(
    "items", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String, unique=True, nullable=False),
    Column("n", Integer),
)
blobs = Table("blobs", metadata, Column("id", Integer, primary_key=True), Column("raw", LargeBinary))


def _engine(path: Path, *, stock: bool, immediate: bool) -> AsyncEngine:
    # `?timeout=30` (a pysqlite option): db.py leaves such a URL to SQLAlchemy's own aiosqlite connection.
    url = f"sqlite+aiosqlite:///{path}" + ("?timeout=30" if stock else "")
    return _sqlite_engine(url, immediate=immediate, pool_size=1)


def _lock_free(path: Path) -> bool:
    """Whether another connection could take the write lock right now."""
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
        return False
    finally:
        other.close()


async def _scenario(engine: AsyncEngine, path: Path) -> list[Any]:
    seen: list[Any] = []
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    async with engine.begin() as conn:
        seen.append(("lock taken by BEGIN", not _lock_free(path)))
        one = await conn.execute(insert(items).values(name="alpha", n=1))
        seen.append(("lastrowid", one.lastrowid, "rowcount", one.rowcount))
        many = await conn.execute(insert(items), [{"name": "beta", "n": 2}, {"name": "gamma", "n": 3}])
        seen.append(("executemany rowcount", many.rowcount))
        seen.append(("lock held after a write", not _lock_free(path)))
    seen.append(("lock free after COMMIT", _lock_free(path)))
    async with engine.connect() as conn:
        result = await conn.execute(select(items).order_by(items.c.id))
        seen.append(("columns", list(result.keys())))
        seen.append(("rows", [tuple(r) for r in result]))
        seen.append(("no rows", (await conn.execute(select(items).where(items.c.n > 9))).all()))
        seen.append(("regexp", (await conn.execute(select(items.c.name).where(items.c.name.regexp_match("^[bg]"))
                                                   .order_by(items.c.name))).scalars().all()))
        streamed = await conn.stream(select(items.c.name).order_by(items.c.id))
        seen.append(("streamed", [row[0] async for row in streamed]))
        seen.append(("in transaction after a read", conn.in_transaction()))
    # A rollback leaves nothing, and the lock goes with it.
    async with engine.connect() as conn:
        await conn.begin()
        changed = await conn.execute(update(items).where(items.c.n >= 2).values(n=items.c.n + 10))
        seen.append(("update rowcount", changed.rowcount))
        await conn.execute(insert(items).values(name="delta", n=4))
        await conn.rollback()
    seen.append(("lock free after ROLLBACK", _lock_free(path)))
    async with engine.connect() as conn:
        seen.append(("after rollback", (await conn.execute(select(items.c.name, items.c.n).order_by(items.c.id))).all()))
    # A savepoint's rollback undoes only its own part; an error names the same DBAPI class.
    async with engine.begin() as conn:
        await conn.execute(insert(items).values(name="kept", n=5))
        try:
            async with conn.begin_nested():
                await conn.execute(insert(items).values(name="dropped", n=6))
                await conn.execute(insert(items).values(name="alpha", n=7))
        except IntegrityError as exc:
            seen.append(("error", type(exc.orig).__module__, type(exc.orig).__name__, str(exc.orig)))
    async with engine.connect() as conn:
        seen.append(("after savepoint", (await conn.execute(select(items.c.name).order_by(items.c.id))).scalars().all()))
        seen.append(("count", (await conn.execute(select(func.count()).select_from(items))).scalar_one()))
    # An invalidated connection (SQLAlchemy's terminate or close) is replaced by a working one.
    async with engine.connect() as conn:
        await conn.begin()
        await conn.execute(insert(items).values(name="lost", n=8))
        await conn.invalidate()
    seen.append(("lock free after invalidate", _lock_free(path)))
    async with engine.connect() as conn:
        seen.append(("count after invalidate", (await conn.execute(select(func.count()).select_from(items))).scalar_one()))
    await engine.dispose()
    return seen


@pytest.mark.parametrize("immediate", [True, False], ids=["write-engine-inline", "read-engine-thread"])
def test_maildesk_connection_matches_stock_aiosqlite(tmp_path: Path, immediate: bool) -> None:
    stock = asyncio.run(_scenario(_engine(tmp_path / "stock.db", stock=True, immediate=immediate), tmp_path / "stock.db"))
    ours = asyncio.run(_scenario(_engine(tmp_path / "ours.db", stock=False, immediate=immediate), tmp_path / "ours.db"))
    assert ours == stock
    # And what both see is right (so the comparison is not between two broken runs).
    facts = {entry[0]: entry[1:] for entry in ours}
    assert facts["lock taken by BEGIN"] == (immediate,)  # BEGIN IMMEDIATE on the write engine only
    assert facts["lock held after a write"] == (True,) and facts["lock free after COMMIT"] == (True,)
    assert facts["lastrowid"] == (1, "rowcount", 1) and facts["executemany rowcount"] == (2,)
    assert facts["rows"] == ([(1, "alpha", 1), (2, "beta", 2), (3, "gamma", 3)],)
    assert facts["regexp"] == (["beta", "gamma"],) and facts["streamed"] == (["alpha", "beta", "gamma"],)
    assert facts["update rowcount"] == (2,) and facts["lock free after ROLLBACK"] == (True,)
    assert facts["after rollback"] == ([("alpha", 1), ("beta", 2), ("gamma", 3)],)
    assert facts["error"][1] == "IntegrityError"
    assert facts["after savepoint"] == (["alpha", "beta", "gamma", "kept"],)
    assert facts["lock free after invalidate"] == (True,) and facts["count after invalidate"] == (4,)


def test_the_write_engine_waits_for_another_writer_off_the_loop(tmp_path: Path) -> None:
    """While another process holds the write lock, BEGIN IMMEDIATE waits in the connection's
    thread (busy_timeout): the event loop keeps serving; the transaction runs once the lock is free."""
    path = tmp_path / "md.db"

    async def run() -> None:
        engine = _engine(path, stock=False, immediate=True)
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")

        async def write() -> None:
            async with engine.begin() as conn:
                await conn.execute(insert(items).values(name="after the blocker", n=1))

        task = asyncio.create_task(write())
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.sleep(0.2)  # the loop serves this timer while the BEGIN waits
        assert loop.time() - started < 5 and not task.done()
        blocker.execute("INSERT INTO items (name, n) VALUES ('blocker', 0)")
        blocker.execute("COMMIT")
        await asyncio.wait_for(task, 30)
        blocker.close()
        async with engine.connect() as conn:
            names = (await conn.execute(select(items.c.name).order_by(items.c.id))).scalars().all()
        assert names == ["blocker", "after the blocker"]
        await engine.dispose()

    asyncio.run(run())


def test_blob_io_through_the_public_sqlite3_api(tmp_path: Path) -> None:
    """Database.write_blob/read_blob fill and read a value in place on maildesk's connection."""
    data = bytes(range(256)) * (3 * 4096 + 17)  # ~3 MB: several chunks, not a multiple of one

    async def run() -> tuple[bytes, bytes]:
        db = Database(f"sqlite:///{tmp_path / 'md.db'}")
        assert db.blob_io
        async with db.write() as session:
            await (await session.connection()).run_sync(metadata.create_all)
        async with db.write() as session:
            new_id = (await session.execute(insert(blobs).values(raw=func.zeroblob(len(data))))).inserted_primary_key[0]
            await db.write_blob(session, blobs.c.raw, new_id, data)
            raw = await (await session.connection()).get_raw_connection()
            assert isinstance(raw.driver_connection, SQLiteConnection)
        async with db.read() as session:
            in_place = await db.read_blob(session, blobs.c.raw, new_id)
            selected = await session.scalar(select(blobs.c.raw).where(blobs.c.id == new_id))
        await db.dispose()
        return in_place, selected

    in_place, selected = asyncio.run(run())
    assert in_place == data and selected == data
