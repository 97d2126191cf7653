"""No mail loops, no backscatter: automatic mail is recorded and never answered.

Everything goes through a real `maildesk serve` (its SMTP listener) and a real SMTP sink.
The corpus in tests/data/auto is delivered the way a mail server would deliver it: with the
envelope sender its Return-Path shows (empty for bounces), to the address it was delivered to.
"""

from __future__ import annotations

import os
import re
import secrets
import smtplib
import threading
from email import message_from_bytes, policy
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest
from aiosmtpd.controller import Controller

from maildesk.db import migrate
from maildesk.outbound import bounces
from maildesk.outbound import tokens
from maildesk.config import load_settings
from tests.conftest import Daemon, Sink, SinkMessage, _SinkHandler, free_port, make_mail, new_database, wait_until

AUTO = Path(__file__).resolve().parent.parent / "data" / "auto"
SUPPORT = "support@example.com"
CORPUS_LOOP_TOKEN = "7f3c9a1e5b2d4c6f8a0b1c2d3e4f5a6b"  # tests/data/auto/README.md: "our" instance token
_QUEUED = re.compile(rb"queued as (\d+)|already received as (\d+)")


# -- helpers shared with test_bounces.py ----------------------------------------------


def send_raw(daemon: Daemon, raw: bytes, *, mail_from: str, rcpt: list[str] | None = None) -> int:
    """Deliver raw bytes over SMTP exactly as given; returns the inbound id from the 250 reply."""
    with smtplib.SMTP("127.0.0.1", daemon.smtp_port, timeout=30) as client:
        client.ehlo("mx.test.example")
        code, reply = client.mail(mail_from)
        assert code == 250, reply
        for address in rcpt or [daemon.support]:
            code, reply = client.rcpt(address)
            assert code == 250, reply
        code, reply = client.data(raw)
    assert code == 250, reply
    match = _QUEUED.search(reply)
    assert match, reply
    return int(match.group(1) or match.group(2))


def wait_inbound(daemon: Daemon, inbound_id: int, timeout: float = 20) -> tuple[str, str, str | None, int | None]:
    """(status, reason, classification, ticket_id) once the pipeline is done with the message."""
    def done() -> Any:
        rows = daemon.sql(
            "SELECT status, reason, classification, ticket_id FROM inbound_messages WHERE id = :i", i=inbound_id
        )
        return rows[0] if rows and rows[0][0] != "received" else None

    status, reason, classification, ticket_id = wait_until(done, timeout, what=f"inbound {inbound_id} processed")
    return status, reason or "", classification, ticket_id


def stays_quiet(daemon: Daemon, sink: Sink) -> None:
    """Nothing more goes out: wait until the outbox holds no mail waiting or in delivery, then
    check that the sink holds only delivered outbox rows, each once.

    Mail is written to the outbox in the transaction of the change that causes it, so once a
    message is processed every mail it causes is already a row; waiting for the rows to settle
    is a positive wait, not a guess at how long a slow sender might take. Each message reaches
    the sink before its row is marked sent, so a settled outbox means the sink is complete.
    """
    def settled() -> bool:
        return daemon.sql("SELECT count(*) FROM outbound_messages WHERE status IN ('pending', 'sending')")[0][0] == 0

    wait_until(settled, timeout=30, what="the outbox to settle")
    # Delivered rows may since have been marked failed by a bounce; suppressed ones never left.
    delivered = {row[0] for row in daemon.sql("SELECT message_id FROM outbound_messages WHERE status != 'suppressed'")}
    received = [str(m.msg["Message-ID"]).strip("<>") for m in list(sink.messages)]
    leaked = [(m.to, m.subject) for m, mid in zip(sink.messages, received) if mid not in delivered]
    assert leaked == [], leaked
    assert len(received) == len(set(received)), "a message was delivered twice"


def outbound_rows(daemon: Daemon, to: str | None = None) -> list[tuple[Any, ...]]:
    sql = "SELECT id, kind, to_addr, status, last_error, message_id FROM outbound_messages"
    if to is not None:
        return daemon.sql(sql + " WHERE to_addr = :t ORDER BY id", t=to.lower())
    return daemon.sql(sql + " ORDER BY id")


def _quiet_snapshot(daemons: tuple[Daemon, ...]) -> tuple[int, ...] | None:
    """Row counts when nothing is in flight anywhere, else None.

    Outbound rows are read first: a row only leaves `pending`/`sending` after the peer's 250,
    which the peer gives after committing its inbound row, so an inbound message caused by
    any delivery seen as done is visible to the inbound read that follows.
    """
    outbound = [d.sql("SELECT count(*), sum(CASE WHEN status IN ('pending', 'sending') THEN 1 ELSE 0 END) "
                      "FROM outbound_messages")[0] for d in daemons]
    inbound = [d.sql("SELECT count(*), sum(CASE WHEN status = 'received' THEN 1 ELSE 0 END) "
                     "FROM inbound_messages")[0] for d in daemons]
    if any(busy for _, busy in outbound + inbound):
        return None
    return tuple(total for total, _ in outbound + inbound)


def _wait_quiet(*daemons: Daemon) -> None:
    """Wait until every daemon has processed all its mail and delivered all its outbox twice
    in a row with the same counts: no round trip is left in flight."""
    seen: list[tuple[int, ...] | None] = [None]

    def settled() -> bool:
        now = _quiet_snapshot(daemons)
        stable = now is not None and now == seen[0]
        seen[0] = now
        return stable

    wait_until(settled, timeout=30, interval=0.3, what="both daemons quiet")


def verp_of(daemon: Daemon, outbound_id: int) -> str:
    return bounces.verp_address(load_settings(daemon.env), outbound_id)


# -- the corpus over SMTP -----------------------------------------------------------------

# file -> (expected classification, fragment of the inbound reason naming the signal)
CORPUS: dict[str, tuple[str, str]] = {
    "outlook_ooo.eml": ("auto_reply", "X-Auto-Response-Suppress: All"),
    "gmail_vacation.eml": ("auto_reply", "Auto-Submitted: auto-replied"),
    "exchange_ooo_xautoreply.eml": ("auto_reply", "X-Autoreply: yes"),
    "cpanel_autoresponder.eml": ("auto_reply", "X-Autorespond"),
    "vacation_precedence_auto_reply.eml": ("auto_reply", "Precedence: auto_reply"),
    "helpdesk_autoack.eml": ("auto_reply", "Auto-Submitted: auto-generated"),
    "read_receipt.eml": ("auto_reply", "read receipt"),
    "loop_header_other.eml": ("auto_reply", "X-Maildesk-Loop of another maildesk instance"),
    "mailing_list_post.eml": ("bulk", "List-Id"),
    "newsletter.eml": ("bulk", "List-Unsubscribe"),
    "postfix_dsn_511.eml": ("bounce", "report-type=delivery-status"),
    "postfix_dsn_delayed.eml": ("bounce", "report-type=delivery-status"),
    "gmail_bounce.eml": ("bounce", "report-type=delivery-status"),
    "exchange_ndr.eml": ("bounce", "report-type=delivery-status"),
    "exchange_ndr_text.eml": ("bounce", "mail system: postmaster@fabrikam.example"),
    "exim_bounce.eml": ("bounce", "envelope sender is empty"),
    "qmail_bounce.eml": ("bounce", "envelope sender is empty"),
    "postfix_nodsn_text.eml": ("bounce", "envelope sender is empty"),
    "mailer_daemon_from.eml": ("bounce", "mail system: mailer-daemon@relay.example.net"),
    "postmaster_from.eml": ("bounce", "mail system: postmaster@example.net"),
    "own_support_from.eml": ("loop", "From is our own address: support@example.com"),
    "own_plus_tag_from.eml": ("loop", "our own address: support+sup-00042@example.com"),
    "loop_header_ours.eml": ("loop", "X-Maildesk-Loop carries our instance token"),
}


def _synthetic(loop_token: str) -> dict[str, tuple[bytes, str, list[str]]]:
    """Cases the corpus has no file for: name -> (raw, envelope sender, recipients)."""

    def plain(sender: str, subject: str, **headers: str) -> bytes:
        return make_mail(sender, subject, "Hello, can you help me?", headers=headers).as_bytes()

    return {
        # Nothing but a null return path marks it (a notifier that sets no headers).
        "empty_return_path": (plain("notifier@apps.example.net", "Your export is ready"), "", [SUPPORT]),
        # Our own address as the sender, in the envelope as well as in From.
        "support_itself": (plain("Acme Support <support@example.com>", "Hello"), SUPPORT, [SUPPORT]),
        # A forwarder kept our envelope sender but rewrote From (only the envelope gives it away).
        "own_envelope_sender": (plain("relay@forward.example", "Fwd: your request"),
                                "support+bounce-7-abcdefghij@example.com", [SUPPORT]),
        # Our confirmation's loop header survives; the rest was stripped by a forwarder.
        "own_loop_header_only": (plain("j.doe@forward.example", "Fwd: request received",
                                       **{"X-Maildesk-Loop": loop_token}), "j.doe@forward.example", [SUPPORT]),
        # Mail to the bounce address without any other signal: only robots write there.
        "to_bounce_address": (plain("someone@example.org", "hello"), "someone@example.org",
                              ["support+bounce-3-zzzzzzzzzz@example.com"]),
    }


SYNTHETIC_EXPECT: dict[str, tuple[str, str]] = {
    "empty_return_path": ("bounce", "envelope sender is empty"),
    "support_itself": ("loop", "From is our own address: support@example.com"),
    "own_envelope_sender": ("loop", "envelope sender is our own address"),
    "own_loop_header_only": ("loop", "X-Maildesk-Loop carries our instance token"),
    "to_bounce_address": ("auto_reply", "sent to our bounce address"),
}


def _envelope(raw: bytes) -> tuple[str, list[str]]:
    """The envelope a receiving MTA saw: Return-Path (or From) and Delivered-To (or support@)."""
    msg = message_from_bytes(raw, policy=policy.compat32)
    return_path = msg.get("Return-Path")
    if return_path is not None:
        sender = str(return_path).strip().strip("<>").strip()
    else:
        sender = parseaddr(str(msg.get("From", "")))[1]
    delivered = str(msg.get("Delivered-To") or "").strip().strip("<>")
    rcpt = delivered if delivered.lower().split("@")[-1] == "example.com" else SUPPORT
    return sender, [rcpt]


def _daemon_env(data_dir: Path, db_url: str, sink_port: int, **overrides: str) -> tuple[dict[str, str], int, int]:
    smtp_port, http_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILDESK_")}
    env.update(
        MAILDESK_DATABASE_URL=db_url,
        MAILDESK_SMTP_LISTEN=f"127.0.0.1:{smtp_port}",
        MAILDESK_HTTP_LISTEN=f"127.0.0.1:{http_port}",
        MAILDESK_SUPPORT_ADDRESS=SUPPORT,
        MAILDESK_BASE_URL=f"http://127.0.0.1:{http_port}",
        MAILDESK_RELAY_URL=f"smtp://127.0.0.1:{sink_port}",
        MAILDESK_DATA_DIR=str(data_dir),
        MAILDESK_SECRET_KEY="test-secret-" + secrets.token_hex(16),
        MAILDESK_OUTBOX_RETRY_SECONDS="0.2",
        MAILDESK_SLA_CHECK_SECONDS="3600",
    )
    env.update(overrides)
    return env, smtp_port, http_port


class CorpusRun:
    """One daemon fed the whole corpus once; each parametrised test checks its own message."""

    def __init__(self, daemon: Daemon, sink: Sink, sent: dict[str, tuple[int, str]], control: tuple[int, str]):
        self.daemon, self.sink, self.sent, self.control = daemon, sink, sent, control


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CorpusRun]:
    sink = Sink(free_port())
    controller = Controller(_SinkHandler(sink), hostname="127.0.0.1", port=sink.port)
    controller.start()
    data_dir = tmp_path_factory.mktemp("corpus")
    db = new_database(data_dir)
    migrate(db.url)
    env, smtp_port, http_port = _daemon_env(data_dir, db.url, sink.port)
    daemon = Daemon(env, data_dir, db, smtp_port, http_port, log_path=data_dir / "daemon.log")
    try:
        daemon.start()
        token = tokens.loop_token(env["MAILDESK_SECRET_KEY"])
        sent: dict[str, tuple[int, str]] = {}
        for name in CORPUS:
            raw = (AUTO / name).read_bytes().replace(CORPUS_LOOP_TOKEN.encode(), token.encode())
            sender, rcpt = _envelope(raw)
            sent[name] = (send_raw(daemon, raw, mail_from=sender, rcpt=rcpt), sender)
        for name, (raw, sender, rcpt) in _synthetic(token).items():
            sent[name] = (send_raw(daemon, raw, mail_from=sender, rcpt=rcpt), sender)
        # A human message in the same run proves the daemon does answer when it should.
        raw = (AUTO / "human_gmail.eml").read_bytes()
        control = (send_raw(daemon, raw, mail_from="lena.fischer87@gmail.com"), "lena.fischer87@gmail.com")
        daemon.wait_processed(len(sent) + 1)
        sink.wait_for(control[1])
        stays_quiet(daemon, sink)
        yield CorpusRun(daemon, sink, sent, control)
    finally:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.stop()
        controller.stop()
        db.drop()


ALL_CASES = {**CORPUS, **SYNTHETIC_EXPECT}


# One xdist worker runs every test of the module-scoped corpus_run (--dist loadgroup), so the
# corpus is sent once, not once per worker.
@pytest.mark.xdist_group("corpus_run")
@pytest.mark.parametrize("name", list(ALL_CASES))
def test_automatic_mail_is_recorded_and_never_answered(corpus_run: CorpusRun, name: str) -> None:
    kind, signal = ALL_CASES[name]
    inbound_id, sender = corpus_run.sent[name]
    status, reason, classification, _ticket = wait_inbound(corpus_run.daemon, inbound_id)
    assert (status, classification) == ("ignored", kind), reason
    assert signal in reason and "not answered" in reason
    # Nothing was queued for, or delivered to, the machine that sent it (or anyone else).
    if sender:
        assert outbound_rows(corpus_run.daemon, sender) == []
        assert corpus_run.sink.to(sender) == []
    stored = corpus_run.daemon.sql("SELECT length(raw) FROM inbound_messages WHERE id = :i", i=inbound_id)
    assert stored[0][0] > 0  # recorded, raw message kept


@pytest.mark.xdist_group("corpus_run")
def test_corpus_run_sent_nothing_but_the_human_control(corpus_run: CorpusRun) -> None:
    assert len(corpus_run.daemon.tickets()) == 1
    (only,) = corpus_run.sink.messages
    assert only.to == corpus_run.control[1]
    assert [row[2] for row in outbound_rows(corpus_run.daemon)] == [corpus_run.control[1]]
    stays_quiet(corpus_run.daemon, corpus_run.sink)


# -- auto-replies that belong to a ticket -----------------------------------------------------


def open_ticket(daemon: Daemon, sink: Sink, requester: str, subject: str) -> tuple[str, SinkMessage]:
    daemon.send(make_mail(requester, subject, "Something is broken."))
    (confirmation,) = sink.wait_for(requester)
    number = daemon.sql("SELECT ticket_number FROM tickets WHERE user_email = :e ORDER BY id DESC", e=requester)[0][0]
    return number, confirmation


def _ticket_record(daemon: Daemon, number: str) -> tuple[str, list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    (ticket_id, status), = daemon.sql("SELECT id, status FROM tickets WHERE ticket_number = :n", n=number)
    messages = daemon.sql(
        "SELECT sender_role, is_internal, sender_email, source FROM ticket_messages WHERE ticket_id = :t ORDER BY id",
        t=ticket_id,
    )
    events = daemon.sql("SELECT kind, new_value FROM ticket_events WHERE ticket_id = :t ORDER BY id", t=ticket_id)
    return status, messages, events


def test_out_of_office_from_requester_is_attached_and_changes_nothing(daemon: Daemon, sink: Sink) -> None:
    number, confirmation = open_ticket(daemon, sink, "jana.novak@contoso.com", "Payout missing")
    # Outlook's out-of-office answers From, threads by In-Reply-To, marks itself only by
    # X-Auto-Response-Suppress and the "Automatic reply:" subject.
    ooo = make_mail(
        "Jana Novak <jana.novak@contoso.com>",
        f"Automatic reply: {confirmation.subject}",
        "I am out of the office until Monday with limited access to email.",
        in_reply_to=confirmation.msg["Message-ID"],
        headers={"X-Auto-Response-Suppress": "All", "X-MS-Exchange-Inbox-Rules-Loop": "jana.novak@contoso.com"},
    )
    inbound_id = send_raw(daemon, ooo.as_bytes(), mail_from="jana.novak@contoso.com")
    status, reason, classification, ticket_id = wait_inbound(daemon, inbound_id)
    assert (status, classification) == ("ignored", "auto_reply")
    assert "X-Auto-Response-Suppress" in reason
    ticket_status, messages, events = _ticket_record(daemon, number)
    assert ticket_status == "open"
    assert messages[-1] == ("system", True, "jana.novak@contoso.com", "email")
    assert events[-1] == ("automatic_mail", "auto_reply")
    assert ticket_id is not None
    stays_quiet(daemon, sink)
    assert len(sink.to("jana.novak@contoso.com")) == 1  # the confirmation, nothing more


def test_vacation_reply_to_the_return_path_is_attached_to_its_ticket(daemon: Daemon, sink: Sink) -> None:
    """RFC 3834 responders answer the envelope sender: our per-message bounce address."""
    number, confirmation = open_ticket(daemon, sink, "d.okafor@uni.example.edu", "Refund")
    assert bounces.is_bounce_address(load_settings(daemon.env), confirmation.mail_from)
    reply = make_mail(
        "Dayo Okafor <dayo@alias.uni.example.edu>",  # the mailbox's other address; no thread headers
        "Away from my desk",
        "I am away until 3 April.",
        to=confirmation.mail_from,
        headers={"Precedence": "auto_reply"},
    )
    inbound_id = send_raw(daemon, reply.as_bytes(), mail_from="dayo@alias.uni.example.edu",
                          rcpt=[confirmation.mail_from])
    status, reason, classification, ticket_id = wait_inbound(daemon, inbound_id)
    assert (status, classification) == ("ignored", "auto_reply") and "Precedence: auto_reply" in reason
    ticket_status, messages, events = _ticket_record(daemon, number)
    assert ticket_status == "open"
    assert messages[-1][:2] == ("system", True) and events[-1][0] == "automatic_mail"
    # The reply was not a bounce: our confirmation still counts as sent.
    assert [r[3] for r in outbound_rows(daemon, "d.okafor@uni.example.edu")] == ["sent"]
    stays_quiet(daemon, sink)


def test_auto_reply_from_a_stranger_to_a_ticket_is_not_attached(daemon: Daemon, sink: Sink) -> None:
    number, _confirmation = open_ticket(daemon, sink, "ann@example.org", "Question")
    auto = make_mail("robot@elsewhere.example", f"Re: [{number}] Question", "Thanks, we got it.",
                     headers={"Auto-Submitted": "auto-replied"})
    inbound_id = send_raw(daemon, auto.as_bytes(), mail_from="robot@elsewhere.example")
    status, _reason, _c, ticket_id = wait_inbound(daemon, inbound_id)
    assert status == "ignored" and ticket_id is None
    _status, messages, _events = _ticket_record(daemon, number)
    assert [m[0] for m in messages] == ["user"]
    stays_quiet(daemon, sink)


# -- our own mail: headers, envelope, and what happens when it comes back ------------------------


def test_every_outbound_mail_says_it_is_automatic(daemon_factory: Callable[..., Daemon], sink: Sink) -> None:
    from tests.integration.api_helpers import add_user

    daemon = daemon_factory()
    add_user(daemon, "agent@example.com", admin=True, name="Agent")
    number, confirmation = open_ticket(daemon, sink, "carol@example.org", "Invoice")
    (notification,) = sink.wait_for("agent@example.com")
    daemon.send(make_mail("agent@example.com", f"Re: {notification.subject}", "Here it is.",
                          in_reply_to=notification.msg["Message-ID"]))
    update = sink.wait_for("carol@example.org", 2)[1]
    with httpx.Client(base_url=daemon.base_url, timeout=15) as client:
        assert client.post("/auth/magic-link", json={"email": "agent@example.com"}).status_code == 202
    magic = sink.wait_for("agent@example.com", 2)[1]

    token = tokens.loop_token(daemon.env["MAILDESK_SECRET_KEY"])
    expected = [(confirmation, "auto-replied"), (magic, "auto-replied"), (notification, "auto-generated"),
                (update, "auto-generated")]
    ids = {row[5]: row[0] for row in outbound_rows(daemon)}
    for mail, auto_submitted in expected:
        m = mail.msg
        assert m["Auto-Submitted"] == auto_submitted, mail.subject
        assert m["X-Auto-Response-Suppress"] == "All"
        assert m["X-Maildesk-Loop"] == token
        # Each message leaves with its own bounce address, naming its outbox row.
        assert mail.mail_from == verp_of(daemon, ids[m["Message-ID"].strip("<>")])
    assert len({m.mail_from for m, _ in expected}) == len(expected)
    assert number in confirmation.subject


def test_mail_from_the_support_address_itself_produces_nothing(daemon: Daemon, sink: Sink) -> None:
    for sender, envelope in (("Acme Support <support@example.com>", SUPPORT),
                             ("SUPPORT+billing@Example.com", "someone@example.org"),
                             ("support@example.com", "")):
        inbound_id = send_raw(daemon, make_mail(sender, "Test", "Is this thing on?").as_bytes(),
                              mail_from=envelope)
        status, reason, classification, _ticket = wait_inbound(daemon, inbound_id)
        assert status == "ignored", reason
        assert classification in ("loop", "bounce") and "not answered" in reason
    assert daemon.tickets() == []
    stays_quiet(daemon, sink)
    assert sink.messages == [] and outbound_rows(daemon) == []


def test_confirmation_delivered_back_to_support_stops_at_once(daemon: Daemon, sink: Sink) -> None:
    """A requester's forwarding rule sends our confirmation straight back to support@."""
    _number, confirmation = open_ticket(daemon, sink, "fwd@example.org", "Forwarding")
    # As is: our envelope sender, our headers.
    first = send_raw(daemon, confirmation.raw, mail_from=confirmation.mail_from)
    # Re-sent by the forwarder (its own envelope sender), Auto-Submitted and Precedence dropped.
    stripped = re.sub(rb"(?im)^(Auto-Submitted|Precedence|X-Auto-Response-Suppress):[^\r\n]*\r?\n", b"",
                      confirmation.raw).replace(b"Message-ID: <", b"Message-ID: <fwd.")
    second = send_raw(daemon, stripped, mail_from="fwd@example.org")
    for inbound_id in (first, second):
        status, reason, classification, _ticket = wait_inbound(daemon, inbound_id)
        assert (status, classification) == ("ignored", "loop"), reason
    stays_quiet(daemon, sink)
    assert len(sink.messages) == 1 and len(daemon.tickets()) == 1


def test_twenty_requests_in_a_minute_get_at_most_ten_confirmations(daemon: Daemon, sink: Sink) -> None:
    sender = "eager@example.org"
    for i in range(20):
        daemon.send(make_mail(sender, f"Request {i}", f"Request number {i}."))
    daemon.wait_processed(20)
    assert len(daemon.tickets()) == 20  # every request is a ticket
    sink.wait_for(sender, 10)
    stays_quiet(daemon, sink)
    assert len(sink.to(sender)) == 10
    rows = outbound_rows(daemon, sender)
    assert len(rows) == 20
    assert sorted(r[3] for r in rows) == ["sent"] * 10 + ["suppressed"] * 10
    for row in rows:
        if row[3] == "suppressed":
            assert "10 automatic emails this hour" in row[4]


def test_budget_holds_for_two_daemons_sharing_one_database(daemon_factory: Callable[..., Daemon], sink: Sink) -> None:
    """Both daemons enqueue confirmations for one address at the same moment: still at most 10."""
    a = daemon_factory()
    b = daemon_factory(db=a.db, MAILDESK_SECRET_KEY=a.env["MAILDESK_SECRET_KEY"])
    sender = "both@example.org"

    def burst(daemon: Daemon, label: str) -> None:
        for i in range(12):
            daemon.send(make_mail(sender, f"{label} {i}", "Hello."))

    threads = [threading.Thread(target=burst, args=(d, label)) for d, label in ((a, "A"), (b, "B"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    a.wait_processed(24)
    assert len(a.tickets()) == 24
    sink.wait_for(sender, 10)
    stays_quiet(a, sink)  # both daemons share a's database and its outbox
    assert len(sink.to(sender)) == 10
    assert sorted(r[3] for r in outbound_rows(a, sender)) == ["sent"] * 10 + ["suppressed"] * 14


# -- two instances wired to each other -------------------------------------------------------------


def test_two_instances_pointed_at_each_other_exchange_at_most_one_message_each(
    daemon_factory: Callable[..., Daemon], sink: Sink
) -> None:
    a = daemon_factory(start=False, MAILDESK_SUPPORT_ADDRESS="support@a.example")
    b = daemon_factory(start=False, MAILDESK_SUPPORT_ADDRESS="support@b.example")
    a.env["MAILDESK_RELAY_URL"] = f"smtp://127.0.0.1:{b.smtp_port}"
    b.env["MAILDESK_RELAY_URL"] = f"smtp://127.0.0.1:{a.smtp_port}"
    a.start()
    b.start()
    # Each support address writes to the other, as a misconfigured forward or a person would:
    # plain mail with no automatic-mail signal, so each instance answers it once.
    a.send(make_mail("support@b.example", "Hello from B", "Ping.", to="support@a.example"),
           mail_from="support@b.example")
    b.send(make_mail("support@a.example", "Hello from A", "Ping.", to="support@b.example"),
           mail_from="support@a.example")
    a.wait_processed(2)
    b.wait_processed(2)
    _wait_quiet(a, b)

    sent = [row for d in (a, b) for row in outbound_rows(d) if row[3] == "sent"]
    assert len(sent) <= 2
    assert all(row[1] == "confirmation" for row in sent)
    for daemon, peer in ((a, "support@b.example"), (b, "support@a.example")):
        rows = daemon.sql("SELECT from_addr, status, reason, classification FROM inbound_messages ORDER BY id")
        assert len(rows) == 2, rows
        from_peer = [r for r in rows if r[1] == "ignored"]
        assert len(from_peer) == 1, rows
        _from, _status, reason, classification = from_peer[0]
        assert peer in _from and classification == "auto_reply"
        assert "Auto-Submitted: auto-replied" in reason and "not answered" in reason
    assert sink.messages == []  # nothing leaked anywhere else
