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
flagged \\Flagged and `$MaildeskTooLarge` for a person to look at, and is skipped from then on.

`worker()` (run by `maildesk serve`) waits with IDLE (RFC 2177) when the server has it,
re-issuing IDLE every few minutes, and otherwise polls every MAILDESK_IMAP_POLL_SECONDS.
Failures (login refused, server unreachable, folder missing) are logged in one line that
never holds the password and are retried with exponential backoff up to five minutes.
On PostgreSQL one daemon at a time polls a mailbox: it holds a session advisory lock keyed
on the mailbox (URL without the password); the others stand by and take over when it dies.

imapclient is blocking: every IMAP call runs in a worker thread (asyncio.to_thread), one at
a time per connection, so the event loop never waits on the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import socket
import ssl
import sys
import time
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import AsyncIterator
from urllib.parse import quote

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError
from sqlalchemy import text

from maildesk.config import ImapAfter, ImapConfig, Settings
from maildesk.db import Database
from maildesk.mail import imap_after
from maildesk.mail.intake import Intake, Stored
from maildesk.runtime import Runtime

log = logging.getLogger("maildesk.imap")
# imapclient logs every closed connection at INFO; the failure line below says what matters.
logging.getLogger("imapclient").setLevel(logging.WARNING)

TOO_LARGE = b"$MaildeskTooLarge"
_CHUNK_MESSAGES = 25
_CHUNK_BYTES = 32 * 1024 * 1024
_SIZE_WINDOW = 200
_TIMEOUT_SECONDS = 60.0
_IDLE_RENEW_SECONDS = 240.0  # RFC 2177: re-issue IDLE well within the 29-minute limit
_IDLE_CHECK_SECONDS = 1.0  # how often an idling worker looks at the stop flag
_BACKOFF_FIRST_SECONDS = 2.0
_BACKOFF_MAX_SECONDS = 300.0


def mailbox_name(cfg: ImapConfig) -> str:
    """The mailbox as the operator wrote it, without the password: imap://user@host:port/FOLDER."""
    scheme = "imaps" if cfg.ssl else "imap"
    return f"{scheme}://{quote(cfg.username, safe='')}@{cfg.host}:{cfg.port}/{cfg.folder}"


def lock_key(cfg: ImapConfig) -> int:
    """A signed 64-bit advisory-lock key for the mailbox (stable across daemons and restarts)."""
    digest = hashlib.sha256(b"maildesk-imap:" + mailbox_name(cfg).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def describe_failure(cfg: ImapConfig, exc: BaseException) -> str:
    """One line saying what went wrong, for an operator; never holds the password."""
    if isinstance(exc, _DatabaseError):
        reason = f"mail left in the folder, the database failed: {_text(exc)}"
    elif isinstance(exc, LoginError):
        reason = f"login refused for user {cfg.username}: {_text(exc) or 'no reason given'}"
    elif isinstance(exc, _FolderError):
        reason = f"cannot open folder {cfg.folder!r}: {_text(exc)}"
    elif isinstance(exc, socket.gaierror):
        reason = f"server unreachable: cannot resolve {cfg.host}: {exc.strerror or exc}"
    elif isinstance(exc, ssl.SSLError):
        reason = f"TLS with the server failed: {exc.reason or exc}"
    elif isinstance(exc, (TimeoutError, socket.timeout)):
        reason = "server unreachable: timed out"
    elif isinstance(exc, OSError):
        reason = f"server unreachable: {exc.strerror or type(exc).__name__}"
    elif isinstance(exc, IMAPClientAbortError):
        reason = f"connection lost: {_text(exc)}"
    elif isinstance(exc, IMAPClientError):
        reason = f"the server answered an error: {_text(exc)}"
    else:
        reason = f"{type(exc).__name__}: {_text(exc)}"
    line = f"IMAP {mailbox_name(cfg)}: {reason}"
    for secret in {cfg.password, quote(cfg.password, safe="")}:
        if secret:
            line = line.replace(secret, "***")
    return line


def _text(exc: BaseException) -> str:
    value = str(exc.args[0]) if len(exc.args) == 1 else str(exc)
    if value.startswith("b'") or value.startswith('b"'):
        value = value[2:-1]
    return " ".join(value.split())[:300]


class _FolderError(Exception):
    pass


class _DatabaseError(Exception):
    """The database, not the IMAP server, failed: said so, so the operator looks in the right place."""


# --- the blocking side: one connection, used from one thread at a time ---------------------


@dataclass
class _Fetched:
    uid: int
    raw: bytes


class _Mailbox:
    """A logged-in IMAP connection with the folder selected. Every method blocks."""

    def __init__(self, cfg: ImapConfig, max_bytes: int, after: ImapAfter = ImapAfter()) -> None:
        self.cfg = cfg
        self.max_bytes = max_bytes
        self.after = after
        self.uidvalidity = 0
        self.client: IMAPClient | None = None
        self.can_idle = False
        self.uidplus = False
        self.idling = False

    def connect(self) -> None:
        cfg = self.cfg
        client = IMAPClient(cfg.host, port=cfg.port, ssl=cfg.ssl, timeout=_TIMEOUT_SECONDS)
        try:
            client.login(cfg.username, cfg.password)
            try:
                selected = client.select_folder(cfg.folder)
            except IMAPClientAbortError:
                raise
            except IMAPClientError as exc:
                raise _FolderError(_text(exc)) from None
            self.uidvalidity = int(selected.get(b"UIDVALIDITY", 0))
            self.can_idle = client.has_capability("IDLE")
            self.uidplus = client.has_capability("UIDPLUS")
            imap_after.prepare(client, self.after)
        except BaseException:
            with contextlib.suppress(Exception):
                client.shutdown()
            raise
        self.client = client

    def waiting(self) -> list[int]:
        assert self.client is not None
        return sorted(self.client.search(["NOT", "DELETED", "NOT", "KEYWORD", TOO_LARGE.decode()]))

    def fetch(self, uids: list[int]) -> tuple[list[_Fetched], list[int]]:
        """Fetch a chunk: (messages in UID order, UIDs left for the next chunk)."""
        assert self.client is not None
        # Sizes for a window only: a folder with thousands waiting is not asked about all of them per chunk.
        window, later = uids[:_SIZE_WINDOW], uids[_SIZE_WINDOW:]
        sizes = {uid: data.get(b"RFC822.SIZE", 0) for uid, data in self.client.fetch(window, ["RFC822.SIZE"]).items()}
        too_large = [uid for uid in window if sizes.get(uid, 0) > self.max_bytes]
        if too_large:
            self.client.add_flags(too_large, [b"\\Flagged", TOO_LARGE], silent=True)
            for uid in too_large:
                log.warning(
                    "IMAP %s: message UID %s is %s bytes, over MAILDESK_MAX_MESSAGE_BYTES=%s; "
                    "left in the folder, flagged %s",
                    mailbox_name(self.cfg), uid, sizes[uid], self.max_bytes, TOO_LARGE.decode(),
                )
        chunk: list[int] = []
        total = 0
        rest = [uid for uid in window if uid in sizes and uid not in too_large]
        for uid in rest:
            if chunk and (len(chunk) >= _CHUNK_MESSAGES or total + sizes[uid] > _CHUNK_BYTES):
                break
            chunk.append(uid)
            total += sizes[uid]
        if not chunk:
            return [], later
        data = self.client.fetch(chunk, ["BODY.PEEK[]"])
        fetched = [_Fetched(uid, bytes(data[uid][b"BODY[]"])) for uid in chunk if uid in data and b"BODY[]" in data[uid]]
        return fetched, rest[len(chunk):] + later

    def after_import(self, uids: list[int]) -> None:
        """Delete, move or keep (MAILDESK_IMAP_AFTER); only for messages whose intake has committed."""
        assert self.client is not None
        imap_after.apply(self.client, self.after, uids, uidplus=self.uidplus)

    def idle_start(self) -> None:
        assert self.client is not None
        self.client.idle()
        self.idling = True

    def idle_check(self, seconds: float) -> str:
        """'mail' when the folder changed, 'quiet' after `seconds`, 'check' when unsure (e.g. EOF)."""
        assert self.client is not None
        started = time.monotonic()
        responses = self.client.idle_check(timeout=seconds)
        if any(len(r) >= 2 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
            return "mail"
        if not responses and time.monotonic() - started < seconds / 2:
            return "check"  # readable without a response: the server may have closed the connection
        return "quiet"

    def idle_done(self) -> None:
        assert self.client is not None
        if self.idling:
            self.idling = False
            self.client.idle_done()

    def close(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        try:
            if self.idling:
                self.idling = False
                client.idle_done()
            client.logout()
        except Exception:
            with contextlib.suppress(Exception):
                client.shutdown()


# --- the advisory lock (PostgreSQL): one poller per mailbox ---------------------------------


class _Lock:
    def __init__(self, conn) -> None:  # type: ignore[no-untyped-def]
        self.conn = conn

    async def check(self) -> None:
        """Raise when the connection holding the lock is gone (then so is the lock)."""
        if self.conn is not None:
            try:
                await self.conn.execute(text("SELECT 1"))
                await self.conn.commit()
            except Exception as exc:
                raise _DatabaseError(f"lost the mailbox lock: {type(exc).__name__}: {exc}") from exc


@contextlib.asynccontextmanager
async def mailbox_lock(db: Database, cfg: ImapConfig) -> AsyncIterator[_Lock | None]:
    """Yield a held lock, or None when another process holds it. SQLite: always held."""
    if db.is_sqlite:
        yield _Lock(None)
        return
    key = lock_key(cfg)
    try:
        conn = await db.write_engine.connect()
    except Exception as exc:
        raise _DatabaseError(f"{type(exc).__name__}: {exc}") from exc
    try:
        try:
            got = (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})).scalar()
            await conn.commit()  # the lock belongs to the session; no transaction stays open
        except Exception as exc:
            raise _DatabaseError(f"{type(exc).__name__}: {exc}") from exc
        if not got:
            yield None
            return
        try:
            yield _Lock(conn)
        finally:
            try:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                await conn.commit()
            except Exception:
                # The lock dies with the connection: make sure the pool does not keep it.
                with contextlib.suppress(Exception):
                    await conn.invalidate()
    finally:
        with contextlib.suppress(Exception):
            await conn.close()


# --- the async side ---------------------------------------------------------------------------


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


async def drain(mailbox: _Mailbox, intake: Intake, settings: Settings, stop: asyncio.Event | None = None) -> PassResult:
    """Ingest everything waiting in the folder; a message leaves the folder only after its commit."""
    result = PassResult()
    uids = await asyncio.to_thread(mailbox.waiting)
    keep = mailbox.after.mode == "keep"
    name = mailbox_name(mailbox.cfg)
    if keep and uids:
        try:
            uids = await imap_after.not_taken(intake.db, name, mailbox.uidvalidity, uids)
        except Exception as exc:
            raise _DatabaseError(f"{type(exc).__name__}: {exc}") from exc
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
                raise _DatabaseError(f"{type(exc).__name__}: {exc}") from exc
        await asyncio.to_thread(mailbox.after_import, committed)
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        if failed:  # left in the folder; the next pass tries again
            raise _DatabaseError(f"could not store {len(failed)} message(s): {type(failed[0]).__name__}: {failed[0]}")
    return result


async def _store(intake: Intake, settings: Settings, raw: bytes) -> Stored:
    envelope_from, envelope_to = _recipients(raw, settings)
    return await intake.store(raw, envelope_from=envelope_from, envelope_to=envelope_to, source="imap")


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


def backoff_seconds(failures: int) -> float:
    return min(_BACKOFF_FIRST_SECONDS * 2 ** max(failures - 1, 0), _BACKOFF_MAX_SECONDS)


async def _idle(mailbox: _Mailbox, lock: _Lock, stop: asyncio.Event, poll_seconds: float) -> None:
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


async def _session(rt: Runtime, intake: Intake, lock: _Lock, stop: asyncio.Event, state: _State) -> None:
    """Connect, then drain and wait (IDLE) until stopped; without IDLE, drain once and return."""
    cfg = rt.settings.imap
    assert cfg is not None
    mailbox = _Mailbox(cfg, rt.settings.max_message_bytes, rt.settings.imap_after)
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


async def poll_once_cli(settings: Settings) -> int:
    """`maildesk poll-imap --once`: ingest what is waiting, turn it into tickets, send the mail."""
    from maildesk.daemon import SchemaBehind, check_schema
    from maildesk.mail import pipeline
    from maildesk.mail.sender import Sender

    cfg = settings.imap
    assert cfg is not None
    rt = Runtime.build(settings)
    intake = Intake(rt.db, rt.metrics)
    try:
        try:
            await check_schema(rt)
        except SchemaBehind as exc:
            print(f"maildesk: {exc}", file=sys.stderr)
            return 1
        except Exception as exc:
            print(f"maildesk: cannot use the database: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}",
                  file=sys.stderr)
            return 1
        try:
            async with mailbox_lock(rt.db, cfg) as lock:
                if lock is None:
                    print(f"another maildesk process is polling {mailbox_name(cfg)} right now; "
                          "it ingests the waiting mail (0 messages ingested here)")
                    return 0
                mailbox = _Mailbox(cfg, settings.max_message_bytes, settings.imap_after)
                try:
                    await asyncio.to_thread(mailbox.connect)
                    result = await drain(mailbox, intake, settings)
                finally:
                    await asyncio.to_thread(mailbox.close)
        except Exception as exc:
            print(f"maildesk: {describe_failure(cfg, exc)}", file=sys.stderr)
            return 1
        while await pipeline.run_once(rt):
            pass
        sender = Sender(rt)
        while await sender.run_once():
            pass
        extra = f" ({result.duplicates} already stored)" if result.duplicates else ""
        print(f"ingested {result.ingested} message(s) from {mailbox_name(cfg)}{extra}")
        return 0
    finally:
        await intake.close()
        await rt.db.dispose()
