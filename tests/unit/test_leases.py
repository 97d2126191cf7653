"""The shared delivery-queue rules (maildesk/leases.py) on a real, migrated database.

Which rows a worker claims (due ones and those whose lease ran out, oldest first, never one
another worker holds), how a result is recorded, and the two backoff schedules. Runs on
SQLite, and on PostgreSQL under MAILDESK_TEST_DATABASE_URL.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from maildesk import leases
from maildesk.db import Database
from maildesk.models import OutboundMessage, utcnow
from tests.support import on_new_database


def _row(n: int, status: str, next_in: float, lease_left: float | None) -> OutboundMessage:
    now = utcnow()
    return OutboundMessage(
        kind="update", to_addr=f"user{n}@example.net", message_id=f"<lease-{n}@example.net>",
        subject=f"row {n}", raw=b"Subject: x\r\n\r\nx\r\n", status=status,
        next_attempt_at=now + timedelta(seconds=next_in),
        claimed_until=None if lease_left is None else now + timedelta(seconds=lease_left),
    )


def test_claim_lease_and_settle(tmp_path: Path) -> None:

    async def go(db: Database) -> None:
        async with db.write() as session:
            rows = [
                _row(1, "pending", -5, None),  # due
                _row(2, "pending", 600, None),  # waits for its backoff
                _row(3, "sending", -60, -1),  # its worker died: the lease ran out
                _row(4, "sending", -60, 300),  # another worker holds it
                _row(5, "sent", -60, None),
                _row(6, "pending", -1, None),  # due
            ]
            session.add_all(rows)
        ids = [r.id for r in rows]

        now = utcnow()
        async with db.write() as session:
            claimed = (await session.scalars(leases.claim_query(OutboundMessage, now, 50))).all()
            assert [r.id for r in claimed] == [ids[0], ids[2], ids[5]]
            for row in claimed:
                leases.lease(row, now, timedelta(minutes=5))
        async with db.write() as session:
            # Claimed rows are held now: a second worker finds nothing to take.
            assert (await session.scalars(leases.claim_query(OutboundMessage, utcnow(), 50))).all() == []

        async with db.write() as session:
            # A batch's results are recorded on the rows still claimed, read in one query:
            # the sent row and an id that does not exist are left out.
            held = await leases.still_claimed_many(session, OutboundMessage, [*ids, max(ids) + 100])
            assert sorted(held) == [ids[0], ids[2], ids[3], ids[5]]
            assert await leases.still_claimed_many(session, OutboundMessage, []) == {}
        async with db.write() as session:
            first = await leases.still_claimed(session, OutboundMessage, ids[0])
            third = await leases.still_claimed(session, OutboundMessage, ids[2])
            sixth = await leases.still_claimed(session, OutboundMessage, ids[5])
            assert first is not None and third is not None and sixth is not None
            assert await leases.still_claimed(session, OutboundMessage, ids[4]) is None  # sent, not ours
            assert leases.settle(first, 1, now, ok=True, done="sent", retry_in=30) == "sent"
            assert leases.settle(third, 2, now, ok=False, done="sent", retry_in=60) == "pending"
            assert leases.settle(sixth, 7, now, ok=False, done="sent", retry_in=None) == "failed"

        async with db.read() as session:
            got = {i: await session.get(OutboundMessage, i) for i in (ids[0], ids[2], ids[5])}
        assert all(row is not None for row in got.values())
        assert (got[ids[0]].status, got[ids[0]].attempts, got[ids[0]].claimed_until) == ("sent", 1, None)
        assert (got[ids[2]].status, got[ids[2]].attempts) == ("pending", 2)
        assert got[ids[2]].next_attempt_at == now + timedelta(seconds=60)
        assert (got[ids[5]].status, got[ids[5]].attempts, got[ids[5]].claimed_until) == ("failed", 7, None)
        # The retried row is due again once its backoff has passed (one row per batch here).
        async with db.write() as session:
            later = (await session.scalars(
                leases.claim_query(OutboundMessage, now + timedelta(seconds=61), 1)
            )).all()
            assert [r.id for r in later] == [ids[2]]

    on_new_database(tmp_path, go)


def test_backoff_schedules() -> None:
    # The outbox: MAILDESK_OUTBOX_RETRY_SECONDS, doubling, at most an hour.
    assert [leases.doubling_delay(30, n, 3600) for n in (1, 2, 3, 4, 7, 8, 20)] == [
        30, 60, 120, 240, 1920, 3600, 3600]
    # Webhooks: a fixed schedule, then no more tries.
    assert [leases.next_delay((5.0, 300.0), n) for n in (1, 2, 3)] == [5.0, 300.0, None]
