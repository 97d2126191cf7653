"""The pipeline: turn a stored inbound message into a ticket change.

An ordered tuple of small steps with one signature, `step(rt, job) -> None`, as in GNU Mailman:
parse -> classify -> correlate -> authorise -> apply (mail/pipeline_steps.py). A step ends
processing early by raising `Discard` (the message is kept, marked `ignored` with the reason).
Any other exception marks the message `failed` with the reason; nothing is ever deleted, and
admins can reprocess. This module is the loop around the steps: claim, process, report.

The worker claims messages with SELECT ... FOR UPDATE SKIP LOCKED inside the transaction that
processes them, so several daemons on one PostgreSQL share the work without duplicates, and a
daemon that dies mid-message leaves nothing claimed (its transaction rolls back).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, inspect, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import defer
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.db import BIG_VALUE_BYTES
from maildesk.logs import event
from maildesk.models import InboundMessage, Ticket, utcnow
from maildesk.runtime import Runtime
from maildesk.tickets import notify, rows
from maildesk.workers import run_worker

if TYPE_CHECKING:
    from maildesk.pipeline.steps import Job

log = logging.getLogger("maildesk.pipeline")

_BATCH = 16
_BATCH_BYTES = 32 * 1024 * 1024  # raw bytes one pass loads (at least one message)
_SLICE_SECONDS = 0.25  # one pass commits after this long
_FORCED_SLICE_SECONDS = 0.1  # ... or this long when it runs while SMTP clients wait
_MAX_DEFER_SECONDS = 1.0  # longest the worker holds back for SMTP clients before a slice
_DB_RETRIES = 5  # attempts before a message that keeps hitting database errors is marked failed


@dataclass
class Outcome:
    """What became of one message, reported (logged and counted) once its transaction commits."""

    inbound_id: int
    source: str
    status: str  # processed | ignored | failed
    seconds: float
    how: str | None = None  # new_ticket | reply | automatic, when processed or attached
    ticket: str | None = None
    matched_by: str | None = None
    role: str | None = None
    reason: str | None = None

    def report(self, rt: Runtime) -> None:
        metrics = rt.metrics
        metrics.inbound.labels(self.source, self.status).inc()
        metrics.pipeline_seconds.observe(self.seconds)
        fields = event(f"pipeline.{self.status}", inbound_id=self.inbound_id, status=self.status, how=self.how,
                       ticket=self.ticket, matched_by=self.matched_by, role=self.role, reason=self.reason)
        if self.status == "failed":
            log.error("inbound %s failed: %s", self.inbound_id, self.reason, extra=fields)
        elif self.status == "ignored":
            on = f" (kept on {self.ticket})" if self.ticket else ""
            log.info("inbound %s ignored%s: %s", self.inbound_id, on, self.reason, extra=fields)
        elif self.how == "reply":
            log.info("inbound %s: reply on %s from the %s, matched by %s%s", self.inbound_id, self.ticket,
                     self.role, self.matched_by, f"; {self.reason}" if self.reason else "", extra=fields)
        else:
            log.info("inbound %s: new ticket %s%s", self.inbound_id, self.ticket,
                     f"; {self.reason}" if self.reason else "", extra=fields)


class _Unfinished(Exception):
    """A message of a pass without savepoints did not complete: nothing of the pass can be
    kept (no savepoint to roll back to), so it is rolled back and run again with them."""


async def process(
    rt: Runtime, session: AsyncSession, inbound: InboundMessage, raw: bytes | None = None, *,
    savepoint: bool = True,
) -> Outcome | None:
    """Run every step on one claimed message and record the outcome on it (None: left to retry).
    `raw`: its bytes when already loaded (small messages are, in one query per pass).
    `savepoint`: the steps run in a savepoint, so that a failure is recorded without undoing
    the messages before it; without one, a failure raises _Unfinished instead (run_once),
    unless it came from a step that does not touch the database (a message without a sender
    is ignored in the parse step: recorded at once, and its log line written once)."""
    # Imported on the first message, not at start: the steps pull in the MIME parser, the
    # HTML sanitiser (nh3) and the reply splitter, ~3-4 MB an idle daemon need not hold.
    from maildesk.pipeline.steps import PURE_STEPS, STEPS, Job

    job = Job(inbound=inbound, session=session, service=rt.service(session))
    started, inbound_id, source = time.monotonic(), inbound.id, inbound.source
    # Counted with the outcome, in the same UPDATE (all of it is one transaction: a crash
    # loses both). Read now: a savepoint rolled back below expires the row's attributes.
    attempts = inbound.attempts + 1
    if inbound.ticket_id is not None:
        # Applied on an earlier pass (a ticket or a timeline entry points at it): a second
        # pass would open a second ticket and send a second confirmation. Never twice.
        number = await session.scalar(select(Ticket.ticket_number).where(Ticket.id == inbound.ticket_id))
        inbound.attempts = attempts
        inbound.status = "ignored"
        inbound.reason = f"already applied to {number or 'a ticket'}; not applied again"
        inbound.processed_at = utcnow()
        return
    # On SQLite an UPDATE rewrites the whole row, raw included, in SQLite's own buffers (twice
    # its size for a moment): what is pending (the previous message's outcome, when it failed)
    # is written before the raw bytes are loaded, and this message's outcome after they are
    # dropped (below), not on top of them.
    await _flush_pending(session)
    if raw is None:
        raw = await rt.db.read_blob(session, InboundMessage.__table__.c.raw, inbound.id)
    set_committed_value(inbound, "raw", raw)
    del raw
    step_name = STEPS[0][0]
    try:
        async with session.begin_nested() if savepoint else contextlib.nullcontext():
            for step_name, step in STEPS:
                await step(rt, job)
            left_out = job.parsed.left_out if job.parsed is not None else ()
            job.parsed = None
            session.expire(inbound, ["raw"])
            # The loop's running handle still holds the parse's thread future (and so the
            # parsed attachments) until this task next suspends: let it, before the flush.
            await asyncio.sleep(0)
            # The outcome goes out with the change, last in its savepoint: one UPDATE of the
            # inbound row per message (its ticket, status, attempts together).
            if job.ignored is not None:
                status, reason = "ignored", job.ignored
            else:
                status = "processed"
                if left_out:  # what the ticket does not show
                    job.notes.append("truncated: " + ", ".join(left_out))
                reason = "; ".join(job.notes) or None
            await _record_outcome(session, inbound, job, status=status, reason=reason, attempts=attempts)
    except Exception as exc:
        if not savepoint and step_name not in PURE_STEPS:
            raise _Unfinished() from exc  # said and recorded by the pass with savepoints
        return await _failed(job, exc, step_name, attempts, inbound_id, source, started)
    rows.forget_inserted(session, rolled_back=False)
    return await _outcome(job, inbound_id, source, time.monotonic() - started)


async def _failed(
    job: Job, exc: Exception, step_name: str, attempts: int, inbound_id: int, source: str, started: float
) -> Outcome | None:
    """A message whose steps raised: nothing of its change stays (its savepoint rolled back,
    or it raised before touching the database); record why."""
    from maildesk.pipeline.steps import Discard

    session, inbound = job.session, job.inbound
    if isinstance(exc, Discard):
        inbound.status = "ignored"
        inbound.reason = str(exc)
    elif isinstance(exc, DBAPIError):
        # A deadlock or a unique-key race with another daemon: the savepoint rolled back, so
        # nothing half-done remains; leave the message for the next pass a few times first.
        retry = attempts < _DB_RETRIES
        log.warning("inbound message %s: database error in step %s (%s)", inbound_id, step_name,
                    "will retry" if retry else "giving up")
        inbound.status = "received" if retry else "failed"
        inbound.reason = f"{step_name}: database error: {type(exc.orig).__name__}: {exc.orig}"[:2000]
    else:
        log.error("inbound message %s failed in step %s", inbound_id, step_name, exc_info=exc)
        inbound.status = "failed"
        inbound.reason = f"{step_name}: {type(exc).__name__}: {exc}"[:2000]
    # The savepoint rolled back: nothing of the steps' change stays, the ticket link included
    # (set here, not read: the rollback expired the row's attributes), nor the objects written
    # without the unit of work (tickets/rows.py).
    rows.forget_inserted(session, rolled_back=True)
    inbound.ticket_id = None
    _finish(inbound, job, attempts)
    return await _outcome(job, inbound_id, source, time.monotonic() - started)


async def _flush_pending(session: AsyncSession) -> None:
    """Write what the session holds pending, if anything (a flush with nothing to write still
    costs a hop into SQLAlchemy's greenlet, per message)."""
    if session.new or session.dirty or session.deleted:
        await session.flush()


_INBOUND = InboundMessage.__table__
_OUTCOME_COLUMNS = ("status", "reason", "sender_verified", "ticket_id", "attempts", "classification",
                    "matched_by", "processed_at")
# Built once; a Core UPDATE: the unit of work's flush of the one changed row cost more than
# the write itself.
_OUTCOME = (
    update(_INBOUND).where(_INBOUND.c.id == bindparam("inbound_id"))
    .values({name: bindparam(name) for name in _OUTCOME_COLUMNS})
)


async def _record_outcome(
    session: AsyncSession, inbound: InboundMessage, job: Job, *, status: str, reason: str | None, attempts: int
) -> None:
    """A processed or ignored message's outcome, written after the rest of its change (the
    ORM rows still pending are flushed first, so that any error of theirs comes before), and
    shown on the inbound object as what the row now holds."""
    await _flush_pending(session)
    values = dict(
        status=status,
        reason=reason,
        sender_verified=job.sender_auth.verified,
        ticket_id=job.applied_to,
        attempts=attempts,
        classification=job.classification.kind.value if job.classification is not None else inbound.classification,
        matched_by=job.matched_by,
        processed_at=utcnow(),
    )
    connection = await session.connection()
    await connection.execute(_OUTCOME, {"inbound_id": inbound.id, **values})
    for name, value in values.items():
        set_committed_value(inbound, name, value)


def _finish(inbound: InboundMessage, job: Job, attempts: int) -> None:
    """What every outcome records besides its status and reason."""
    inbound.attempts = attempts
    if job.classification is not None:
        inbound.classification = job.classification.kind.value
    inbound.matched_by = job.matched_by
    inbound.processed_at = utcnow()


async def _outcome(job: Job, inbound_id: int, source: str, seconds: float) -> Outcome | None:
    inbound = job.inbound
    status = inbound.status
    if status == "received":  # a database error; the warning above said it will be retried
        return None
    outcome = Outcome(inbound_id, source, status, seconds, reason=inbound.reason)
    if status == "failed" or (status == "ignored" and job.ignored is None):
        return outcome  # the steps' changes were rolled back: there is no ticket to name
    ticket_id = inbound.ticket_id
    ticket = None
    if ticket_id is not None:
        ticket = _held(job, ticket_id) or await job.session.get(Ticket, ticket_id)
    outcome.ticket = ticket.ticket_number if ticket is not None else None
    if status == "ignored":
        outcome.how, outcome.matched_by = ("automatic" if ticket is not None else None), job.matched_by
    elif job.ticket is not None and ticket is not None and ticket.id == job.ticket.id:
        outcome.how, outcome.matched_by, outcome.role = "reply", job.matched_by, job.role
    else:
        outcome.how = "new_ticket"
    return outcome


def _held(job: Job, ticket_id: int) -> Ticket | None:
    """The ticket of that id the job holds (the one it opened or the one it matched): the
    object session.get would return from the identity map, without the trip into SQLAlchemy's
    greenlet. None when it holds none, or one with expired attributes (get refreshes those)."""
    for held in (job.created, job.ticket):
        if held is not None and not inspect(held).expired_attributes and held.id == ticket_id:
            return held
    return None


async def run_once(rt: Runtime, batch: int = _BATCH, *, yield_to_clients: bool = True) -> int:
    """Claim and process up to `batch` received messages in one transaction; return how many.

    The batch shares one commit (one disk flush) but is bounded three ways: by count, by the
    raw bytes it loads (a batch of big messages must not hold them all in memory at once),
    and by time — it commits after `_SLICE_SECONDS`, or as soon as an SMTP client is waiting
    when `yield_to_clients` (else after `_FORCED_SLICE_SECONDS`), since intake needs the same
    single writer and the same loop.

    A pass runs its messages without a savepoint each (a SAVEPOINT and a RELEASE per message
    saved): should one not complete, the pass is rolled back whole and run again with them, so
    that its failure is recorded without undoing the messages before it. Only the work is
    done twice then (and what a step logs; an attachment file saved in the rolled-back pass
    stays unreferenced, as on any rollback).
    """
    try:
        return await _run_pass(rt, batch, yield_to_clients, savepoints=False)
    except _Unfinished:
        return await _run_pass(rt, batch, yield_to_clients, savepoints=True)


async def _run_pass(rt: Runtime, batch: int, yield_to_clients: bool, *, savepoints: bool) -> int:
    outcomes: list[Outcome] = []
    async with rt.db.write() as session:
        notify.read_admins_once(session)
        candidates = (
            await session.execute(
                select(InboundMessage.id, InboundMessage.size)
                .where(InboundMessage.status == "received")
                .order_by(InboundMessage.id)
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
        ).all()
        ids: list[int] = []
        total = 0
        for message_id, size in candidates:
            if ids and total + (size or 0) > _BATCH_BYTES:
                break
            ids.append(message_id)
            total += size or 0
        if not ids:
            return 0
        # The raw bytes are loaded one message at a time, just before it is processed, and
        # dropped after: small ones in one query, big ones in place (db.read_blob).
        claimed = (
            await session.scalars(
                select(InboundMessage)
                .options(defer(InboundMessage.raw))
                .where(InboundMessage.id.in_(ids))
                .order_by(InboundMessage.id)
            )
        ).all()
        small = [m.id for m in claimed if (m.size or 0) <= BIG_VALUE_BYTES]
        raws = dict((await session.execute(select(InboundMessage.id, InboundMessage.raw).where(
            InboundMessage.id.in_(small)))).all()) if small else {}
        deadline = time.monotonic() + (_SLICE_SECONDS if yield_to_clients else _FORCED_SLICE_SECONDS)
        done = 0
        for inbound in claimed:
            outcome = await process(rt, session, inbound, raws.pop(inbound.id, None), savepoint=savepoints)
            if outcome is not None:
                outcomes.append(outcome)
            session.expire(inbound, ["raw"])  # unchanged; frees the bytes before the next one
            done += 1
            if time.monotonic() > deadline or (yield_to_clients and rt.db.foreground_busy()):
                break  # the rest stay `received` for the next pass
    for outcome in outcomes:  # committed: now it is true to say so
        outcome.report(rt)
    return done


async def worker(rt: Runtime, wake: asyncio.Event, stop: asyncio.Event, poll_seconds: float = 1.0) -> None:
    """Process messages as they arrive until `stop` is set; never dies on an error.

    While SMTP clients are waiting for their 250s the worker holds back (up to
    `_MAX_DEFER_SECONDS`, then it takes one short slice anyway): taking mail in comes first,
    and what is taken in is processed as soon as the burst pauses.
    """
    async def one_pass() -> int:
        quiet = await rt.db.background_turn(_MAX_DEFER_SECONDS)
        return await run_once(rt, yield_to_clients=quiet)

    await run_worker("pipeline", one_pass, wake, stop, poll_seconds)
