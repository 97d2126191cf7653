"""Forged senders, sender authentication, NUL bytes and limit markers, through the real daemon.

Issue 11 items 2, 3, 5 and 9: a display name never names the sender; a From the trusted front
server failed never posts into an existing ticket; NUL bytes are stored on both databases;
content cut past the MIME limits is named in the ticket and the inbound record.
"""

from __future__ import annotations

import secrets
import socket
from typing import Any, Callable

from tests.conftest import Daemon, Sink, make_mail
from tests.integration.api_helpers import add_user, user_client
from tests.integration.test_pages import sign_in

VICTIM = "victim@example.org"
SUPPORT = "support@example.com"


def _ticket_of(daemon: Daemon, requester: str) -> tuple[Any, ...]:
    rows = [t for t in daemon.tickets() if t[2] == requester]
    assert len(rows) == 1, daemon.tickets()
    return rows[0]


def _senders(daemon: Daemon, ticket_id: int) -> list[str]:
    rows = daemon.sql("SELECT sender_email FROM ticket_messages WHERE ticket_id = :t ORDER BY id", t=ticket_id)
    return [r[0] for r in rows]


def _open_ticket(daemon: Daemon, sink: Sink, sender: str = VICTIM) -> dict[str, Any]:
    first = make_mail(sender, "My order never came", "Order 1234 is missing.")
    daemon.send(first)
    (confirmation,) = sink.wait_for(sender)
    ticket_id, number = _ticket_of(daemon, sender)[:2]
    return {"id": ticket_id, "number": number, "confirmation": confirmation}


def _raw(from_header: str, subject: str, body: str = "hello", extra: str = "") -> bytes:
    return (
        f"{extra}From: {from_header}\r\nTo: {SUPPORT}\r\nSubject: {subject}\r\n"
        "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
        f"Message-ID: <{secrets.token_hex(8)}@client.example.org>\r\n\r\n{body}\r\n"
    ).encode()


# --- 1. display names ------------------------------------------------------------------------


def test_display_name_naming_the_victim_opens_the_forgers_own_ticket(daemon: Daemon, sink: Sink) -> None:
    ticket = _open_ticket(daemon, sink)
    forged = make_mail("placeholder@example.org", f"Re: [{ticket['number']}] My order never came",
                       "Please refund to my new card.")
    del forged["From"]
    forged["From"] = f"{VICTIM} <mallory@evil.example>"
    daemon.send(forged, mail_from="mallory@evil.example")
    daemon.wait_processed(2)

    assert _senders(daemon, ticket["id"]) == [VICTIM]
    own = _ticket_of(daemon, "mallory@evil.example")
    assert _senders(daemon, own[0]) == ["mallory@evil.example"]
    # The confirmation goes to the angle address, never to the victim.
    (mail,) = sink.wait_for("mallory@evil.example")
    assert ticket["number"] not in mail.subject
    assert len(sink.to(VICTIM)) == 1  # only the victim's own confirmation


def test_encoded_crlf_display_names_are_processed_and_mail_no_injected_address(daemon: Daemon, sink: Sink) -> None:
    daemon.send(_raw("=?utf-8?q?Eve=0D=0ABcc:_injected1@evil.example?= <eve@example.org>", "first"),
                mail_from="eve@example.org")
    daemon.send(_raw("=?utf-8?q?x=0D=0Avictim@example.org?= <eve2@example.org>", "second"),
                mail_from="eve2@example.org")
    daemon.wait_processed(2)

    statuses = daemon.sql("SELECT status, reason FROM inbound_messages ORDER BY id")
    assert statuses == [("processed", None), ("processed", None)]
    assert [t[2] for t in daemon.tickets()] == ["eve@example.org", "eve2@example.org"]
    sink.wait_for("eve@example.org")
    sink.wait_for("eve2@example.org")
    recipients = {m.to for m in sink.messages}
    assert recipients == {"eve@example.org", "eve2@example.org"}
    # Display names are stored on one line, without the CR/LF the encoded-word carried.
    names = dict(daemon.sql("SELECT email, name FROM users WHERE email LIKE 'eve%'"))
    assert names == {"eve@example.org": "Eve Bcc: injected1@evil.example", "eve2@example.org": "x victim@example.org"}


# --- 2. sender authentication ----------------------------------------------------------------

TRUSTED = "mx.example.com"


def _reply(ticket: dict[str, Any], results: str, body: str) -> bytes:
    in_reply_to = ticket["confirmation"].msg["Message-ID"]
    return _raw(VICTIM, f"Re: [{ticket['number']}] My order never came", body,
                extra=f"Authentication-Results: {results}\r\nIn-Reply-To: {in_reply_to}\r\n")


def test_trusted_dmarc_fail_opens_a_new_ticket_and_pass_threads(daemon_factory: Callable[..., Daemon], sink: Sink) -> None:
    daemon = daemon_factory(MAILDESK_TRUSTED_AUTHSERV_IDS=TRUSTED)
    ticket = _open_ticket(daemon, sink)
    daemon.send(_reply(ticket, f"{TRUSTED}; dmarc=fail (p=none) header.from=example.org", "forged reply"),
                mail_from="mallory@evil.example")
    daemon.wait_processed(2)
    # Not in the existing ticket: a ticket of its own.
    assert _senders(daemon, ticket["id"]) == [VICTIM]
    tickets = daemon.tickets()
    assert len(tickets) == 2 and tickets[1][2] == VICTIM
    status, reason, verified = daemon.sql(
        "SELECT status, reason, sender_verified FROM inbound_messages ORDER BY id")[1]
    assert (status, bool(verified)) == ("processed", False) and verified is not None
    assert "sender not verified (DMARC fail)" in reason

    daemon.send(_reply(ticket, f"{TRUSTED}; dmarc=pass (p=reject) header.from=example.org", "real reply"))
    daemon.wait_processed(3)
    assert _senders(daemon, ticket["id"]) == [VICTIM, VICTIM]
    assert len(daemon.tickets()) == 2

    # The admin API and the admin ticket page show it per message.
    with user_client(daemon, "agent@example.com", admin=True) as admin:
        messages = admin.get(f"/admin/support/tickets/{ticket['number']}").json()["messages"]
        assert [m["sender_verified"] for m in messages] == [None, True]
        other = admin.get(f"/admin/support/tickets/{tickets[1][1]}").json()["messages"]
        assert [m["sender_verified"] for m in other] == [False]
        inbound = admin.get("/admin/support/inbound").json()["items"]
        assert [i["sender_verified"] for i in inbound] == [True, False, None]
    with sign_in(daemon, "agent@example.com", admin=True) as browser:
        page = browser.get(f"/admin/support/{ticket['number']}").text
        assert page.count("sender verified") == 1 and "sender NOT verified" not in page
        page = browser.get(f"/admin/support/{tickets[1][1]}").text
        assert "sender NOT verified" in page


def test_untrusted_authserv_id_behaves_as_today(daemon_factory: Callable[..., Daemon], sink: Sink) -> None:
    daemon = daemon_factory(MAILDESK_TRUSTED_AUTHSERV_IDS=TRUSTED)
    ticket = _open_ticket(daemon, sink)
    # Added by the sender, under another authserv-id: ignored, the reply threads as before.
    daemon.send(_reply(ticket, "forged.example; dmarc=fail header.from=example.org", "reply"))
    daemon.wait_processed(2)
    assert _senders(daemon, ticket["id"]) == [VICTIM, VICTIM]
    assert daemon.sql("SELECT sender_verified FROM inbound_messages ORDER BY id") == [(None,), (None,)]


def test_without_the_setting_authentication_results_are_not_read(daemon: Daemon, sink: Sink) -> None:
    ticket = _open_ticket(daemon, sink)
    daemon.send(_reply(ticket, f"{TRUSTED}; dmarc=fail header.from=example.org", "reply"))
    daemon.wait_processed(2)
    assert _senders(daemon, ticket["id"]) == [VICTIM, VICTIM]



def test_unverified_admin_address_never_acts_as_admin(daemon_factory: Callable[..., Daemon], sink: Sink) -> None:
    daemon = daemon_factory(MAILDESK_TRUSTED_AUTHSERV_IDS=TRUSTED)
    add_user(daemon, "agent@example.com", admin=True, name="Agent")
    daemon.send(make_mail(VICTIM, "Where is my parcel", "Ordered last week."))
    (notification,) = sink.wait_for("agent@example.com")
    ticket_id, number = _ticket_of(daemon, VICTIM)[:2]
    answer = make_mail("Agent <agent@example.com>", f"Re: {notification.subject}", "Refund approved.",
                       in_reply_to=notification.msg["Message-ID"],
                       headers={"Authentication-Results": f"{TRUSTED}; dmarc=fail header.from=example.com"})
    daemon.send(answer)
    daemon.wait_processed(2)
    assert _senders(daemon, ticket_id) == [VICTIM]
    assert daemon.sql("SELECT sender_role FROM ticket_messages WHERE sender_email = 'agent@example.com'") == [("user",)]
    assert len(daemon.tickets()) == 2 and daemon.tickets()[1][2] == "agent@example.com"


# --- 3. NUL bytes ------------------------------------------------------------------------------


def _smtp_raw(daemon: Daemon, mail_from: bytes, data: bytes) -> list[bytes]:
    """One SMTP transaction over a raw socket (smtplib will not send a NUL in MAIL FROM)."""
    replies = []
    with socket.create_connection(("127.0.0.1", daemon.smtp_port), timeout=30) as sock:
        stream = sock.makefile("rwb")

        def reply() -> bytes:
            lines = []
            while True:
                line = stream.readline()
                lines.append(line)
                if line[3:4] != b"-":
                    return b"".join(lines)

        def send(command: bytes) -> None:
            stream.write(command + b"\r\n")
            stream.flush()
            replies.append(reply())

        reply()
        send(b"EHLO client.example.org")
        send(b"MAIL FROM:<" + mail_from + b">")
        send(b"RCPT TO:<" + SUPPORT.encode() + b">")
        send(b"DATA")
        assert data.endswith(b"\r\n")
        stream.write(data.replace(b"\r\n.", b"\r\n..") + b".\r\n")
        stream.flush()
        replies.append(reply())
        send(b"QUIT")
    return replies


def test_nul_bytes_in_headers_and_envelope_are_accepted_and_processed(daemon: Daemon) -> None:
    raw = (
        b"From: Nul\x00Name <nul@example.org>\r\nTo: support@example.com\r\n"
        b"Subject: printer\x00 on fire\r\nMessage-ID: <abc\x00def@client.example.org>\r\n"
        b"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\nThe printer\x00 is on fire.\r\n"
    )
    replies = _smtp_raw(daemon, b"nul\x00bounce@example.org", raw)
    assert replies[1].startswith(b"250"), replies  # MAIL FROM (replies[0] is EHLO)
    assert replies[4].startswith(b"250"), replies  # end of DATA
    daemon.wait_processed(1)
    status, envelope_from, subject = daemon.sql(
        "SELECT status, envelope_from, subject FROM inbound_messages")[0]
    assert status == "processed"
    assert "\x00" not in envelope_from + subject
    (ticket,) = daemon.tickets()
    assert ticket[2] == "nul@example.org" and ticket[3] == "printer on fire"
    assert daemon.sql("SELECT name FROM users WHERE email = 'nul@example.org'") == [("NulName",)]
    with user_client(daemon, "agent@example.com", admin=True) as admin:
        inbound = admin.get("/admin/support/inbound").json()["items"][0]
        download = admin.get(f"/admin/support/inbound/{inbound['id']}/raw")
    assert download.status_code == 200
    assert download.content == raw


# --- 4. limit markers --------------------------------------------------------------------------


def test_parts_past_the_limit_are_named_in_the_ticket_and_the_inbound_reason(daemon: Daemon) -> None:
    parts = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % i for i in range(10_000))
    raw = (b"From: many@example.org\r\nTo: support@example.com\r\nSubject: many parts\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" + parts + b"--b--\r\n")
    daemon.send(raw, mail_from="many@example.org")
    daemon.wait_processed(1, timeout=60)
    with user_client(daemon, "agent@example.com", admin=True) as admin:
        (item,) = admin.get("/admin/support/inbound").json()["items"]
        assert item["status"] == "processed"
        assert item["reason"] == "truncated: 9,800 more parts not shown (limit 200)"
        ticket = admin.get(f"/admin/support/tickets/{item['ticket_number']}").json()
    description = ticket["messages"][0]["body"]
    assert "part 199" in description and "part 200" not in description
    assert description.endswith(
        "[… truncated by maildesk: 9,800 more parts not shown (limit 200); the original message is kept]")

