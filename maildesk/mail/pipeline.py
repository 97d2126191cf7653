"""The pipeline: turn a stored inbound message into a ticket change.

An ordered tuple of small steps with one signature, `step(job) -> None`, as in GNU Mailman:
parse -> classify -> correlate -> authorise -> apply. A step ends processing early by raising
`Discard` (the message is kept, marked `ignored` with the reason). Any other exception marks
the message `failed` with the reason; nothing is ever deleted, and admins can reprocess.

The worker claims messages with SELECT ... FOR UPDATE SKIP LOCKED inside the transaction that
processes them, so several daemons on one PostgreSQL share the work without duplicates, and a
daemon that dies mid-message leaves nothing claimed (its transaction rolls back).
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.policy
import logging
import re
import time
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from typing import Awaitable, Callable

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import defer
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.db import BIG_VALUE_BYTES
from maildesk.logs import event
from maildesk.mail import bounces, correlate, senderauth, tokens
from maildesk.mail.body import visible_reply
from maildesk.mail.classify import Classification, Kind, classify
from maildesk.mail.parse import ParsedMessage, parse_message
from maildesk.models import (
    InboundMessage,
    OutboundMessage,
    Ticket,
    TicketMessage,
    TicketParticipant,
    User,
    utcnow,
)
from maildesk.runtime import Runtime
from maildesk.workers import run_worker
from maildesk.tickets import merge as merging
from maildesk.tickets.service import NewMessage, TicketService

log = logging.getLogger("maildesk.pipeline")

_BATCH = 16
_BATCH_BYTES = 32 * 1024 * 1024  # raw bytes one pass loads (at least one message)
_SLICE_SECONDS = 0.25  # one pass commits after this long
_FORCED_SLICE_SECONDS = 0.1  # ... or this long when it runs while SMTP clients wait
_MAX_DEFER_SECONDS = 1.0  # longest the worker holds back for SMTP clients before a slice
_DB_RETRIES = 5  # attempts before a message that keeps hitting database errors is marked failed
_PARSE_IN_THREAD_BYTES = 256 * 1024
_SUBJECT_TAG = re.compile(r"\[\s*SUP-\d+\s*\]\s*", re.IGNORECASE)


class Discard(Exception):
    """Stop processing: the message is kept as `ignored` with this reason."""


@dataclass
class Job:
    inbound: InboundMessage
    session: AsyncSession
    service: TicketService
    parsed: ParsedMessage | None = None
    classification: Classification | None = None
    signals: correlate.ThreadSignals | None = None
    ticket: Ticket | None = None  # the ticket the signals point at
    matched_by: str | None = None
    answered: OutboundMessage | None = None  # our mail this one answers, when named in its headers
    role: str | None = None  # requester | participant | admin, once authorised for `ticket`
    sender_auth: senderauth.SenderAuth = senderauth.UNKNOWN
    sender: User | None = None
    ignored: str | None = None  # set when the message is kept but deliberately not acted on
    notes: list[str] = field(default_factory=list)


Step = Callable[[Runtime, Job], Awaitable[None]]


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


async def parse(rt: Runtime, job: Job) -> None:
    raw = job.inbound.raw
    if len(raw) > _PARSE_IN_THREAD_BYTES:
        # A big message takes up to a second to parse: off the loop, so SMTP and HTTP keep answering.
        job.parsed = await asyncio.to_thread(parse_message, raw, rt.limits)
    else:
        job.parsed = parse_message(raw, rt.limits)
    if not job.parsed.from_addr:
        envelope = job.inbound.envelope_from if job.inbound.source == "smtp" else None
        fallback = envelope_requester(envelope)
        if fallback is None:
            # Kept as `ignored`, and said once at INFO: otherwise the sender of a From-less test
            # message sees a 250 and no ticket, with nothing in the log to explain it.
            log.info("inbound message %s ignored: no From header and no usable SMTP envelope sender",
                     job.inbound.id)
            raise Discard("no sender address in From and no SMTP envelope sender")
        # Broken scripts and devices send mail without From (RFC 5322 3.6 requires one); the
        # envelope sender (RFC 5321 4.1.1.2 MAIL FROM) is who asked. Automatic mail is still
        # recognised by the classify step (the envelope and the Auto-Submitted headers).
        job.parsed = dataclasses.replace(job.parsed, from_addr=fallback, from_name="")
        job.notes.append("no From header: requester taken from the SMTP envelope sender")


def envelope_requester(envelope_from: str | None) -> str | None:
    """The address in an SMTP reverse-path usable as a requester, or None (null or not an address)."""
    if not envelope_from:
        return None
    addr = envelope_from.strip().strip("<>").strip().lower()
    local, at, domain = addr.rpartition("@")
    if not at or not local or not domain or any(c.isspace() or c in "<>,;\"" for c in addr):
        return None
    return addr


async def classify_step(rt: Runtime, job: Job) -> None:
    assert job.parsed is not None
    headers = BytesHeaderParser(policy=email.policy.default).parsebytes(job.inbound.raw[: 512 * 1024])
    s = rt.settings
    job.classification = classify(
        headers,
        envelope_from=job.inbound.envelope_from if job.inbound.source == "smtp" else None,
        own_addresses=frozenset({s.support_address}),
        loop_token=rt.composer.loop_token,
    )


async def correlate_step(rt: Runtime, job: Job) -> None:
    """Find the ticket the signals name; a ticket merged into another one hands over to it
    (any signal: Message-ID/References, plus address, subject tag)."""
    await _match(rt, job)
    if job.ticket is not None and job.ticket.merged_into is not None:
        merged = job.ticket
        job.ticket = await merging.follow(job.session, merged)
        job.notes.append(f"{merged.ticket_number} was merged into {job.ticket.ticket_number}")


async def _match(rt: Runtime, job: Job) -> None:
    assert job.parsed is not None
    p = job.parsed
    job.signals = sig = correlate.signals(
        in_reply_to=p.in_reply_to,
        references=p.references,
        recipients=[*job.inbound.envelope_to, *p.to, *p.cc],
        subject=p.subject,
        support_local=rt.settings.support_local,
    )
    session = job.session
    if sig.referenced_ids:
        ours = [i for i in sig.referenced_ids if tokens.is_our_message_id(rt.settings.secret_key, i)]
        if ours:
            rows = (await session.scalars(select(OutboundMessage).where(OutboundMessage.message_id.in_(ours)))).all()
            by_id = {r.message_id: r for r in rows}
            for message_id in ours:
                row = by_id.get(message_id)
                if row is not None and row.ticket_id is not None:
                    job.answered = row
                    job.ticket = await session.get(Ticket, row.ticket_id)
                    job.matched_by = "in_reply_to"
                    return
        ticket_id = await session.scalar(
            select(TicketMessage.ticket_id).where(TicketMessage.email_message_id.in_(sig.referenced_ids)).limit(1)
        )
        if ticket_id is None:
            ticket_id = await session.scalar(
                select(Ticket.id).where(Ticket.root_message_id.in_(sig.referenced_ids)).limit(1)
            )
        if ticket_id is not None:
            job.ticket = await session.get(Ticket, ticket_id)
            job.matched_by = "references"
            return
    for number, how in ((sig.plus_number, "plus_address"), (sig.subject_number, "subject")):
        if number is not None:
            ticket = await session.get(Ticket, number)
            if ticket is not None:
                job.ticket, job.matched_by = ticket, how
                return


async def authorise(rt: Runtime, job: Job) -> None:
    """Who may post to the ticket the signals found: From decides, never Reply-To; a From the
    trusted front server says failed authentication may only open a ticket of its own."""
    assert job.parsed is not None
    ticket, sender = job.ticket, job.parsed.from_addr
    results = [v for n, v in job.parsed.headers if n.lower() == "authentication-results"]
    job.sender_auth = senderauth.evaluate(results, rt.settings.trusted_authserv_ids, sender)
    job.inbound.sender_verified = job.sender_auth.verified
    if ticket is None:
        return
    if job.sender_auth.verified is False:
        job.notes.append(f"sender not verified ({job.sender_auth.detail}): may not post to "
                         f"{ticket.ticket_number}; opened a ticket of their own")
        job.ticket = None
        return
    if sender == ticket.user_email:
        job.role = "requester"
    elif await job.session.get(TicketParticipant, (ticket.id, sender)) is not None:
        job.role = "participant"
    elif job.answered is not None and job.answered.to_addr == sender:
        # An admin may answer by email only by replying to a notification we sent *to them*.
        user = await job.service.user_by_email(sender)
        if user is not None and user.is_admin and user.is_active:
            job.role, job.sender = "admin", user
    if job.role is None:
        job.notes.append(f"{sender} may not post to {ticket.ticket_number}; opened a ticket of their own")
        job.ticket = None


async def apply(rt: Runtime, job: Job) -> None:
    assert job.parsed is not None and job.classification is not None
    p, service, inbound = job.parsed, job.service, job.inbound
    if job.classification.automatic or any(
        bounces.is_bounce_address(rt.settings, a) for a in job.inbound.envelope_to
    ):
        await _record_automatic(rt, job)
        return
    if job.ticket is not None and job.role in ("requester", "participant") and job.ticket.status == "closed":
        job.notes.append(f"reply to closed {job.ticket.ticket_number}: opened a new ticket linked to it")
        await _new_ticket(rt, job, linked=job.ticket)
        return
    if job.ticket is not None and job.role in ("requester", "participant", "admin"):
        message = NewMessage(
            body=visible_reply(p.text) or p.text,
            full_body=p.text,
            body_html=p.html,
            source="email",
            email_message_id=p.message_id,
            inbound_id=inbound.id,
            attachments=p.attachments,
            sender_verified=job.sender_auth.verified,
        )
        if job.role == "admin":
            assert job.sender is not None
            await service.admin_reply(job.ticket, job.sender, message)
        else:
            author = await service.get_or_create_user(p.from_addr, p.from_name)
            await service.requester_reply(job.ticket, author, message)
        inbound.ticket_id = job.ticket.id
        return
    await _new_ticket(rt, job)


async def _new_ticket(rt: Runtime, job: Job, linked: Ticket | None = None) -> None:
    assert job.parsed is not None and job.signals is not None
    p, service = job.parsed, job.service
    tag = job.signals.plus_tag
    category = tag if tag in rt.settings.categories else "other"
    requester = await service.get_or_create_user(p.from_addr, p.from_name)
    own = {rt.settings.support_address}
    ticket = await service.create_ticket(
        requester,
        subject=_SUBJECT_TAG.sub("", p.subject).strip(),
        message=NewMessage(
            body=p.text,
            full_body=p.text,
            body_html=p.html,
            source="email",
            email_message_id=p.message_id,
            inbound_id=job.inbound.id,
            attachments=p.attachments,
            sender_verified=job.sender_auth.verified,
        ),
        category=category,
        source="email",
        cc=[a for a in p.cc if a not in own and not correlate.plus_tag(a, rt.settings.support_local)],
        linked_ticket=linked,
    )
    job.inbound.ticket_id = ticket.id


async def _record_automatic(rt: Runtime, job: Job) -> None:
    """Keep automatic mail, never answer it; attach it to the ticket it is about (bounces.py)."""
    assert job.parsed is not None and job.classification is not None
    p, session = job.parsed, job.session
    if not job.classification.automatic:
        # Only robots write to the return path: a message there is automatic whatever it says.
        job.classification = Classification(Kind.AUTO_REPLY, "sent to our bounce address (envelope recipient)")
    c = job.classification
    reason = f"automatic mail ({c.kind.value}: {c.reason}); not answered"
    report = bounces.read_report(job.inbound.raw) if c.kind is Kind.BOUNCE else None
    row, how = await bounces.reported_message(session, rt.settings, envelope_to=job.inbound.envelope_to, report=report)
    if row is not None:
        if report is not None:
            reason = f"{reason}; {await bounces.record_bounce(session, row, report)}"
        job.answered, job.matched_by = row, job.matched_by or how
    ticket = job.ticket if job.role is not None else None
    if ticket is None and job.answered is not None and job.answered.ticket_id is not None:
        ticket = await session.get(Ticket, job.answered.ticket_id)
    if ticket is not None:
        await job.service.record_automatic(
            ticket,
            p.from_addr,
            NewMessage(body=p.text, full_body=p.text, source="email", email_message_id=p.message_id,
                       inbound_id=job.inbound.id),
            c.kind.value,
        )
        job.inbound.ticket_id = ticket.id
    job.ignored = reason[:2000]


STEPS: tuple[tuple[str, Step], ...] = (
    ("parse", parse),
    ("classify", classify_step),
    ("correlate", correlate_step),
    ("authorise", authorise),
    ("apply", apply),
)


async def process(rt: Runtime, session: AsyncSession, inbound: InboundMessage) -> Outcome | None:
    """Run every step on one claimed message and record the outcome on it (None: left to retry)."""
    job = Job(inbound=inbound, session=session, service=rt.service(session))
    started, inbound_id, source = time.monotonic(), inbound.id, inbound.source
    inbound.attempts += 1
    if inbound.ticket_id is not None:
        # Applied on an earlier pass (a ticket or a timeline entry points at it): a second
        # pass would open a second ticket and send a second confirmation. Never twice.
        number = await session.scalar(select(Ticket.ticket_number).where(Ticket.id == inbound.ticket_id))
        inbound.status = "ignored"
        inbound.reason = f"already applied to {number or 'a ticket'}; not applied again"
        inbound.processed_at = utcnow()
        return
    step_name = STEPS[0][0]
    try:
        async with session.begin_nested():
            for step_name, step in STEPS:
                await step(rt, job)
        if job.ignored is not None:
            inbound.status, inbound.reason = "ignored", job.ignored
        else:
            inbound.status = "processed"
            if job.parsed is not None and job.parsed.left_out:  # what the ticket does not show
                job.notes.append("truncated: " + ", ".join(job.parsed.left_out))
            inbound.reason = "; ".join(job.notes) or None
    except Discard as discard:
        inbound.status = "ignored"
        inbound.reason = str(discard)
    except DBAPIError as exc:
        # A deadlock or a unique-key race with another daemon: the savepoint rolled back, so
        # nothing half-done remains; leave the message for the next pass a few times first.
        retry = inbound.attempts < _DB_RETRIES
        log.warning("inbound message %s: database error in step %s (%s)", inbound.id, step_name,
                    "will retry" if retry else "giving up")
        inbound.status = "received" if retry else "failed"
        inbound.reason = f"{step_name}: database error: {type(exc.orig).__name__}: {exc.orig}"[:2000]
    except Exception as exc:
        log.exception("inbound message %s failed in step %s", inbound.id, step_name)
        inbound.status = "failed"
        inbound.reason = f"{step_name}: {type(exc).__name__}: {exc}"[:2000]
    if job.classification is not None:
        inbound.classification = job.classification.kind.value
    inbound.matched_by = job.matched_by
    inbound.processed_at = utcnow()
    return await _outcome(job, inbound_id, source, time.monotonic() - started)


async def _outcome(job: Job, inbound_id: int, source: str, seconds: float) -> Outcome | None:
    inbound = job.inbound
    status = inbound.status
    if status == "received":  # a database error; the warning above said it will be retried
        return None
    outcome = Outcome(inbound_id, source, status, seconds, reason=inbound.reason)
    if status == "failed" or (status == "ignored" and job.ignored is None):
        return outcome  # the steps' changes were rolled back: there is no ticket to name
    ticket = await job.session.get(Ticket, inbound.ticket_id) if inbound.ticket_id is not None else None
    outcome.ticket = ticket.ticket_number if ticket is not None else None
    if status == "ignored":
        outcome.how, outcome.matched_by = ("automatic" if ticket is not None else None), job.matched_by
    elif job.ticket is not None and ticket is not None and ticket.id == job.ticket.id:
        outcome.how, outcome.matched_by, outcome.role = "reply", job.matched_by, job.role
    else:
        outcome.how = "new_ticket"
    return outcome


async def run_once(rt: Runtime, batch: int = _BATCH, *, yield_to_clients: bool = True) -> int:
    """Claim and process up to `batch` received messages in one transaction; return how many.

    The batch shares one commit (one disk flush) but is bounded three ways: by count, by the
    raw bytes it loads (a batch of big messages must not hold them all in memory at once),
    and by time — it commits after `_SLICE_SECONDS`, or as soon as an SMTP client is waiting
    when `yield_to_clients` (else after `_FORCED_SLICE_SECONDS`), since intake needs the same
    single writer and the same loop.
    """
    outcomes: list[Outcome] = []
    async with rt.db.write() as session:
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
            InboundMessage.id.in_(small)))).tuples().all()) if small else {}
        deadline = time.monotonic() + (_SLICE_SECONDS if yield_to_clients else _FORCED_SLICE_SECONDS)
        done = 0
        for inbound in claimed:
            raw = raws.pop(inbound.id, None)
            if raw is None:
                raw = await rt.db.read_blob(session, InboundMessage.__table__.c.raw, inbound.id)
            set_committed_value(inbound, "raw", raw)
            del raw
            outcome = await process(rt, session, inbound)
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
