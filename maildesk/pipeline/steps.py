"""The pipeline's steps: parse -> classify -> correlate -> authorise -> apply, on one `Job`.

Each step has one signature, `step(rt, job) -> None`, as in GNU Mailman: it reads what the
steps before it put on the job and adds its own part. A step ends processing early by raising
`Discard` (the message is kept, marked `ignored` with the reason). The loop that claims
messages and runs `STEPS` on each one, in a transaction, is mail/pipeline.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.policy
import logging
import re
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from typing import Awaitable, Callable

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.outbound import bounces
from maildesk.mime import correlate
from maildesk.mime import senderauth
from maildesk.outbound import tokens
from maildesk.mime.body import visible_reply
from maildesk.mime.classify import Classification, Kind, classify, header_message
from maildesk.mime.parse import ParsedMessage, parse_message
from maildesk.mime.rawlines import header_end
from maildesk.models import (
    InboundMessage,
    OutboundMessage,
    Ticket,
    TicketMessage,
    TicketParticipant,
    User,
)
from maildesk.runtime import Runtime
from maildesk.tickets import merge as merging
from maildesk.tickets.service import NewMessage, TicketService

log = logging.getLogger("maildesk.pipeline")

_PARSE_IN_THREAD_BYTES = 256 * 1024
_CLASSIFY_HEADER_BYTES = 512 * 1024
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
    # The ticket this message opened. Held here so that the session's identity map (weakly
    # referencing) keeps it for the outcome, which names it, instead of loading it again.
    created: Ticket | None = None
    # The ticket the message was applied to (a new one, a reply's, the one automatic mail is
    # about): recorded on the inbound row with the outcome, in its one UPDATE (worker.py).
    applied_to: int | None = None
    notes: list[str] = field(default_factory=list)


Step = Callable[[Runtime, Job], Awaitable[None]]


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
    # The header block only (found by the feedparser's own rules): a headers-only parse of the
    # whole message would still split every line of the body, attachments included.
    raw = job.inbound.raw
    end = header_end(raw, 0)
    if job.parsed.raw_headers is not None and end <= _CLASSIFY_HEADER_BYTES:
        # The fields the parse step read from this same header block: not parsed again.
        headers = header_message(job.parsed.raw_headers)
    else:
        headers = BytesHeaderParser(policy=email.policy.default).parsebytes(raw[: min(end, _CLASSIFY_HEADER_BYTES)])
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


# Built once (the compiled cache then hits without rebuilding them): the ticket a message of a
# thread belongs to, loaded with the lookup in one statement; else the ticket the thread
# started with; and our own sent mail by Message-ID.
_IDS = bindparam("ids", expanding=True)
_TICKET_OF_MESSAGE = select(Ticket).where(
    Ticket.id == select(TicketMessage.ticket_id).where(TicketMessage.email_message_id.in_(_IDS)).limit(1)
    .scalar_subquery()
)
_TICKET_BY_ROOT = select(Ticket).where(Ticket.root_message_id.in_(_IDS)).limit(1)
_OURS = select(OutboundMessage).where(OutboundMessage.message_id.in_(_IDS))


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
            rows = (await session.scalars(_OURS, {"ids": ours})).all()
            by_id = {r.message_id: r for r in rows}
            for message_id in ours:
                row = by_id.get(message_id)
                if row is not None and row.ticket_id is not None:
                    job.answered = row
                    job.ticket = await session.get(Ticket, row.ticket_id)
                    job.matched_by = "in_reply_to"
                    return
        ids = {"ids": list(sig.referenced_ids)}
        ticket = await session.scalar(_TICKET_OF_MESSAGE, ids)
        if ticket is None:
            ticket = await session.scalar(_TICKET_BY_ROOT, ids)
        if ticket is not None:
            job.ticket = ticket
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
    # Recorded on the inbound row with the outcome (pipeline/worker.py), in its one UPDATE.
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
        job.applied_to = job.ticket.id
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
    job.applied_to = ticket.id
    job.created = ticket


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
        job.applied_to = ticket.id
    job.ignored = reason[:2000]


# The steps that read only the message, never the database: what raises in them leaves nothing
# to roll back (pipeline/worker.py then needs no savepoint to record it).
PURE_STEPS = frozenset({"parse", "classify"})

STEPS: tuple[tuple[str, Step], ...] = (
    ("parse", parse),
    ("classify", classify_step),
    ("correlate", correlate_step),
    ("authorise", authorise),
    ("apply", apply),
)
