"""The inbound SMTP listener (aiosmtpd): recipient policy, size limit, and 250 only after intake.

It accepts mail for the support address and its +tag variants and nothing else, so it is
never an open relay. Replies use RFC 3463 enhanced status codes; an internal error is a 451
(the sender retries) and never shows exception text to the client.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from maildesk.config import Settings
from maildesk.mail.intake import Intake
from maildesk.mail.limits import MessageRefused, MimeLimits, precheck

log = logging.getLogger("maildesk.smtp")

OK = "250 2.0.0 Ok: queued as {id}"
OK_DUPLICATE = "250 2.0.0 Ok: already received as {id}"
OK_RCPT = "250 2.1.5 Recipient ok"
NO_SUCH_USER = "550 5.1.1 <{address}>: no such mailbox here; this server only accepts mail for {support}"
TOO_BIG = "552 5.3.4 Message too big: the limit is {limit} bytes"
REFUSED = "554 5.6.0 Message refused: {reason}"
LINE_TOO_LONG = "554 5.6.0 Message refused: a line is longer than {limit} bytes"
TRY_LATER = "451 4.3.0 Temporary failure storing the message; please try again later"
INTERNAL = "451 4.3.0 Internal error; please try again later"

MAX_LINE_BYTES = 1024 * 1024


def is_support_address(address: str, settings: Settings) -> bool:
    """support@domain or support+anything@domain, case-insensitive."""
    local, sep, domain = address.strip().strip("<>").rpartition("@")
    if not sep or domain.lower() != settings.support_domain:
        return False
    local = local.lower()
    support = settings.support_local
    return local == support or local.startswith(support + "+")


class _Protocol(SMTP):
    """aiosmtpd's SMTP with RFC 3463 codes on its own size and line-length refusals."""

    line_length_limit = MAX_LINE_BYTES

    async def smtp_DATA(self, arg: str) -> None:
        # From the DATA command until its reply, this session holds a message in flight:
        # shutdown waits for it (handler.idle) rather than cutting the transfer.
        self.event_handler.begin()
        try:
            await super().smtp_DATA(arg)
        finally:
            self.event_handler.end()

    async def push(self, status: Any) -> None:
        if isinstance(status, str):
            if status.startswith("552 Error"):
                status = TOO_BIG.format(limit=self.data_size_limit)
            elif status.startswith("500 Line too long"):
                status = LINE_TOO_LONG.format(limit=self.line_length_limit)
        await super().push(status)


class SupportHandler:
    """aiosmtpd handler hooks."""

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

    def end(self) -> None:
        self.in_flight -= 1
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


async def start_smtp(settings: Settings, handler: SupportHandler) -> asyncio.base_events.Server:
    loop = asyncio.get_running_loop()

    def factory() -> SMTP:
        return _Protocol(
            handler,
            data_size_limit=settings.max_message_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=settings.support_domain,
            ident="maildesk",
            timeout=300,
        )

    return await loop.create_server(factory, host=settings.smtp_listen.host, port=settings.smtp_listen.port)
