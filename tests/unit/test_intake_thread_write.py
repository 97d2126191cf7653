"""Intake on SQLite: a batch of arriving mail runs on the sqlite3 connection, not through SQLAlchemy.

BEGIN IMMEDIATE, the inserts (and a duplicate's lookup) and the COMMIT run as plain sqlite3
statements (Database.write_sqlite): SQLAlchemy's per-statement cost was most of a batch's.
COMMIT still waits for the disk in the connection's thread. The rows must be exactly those the
Core statement writes: the same batch (new mail, a duplicate, a message without Message-ID, one over 1 MB
written in place) is stored through both paths and every column compared with its SQLite type.
Watched with sqlite3's trace callback on the write engine's connections.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import event

from maildesk.db import Database, migrate
from maildesk.intake.store import Intake, Stored
from maildesk.sqlite_conn import SQLiteConnection

SUPPORT = "support@example.com"


def _mail(message_id: str | None, subject: str, body: bytes = b"Hello.\r\n") -> bytes:
    head = f"From: Ada <ada@example.org>\r\nTo: {SUPPORT}\r\nSubject: {subject}\r\n"
    if message_id:
        head += f"Message-ID: <{message_id}>\r\n"
    return head.encode() + b"\r\n" + body


BATCH = [
    (_mail("one@example.org", "Printer on fire"), "ada@example.org"),
    (_mail("two@example.org", "Caf\u00e9 r\u00e9sum\u00e9 =?utf-8?q?x?="), None),
    (_mail("one@example.org", "Printer on fire"), "ada@example.org"),  # a duplicate of the first
    (_mail(None, "No Message-ID"), "bob@example.org"),
    (_mail("big@example.org", "Big", b"x" * (1024 * 1024 + 10) + b"\r\n"), "cy@example.org"),
]


async def _store_batch(db: Database, thread_path: bool, statements: list[tuple[int, str]]) -> list[Stored]:
    @event.listens_for(db.write_engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        driver = dbapi_connection.driver_connection
        assert isinstance(driver, SQLiteConnection)
        driver.sqlite().set_trace_callback(lambda sql: statements.append((threading.get_ident(), sql.strip())))

    @event.listens_for(db.write_engine.sync_engine, "before_cursor_execute")
    def _through_sqlalchemy(*_args: Any) -> None:
        statements.append((0, "SQLAlchemy"))

    db.blob_io = thread_path  # False: the Core path PostgreSQL (and in-memory SQLite) takes
    intake = Intake(db)
    try:
        # All queued before the writer runs: one batch, one transaction.
        return list(await asyncio.gather(*(
            intake.store(raw, envelope_from=sender, envelope_to=[SUPPORT]) for raw, sender in BATCH)))
    finally:
        await intake.close()
        await db.dispose()


def _rows(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(inbound_messages)")]
        picked = ", ".join(f"{c}, typeof({c})" for c in columns if c != "received_at")
        return conn.execute(f"SELECT {picked}, typeof(received_at), length(received_at) "
                            "FROM inbound_messages ORDER BY id").fetchall()


def test_a_batch_is_one_trip_to_the_thread_and_stores_the_same_rows(tmp_path: Path) -> None:
    results = {}
    traced: dict[bool, list[tuple[int, str]]] = {}
    for thread_path in (False, True):
        path = tmp_path / f"{thread_path}.db"
        migrate(f"sqlite:///{path}")
        traced[thread_path] = []

        async def go() -> list[Stored]:
            loop_thread = threading.get_ident()
            stored = await _store_batch(Database(f"sqlite:///{path}"), thread_path, traced[thread_path])
            traced[thread_path] = [(t != loop_thread, sql) for t, sql in traced[thread_path]]
            return stored

        results[thread_path] = (asyncio.run(go()), _rows(path))

    (stored_core, rows_core), (stored_thread, rows_thread) = results[False], results[True]
    assert [s.duplicate for s in stored_thread] == [False, False, True, False, False]
    assert stored_thread == stored_core and stored_thread[2].inbound_id == stored_thread[0].inbound_id
    assert rows_thread == rows_core and len(rows_thread) == 4

    # One BEGIN IMMEDIATE ... COMMIT, no statement through SQLAlchemy; the COMMIT (and, for a
    # batch holding a big message, the inserts) in the connection's thread.
    assert ("SQLAlchemy" in [sql for _, sql in traced[False]]) and "SQLAlchemy" not in [sql for _, sql in traced[True]]
    transaction = [(off_loop, sql) for off_loop, sql in traced[True] if not sql.startswith("PRAGMA")]
    assert transaction[0][1] == "BEGIN IMMEDIATE" and transaction[-1] == (True, "COMMIT")
    inserts = [off_loop for off_loop, sql in transaction if sql.startswith("INSERT")]
    assert inserts == [True] * 5
