"""Mail in, ticket out: a real `maildesk serve`, fed over SMTP, its mail caught by a real sink."""

from __future__ import annotations

import signal
import smtplib
import socket
import threading
import time

import pytest

from tests.conftest import Daemon, Sink, make_mail, wait_until


def _header_ids(value: str | None) -> list[str]:
    return [part.strip("<> \t") for part in (value or "").split() if part.strip()]


def test_new_mail_becomes_ticket_with_confirmation(daemon: Daemon, sink: Sink) -> None:
    msg = make_mail("Ada Lovelace <ada@example.org>", "Cannot log in", "My password reset link never arrives.")
    daemon.send(msg)
    daemon.wait_processed(1)

    (ticket,) = daemon.tickets()
    _id, number, requester, subject, status, category = ticket
    assert number == f"SUP-{_id:05d}"
    assert (requester, subject, status, category) == ("ada@example.org", "Cannot log in", "open", "other")

    (confirmation,) = sink.wait_for("ada@example.org")
    m = confirmation.msg
    assert m["Subject"] == f"[{number}] Your support request {number} has been received"
    assert m["Message-ID"].endswith("@example.com>")
    assert _header_ids(m["In-Reply-To"]) == [msg["Message-ID"].strip("<>")]
    assert msg["Message-ID"].strip("<>") in _header_ids(m["References"])
    assert m["Reply-To"] == "support@example.com"
    assert m["Auto-Submitted"] == "auto-replied"
    assert number in confirmation.text()
    assert m.get_body(preferencelist=("html",)) is not None


def test_admins_are_notified_of_new_tickets(daemon_factory, sink: Sink) -> None:
    daemon = daemon_factory(MAILDESK_ADMIN_NOTIFY="ops@example.com,lead@example.com")
    daemon.send(make_mail("bob@example.org", "Refund please", "Order 1234 arrived broken."))
    for admin in ("ops@example.com", "lead@example.com"):
        (note,) = sink.wait_for(admin)
        assert note.msg["Auto-Submitted"] == "auto-generated"
        assert "Refund please" in note.subject and "Order 1234 arrived broken." in note.text()


def test_requester_reply_threads_into_ticket(daemon: Daemon, sink: Sink) -> None:
    daemon.send(make_mail("carol@example.org", "Invoice missing", "Where is my invoice?"))
    (confirmation,) = sink.wait_for("carol@example.org")
    number = daemon.tickets()[0][1]

    reply = make_mail(
        "carol@example.org",
        f"Re: {confirmation.subject}",
        "It is for order 77.\n\nOn Mon, Support wrote:\n> Your support request has been received",
        in_reply_to=confirmation.msg["Message-ID"],
    )
    daemon.send(reply)
    daemon.wait_processed(2)
    assert len(daemon.tickets()) == 1
    bodies = daemon.sql(
        "SELECT m.body, m.sender_role FROM ticket_messages m JOIN tickets t ON t.id = m.ticket_id "
        "WHERE t.ticket_number = :n ORDER BY m.id", n=number
    )
    assert [role for _, role in bodies] == ["user", "user"]
    assert "order 77" in bodies[1][0]
    assert "Your support request has been received" not in bodies[1][0]


def test_reply_by_subject_tag_from_requester_threads(daemon: Daemon, sink: Sink) -> None:
    daemon.send(make_mail("dave@example.org", "Shipping", "When does it ship?"))
    daemon.wait_processed(1)
    number = daemon.tickets()[0][1]
    daemon.send(make_mail("Dave <DAVE@example.org>", f"Re: [{number}] more info", "Also: express please."))
    daemon.wait_processed(2)
    assert len(daemon.tickets()) == 1
    assert daemon.sql("SELECT matched_by FROM inbound_messages ORDER BY id")[1][0] == "subject"


def test_strangers_reply_opens_its_own_ticket(daemon: Daemon, sink: Sink) -> None:
    daemon.send(make_mail("erin@example.org", "Private matter", "My account number is 555."))
    daemon.wait_processed(1)
    number = daemon.tickets()[0][1]
    daemon.send(make_mail("mallory@evil.example", f"Re: [{number}] Private matter", "Let me in."))
    daemon.wait_processed(2)

    tickets = daemon.tickets()
    assert len(tickets) == 2
    assert tickets[1][2] == "mallory@evil.example"
    assert daemon.sql("SELECT count(*) FROM ticket_messages WHERE ticket_id = :i", i=tickets[0][0])[0][0] == 1
    (mallory_mail,) = sink.wait_for("mallory@evil.example")
    assert tickets[1][1] in mallory_mail.subject and "My account number" not in mallory_mail.text()


def test_plus_tag_names_the_category(daemon: Daemon, sink: Sink) -> None:
    daemon.send(make_mail("fay@example.org", "Card declined", "Payment fails."), to=["support+payments@example.com"])
    daemon.send(make_mail("gus@example.org", "Hi", "Hello."), to=["Support+NoSuchTag@Example.com"])
    daemon.wait_processed(2)
    assert [t[5] for t in daemon.tickets()] == ["payments", "other"]


def test_unknown_recipient_is_refused_and_nothing_is_relayed(daemon: Daemon) -> None:
    with smtplib.SMTP("127.0.0.1", daemon.smtp_port) as client:
        client.ehlo()
        client.mail("someone@example.org")
        code, text = client.rcpt("victim@elsewhere.example")
        assert code == 550 and text.startswith(b"5.1.1")
        code, _ = client.rcpt("sales@example.com")
        assert code == 550
        code, _ = client.rcpt("SUPPORT@EXAMPLE.COM")
        assert code == 250


def test_oversize_message_is_refused_with_552(daemon_factory) -> None:
    daemon = daemon_factory(MAILDESK_MAX_MESSAGE_BYTES="20000")
    big = make_mail("big@example.org", "Huge", "x" * 60 + ("\n" + "y" * 70) * 400).as_bytes()
    with smtplib.SMTP("127.0.0.1", daemon.smtp_port) as client:
        code, features = client.ehlo()
        assert b"SIZE 20000" in features
        # A client that declares the size is refused at MAIL FROM ...
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail("big@example.org", ["support@example.com"], big)
        assert refused.value.smtp_code == 552 and refused.value.smtp_error.startswith(b"5.3.4")
    with smtplib.SMTP("127.0.0.1", daemon.smtp_port) as client:
        # ... and one that does not is refused after DATA.
        client.helo()
        assert client.mail("big@example.org")[0] == 250
        assert client.rcpt("support@example.com")[0] == 250
        code, text = client.data(big)
        assert code == 552 and text.startswith(b"5.3.4")
    assert daemon.sql("SELECT count(*) FROM inbound_messages")[0][0] == 0


def test_duplicate_message_id_is_stored_once(daemon: Daemon, sink: Sink) -> None:
    msg = make_mail("hal@example.org", "Twice", "Sent twice by a retrying server.")
    daemon.send(msg)
    daemon.send(msg)  # both got their 250, so both intakes have committed (or deduplicated)
    assert daemon.sql("SELECT count(*) FROM inbound_messages")[0][0] == 1
    daemon.wait_processed(1)
    assert len(daemon.tickets()) == 1
    # The confirmation is queued with the ticket: exactly one, and it arrives.
    assert daemon.sql("SELECT count(*) FROM outbound_messages WHERE to_addr = 'hal@example.org'")[0][0] == 1
    assert len(sink.wait_for("hal@example.org")) == 1


def test_database_failure_at_intake_answers_451_and_retry_succeeds(daemon: Daemon, sink: Sink) -> None:
    daemon.sql("ALTER TABLE inbound_messages RENAME TO inbound_messages_away")
    msg = make_mail("ivy@example.org", "Retry me", "The database was down when I first came.")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        daemon.send(msg)
    assert refused.value.smtp_code == 451 and refused.value.smtp_error.startswith(b"4.3.0")
    assert b"Error" not in refused.value.smtp_error and b"Traceback" not in refused.value.smtp_error

    daemon.sql("ALTER TABLE inbound_messages_away RENAME TO inbound_messages")
    daemon.send(msg)  # what a sending server does after a 451
    daemon.wait_processed(1)
    assert daemon.tickets()[0][3] == "Retry me"


def test_relay_down_then_back_delivers_everything_once(daemon_factory, sink: Sink) -> None:
    dead_port = _closed_port()
    daemon = daemon_factory(MAILDESK_RELAY_URL=f"smtp://127.0.0.1:{dead_port}")
    daemon.send(make_mail("jo@example.org", "Relay test", "Is anyone there?"))
    daemon.wait_processed(1)
    wait_until(lambda: daemon.sql("SELECT attempts, last_error FROM outbound_messages WHERE to_addr='jo@example.org' AND attempts >= 2"),
               what="two failed delivery attempts")
    row = daemon.sql("SELECT status, last_error FROM outbound_messages WHERE to_addr='jo@example.org'")[0]
    assert row[0] in ("pending", "sending") and "unavailable" in row[1]

    # The relay comes back on the same port.
    from aiosmtpd.controller import Controller
    from tests.conftest import _SinkHandler

    late = Sink(dead_port)
    controller = Controller(_SinkHandler(late), hostname="127.0.0.1", port=dead_port)
    controller.start()
    try:
        (delivered,) = late.wait_for("jo@example.org", timeout=30)
        assert "Relay test" not in delivered.subject and "SUP-" in delivered.subject
        # Once the row says sent, the sender is done with it: exactly one copy arrived.
        wait_until(lambda: daemon.sql("SELECT status FROM outbound_messages WHERE to_addr='jo@example.org'")[0][0]
                   == "sent", what="the confirmation marked sent")
        assert len(late.to("jo@example.org")) == 1
    finally:
        controller.stop()


def test_sigterm_finishes_the_message_in_flight_and_exits_0(daemon: Daemon, sink: Sink) -> None:
    results: list[object] = []

    def slow_sender() -> None:
        try:
            with smtplib.SMTP("127.0.0.1", daemon.smtp_port, timeout=30) as client:
                client.ehlo()
                client.mail("kim@example.org")
                client.rcpt("support@example.com")
                client.putcmd("data")
                client.getreply()
                time.sleep(1.0)  # the daemon is told to stop while this message is half sent
                body = make_mail("kim@example.org", "In flight", "Sent during shutdown.").as_bytes()
                client.send(body.replace(b"\n", b"\r\n") if b"\r\n" not in body else body)
                client.send(b"\r\n.\r\n")
                results.append(client.getreply())
        except Exception as exc:  # pragma: no cover - reported by the assertion below
            results.append(exc)

    thread = threading.Thread(target=slow_sender)
    thread.start()
    time.sleep(0.5)
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGTERM)
    thread.join(20)
    code = daemon.proc.wait(30)
    assert code == 0, daemon.log()
    assert results and results[0][0] == 250, results
    assert daemon.sql("SELECT subject FROM inbound_messages")[0][0] == "In flight"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", daemon.smtp_port), timeout=1).close()


def _closed_port() -> int:
    from tests.conftest import free_port

    return free_port()


def _from_less(subject: str, *extra: str) -> bytes:
    lines = ["To: support@example.com", f"Subject: {subject}", "Message-ID: <" + subject.replace(" ", "-") + "@dev.example>",
             *extra, "", "The backup job failed again."]
    return ("\r\n".join(lines) + "\r\n").encode()


def test_mail_without_from_takes_the_envelope_sender_or_is_ignored_with_a_log_line(daemon: Daemon, sink: Sink) -> None:
    # No From and a null reverse-path: nobody to answer; ignored, and the log says why.
    with smtplib.SMTP("127.0.0.1", daemon.smtp_port, timeout=30) as client:
        client.sendmail("", [daemon.support], _from_less("nobody at all"))  # MAIL FROM:<>
    # No From, but automatic mail from a real envelope sender: still not a ticket.
    daemon.send(_from_less("out of office", "Auto-Submitted: auto-replied"), mail_from="robot@devices.example")
    # No From from a broken script: the envelope sender becomes the requester.
    daemon.send(_from_less("nightly backup"), mail_from="cron@server.example.org")
    daemon.wait_processed(3)

    (ticket,) = daemon.tickets()
    assert ticket[2:4] == ("cron@server.example.org", "nightly backup")
    (confirmation,) = sink.wait_for("cron@server.example.org")
    assert ticket[1] in confirmation.subject
    outcomes = daemon.sql("SELECT status, reason FROM inbound_messages ORDER BY id")
    assert outcomes[0] == ("ignored", "no sender address in From and no SMTP envelope sender")
    assert outcomes[1][0] == "ignored"
    assert outcomes[2][0] == "processed"
    info = [line for line in daemon.log().splitlines() if "no From header and no usable SMTP envelope sender" in line]
    assert len(info) == 1 and " INFO " in info[0]
