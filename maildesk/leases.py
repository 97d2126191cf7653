"""Leased delivery queues: the claim, lease, backoff and result rules the delivery workers share.

A queued row (an outbox mail, outbound/sender.py; a webhook delivery, webhooks/delivery.py) is
`pending` until its `next_attempt_at`. A worker claims due rows in a short transaction,
marking them `sending` with a lease (`claimed_until`); on PostgreSQL it takes them FOR UPDATE
SKIP LOCKED, so several daemons never claim the same row. It delivers outside any transaction
and records each result in a second one, on the row only while it is still `sending`: done,
`pending` again after a backoff, or `failed`. A daemon that dies mid-attempt leaves a lease
that runs out, and the row is claimed again: delivery is at least once.

What is delivered, and how, stays with each worker; so do its logs and metrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

PENDING = "pending"
SENDING = "sending"
FAILED = "failed"

# A mapped class with the queue columns: id, status, attempts, next_attempt_at, claimed_until.
Row = TypeVar("Row")


def claim_query(model: type[Row], now: datetime, batch: int, *where: Any) -> Select[tuple[Row]]:
    """The oldest `batch` rows that are due, or whose lease ran out, locked for the claim."""
    due = or_(
        and_(model.status == PENDING, model.next_attempt_at <= now),  # type: ignore[attr-defined]
        and_(model.status == SENDING, model.claimed_until < now),  # type: ignore[attr-defined]
    )
    return (
        select(model)
        .where(due, *where)
        .order_by(model.id)  # type: ignore[attr-defined]
        .limit(batch)
        .with_for_update(skip_locked=True)  # ignored by SQLite, whose writes are serialised anyway
    )


def lease(row: Any, now: datetime, duration: timedelta) -> None:
    """Claim one row: `sending` until the lease runs out."""
    row.status, row.claimed_until = SENDING, now + duration


async def still_claimed(session: AsyncSession, model: type[Row], row_id: int) -> Row | None:
    """The row again when its claim still holds; None when it was deleted meanwhile, or its
    lease ran out and another daemon took it (that daemon records the result instead)."""
    row = await session.get(model, row_id)
    if row is None or row.status != SENDING:  # type: ignore[attr-defined]
        return None
    return row


async def still_claimed_many(session: AsyncSession, model: type[Row], row_ids: Sequence[int]) -> dict[int, Row]:
    """`still_claimed` for a batch, in one query: the rows whose claim still holds, by id."""
    if not row_ids:
        return {}
    rows = await session.scalars(select(model).where(model.id.in_(list(row_ids))))  # type: ignore[attr-defined]
    return {row.id: row for row in rows if row.status == SENDING}  # type: ignore[attr-defined]


def settle(row: Any, attempt: int, now: datetime, *, ok: bool, done: str, retry_in: float | None) -> str:
    """Record attempt number `attempt` on a claimed row and return its new status: `done` when
    it succeeded; otherwise `pending` again in `retry_in` seconds, or `failed` when None."""
    row.attempts, row.claimed_until = attempt, None
    if ok:
        row.status = done
    elif retry_in is not None:
        row.status, row.next_attempt_at = PENDING, now + timedelta(seconds=retry_in)
    else:
        row.status = FAILED
    return str(row.status)


def doubling_delay(first: float, attempt: int, most: float) -> float:
    """Exponential backoff: `first` seconds after the first failed attempt, doubling, at most `most`."""
    return min(first * (2 ** max(attempt - 1, 0)), most)


def next_delay(schedule: Sequence[float], attempt: int) -> float | None:
    """Seconds until the next try after `attempt` failed ones; None when the schedule is spent."""
    return schedule[attempt - 1] if 1 <= attempt <= len(schedule) else None
