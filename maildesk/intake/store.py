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
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from maildesk.db import BIG_VALUE_BYTES, Database
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
        for item, row, result in zip(batch, rows, results):  # committed now
            self._accepted(item, row, result)
        return results

    def _insert_statement(self):  # type: ignore[no-untyped-def]
        if self._insert is None:
            insert = sqlite_insert if self.db.is_sqlite else pg_insert
            table = InboundMessage.__table__
            self._insert = (
                insert(table).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(table.c.id)
            )
        return self._insert
