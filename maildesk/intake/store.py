"""Intake: store a raw message durably, once, before anyone is told 250.

SMTP and IMAP both hand messages here. Messages arriving at the same moment are written in
one transaction (group commit): each caller still waits for the commit that holds its own
message, but concurrent senders share the cost of the disk flush. A message whose
Message-ID (or, without one, content hash) is already stored is a duplicate: it is not stored
again and the caller is told so, so the sender still gets 250.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import TYPE_CHECKING, Any, Callable

from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from maildesk.db import BIG_VALUE_BYTES, Database
from maildesk.sqlite_conn import BLOB_CHUNK
from maildesk.logs import event
from maildesk.models import InboundMessage, utcnow

if TYPE_CHECKING:
    from maildesk.metrics import Metrics

log = logging.getLogger("maildesk.intake")

_INBOUND = InboundMessage.__table__
_EXISTING = select(_INBOUND.c.id).where(_INBOUND.c.dedupe_key == bindparam("key"))
_MAX_BATCH = 64
_MAX_BATCH_BYTES = 32 * 1024 * 1024
WAKE_PIPELINE = "wake:pipeline"


@dataclass(frozen=True)
class Stored:
    inbound_id: int
    duplicate: bool


@dataclass
class _Item:
    raw: bytes
    envelope_from: str | None
    envelope_to: list[str]
    source: str
    future: asyncio.Future[Stored]


def _no_nul(text: str) -> str:
    """PostgreSQL text cannot hold NUL ("invalid byte sequence ... 0x00"): a NUL in a header
    or the envelope would make every retry of the message fail with 451. The raw bytes keep it."""
    return text.replace("\x00", "")


def _header_value(value: object, limit: int) -> str | None:
    if value is None:
        return None
    text = _no_nul(str(value)).replace("\r", " ").replace("\n", " ").strip()
    return text[:limit] or None


def _envelope_from(value: str | None) -> str | None:
    return None if value is None else _no_nul(value)[:998]


def summarise(raw: bytes) -> tuple[str | None, str | None, str | None]:
    """(Message-ID without <>, raw Subject, raw From) from the header block only; never raises."""
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = raw.find(b"\n\n")
    head = raw if end < 0 else raw[:end]
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(head[: 256 * 1024])
        message_id = _header_value(headers.get("Message-ID"), 990)
        subject = _header_value(headers.get("Subject"), 500)
        sender = _header_value(headers.get("From"), 320)
    except Exception:  # hostile header blocks must not stop intake
        return None, None, None
    if message_id:
        message_id = message_id.strip().strip("<>").strip() or None
    return message_id, subject, sender


def dedupe_key(raw: bytes, message_id: str | None) -> str:
    if message_id:
        return "mid:" + message_id
    return "sha256:" + hashlib.sha256(raw).hexdigest()


class Intake:
    def __init__(self, db: Database, metrics: "Metrics | None" = None) -> None:
        self.db = db
        self.metrics = metrics
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._insert = None
        self._sqlite: _SQLiteInsert | None = None

    async def store(
        self, raw: bytes, *, envelope_from: str | None, envelope_to: list[str], source: str = "smtp"
    ) -> Stored:
        """Return once the message is committed (or known to be a duplicate); raise if it could not be."""
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_loop(), name="intake-writer")
        future: asyncio.Future[Stored] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Item(raw, envelope_from, envelope_to, source, future))
        return await asyncio.shield(future)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            try:
                await self._writer
            except asyncio.CancelledError:
                pass

    async def _write_loop(self) -> None:
        while True:
            # The batch lives in _write_batch's frame, not this one: a local here would keep
            # the last messages' bytes (25 MB for a big one) while the loop waits for the next.
            await self._write_batch(await self._queue.get())

    async def _write_batch(self, first: _Item) -> None:
        batch = [first]
        size = len(first.raw)
        while not self._queue.empty() and len(batch) < _MAX_BATCH and size < _MAX_BATCH_BYTES:
            item = self._queue.get_nowait()
            batch.append(item)
            size += len(item.raw)
        try:
            results = await self._write(batch)
        except Exception as exc:
            if len(batch) > 1:
                # One bad message must not fail its neighbours: retry each on its own.
                for item in batch:
                    try:
                        self._resolve(item, (await self._write([item]))[0])
                    except Exception as item_exc:
                        self._fail(item, item_exc)
            else:
                self._fail(batch[0], exc)
            return
        for item, result in zip(batch, results):
            self._resolve(item, result)

    def _accepted(self, item: _Item, row: dict[str, object], result: Stored) -> None:
        """One line (and a count) per message taken in, once its commit is done; never the body."""
        if self.metrics is not None:
            self.metrics.inbound.labels(item.source, "duplicate" if result.duplicate else "received").inc()
        fields = event(
            "inbound.duplicate" if result.duplicate else "inbound.accepted",
            inbound_id=result.inbound_id, message_id=row["message_id"], **{"from": row["from_addr"]},
            envelope_from=item.envelope_from, size=row["size"], source=item.source,
        )
        mid = f"<{row['message_id']}>" if row["message_id"] else "(none)"
        sender = row["from_addr"] or f"(no From header; envelope {item.envelope_from or '<>'})"
        if result.duplicate:
            log.info("duplicate of inbound %s not stored again: Message-ID %s from %s via %s",
                     result.inbound_id, mid, sender, item.source, extra=fields)
        else:
            log.info("accepted inbound %s: Message-ID %s from %s, %s bytes, via %s", result.inbound_id,
                     mid, sender, row["size"], item.source, extra=fields)

    @staticmethod
    def _resolve(item: _Item, result: Stored) -> None:
        if not item.future.done():
            item.future.set_result(result)

    @staticmethod
    def _fail(item: _Item, exc: BaseException) -> None:
        log.error("could not store an inbound message (%s): %s", type(exc).__name__, exc)
        if not item.future.done():
            item.future.set_exception(exc)

    async def _write(self, batch: list[_Item]) -> list[Stored]:
        # Header summaries are worked out before the write lock is taken; the insert is one
        # Core statement built once (an ORM insert built per message cost more than the write).
        rows = self._rows(batch)
        if self.db.blob_io:
            # A big message's bytes are written in place, in the connection's thread.
            big = any(len(item.raw) > BIG_VALUE_BYTES for item in batch)
            results = await self.db.write_sqlite(self._sqlite_statements().write(rows), in_thread=big)
        else:
            results = await self._write_core(rows)
        for item, row, result in zip(batch, rows, results):  # committed now
            self._accepted(item, row, result)
        return results

    @staticmethod
    def _rows(batch: list[_Item]) -> list[dict[str, object]]:
        rows = []
        for item in batch:
            message_id, subject, sender = summarise(item.raw)
            rows.append(
                dict(
                    dedupe_key=dedupe_key(item.raw, message_id),
                    message_id=message_id,
                    envelope_from=_envelope_from(item.envelope_from),
                    envelope_to=[_no_nul(a) for a in item.envelope_to],
                    source=item.source,
                    raw=item.raw,
                    size=len(item.raw),
                    subject=subject,
                    from_addr=sender,
                    status="received",
                    attempts=0,
                    received_at=utcnow(),
                )
            )
        return rows

    async def _write_core(self, rows: list[dict[str, object]]) -> list[Stored]:
        """The batch through SQLAlchemy on a write connection (PostgreSQL; SQLite without
        maildesk's own connection, e.g. in memory)."""
        statement = self._insert_statement()
        results: list[Stored] = []
        async with self.db.write_connection() as write:  # Core only: no ORM session to set up
            connection = write.connection
            for row in rows:
                raw = row["raw"]
                big = self.db.blob_io and len(raw) > BIG_VALUE_BYTES
                if big:  # a zeroblob now, the bytes written in place below (db.write_blob)
                    row = {**row, "raw": func.zeroblob(len(raw))}
                    new_id = (await connection.execute(self._insert_statement().values(row))).scalar()
                else:
                    new_id = (await connection.execute(statement, row)).scalar()
                if new_id is not None and big:
                    await self.db.write_blob(connection, _INBOUND.c.raw, int(new_id), raw)
                if new_id is None:
                    existing = await connection.scalar(_EXISTING, {"key": row["dedupe_key"]})
                    results.append(Stored(int(existing or 0), duplicate=True))
                else:
                    results.append(Stored(int(new_id), duplicate=False))
            if any(not r.duplicate for r in results):
                write.info[WAKE_PIPELINE] = True
        return results

    def _sqlite_statements(self) -> "_SQLiteInsert":
        if self._sqlite is None:
            self._sqlite = _SQLiteInsert(self.db.write_engine.dialect)
        return self._sqlite

    def _insert_statement(self):  # type: ignore[no-untyped-def]
        if self._insert is None:
            insert = sqlite_insert if self.db.is_sqlite else pg_insert
            table = InboundMessage.__table__
            self._insert = (
                insert(table).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(table.c.id)
            )
        return self._insert


class _SQLiteInsert:
    """The intake insert and duplicate lookup as SQLite text and parameter order, compiled once
    by SQLAlchemy (so the SQL and every stored value are exactly what the Core statement
    writes: each column's own bind processor, TypeEngine.dialect_impl().bind_processor), for a
    batch run whole on the write connection's thread (Database.write_sqlite)."""

    def __init__(self, dialect: Any) -> None:
        columns = ["dedupe_key", "message_id", "envelope_from", "envelope_to", "source", "raw", "size",
                   "subject", "from_addr", "status", "attempts", "received_at"]
        conflict = dict(index_elements=["dedupe_key"])
        values = {name: bindparam(name) for name in columns}
        self.insert, self.order = self._compile(
            sqlite_insert(_INBOUND).values(values).on_conflict_do_nothing(**conflict).returning(_INBOUND.c.id), dialect)
        # A big message: a zeroblob of its length now, the bytes written in place (blobopen).
        big = {**values, "raw": func.zeroblob(bindparam("raw_length"))}
        self.insert_big, self.order_big = self._compile(
            sqlite_insert(_INBOUND).values(big).on_conflict_do_nothing(**conflict).returning(_INBOUND.c.id), dialect)
        self.existing, self.order_existing = self._compile(_EXISTING, dialect)
        self.process = {}
        for name in columns:
            processor = _INBOUND.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                self.process[name] = processor

    @staticmethod
    def _compile(statement: Any, dialect: Any) -> tuple[str, tuple[str, ...]]:
        compiled = statement.compile(dialect=dialect)
        return compiled.string, tuple(compiled.positiontup or ())

    def _parameters(self, row: dict[str, object], order: tuple[str, ...]) -> list[object]:
        process = self.process
        return [process[name](row[name]) if name in process else row[name] for name in order]

    def write(self, rows: list[dict[str, object]]) -> Callable[[sqlite3.Connection, dict[str, Any]], list[Stored]]:
        """The work for Database.write_sqlite: insert each row (a duplicate is looked up)."""

        def work(connection: sqlite3.Connection, info: dict[str, Any]) -> list[Stored]:
            results: list[Stored] = []
            for row in rows:
                raw = row["raw"]
                assert isinstance(raw, bytes)
                if len(raw) > BIG_VALUE_BYTES:
                    parameters = self._parameters({**row, "raw_length": len(raw)}, self.order_big)
                    new = connection.execute(self.insert_big, parameters).fetchone()
                    if new is not None:
                        _write_blob(connection, int(new[0]), raw)
                else:
                    new = connection.execute(self.insert, self._parameters(row, self.order)).fetchone()
                if new is None:
                    existing = connection.execute(self.existing, (row["dedupe_key"],)).fetchone()
                    results.append(Stored(int(existing[0]) if existing else 0, duplicate=True))
                else:
                    results.append(Stored(int(new[0]), duplicate=False))
                    info[WAKE_PIPELINE] = True
            return results

        return work


def _write_blob(connection: sqlite3.Connection, rowid: int, data: bytes) -> None:
    """Fill the row's zeroblob in chunks, as SQLiteConnection.write_blob does."""
    view = memoryview(data)
    with connection.blobopen(_INBOUND.name, "raw", rowid) as blob:
        for start in range(0, len(view), BLOB_CHUNK):
            blob.write(view[start : start + BLOB_CHUNK])
