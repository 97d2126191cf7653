"""Bounces of maildesk's own mail: matched to the outbox row, failed with the remote reason,
and repeated hard bounces stop mail to the address until an admin clears it.

The delivery reports are written the way Postfix and qmail write them, quoting the real
Message-ID of the mail the sink caught and/or addressed to the per-message envelope sender
(VERP) the sink saw in MAIL FROM, and delivered with an empty return path.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import datetime, timezone
from email import message_from_bytes, policy
from email.utils import format_datetime
from typing import Any, Callable, Iterator

import pytest
from aiosmtpd.controller import Controller

from maildesk.db import Database
from maildesk.outbound import bounces
from tests.conftest import Daemon, Sink, SinkMessage, free_port, make_mail, wait_until
from tests.integration.test_loops import open_ticket, outbound_rows, send_raw, stays_quiet, wait_inbound

USER_UNKNOWN = "smtp; 550 5.1.1 <{to}>: Recipient address rejected: User unknown in virtual mailbox table"
MAILBOX_FULL = "smtp; 552 5.2.2 <{to}>: Mailbox full: quota exceeded"


def postfix_dsn(
    original: SinkMessage,
    *,
    status: str = "5.1.1",
    diagnostic: str = USER_UNKNOWN,
    action: str = "failed",
    to: str | None = None,
    quote_message_id: bool = True,
) -> bytes:
    """A Postfix RFC 3464 report about `original`, addressed to its envelope sender by default."""
    rcpt = original.to
    to = to or original.mail_from
    boundary = f"{secrets.token_hex(6)}.1710238623/mx.example.net"
    returned = [
        f"Return-Path: <{original.mail_from}>",
        f"Received: from relay.example.com (relay.example.com [192.0.2.10]) by mx.example.net (Postfix)"
        f" with ESMTP id 4TvK9B0cQ1z9sWl for <{rcpt}>; Tue, 12 Mar 2024 10:17:01 +0000 (UTC)",
    ]
    if quote_message_id:
        returned.append(f"Message-ID: {original.msg['Message-ID']}")
    returned += [f"From: {original.msg['From']}", f"To: {rcpt}", f"Subject: {original.subject}"]
    lines = [
        "Return-Path: <>",
        f"Delivered-To: {to}",
        "Received: by mx.example.net (Postfix) id 4TvK9B0cQ1z9sWl; Tue, 12 Mar 2024 10:17:03 +0000 (UTC)",
        f"Date: {format_datetime(datetime.now(timezone.utc))}",
        "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)",
        "Subject: Undelivered Mail Returned to Sender" if action == "failed"
        else "Subject: Delayed Mail (still being retried)",
        f"To: {to}",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"',
        f"Message-Id: <{secrets.token_hex(8)}@mx.example.net>",
        "",
        "This is a MIME-encapsulated message.",
        "",
        f"--{boundary}",
        "Content-Description: Notification",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "This is the mail system at host mx.example.net.",
        "",
        "I'm sorry to have to inform you that your message could not",
        "be delivered to one or more recipients. It's attached below.",
        "",
        "                   The mail system",
        "",
        f"<{rcpt}>: host mx1.example.org[198.51.100.25] said: {diagnostic.format(to=rcpt).split('; ', 1)[-1]}",
        "",
        f"--{boundary}",
        "Content-Description: Delivery report",
        "Content-Type: message/delivery-status",
        "",
        "Reporting-MTA: dns; mx.example.net",
        f"X-Postfix-Sender: rfc822; {original.mail_from}",
        "",
        f"Final-Recipient: rfc822; {rcpt}",
        f"Original-Recipient: rfc822;{rcpt}",
        f"Action: {action}",
        f"Status: {status}",
        "Remote-MTA: dns; mx1.example.org",
        f"Diagnostic-Code: {diagnostic.format(to=rcpt)}",
        "",
        f"--{boundary}",
        "Content-Description: Undelivered Message Headers",
        "Content-Type: text/rfc822-headers",
        "",
        *returned,
        "",
        f"--{boundary}--",
        "",
    ]
    return "\r\n".join(lines).encode()


def qmail_bounce(original: SinkMessage) -> bytes:
    """qmail's plain-text failure notice; this one quotes no Message-ID: only VERP can match it."""
    rcpt = original.to
    return "\r\n".join([
        "Return-Path: <>",
        f"Date: {format_datetime(datetime.now(timezone.utc))}",
        "From: MAILER-DAEMON@mail.example.info",
        f"To: {original.mail_from}",
        "Subject: failure notice",
        f"Message-ID: <{secrets.token_hex(8)}@mail.example.info>",
        "",
        "Hi. This is the qmail-send program at mail.example.info.",
        "I'm afraid I wasn't able to deliver your message to the following addresses.",
        "This is a permanent error; I've given up. Sorry it didn't work out.",
        "",
        f"<{rcpt}>:",
        f"Remote host said: 550 5.1.1 <{rcpt}>... User unknown",
        "",
        "--- Below this line is a copy of the message.",
        "",
        f"Return-Path: <{original.mail_from}>",
        "From: Support <support@example.com>",
        "Subject: (trimmed)",
        "",
        "Hello,",
        "",
    ]).encode()


def bounce(daemon: Daemon, raw: bytes, rcpt: str) -> tuple[str, str, str | None, int | None]:
    return wait_inbound(daemon, send_raw(daemon, raw, mail_from="", rcpt=[rcpt]))


def outbound_by_message_id(daemon: Daemon, mail: SinkMessage) -> tuple[Any, ...]:
    (row,) = daemon.sql(
        "SELECT id, status, last_error, to_addr, ticket_id FROM outbound_messages WHERE message_id = :m",
        m=mail.msg["Message-ID"].strip("<>"),
    )
    return row


def suppression(daemon: Daemon, email: str) -> tuple[Any, ...] | None:
    rows = daemon.sql(
        "SELECT bounce_count, suppressed_at IS NOT NULL AND cleared_at IS NULL, reason "
        "FROM suppressed_addresses WHERE email = :e", e=email,
    )
    if not rows:
        return None
    count, active, reason = rows[0]
    return count, bool(active), reason  # SQLite answers 0/1, PostgreSQL a boolean


# -- matching and failing --------------------------------------------------------------------------


def test_dsn_to_the_verp_address_fails_that_message_and_suppresses_unknown_user(daemon: Daemon, sink: Sink) -> None:
    requester = "nobody@example.net"
    number, confirmation = open_ticket(daemon, sink, requester, "Where is my parcel?")
    assert confirmation.mail_from.startswith("support+bounce-")

    status, reason, classification, ticket_id = bounce(daemon, postfix_dsn(confirmation), confirmation.mail_from)
    assert (status, classification) == ("ignored", "bounce")
    assert "not answered" in reason and "5.1.1" in reason and "User unknown" in reason
    row_id, row_status, last_error, to_addr, row_ticket = outbound_by_message_id(daemon, confirmation)
    assert (row_status, to_addr) == ("failed", requester)
    assert last_error.startswith("bounced: 5.1.1") and "Recipient address rejected: User unknown" in last_error
    # The bounce is on the ticket's record, as a system event; the ticket is unchanged.
    assert ticket_id == row_ticket
    assert daemon.sql("SELECT status FROM tickets WHERE ticket_number = :n", n=number) == [("open",)]
    assert daemon.sql(
        "SELECT kind, new_value FROM ticket_events WHERE ticket_id = :t ORDER BY id DESC LIMIT 1", t=ticket_id
    ) == [("automatic_mail", "bounce")]
    assert daemon.sql("SELECT matched_by FROM inbound_messages ORDER BY id DESC LIMIT 1") == [("verp",)]

    # 5.1.1 (no such user) suppresses at once; the next request is still a ticket, but its
    # confirmation is stored as suppressed, with the reason, and never sent.
    count, active, why = suppression(daemon, requester)
    assert (count, active) == (1, True) and "5.1.1" in why
    daemon.send(make_mail(requester, "Hello again?", "Anyone there?"))
    daemon.wait_processed(3)
    assert len(daemon.tickets()) == 2
    rows = outbound_rows(daemon, requester)
    assert [r[3] for r in rows] == ["failed", "suppressed"]
    assert "is suppressed" in rows[1][4] and "5.1.1" in rows[1][4]
    stays_quiet(daemon, sink)
    assert len(sink.to(requester)) == 1


def test_dsn_matched_by_quoted_message_id_alone(daemon: Daemon, sink: Sink) -> None:
    """A relay that rewrote the return path: the report reaches plain support@ and quotes our id."""
    _number, confirmation = open_ticket(daemon, sink, "moved@example.org", "Account")
    status, reason, _c, _t = bounce(daemon, postfix_dsn(confirmation, to="support@example.com"), "support@example.com")
    assert status == "ignored" and "bounce of our message" in reason
    assert outbound_by_message_id(daemon, confirmation)[1] == "failed"
    assert daemon.sql("SELECT matched_by FROM inbound_messages ORDER BY id DESC LIMIT 1") == [("message_id",)]


def test_plain_text_bounce_matched_by_verp_alone(daemon: Daemon, sink: Sink) -> None:
    _number, confirmation = open_ticket(daemon, sink, "ghost@example.info", "Hello")
    status, reason, _c, _t = bounce(daemon, qmail_bounce(confirmation), confirmation.mail_from)
    assert status == "ignored" and "5.1.1" in reason
    row = outbound_by_message_id(daemon, confirmation)
    assert row[1] == "failed" and "User unknown" in row[2]


def test_delay_warning_changes_nothing(daemon: Daemon, sink: Sink) -> None:
    _number, confirmation = open_ticket(daemon, sink, "slow@example.net", "Slow")
    dsn = postfix_dsn(confirmation, action="delayed", status="4.4.1",
                      diagnostic="X-Postfix; connect to mx.example.net[198.51.100.7]:25: Connection timed out")
    status, reason, _c, _t = bounce(daemon, dsn, confirmation.mail_from)
    assert status == "ignored" and "delayed" in reason
    assert outbound_by_message_id(daemon, confirmation)[1] == "sent"
    assert suppression(daemon, "slow@example.net") is None


def test_forged_reports_fail_nothing(daemon: Daemon, sink: Sink) -> None:
    """A guessed bounce address or a made-up Message-ID matches no outbox row."""
    _number, confirmation = open_ticket(daemon, sink, "victim@example.org", "Help")
    row_id = outbound_by_message_id(daemon, confirmation)[0]
    forged_verp = f"support+bounce-{row_id}-aaaaaaaaaa@example.com"
    status, reason, _c, _t = bounce(daemon, postfix_dsn(confirmation, to=forged_verp, quote_message_id=False),
                                    forged_verp)
    assert status == "ignored" and "bounce of our message" not in reason
    fake = SinkMessage(confirmation.mail_from, confirmation.rcpt_tos,
                       make_mail("support@example.com", confirmation.subject, "x",
                                 message_id="<md.0123456789abcdef01234567.aaaaaaaaaaaaaaaa@example.com>"), b"")
    status, reason, _c, _t = bounce(daemon, postfix_dsn(fake, to="support@example.com"), "support@example.com")
    assert status == "ignored" and "bounce of our message" not in reason
    assert outbound_by_message_id(daemon, confirmation)[1] == "sent"
    assert suppression(daemon, "victim@example.org") is None
    stays_quiet(daemon, sink)


# -- repeated bounces, and clearing -----------------------------------------------------------------


def test_three_hard_bounces_suppress_and_an_admin_can_clear(daemon: Daemon, sink: Sink) -> None:
    requester = "full@example.org"
    for n in range(1, 4):
        confirmation = _new_ticket_nth(daemon, sink, requester, n)
        dsn = postfix_dsn(confirmation, status="5.2.2", diagnostic=MAILBOX_FULL)
        status, reason, _c, _t = bounce(daemon, dsn, confirmation.mail_from)
        assert status == "ignored"
        count, active, why = suppression(daemon, requester)
        assert count == n and active is (n == 3), (n, why)
    assert "3 hard bounces within 30 days" in why and "5.2.2" in why

    daemon.send(make_mail(requester, "Fourth", "Still nothing?"))
    wait_for_tickets(daemon, 4)
    assert [r[3] for r in outbound_rows(daemon, requester)] == ["failed"] * 3 + ["suppressed"]
    stays_quiet(daemon, sink)

    # Another report about an already failed message does not count again.
    status, reason, _c, _t = bounce(daemon, postfix_dsn(confirmation, status="5.2.2", diagnostic=MAILBOX_FULL),
                                    confirmation.mail_from)
    assert status == "ignored" and "already recorded" in reason
    assert suppression(daemon, requester)[0] == 3

    # An admin clears it (the service function the API calls); mail flows again.
    cleared = asyncio.run(_clear(daemon, requester, "admin@example.com"))
    assert cleared is True
    assert asyncio.run(_clear(daemon, requester, "admin@example.com")) is False  # nothing left to clear
    assert suppression(daemon, requester)[:2] == (0, False)
    daemon.send(make_mail(requester, "Fifth", "Hello?"))
    sink.wait_for(requester, 4)
    assert outbound_rows(daemon, requester)[-1][3] == "sent"


def test_policy_refusals_do_not_suppress(daemon: Daemon, sink: Sink) -> None:
    """5.7.x is about our message or our server, not the mailbox: the message fails, the address stays."""
    requester = "strict@example.org"
    for n in range(1, 4):
        confirmation = _new_ticket_nth(daemon, sink, requester, n)
        dsn = postfix_dsn(confirmation, status="5.7.1",
                          diagnostic="smtp; 554 5.7.1 <{to}>: Message rejected as spam by content filter")
        bounce(daemon, dsn, confirmation.mail_from)
        assert outbound_by_message_id(daemon, confirmation)[1] == "failed"
    assert suppression(daemon, requester) is None


def test_hard_bounces_older_than_the_window_are_forgotten(daemon: Daemon, sink: Sink) -> None:
    requester = "flaky@example.org"
    for n in (1, 2):
        confirmation = _new_ticket_nth(daemon, sink, requester, n)
        bounce(daemon, postfix_dsn(confirmation, status="5.2.2", diagnostic=MAILBOX_FULL), confirmation.mail_from)
    assert suppression(daemon, requester)[:2] == (2, False)
    # Those two were more than 30 days ago: the third starts a new window.
    daemon.sql("UPDATE suppressed_addresses SET first_bounce_at = :t WHERE email = :e",
               t=datetime(2000, 1, 1), e=requester)
    confirmation = _new_ticket_nth(daemon, sink, requester, 3)
    bounce(daemon, postfix_dsn(confirmation, status="5.2.2", diagnostic=MAILBOX_FULL), confirmation.mail_from)
    assert suppression(daemon, requester)[:2] == (1, False)


def _new_ticket_nth(daemon: Daemon, sink: Sink, requester: str, n: int) -> SinkMessage:
    """The n-th request from `requester`; returns its confirmation as the sink caught it."""
    daemon.send(make_mail(requester, f"Request {n}", "Please help."))
    return sink.wait_for(requester, n)[n - 1]


def wait_for_tickets(daemon: Daemon, count: int) -> None:
    wait_until(lambda: len(daemon.tickets()) >= count, 20, what=f"{count} tickets")


async def _clear(daemon: Daemon, email: str, actor: str) -> bool:
    db = Database(daemon.db.url, pool_size=1)
    try:
        async with db.write() as session:
            return await bounces.clear_suppression(session, email, actor) is not None
    finally:
        await db.dispose()


# -- the relay refuses the recipient outright ---------------------------------------------------------


class _PickyRelay:
    """A relay that verifies recipients: refuses some at RCPT, takes the rest into a sink."""

    def __init__(self, sink: Sink, refusals: dict[str, str]) -> None:
        self.sink, self.refusals = sink, refusals

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        refusal = self.refusals.get(address.lower())
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.original_content, policy=policy.default)
        self.sink.messages.append(SinkMessage(envelope.mail_from, list(envelope.rcpt_tos), msg,
                                              envelope.original_content))
        return "250 2.0.0 Ok"


@pytest.fixture
def picky_relay() -> Iterator[Sink]:
    relay = Sink(free_port())
    handler = _PickyRelay(relay, {
        "unknown@example.net": "550 5.1.1 <unknown@example.net>: Recipient address rejected: User unknown",
        "denied@example.net": "554 5.7.1 <denied@example.net>: Relay access denied",
    })
    controller = Controller(handler, hostname="127.0.0.1", port=relay.port)
    controller.start()
    yield relay
    controller.stop()


def test_relay_refusing_an_unknown_recipient_counts_as_a_hard_bounce(
    daemon_factory: Callable[..., Daemon], picky_relay: Sink
) -> None:
    daemon = daemon_factory(MAILDESK_RELAY_URL=f"smtp://127.0.0.1:{picky_relay.port}")
    daemon.send(make_mail("unknown@example.net", "One", "First."))
    daemon.send(make_mail("denied@example.net", "Two", "Second."))
    daemon.wait_processed(2)
    wait_until(lambda: all(r[3] == "failed" for r in outbound_rows(daemon)) and len(outbound_rows(daemon)) == 2,
               20, what="both confirmations refused")
    assert suppression(daemon, "unknown@example.net")[1] is True
    assert suppression(daemon, "denied@example.net") is None  # 5.7.1: the relay's policy, not the address
    daemon.send(make_mail("unknown@example.net", "Three", "Again."))
    wait_for_tickets(daemon, 3)
    assert outbound_rows(daemon, "unknown@example.net")[-1][3] == "suppressed"


def test_mail_queued_before_the_address_was_suppressed_is_not_sent(daemon_factory: Callable[..., Daemon]) -> None:
    """The relay is down, so the confirmation waits; meanwhile the address gets suppressed."""
    daemon = daemon_factory(MAILDESK_RELAY_URL=f"smtp://127.0.0.1:{free_port()}")
    daemon.send(make_mail("later@example.org", "Queued", "Hello."))
    daemon.wait_processed(1)
    wait_until(lambda: outbound_rows(daemon, "later@example.org")[0][3] == "pending", 10, what="a retry")
    daemon.sql(
        "INSERT INTO suppressed_addresses (email, reason, bounce_count, suppressed_at) "
        "VALUES ('later@example.org', 'the recipient does not exist: 5.1.1', 1, :t)", t=datetime(2026, 1, 1),
    )
    row = wait_until(lambda: [r for r in outbound_rows(daemon, "later@example.org") if r[3] == "suppressed"], 20,
                     what="the queued confirmation to be held back")[0]
    assert "is suppressed (the recipient does not exist: 5.1.1)" in row[4]


# -- the pure parts -------------------------------------------------------------------------------


def test_verp_address_round_trip_and_policy() -> None:
    from maildesk.config import Settings

    settings = Settings(support_address="help@desk.example", secret_key="k1")
    address = bounces.verp_address(settings, 42)
    local, domain = address.split("@")
    assert domain == "desk.example" and local.startswith("help+bounce-42-")
    token = local.split("+bounce-", 1)[1]
    assert bounces.verp_outbound_id(settings, token) == 42
    assert bounces.verp_outbound_id(settings, token.upper()) == 42  # some MTAs fold case
    assert bounces.verp_outbound_id(settings, "43-" + token.split("-", 1)[1]) is None
    assert bounces.verp_outbound_id(Settings(support_address="help@desk.example", secret_key="k2"), token) is None
    assert bounces.is_bounce_address(settings, address.upper())
    assert not bounces.is_bounce_address(settings, "help+billing@desk.example")
    assert not bounces.is_bounce_address(settings, "help+bounce-1-x@other.example")

    assert bounces.enhanced_status("550 5.1.1 <a@b>: User unknown") == "5.1.1"
    assert bounces.enhanced_status("550 Relaying denied") is None
    for status in ("5.1.1", "5.2.2", "5.0.0", "5.4.4", "5.1.10"):
        assert bounces.counts_toward_suppression(status), status
    for status in ("4.4.1", "5.7.1", "5.7.26", "5.6.0", "5.3.4", "5.2.3", "2.0.0"):
        assert not bounces.counts_toward_suppression(status), status


def test_admins_see_and_clear_suppressions_over_the_api_and_read_raw_mail(daemon: Daemon, sink: Sink) -> None:
    from tests.integration.api_helpers import anon, error, user_client

    requester = "gone@example.net"
    _number, confirmation = open_ticket(daemon, sink, requester, "Lost order")
    bounce(daemon, postfix_dsn(confirmation), confirmation.mail_from)
    with user_client(daemon, "boss@example.com", admin=True) as admin:
        listed = admin.get("/admin/support/suppressed").json()
        assert [(e["email"], e["bounce_count"]) for e in listed] == [(requester, 1)]
        assert "5.1.1" in listed[0]["reason"]

        inbound = admin.get("/admin/support/inbound").json()["items"]
        first = inbound[-1]  # oldest: the requester's own message
        raw = admin.get(f"/admin/support/inbound/{first['id']}/raw")
        assert raw.status_code == 200 and b"Subject: Lost order" in raw.content
        assert raw.headers["content-disposition"].startswith("attachment")
        assert raw.headers["x-content-type-options"] == "nosniff"
        error(admin.get("/admin/support/inbound/999999/raw"), 404)

        cleared = admin.delete(f"/admin/support/suppressed/{requester}")
        assert cleared.status_code == 200 and cleared.json()["cleared_at"]
        assert admin.get("/admin/support/suppressed").json() == []
        error(admin.delete(f"/admin/support/suppressed/{requester}"), 404)
    with user_client(daemon, requester) as requester_client:
        error(requester_client.get(f"/admin/support/inbound/{first['id']}/raw"), 403)
    with anon(daemon) as nobody:
        error(nobody.get("/admin/support/suppressed"), 401)
    # Mail flows again once cleared.
    daemon.send(make_mail(requester, "Back again", "Hello"))
    sink.wait_for(requester, count=2)
