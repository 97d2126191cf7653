"""Bounces of maildesk's own mail: which message bounced, and when to stop mailing an address.

Every outbound message leaves with its own envelope sender (VERP),
``support+bounce-<outbound id>-<tag>@domain``, where the tag is an HMAC of the id keyed by
the secret. A delivery report is matched to the outbox row it reports by that address (the
RCPT it was delivered to, or the Delivered-To/To that dsn.parse_bounce reads) or, failing
that, by the original Message-ID it quotes. Both are unguessable, so a forged report cannot
fail or suppress mail to anyone but the forger's own correspondents.

A matched failure marks the outbox row ``failed`` with the remote server's answer. Hard
bounces are counted per address; the suppression policy (RFC 3463 status codes):

- 5.1.1 (no such mailbox), 5.1.2 (no such domain) and 5.1.10 (null MX, RFC 7505; Exchange's
  RecipientNotFound): the address is suppressed at the first one -- it cannot succeed.
- Any other permanent failure counts; the third within 30 days suppresses the address (the
  window starts at the first counted bounce and starts again when it is over 30 days old).
- Not counted: transient failures (4.x.x, delays), and refusals about the message or the
  sender rather than the address -- 5.7.x (policy, spam, authentication), 5.6.x (content),
  5.3.4 and 5.2.3 (too big). They still mark that one message failed.

The outbox stores mail to a suppressed address as ``suppressed`` with the reason instead of
sending it (tickets are still created). An admin lifts it with :func:`clear_suppression`.
"""

from __future__ import annotations

import base64
import email.policy
import hashlib
import hmac
import logging
import re
from datetime import timedelta
from email.parser import BytesParser
from typing import TYPE_CHECKING, Iterable

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.config import Settings
from maildesk.outbound import tokens
from maildesk.models import OutboundMessage, SuppressedAddress, User, utcnow

if TYPE_CHECKING:
    from maildesk.mime.dsn import BounceReport, FailedRecipient

__all__ = [
    "BOUNCE_PREFIX",
    "SUPPRESS_AFTER",
    "SUPPRESS_WINDOW",
    "IMMEDIATE_STATUSES",
    "verp_address",
    "is_bounce_address",
    "verp_outbound_id",
    "read_report",
    "reported_message",
    "record_bounce",
    "record_hard_failure",
    "counts_toward_suppression",
    "enhanced_status",
    "suppression_reason",
    "active_suppressions",
    "suppressed_addresses",
    "clear_suppression",
]

log = logging.getLogger("maildesk.bounces")

BOUNCE_PREFIX = "bounce-"
SUPPRESS_AFTER = 3
SUPPRESS_WINDOW = timedelta(days=30)
IMMEDIATE_STATUSES = frozenset({"5.1.1", "5.1.2", "5.1.10"})
_NOT_THE_ADDRESS = ("5.7.", "5.6.")  # policy / content: about our message, not the mailbox
_NOT_THE_ADDRESS_EXACT = frozenset({"5.3.4", "5.2.3"})  # message too big
_BOUNCED = "bounced: "
_TAG_LENGTH = 10
_ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?!\.?\d)")


# -- the per-message envelope sender (VERP) -------------------------------------


def _verp_tag(secret: str, outbound_id: int) -> str:
    # Same construction as maildesk.outbound.tokens, its own purpose string; lower case because
    # some mail systems fold the case of the local part.
    digest = hmac.new(secret.encode(), f"verp:{outbound_id}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode().lower().rstrip("=")[:_TAG_LENGTH]


def verp_address(settings: Settings, outbound_id: int) -> str:
    """The envelope sender (MAIL FROM) for one outbox row."""
    tag = _verp_tag(settings.secret_key, outbound_id)
    return f"{settings.support_local}+{BOUNCE_PREFIX}{outbound_id}-{tag}@{settings.support_domain}"


def _plus_tag(settings: Settings, address: str) -> str | None:
    local, at, domain = address.strip().strip("<>").rpartition("@")
    if not at or domain.lower() != settings.support_domain:
        return None
    base, plus, tag = local.partition("+")
    return tag if plus and base.lower() == settings.support_local else None


def is_bounce_address(settings: Settings, address: str) -> bool:
    """True for any support+bounce-...@ address, valid tag or not: only robots write to it."""
    tag = _plus_tag(settings, address)
    return tag is not None and tag.lower().startswith(BOUNCE_PREFIX)


def verp_outbound_id(settings: Settings, token: str) -> int | None:
    """The outbox id in a VERP token ``<id>-<tag>`` (the part after ``bounce-``), if the tag is ours."""
    number, _, tag = token.strip().partition("-")
    if not number.isdigit() or len(number) > 18 or not tag:
        return None
    expected = _verp_tag(settings.secret_key, int(number))
    return int(number) if hmac.compare_digest(tag.lower(), expected) else None


def _verp_ids(settings: Settings, envelope_to: Iterable[str], report: BounceReport | None) -> list[int]:
    tokens_seen = []
    for address in envelope_to:
        tag = _plus_tag(settings, address)
        if tag is not None and tag.lower().startswith(BOUNCE_PREFIX):
            tokens_seen.append(tag[len(BOUNCE_PREFIX):])
    if report is not None and report.verp_recipient:
        tokens_seen.append(report.verp_recipient)
    ids = (verp_outbound_id(settings, t) for t in tokens_seen)
    return list(dict.fromkeys(i for i in ids if i is not None))


# -- matching a report to the outbox ------------------------------------------------


def read_report(raw: bytes) -> BounceReport | None:
    """Parse a stored inbound message as a bounce (None when it is not one)."""
    try:
        message = BytesParser(policy=email.policy.default).parsebytes(raw)
    except Exception:  # pragma: no cover - the stdlib parser is lenient; be sure anyway
        return None
    # The DSN parser (mime/dsn*.py) is loaded by the first bounce, not at start-up: the
    # daemon's idle memory has a target (issue 14, bench/memory.py).
    from maildesk.mime.dsn import parse_bounce

    return parse_bounce(message, bounce_prefix=BOUNCE_PREFIX)


async def reported_message(
    session: AsyncSession, settings: Settings, *, envelope_to: Iterable[str], report: BounceReport | None
) -> tuple[OutboundMessage | None, str | None]:
    """(outbox row, how it was found: "verp" | "message_id") for mail about one of our messages.

    The VERP address wins: it names the exact row, even when the report quotes no Message-ID
    (many plain-text bounces) or quotes the wrong one. Auto-replies sent to the return path
    (as RFC 3834 section 4 asks) are found the same way.
    """
    for outbound_id in _verp_ids(settings, envelope_to, report):
        row = await session.get(OutboundMessage, outbound_id)
        if row is not None:
            return row, "verp"
    original = report.original_message_id if report is not None else None
    if original and tokens.is_our_message_id(settings.secret_key, original):
        row = await session.scalar(select(OutboundMessage).where(OutboundMessage.message_id == original))
        if row is not None:
            return row, "message_id"
    return None, None


def _recipient_for(row: OutboundMessage, report: BounceReport) -> FailedRecipient | None:
    """The report's entry for our one recipient; a lone entry is ours even if forwarded elsewhere."""
    for recipient in report.recipients:
        if recipient.address == row.to_addr:
            return recipient
    if len(report.recipients) == 1:
        return report.recipients[0]
    failed = [r for r in report.recipients if r.action == "failed"]
    return failed[0] if failed else None


async def record_bounce(session: AsyncSession, row: OutboundMessage, report: BounceReport) -> str:
    """Apply a delivery report about `row`; returns what happened, in words for the inbound list."""
    recipient = _recipient_for(row, report)
    what = f"our message {row.id} ({row.kind}) to {row.to_addr}"
    if recipient is None:
        return f"delivery report about {what} names no recipient; nothing changed"
    detail = " ".join(x for x in (recipient.status, recipient.diagnostic) if x)[:1000]
    if recipient.action != "failed":
        return f"delivery report about {what}: {recipient.action} {detail}".rstrip()
    counted_before = row.status == "failed" and (row.last_error or "").startswith(_BOUNCED)
    row.status = "failed"
    row.claimed_until = None
    row.last_error = (_BOUNCED + detail)[:2000]
    outcome = f"bounce of {what}: {detail}"
    if counted_before:
        return outcome + " (already recorded)"
    if not recipient.permanent:
        return outcome
    entry = await record_hard_failure(session, row.to_addr, recipient.status, recipient.diagnostic)
    if entry is not None and entry.active and entry.last_bounce_at == entry.suppressed_at:
        outcome += f"; {row.to_addr} is now suppressed"
    return outcome


# -- counting hard failures and suppressing ---------------------------------------


def counts_toward_suppression(status: str) -> bool:
    return status.startswith("5.") and status not in _NOT_THE_ADDRESS_EXACT and not status.startswith(
        _NOT_THE_ADDRESS
    )


def enhanced_status(text: str) -> str | None:
    """The first RFC 3463 status code (e.g. "5.1.1") in a server's reply, if it gives one."""
    match = _ENHANCED.search(text or "")
    return ".".join(match.groups()) if match else None


async def _entry_for_update(session: AsyncSession, email: str) -> SuppressedAddress:
    insert = sqlite_insert if session.bind.dialect.name == "sqlite" else pg_insert
    await session.execute(
        insert(SuppressedAddress).values(email=email, bounce_count=0).on_conflict_do_nothing(index_elements=["email"])
    )
    entry = await session.scalar(
        select(SuppressedAddress)
        .where(SuppressedAddress.email == email)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert entry is not None
    return entry


async def record_hard_failure(
    session: AsyncSession, email: str, status: str, diagnostic: str = ""
) -> SuppressedAddress | None:
    """Count one permanent failure for `email`; suppress it when the policy says so.

    Returns the address's entry, or None when this failure does not count (see the module
    docstring). Race-free: the entry row is locked (PostgreSQL) or the write lock held (SQLite).
    """
    email = email.strip().lower()
    if not email or not counts_toward_suppression(status):
        return None
    entry = await _entry_for_update(session, email)
    now = utcnow()
    entry.last_bounce_at = now
    detail = " ".join(x for x in (status, diagnostic) if x)[:500]
    if entry.active:
        entry.bounce_count += 1
        return entry
    if entry.bounce_count <= 0 or entry.first_bounce_at is None or now - entry.first_bounce_at > SUPPRESS_WINDOW:
        entry.bounce_count, entry.first_bounce_at = 0, now
    entry.bounce_count += 1
    entry.reason = f"hard bounce {detail}"
    if status in IMMEDIATE_STATUSES:
        entry.reason = f"the recipient does not exist: {detail}"
    elif entry.bounce_count >= SUPPRESS_AFTER:
        entry.reason = f"{entry.bounce_count} hard bounces within {SUPPRESS_WINDOW.days} days; last: {detail}"
    else:
        return entry
    entry.suppressed_at, entry.cleared_at, entry.cleared_by = now, None, None
    log.warning("suppressing %s: %s", email, entry.reason)
    return entry


async def suppression_reason(session: AsyncSession, email: str) -> str | None:
    """Why mail to `email` is not sent, or None when it may be."""
    found = await active_suppressions(session, [email])
    return found.get(email.strip().lower())


async def active_suppressions(session: AsyncSession, emails: Iterable[str]) -> dict[str, str]:
    """{address: reason} for those of `emails` that are suppressed now."""
    wanted = sorted({e.strip().lower() for e in emails if e})
    if not wanted:
        return {}
    rows = await session.execute(
        select(SuppressedAddress.email, SuppressedAddress.reason).where(
            SuppressedAddress.email.in_(wanted),
            SuppressedAddress.suppressed_at.is_not(None),
            SuppressedAddress.cleared_at.is_(None),
        )
    )
    return {email: reason or "suppressed" for email, reason in rows}


async def suppressed_addresses(session: AsyncSession, *, include_cleared: bool = False) -> list[SuppressedAddress]:
    """Suppressed addresses for admins, most recent first (with cleared ones when asked)."""
    query = select(SuppressedAddress).where(SuppressedAddress.suppressed_at.is_not(None))
    if not include_cleared:
        query = query.where(SuppressedAddress.cleared_at.is_(None))
    return list((await session.scalars(query.order_by(SuppressedAddress.suppressed_at.desc()))).all())


async def clear_suppression(session: AsyncSession, email: str, actor: User | str) -> SuppressedAddress | None:
    """An admin lifts the suppression of `email`: mail is sent again and counting starts afresh.

    Returns the cleared entry, or None when the address was not suppressed. Mail stored as
    suppressed meanwhile stays unsent. The caller checks that `actor` is an admin.
    """
    email = email.strip().lower()
    entry = await session.scalar(
        select(SuppressedAddress).where(SuppressedAddress.email == email).with_for_update()
    )
    if entry is None or not entry.active:
        return None
    who = actor.email if isinstance(actor, User) else str(actor)
    entry.cleared_at, entry.cleared_by = utcnow(), who[:320]
    entry.bounce_count, entry.first_bounce_at = 0, None
    log.info("suppression of %s cleared by %s", email, who)
    return entry
