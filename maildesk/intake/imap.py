"""The IMAP poller: fetch the messages waiting in one mailbox folder and hand them to intake.

Each waiting message (every message in the folder not flagged \\Deleted, and under
MAILDESK_IMAP_AFTER=keep not taken before) is fetched by UID with BODY.PEEK[] and stored
through the same intake as SMTP (source "imap"). Only after the intake transaction holding
it has committed does MAILDESK_IMAP_AFTER apply (mail/imap_after.py): by default the message
is flagged \\Seen and \\Deleted and expunged by UID, so the mailbox is a queue, not an
archive (the raw message is kept in the database); `move:FOLDER` files it away instead and
`keep` leaves it, flagged \\Seen. A crash between the commit and that step delivers the
message again on the next pass, and intake's Message-ID dedupe stores it once.

A message larger than MAILDESK_MAX_MESSAGE_BYTES is not fetched: it stays in the folder,
flagged for a person to look at (mail/imap_mailbox.py).

`worker()` (run by `maildesk serve`) waits with IDLE (RFC 2177) when the server has it,
re-issuing IDLE every few minutes, and otherwise polls every MAILDESK_IMAP_POLL_SECONDS.
Failures (login refused, server unreachable, folder missing) are logged in one line that
never holds the password and are retried with exponential backoff up to five minutes.
On PostgreSQL one daemon at a time polls a mailbox: it holds a session advisory lock keyed
on the mailbox (URL without the password); the others stand by and take over when it dies.

imapclient is blocking: every IMAP call runs in a worker thread (asyncio.to_thread), one at
a time per connection, so the event loop never waits on the network. The connection is
mail/imap_mailbox.py, the advisory lock mail/imap_lock.py; this module drains and waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32
from urllib.parse import quote

from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError

from maildesk.leases import doubling_delay
from maildesk.config import ImapConfig, Settings
from maildesk.intake import imap_after
from maildesk.intake.imap_lock import DatabaseError, MailboxLock, mailbox_lock
from maildesk.intake.imap_mailbox import FolderError, Mailbox, error_text, mailbox_name
from maildesk.intake.store import Intake, Stored
from maildesk.runtime import Runtime

log = logging.getLogger("maildesk.imap")

_IDLE_RENEW_SECONDS = 240.0  # RFC 2177: re-issue IDLE well within the 29-minute limit
_IDLE_CHECK_SECONDS = 1.0  # how often an idling worker looks at the stop flag
_BACKOFF_FIRST_SECONDS = 2.0
_BACKOFF_MAX_SECONDS = 300.0


def describe_failure(cfg: ImapConfig, exc: BaseException) -> str:
    """One line saying what went wrong, for an operator; never holds the password."""
    if isinstance(exc, DatabaseError):
        reason = f"mail left in the folder, the database failed: {error_text(exc)}"
    elif isinstance(exc, LoginError):
        reason = f"login refused for user {cfg.username}: {error_text(exc) or 'no reason given'}"
    elif isinstance(exc, FolderError):
        reason = f"cannot open folder {cfg.folder!r}: {error_text(exc)}"
    elif isinstance(exc, socket.gaierror):
        reason = f"server unreachable: cannot resolve {cfg.host}: {exc.strerror or exc}"
    elif isinstance(exc, ssl.SSLError):
        reason = f"TLS with the server failed: {exc.reason or exc}"
    elif isinstance(exc, (TimeoutError, socket.timeout)):
        reason = "server unreachable: timed out"
    elif isinstance(exc, OSError):
        reason = f"server unreachable: {exc.strerror or type(exc).__name__}"
    elif isinstance(exc, IMAPClientAbortError):
        reason = f"connection lost: {error_text(exc)}"
    elif isinstance(exc, IMAPClientError):
        reason = f"the server answered an error: {error_text(exc)}"
    else:
        reason = f"{type(exc).__name__}: {error_text(exc)}"
    line = f"IMAP {mailbox_name(cfg)}: {reason}"
    for secret in {cfg.password, quote(cfg.password, safe="")}:
        if secret:
            line = line.replace(secret, "***")
    return line


@dataclass
class PassResult:
    ingested: int = 0
    duplicates: int = 0


def _recipients(raw: bytes, settings: Settings) -> tuple[str | None, list[str]]:
    """(Return-Path, [the address the mailbox received it for]) from the delivering MTA's headers."""
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = raw.find(b"\n\n")
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(raw[: end if end >= 0 else 256 * 1024][: 256 * 1024])
        # The topmost Delivered-To / X-Original-To is the one the final MTA added: it keeps
        # a plus tag (support+billing@) that the To header may not show. It routes, never authorises.
        delivered = headers.get("Delivered-To") or headers.get("X-Original-To")
        return_path = headers.get("Return-Path")
    except Exception:
        return None, [settings.support_address]
    to = str(delivered).strip().strip("<>").strip().lower() if delivered else ""
    sender = str(return_path).strip().strip("<>").strip() if return_path is not None else None
    return sender, [to if "@" in to and len(to) < 320 else settings.support_address]


async def drain(mailbox: Mailbox, intake: Intake, settings: Settings, stop: asyncio.Event | None = None) -> PassResult:
    """Ingest everything waiting in the folder; a message leaves the folder only after its commit."""
    result = PassResult()
    uids = await asyncio.to_thread(mailbox.waiting)
    keep = mailbox.after.mode == "keep"
    name = mailbox_name(mailbox.cfg)
    if keep and uids:
        try:
            uids = await imap_after.not_taken(intake.db, name, mailbox.uidvalidity, uids)
        except Exception as exc:
            raise DatabaseError(f"{type(exc).__name__}: {exc}") from exc
    while uids and not (stop is not None and stop.is_set()):
        fetched, uids = await asyncio.to_thread(mailbox.fetch, uids)
        if not fetched:
            continue  # the window held only messages too large to fetch; `uids` went on
        outcomes = await asyncio.gather(
            *(_store(intake, settings, m.raw) for m in fetched), return_exceptions=True
        )
        committed = [m.uid for m, o in zip(fetched, outcomes) if isinstance(o, Stored)]
        for outcome in outcomes:
            if isinstance(outcome, Stored):
                if outcome.duplicate:
                    result.duplicates += 1
                else:
                    result.ingested += 1
        if keep:  # remembered before it is flagged: the table, not \\Seen, says what was taken
            try:
                await imap_after.remember(intake.db, name, mailbox.uidvalidity, committed)
            except Exception as exc:
                raise DatabaseError(f"{type(exc).__name__}: {exc}") from exc
        await asyncio.to_thread(mailbox.after_import, committed)
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        if failed:  # left in the folder; the next pass tries again
            raise DatabaseError(f"could not store {len(failed)} message(s): {type(failed[0]).__name__}: {failed[0]}")
    return result


async def _store(intake: Intake, settings: Settings, raw: bytes) -> Stored:
    envelope_from, envelope_to = _recipients(raw, settings)
    return await intake.store(raw, envelope_from=envelope_from, envelope_to=envelope_to, source="imap")


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


def backoff_seconds(failures: int) -> float:
    return doubling_delay(_BACKOFF_FIRST_SECONDS, failures, _BACKOFF_MAX_SECONDS)


async def _idle(mailbox: Mailbox, lock: MailboxLock, stop: asyncio.Event, poll_seconds: float) -> None:
    """Wait in IDLE until the folder changes, a renewal is due, or `stop` is set.

    Mail that arrived while the previous drain was running may have been announced to one of
    its commands rather than to IDLE, so the folder is drained again at least every poll
    interval even when IDLE stays quiet.
    """
    await asyncio.to_thread(mailbox.idle_start)
    deadline = time.monotonic() + min(_IDLE_RENEW_SECONDS, poll_seconds)
    try:
        while not stop.is_set() and time.monotonic() < deadline:
            if await asyncio.to_thread(mailbox.idle_check, _IDLE_CHECK_SECONDS) != "quiet":
                break
    finally:
        await asyncio.to_thread(mailbox.idle_done)
    await lock.check()


class _State:
    failures = 0
    standing_by = False


async def _session(rt: Runtime, intake: Intake, lock: MailboxLock, stop: asyncio.Event, state: _State) -> None:
    """Connect, then drain and wait (IDLE) until stopped; without IDLE, drain once and return."""
    cfg = rt.settings.imap
    assert cfg is not None
    mailbox = Mailbox(cfg, rt.settings.max_message_bytes, rt.settings.imap_after)
    try:
        await asyncio.to_thread(mailbox.connect)
        if state.failures:
            log.info("IMAP %s: connected again", mailbox_name(cfg))
        while not stop.is_set():
            result = await drain(mailbox, intake, rt.settings, stop)
            state.failures = 0
            if result.ingested or result.duplicates:
                log.info("IMAP %s: ingested %d message(s) (%d already stored)",
                         mailbox_name(cfg), result.ingested, result.duplicates)
            if not mailbox.can_idle:
                return
            await _idle(mailbox, lock, stop, rt.settings.imap_poll_seconds)
    finally:
        await asyncio.to_thread(mailbox.close)


async def worker(rt: Runtime, intake: Intake, stop: asyncio.Event) -> None:
    """Poll the configured mailbox until `stop` is set; never dies on a failure."""
    cfg = rt.settings.imap
    assert cfg is not None
    state = _State()
    while not stop.is_set():
        try:
            async with mailbox_lock(rt.db, cfg) as lock:
                if lock is None:
                    if not state.standing_by:
                        log.info("IMAP %s: another maildesk daemon polls this mailbox; standing by",
                                 mailbox_name(cfg))
                        state.standing_by = True
                    wait = rt.settings.imap_poll_seconds
                else:
                    if state.standing_by:
                        log.info("IMAP %s: taking over polling", mailbox_name(cfg))
                        state.standing_by = False
                    await _session(rt, intake, lock, stop, state)
                    wait = rt.settings.imap_poll_seconds
        except Exception as exc:
            # The lock (if held) is released on the way out, so a healthy daemon can take over.
            state.failures += 1
            wait = backoff_seconds(state.failures)
            log.warning("%s; retrying in %gs", describe_failure(cfg, exc), wait)
            log.debug("IMAP failure detail", exc_info=True)
        await _sleep(stop, wait)

