"""The outbox sender: delivers queued mail to the relay (or to .eml files), with retries.

Rows are claimed, leased and settled as maildesk/leases.py describes (a short claim
transaction, SKIP LOCKED, delivery outside any transaction, the result recorded in a second
one). A relay that is down or answers 4xx is retried with exponential backoff; a 5xx
refusal, or a message still undelivered after MAILDESK_OUTBOX_MAX_AGE_HOURS, is marked
`failed` with the reason. A daemon that dies mid-send leaves a lease that expires, after
which the row is sent again: delivery is at least once, with the same Message-ID.

Each message leaves with its own envelope sender, support+bounce-<id>-<tag>@ (VERP, see
bounces.py), so a bounce names the row it reports. A row whose address was suppressed after
it was queued is not sent, and a relay's permanent refusal of a recipient counts as a hard
bounce of that address.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import aiosmtplib
from sqlalchemy import and_, bindparam, or_, select, update

from maildesk import leases
from maildesk.config import Settings
from maildesk.logs import event
from maildesk.outbound import bounces
from maildesk.models import OutboundMessage, utcnow
from maildesk.private import private_dir, write_private
from maildesk.context import Context
from maildesk.workers import run_worker

log = logging.getLogger("maildesk.sender")

_BATCH = 50
_MAX_DEFER_SECONDS = 1.0
_LEASE = timedelta(minutes=5)
_MAX_BACKOFF_SECONDS = 3600.0


@dataclass
class _Job:
    id: int
    to_addr: str
    raw: bytes
    kind: str
    attempts: int
    age_hours: float


@dataclass
class _Result:
    ok: bool
    permanent: bool = False
    error: str | None = None
    refused_status: str | None = None  # RFC 3463 code of a permanent refusal of the recipient
    reply: str | None = None  # the relay's answer to the message (or where the .eml went)


# The claim and the results as Core statements on the outbox table, built once (the compiled
# cache then hits): the ORM loaded every claimed row into the session and flushed one UPDATE
# per row, twice per message. What the statements write follows leases.py's rules (lease,
# settle), applied to a plain record of the columns they set.
_OUTBOX = OutboundMessage.__table__
_CLAIM = (
    select(_OUTBOX.c.id, _OUTBOX.c.to_addr, _OUTBOX.c.raw, _OUTBOX.c.kind, _OUTBOX.c.attempts, _OUTBOX.c.created_at)
    .where(or_(
        and_(_OUTBOX.c.status == leases.PENDING, _OUTBOX.c.next_attempt_at <= bindparam("now")),
        and_(_OUTBOX.c.status == leases.SENDING, _OUTBOX.c.claimed_until < bindparam("now")),
    ))
    .order_by(_OUTBOX.c.id)
    .limit(_BATCH)
    .with_for_update(skip_locked=True)  # several daemons never claim the same row (SQLite ignores it)
)
_LEASE_ROWS = (
    update(_OUTBOX).where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
    .values(status=bindparam("new_status"), claimed_until=bindparam("until"))
)
_HOLD = (
    update(_OUTBOX).where(_OUTBOX.c.id == bindparam("row_id"))
    .values(status="suppressed", claimed_until=None, last_error=bindparam("error"))
)
_STILL_CLAIMED = select(_OUTBOX.c.id).where(
    _OUTBOX.c.id.in_(bindparam("ids", expanding=True)), _OUTBOX.c.status == leases.SENDING
)
_SETTLED = update(_OUTBOX).where(_OUTBOX.c.id == bindparam("row_id"))
_SETTLE_SENT = _SETTLED.values(status=bindparam("new_status"), attempts=bindparam("attempt"), claimed_until=None,
                               last_error=bindparam("error"), sent_at=bindparam("at"))
_SETTLE_RETRY = _SETTLED.values(status=bindparam("new_status"), attempts=bindparam("attempt"), claimed_until=None,
                                last_error=bindparam("error"), next_attempt_at=bindparam("at"))
_SETTLE_FAILED = _SETTLED.values(status=bindparam("new_status"), attempts=bindparam("attempt"), claimed_until=None,
                                 last_error=bindparam("error"))


class _Lease:
    """The queue columns leases.lease/settle set, for the statements above to write."""

    status: str
    attempts: int
    claimed_until: datetime | None
    next_attempt_at: datetime


def backoff_seconds(settings: Settings, attempts: int) -> float:
    """MAILDESK_OUTBOX_RETRY_SECONDS after the first failed attempt, doubling, at most an hour."""
    return leases.doubling_delay(settings.outbox_retry_seconds, attempts, _MAX_BACKOFF_SECONDS)


class Sender:
    def __init__(self, rt: Context) -> None:
        self.rt = rt
        self.settings = rt.settings
        self._suppressed: list[tuple[int, str, str, str]] = []  # claimed but not sent, to report

    async def _claim(self) -> list[_Job]:
        now = utcnow()
        async with self.rt.db.write() as session:
            connection = await session.connection()
            rows = (await connection.execute(_CLAIM, {"now": now})).all()
            jobs = []
            suppressed = await bounces.active_suppressions(session, (row.to_addr for row in rows))
            held: list[dict[str, object]] = []
            for row in rows:
                if row.to_addr in suppressed:
                    # Suppressed after this row was queued: keep it, with the reason, unsent.
                    error = f"not sent: {row.to_addr} is suppressed ({suppressed[row.to_addr]})"
                    held.append({"row_id": row.id, "error": error})
                    self._suppressed.append((row.id, row.to_addr, row.kind, error))
                    continue
                jobs.append(
                    _Job(row.id, row.to_addr, row.raw, row.kind, row.attempts,
                         (now - row.created_at).total_seconds() / 3600)
                )
            if held:
                await connection.execute(_HOLD, held)
            if jobs:
                lease = _Lease()
                leases.lease(lease, now, _LEASE)
                await connection.execute(_LEASE_ROWS, {"ids": [job.id for job in jobs], "new_status": lease.status,
                                                       "until": lease.claimed_until})
            return jobs

    async def _record(self, jobs: list[_Job], results: list[_Result]) -> None:
        now = utcnow()
        attempts: list[tuple[_Job, _Result, str, object]] = []  # reported once committed
        async with self.rt.db.write() as session:
            connection = await session.connection()
            held = set((await connection.scalars(_STILL_CLAIMED, {"ids": [job.id for job in jobs]})).all()) \
                if jobs else set()
            settled: dict[str, list[dict[str, object]]] = {}
            for job, result in zip(jobs, results):
                if job.id not in held:
                    continue
                attempt = job.attempts + 1
                give_up = result.permanent or job.age_hours >= self.settings.outbox_max_age_hours
                retry_in = None if give_up else backoff_seconds(self.settings, attempt)
                row = _Lease()
                status = leases.settle(row, attempt, now, ok=result.ok, done="sent", retry_in=retry_in)
                values: dict[str, object] = {"row_id": job.id, "new_status": status, "attempt": attempt,
                                             "error": None if result.ok else result.error}
                if status == "sent":
                    values["at"] = now
                    attempts.append((job, result, "sent", None))
                elif status == leases.FAILED:
                    attempts.append((job, result, "failed", None))
                    if result.refused_status:
                        await bounces.record_hard_failure(session, job.to_addr, result.refused_status, result.error or "")
                else:
                    values["at"] = row.next_attempt_at
                    attempts.append((job, result, "retry", row.next_attempt_at))
                settled.setdefault(status, []).append(values)
            for status, values_list in settled.items():
                statement = _SETTLE_SENT if status == "sent" else _SETTLE_FAILED if status == leases.FAILED \
                    else _SETTLE_RETRY
                await connection.execute(statement, values_list)
        for job, result, status, next_at in attempts:
            self._report(job.id, job.to_addr, job.kind, status, result.reply, result.error, next_at, job.attempts + 1)

    def _report(self, outbound_id: int, to: str, kind: str, status: str, reply: str | None, error: str | None,
                next_at: object, attempt: int | None) -> None:
        """One line and one count per delivery attempt: kind and recipient, never the message."""
        self.rt.metrics.outbound.labels(kind, status).inc()
        fields = event(f"outbound.{status}", outbound_id=outbound_id, to=to, kind=kind, status=status,
                       attempt=attempt, reply=reply, error=error, next_attempt_at=next_at)
        if status == "sent":
            log.info("delivered outbound %s (%s) to %s: %s", outbound_id, kind, to, reply, extra=fields)
        elif status == "retry":
            log.warning("outbound %s (%s) to %s not delivered (attempt %s): %s; next try at %s",
                        outbound_id, kind, to, attempt, error, next_at, extra=fields)
        else:
            log.warning("outbound %s (%s) to %s %s: %s", outbound_id, kind, to, status, error, extra=fields)

    async def run_once(self) -> int:
        jobs = await self._claim()
        for outbound_id, to, kind, reason in self._suppressed:  # committed by _claim
            self._report(outbound_id, to, kind, "suppressed", None, reason, None, None)
        self._suppressed.clear()
        if not jobs:
            return 0
        if self.settings.relay is None:
            results = [self._write_file(job) for job in jobs]
        else:
            results = await self._relay(jobs)
        await self._record(jobs, results)
        return len(jobs)

    def _write_file(self, job: _Job) -> _Result:
        directory: Path = self.settings.outbox_dir
        try:
            private_dir(directory)
            # Owner-only: these files carry live sign-in links.
            path = directory / f"{job.id:08d}-{job.kind}.eml"
            write_private(path, job.raw)
            return _Result(ok=True, reply=f"written to {path}")
        except OSError as exc:
            return _Result(ok=False, error=f"cannot write {directory}: {exc}")

    async def _relay(self, jobs: list[_Job]) -> list[_Result]:
        relay = self.settings.relay
        assert relay is not None
        client = aiosmtplib.SMTP(
            hostname=relay.host,
            port=relay.port,
            use_tls=relay.use_tls,
            start_tls=relay.starttls,
            timeout=30,
        )
        try:
            await client.connect()
            if relay.username:
                await client.login(relay.username, relay.password or "")
        except (aiosmtplib.SMTPException, OSError) as exc:
            error = f"relay {relay.host}:{relay.port} unavailable: {type(exc).__name__}: {exc}"
            log.warning("%s; %d messages will be retried", error, len(jobs))
            return [_Result(ok=False, error=error) for _ in jobs]
        results: list[_Result] = []
        try:
            for job in jobs:
                results.append(await self._send_one(client, job))
        finally:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()
        return results

    async def _send_one(self, client: aiosmtplib.SMTP, job: _Job) -> _Result:
        try:
            if not client.is_connected:
                await client.connect()
            _errors, reply = await client.sendmail(bounces.verp_address(self.settings, job.id), [job.to_addr], job.raw)
            return _Result(ok=True, reply=" ".join(str(reply).split())[:300])
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            permanent = all(500 <= c < 600 for c in codes)
            # Only an explicit RFC 3463 code says the refusal is about the address (5.1.1) and
            # not, say, a relay that refuses to relay (5.7.1 or no code): count only those.
            status = bounces.enhanced_status(" ".join(r.message for r in exc.recipients)) if permanent else None
            return _Result(ok=False, permanent=permanent, error=f"relay refused {job.to_addr}: {exc}",
                           refused_status=status)
        except aiosmtplib.SMTPResponseException as exc:
            return _Result(ok=False, permanent=500 <= exc.code < 600, error=f"relay answered {exc.code} {exc.message}")
        except (aiosmtplib.SMTPException, OSError) as exc:
            return _Result(ok=False, error=f"relay error: {type(exc).__name__}: {exc}")


async def worker(rt: Context, wake: asyncio.Event, stop: asyncio.Event, poll_seconds: float = 1.0) -> None:
    sender = Sender(rt)

    async def one_pass() -> int:
        # Like the pipeline, hold back while SMTP clients wait for their 250s (bounded).
        await rt.db.background_turn(_MAX_DEFER_SECONDS)
        return await sender.run_once()

    await run_worker("outbox", one_pass, wake, stop, poll_seconds)
