"""The inbound SMTP listener (aiosmtpd): recipient policy, size limit, and 250 only after intake.

It accepts mail for the support address and its +tag variants and nothing else, so it is
never an open relay. Replies use RFC 3463 enhanced status codes; an internal error is a 451
(the sender retries) and never shows exception text to the client.

DATA (issue 14): maildesk reads the message itself rather than through aiosmtpd's line-at-a-time
loop, which keeps every line as its own object until the end (+100 MB peak and a Python loop
turn per line on a 25 MB message, bench/README.md). It does so through documented APIs only:
aiosmtpd's SMTP is an asyncio.StreamReaderProtocol, and `data_received` (asyncio.Protocol's
callback) is overridden. After the 354 the bytes go to smtp_data.DataReader (end of message,
dot-unstuffing, size and line limits) instead of aiosmtpd's stream reader; the bytes after the
end (a pipelined command) go back to aiosmtpd. Outside DATA aiosmtpd gets one command line at
a time (smtp_gate.py), so no byte of a message can be left in its buffer when DATA starts.
Everything else is aiosmtpd's documented surface (handler hooks, `event_handler`, `envelope`,
`session`, `transport`, `push`, `data_size_limit`, `line_length_limit`).

aiosmtpd stays pinned to the tested range (<1.5 in pyproject.toml) all the same: the override
relies on aiosmtpd's documented-by-behaviour contract that its session reads every byte through
the protocol's stream reader, that every command line gets a reply pushed through `push`, and
that smtp_DATA is the only place DATA is read; tests/integration/test_smtp_differential.py
feeds the same byte streams to stock aiosmtpd and to this listener and compares the stored
message and the replies, and must pass before the pin moves.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiosmtpd.smtp import MISSING, SMTP, Envelope, Session

from maildesk.config import Settings, server_tls_context
from maildesk.intake.smtp_data import LINE_TOO_LONG, TOO_BIG, DataReader
from maildesk.intake.smtp_gate import CommandGate
from maildesk.intake.store import Intake
from maildesk.mime.limits import MessageRefused, MimeLimits, precheck
from maildesk.metrics import SessionCounting
from maildesk.intake.sessions import IDLE, TOO_MANY, TOO_MANY_FROM_YOU, SessionGate

log = logging.getLogger("maildesk.smtp")

OK = "250 2.0.0 Ok: queued as {id}"
OK_DUPLICATE = "250 2.0.0 Ok: already received as {id}"
OK_RCPT = "250 2.1.5 Recipient ok"
NO_SUCH_USER = "550 5.1.1 <{address}>: no such mailbox here; this server only accepts mail for {support}"
REFUSED = "554 5.6.0 Message refused: {reason}"
TRY_LATER = "451 4.3.0 Temporary failure storing the message; please try again later"
INTERNAL = "451 4.3.0 Internal error; please try again later"

MAX_LINE_BYTES = 1024 * 1024
HOLD_BYTES = MAX_LINE_BYTES  # pipelined bytes kept ahead of the replies before reading pauses


def is_support_address(address: str, settings: Settings) -> bool:
    """support@domain or support+anything@domain, case-insensitive."""
    local, sep, domain = address.strip().strip("<>").rpartition("@")
    if not sep or domain.lower() != settings.support_domain:
        return False
    local = local.lower()
    support = settings.support_local
    return local == support or local.startswith(support + "+")


class _Protocol(SessionCounting, SMTP):
    """aiosmtpd's SMTP with RFC 3463 codes on its own size and line-length refusals, a DATA
    phase that reads the message in large pieces, and the session limits of sessions.py: a
    session over the caps gets 421 4.7.0 at once; one with no transaction open (before MAIL
    FROM, or after a transaction ended) is closed with 421 4.4.2 after `idle_seconds`.

    Once a transaction is open, aiosmtpd's own `timeout` (5 minutes without a command, RFC
    5321 §4.5.3.2.7) applies as before.
    """

    line_length_limit = MAX_LINE_BYTES

    def __init__(self, handler: Any, *, gate: SessionGate, idle_seconds: float, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.decode_text = bool(kwargs.get("decode_data", False))  # the documented decode_data argument
        self.gate = gate
        self.idle_seconds = idle_seconds
        self.client_ip: str | None = None  # set while this session holds a place in the gate
        self.refused = False
        self.idle_timer: asyncio.TimerHandle | None = None
        self.lines = CommandGate()  # client bytes aiosmtpd has not been given yet
        self.paused = False  # reading paused by _flow
        self.message: DataReader | None = None  # set while DATA is being read
        self.message_done: asyncio.Future[bytes | str | None] | None = None
        self.sending_354 = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.client_ip is None and not self.refused:  # not the STARTTLS upgrade's second call
            peer = transport.get_extra_info("peername")
            ip = str(peer[0]) if peer else "unknown"
            why = self.gate.admit(ip)
            if why is not None:
                # Said before the greeting and closed: RFC 5321 §3.1 allows a 421 instead of 220.
                self.refused = True
                reply = TOO_MANY_FROM_YOU if why == "ip" else TOO_MANY
                assert isinstance(transport, asyncio.WriteTransport)
                transport.write(reply.format(host=self.hostname, ip=ip).encode("ascii", "replace") + b"\r\n")
                transport.close()
                self.gate.refused(ip, why)
                return
            self.client_ip = ip
        elif self.client_ip is not None:
            self.lines.reset()  # the STARTTLS upgrade: plaintext sent after the command is dropped
        super().connection_made(transport)
        self._idle_check()

    def connection_lost(self, error: Exception | None) -> None:
        if self.refused:
            return  # aiosmtpd never saw this connection
        if self.idle_timer is not None:
            self.idle_timer.cancel()
            self.idle_timer = None
        if self.client_ip is not None:
            self.gate.release(self.client_ip)
            self.client_ip = None
        if self.message_done is not None and not self.message_done.done():
            self.message_done.set_result(None)  # gone mid-message: nothing is stored
        self.lines.reset()
        super().connection_lost(error)

    def _idle_check(self) -> None:
        """Arm the idle timer when no transaction is open and it is not armed; disarm it once
        MAIL FROM opened one. Called after every reply, so a NOOP does not re-arm it."""
        open_transaction = self.envelope is not None and self.envelope.mail_from is not None
        if open_transaction and self.idle_timer is not None:
            self.idle_timer.cancel()
            self.idle_timer = None
        elif not open_transaction and self.idle_timer is None and self.transport is not None:
            self.idle_timer = self.loop.call_later(self.idle_seconds, self._idle_expired)

    def _idle_expired(self) -> None:
        self.idle_timer = None
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        self.gate.idle_closed(self.client_ip or "unknown", self.idle_seconds)
        transport.write(IDLE.format(host=self.hostname).encode("ascii", "replace") + b"\r\n")
        transport.close()

    async def smtp_DATA(self, arg: str) -> None:
        # From the DATA command until its reply, this session holds a message in flight:
        # shutdown waits for it (handler.idle) rather than cutting the transfer.
        self.event_handler.begin()
        try:
            await self._data(arg)
        finally:
            self.event_handler.end()

    async def _data(self, arg: str) -> None:
        """aiosmtpd's smtp_DATA with the message read from data_received; same replies and hooks."""
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        content = await self._read_data()
        if content is None:  # the client went away mid-message
            return
        if isinstance(content, str):  # refused, once the whole message was read (RFC 5321 §4.2.5)
            self.envelope = Envelope()  # the transaction ends (RFC 5321 §4.1.1.4), as after a 250
            await self.push(content)
            return
        self.envelope.original_content = content
        self.envelope.content = content.decode("utf-8", "surrogateescape") if self.decode_text else content
        # The documented handler hook, called as aiosmtpd calls it: (server, session, envelope).
        hook = getattr(self.event_handler, "handle_DATA", None)
        status = MISSING if hook is None else await hook(self, self.session, self.envelope)
        self.envelope = Envelope()
        await self.push("250 OK" if status is MISSING else status)

    async def _read_data(self) -> bytes | str | None:
        """Say 354 and take the message from data_received: the bytes (dot-unstuffed), a
        refusal reply (over the size or line limit), or None when the connection closed."""
        self.message = DataReader(self.data_size_limit, self.line_length_limit)
        self.message_done = asyncio.get_running_loop().create_future()
        self.sending_354 = True
        try:
            early = self.lines.take_all()  # sent before the 354: stock aiosmtpd reads it as DATA too
            self._flow()  # reading may have paused on those bytes
            if early:
                self._take_message(early)
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            self.sending_354 = False
            return await self.message_done
        except asyncio.CancelledError:
            # aiosmtpd cancels the session's task on EOF and on connection loss.
            log.info("connection lost during DATA")
            if self.transport is not None:
                self.transport.close()
            raise
        finally:
            self.sending_354 = False
            self.message = None
            self.message_done = None

    def data_received(self, data: bytes) -> None:
        """asyncio.Protocol's documented callback: during DATA the bytes go to the message,
        otherwise to aiosmtpd a line at a time (smtp_gate.py says why)."""
        if self.message is not None:
            self._take_message(data)
        else:
            self._to_aiosmtpd(self.lines.received(data))

    def _take_message(self, data: bytes) -> None:
        message = self.message
        assert message is not None
        rest = message.feed(data)
        if rest is None:
            return
        self.message = None
        # What follows the end is the next command (pipelined, RFC 2920): it waits until
        # this message has its reply.
        self.lines.after_data(data[len(data) - rest :] if rest else b"")
        self._flow()
        if self.message_done is not None and not self.message_done.done():
            self.message_done.set_result(message.result())

    def _to_aiosmtpd(self, data: bytes) -> None:
        if data:
            super().data_received(data)
        self._flow()

    def _flow(self) -> None:
        """Stop reading from a client that pipelines more than HOLD_BYTES ahead of the replies
        (asyncio.ReadTransport's pause_reading); go on once the backlog is read."""
        transport = self.transport
        if not isinstance(transport, asyncio.ReadTransport) or transport.is_closing():
            return
        held = len(self.lines.held)
        if held > HOLD_BYTES and not self.paused:
            transport.pause_reading()
            self.paused = True
        elif held <= HOLD_BYTES and self.paused:
            transport.resume_reading()
            self.paused = False

    async def push(self, status: Any) -> None:
        if isinstance(status, str):
            if status.startswith("552 Error"):
                status = TOO_BIG.format(limit=self.data_size_limit)
            elif status.startswith("500 Line too long"):
                status = LINE_TOO_LONG.format(limit=self.line_length_limit)
        await super().push(status)
        if not self.sending_354:
            self._to_aiosmtpd(self.lines.reply_sent(status))
        self._idle_check()


class SupportHandler:
    """aiosmtpd handler hooks."""

    session_gauge: Any = None  # maildesk_smtp_sessions when the daemon sets it (metrics.SessionCounting)

    def __init__(self, settings: Settings, intake: Intake, limits: MimeLimits) -> None:
        self.settings = settings
        self.intake = intake
        self.limits = limits
        self.in_flight = 0
        self.idle = asyncio.Event()
        self.idle.set()

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if not is_support_address(address, self.settings):
            return NO_SUCH_USER.format(address=address[:200], support=self.settings.support_address)
        envelope.rcpt_tos.append(address)
        return OK_RCPT

    def begin(self) -> None:
        self.in_flight += 1
        self.idle.clear()
        self.intake.db.foreground_begin()  # background workers hold back while a client waits

    def end(self) -> None:
        self.in_flight -= 1
        self.intake.db.foreground_end()
        if self.in_flight == 0:
            self.idle.set()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        try:
            precheck(raw, self.limits)
        except MessageRefused as refused:
            return REFUSED.format(reason=str(refused)[:300])
        try:
            stored = await self.intake.store(
                raw, envelope_from=envelope.mail_from, envelope_to=list(envelope.rcpt_tos), source="smtp"
            )
        except Exception:
            return TRY_LATER
        return (OK_DUPLICATE if stored.duplicate else OK).format(id=stored.inbound_id)

    async def handle_exception(self, error: Exception) -> str:
        log.error("SMTP session error: %s: %s", type(error).__name__, error)
        return INTERNAL


async def start_smtp(
    settings: Settings, handler: SupportHandler, gate: SessionGate | None = None
) -> asyncio.base_events.Server:
    """Listen for SMTP. `gate` caps sessions (default: the configured caps); STARTTLS is
    offered when a certificate is configured (RFC 3207), never required."""
    loop = asyncio.get_running_loop()
    gate = gate or SessionGate(settings.smtp_max_sessions, settings.smtp_max_sessions_per_ip)
    tls = server_tls_context(settings)

    def factory() -> SMTP:
        return _Protocol(
            handler,
            gate=gate,
            idle_seconds=settings.smtp_idle_seconds,
            data_size_limit=settings.max_message_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=settings.support_domain,
            ident="maildesk",
            timeout=300,  # RFC 5321 §4.5.3.2.7: 5 minutes for the next command
            tls_context=tls,
            require_starttls=False,
        )

    return await loop.create_server(factory, host=settings.smtp_listen.host, port=settings.smtp_listen.port)
