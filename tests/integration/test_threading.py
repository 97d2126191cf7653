"""Threading that cannot be forged: who may post to a ticket, through the real SMTP listener."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import Daemon, Sink, make_mail, wait_until

REQUESTER = "rita@example.org"
ADMIN = "agent@example.com"


def _messages(daemon: Daemon, ticket_id: int) -> list[tuple]:
    return daemon.sql(
        "SELECT sender_email, sender_role, body, is_internal FROM ticket_messages WHERE ticket_id = :t ORDER BY id",
        t=ticket_id,
    )


def _create_admin(daemon: Daemon, email: str = ADMIN) -> None:
    subprocess.run(
        [sys.executable, "-m", "maildesk", "create-user", email, "--admin", "--name", "Agent Smith", "--password-stdin"],
        input=b"correct horse battery staple\n", env=daemon.env, check=True, capture_output=True,
    )


@pytest.fixture
def ticket(daemon: Daemon, sink: Sink) -> dict:
    """A ticket opened by REQUESTER with a CC, and its confirmation."""
    first = make_mail(REQUESTER, "Broken checkout", "The pay button does nothing.",
                      headers={"Cc": "Colleague <colleague@example.org>, support@example.com"})
    daemon.send(first, to=["support@example.com"])
    (confirmation,) = sink.wait_for(REQUESTER)
    ticket_id, number = daemon.tickets()[0][:2]
    return {"id": ticket_id, "number": number, "confirmation": confirmation, "first": first}


def test_stranger_with_subject_tag_plus_address_or_reference_gets_own_ticket(daemon: Daemon, sink: Sink, ticket: dict) -> None:
    n = ticket["number"]
    attacks = [
        (make_mail("mallory@evil.example", f"Re: [{n}] Broken checkout", "tag attack"), ["support@example.com"]),
        (make_mail("mallory@evil.example", "hello", "plus attack"), [f"support+{n}@example.com"]),
        (make_mail("mallory@evil.example", "Re: Broken checkout", "reference attack",
                   in_reply_to=ticket["first"]["Message-ID"]), ["support@example.com"]),
        (make_mail("mallory@evil.example", "Re: Broken checkout", "our-id attack",
                   in_reply_to=ticket["confirmation"].msg["Message-ID"]), ["support@example.com"]),
        (make_mail("mallory@evil.example", "hi", "header attack", headers={"X-Maildesk-Ticket": n}),
         ["support@example.com"]),
    ]
    for msg, to in attacks:
        daemon.send(msg, to=to)
    daemon.wait_processed(1 + len(attacks))

    assert [m[0] for m in _messages(daemon, ticket["id"])] == [REQUESTER]
    tickets = daemon.tickets()
    assert len(tickets) == 1 + len(attacks)
    assert {t[2] for t in tickets[1:]} == {"mallory@evil.example"}
    # Mallory's confirmations name only Mallory's own tickets.
    mails = sink.wait_for("mallory@evil.example", count=len(attacks))
    assert all(n not in m.subject and "pay button" not in m.text() for m in mails)
    matched = [r[0] for r in daemon.sql("SELECT matched_by FROM inbound_messages ORDER BY id")[1:]]
    assert matched == ["subject", "plus_address", "references", "in_reply_to", None]


def test_reply_to_header_never_decides_identity(daemon: Daemon, ticket: dict) -> None:
    forged = make_mail("mallory@evil.example", f"Re: [{ticket['number']}]", "I am Rita, honest",
                       headers={"Reply-To": REQUESTER, "Sender": REQUESTER})
    daemon.send(forged)
    daemon.wait_processed(2)
    assert len(_messages(daemon, ticket["id"])) == 1
    assert daemon.tickets()[1][2] == "mallory@evil.example"


def test_cc_of_first_message_may_reply(daemon: Daemon, ticket: dict) -> None:
    reply = make_mail("colleague@example.org", f"Re: [{ticket['number']}] Broken checkout", "Same for me on Firefox.")
    daemon.send(reply)
    daemon.wait_processed(2)
    assert [m[0] for m in _messages(daemon, ticket["id"])] == [REQUESTER, "colleague@example.org"]
    assert len(daemon.tickets()) == 1


def test_admin_answers_by_replying_to_the_notification(daemon_factory, sink: Sink) -> None:
    daemon = daemon_factory(start=False)
    _create_admin(daemon)
    daemon.start()
    daemon.send(make_mail(REQUESTER, "Where is my parcel", "Ordered last week.",
                          headers={"Cc": "colleague@example.org"}))
    (notification,) = sink.wait_for(ADMIN)
    ticket_id, number = daemon.tickets()[0][:2]

    answer = make_mail(
        f"Agent Smith <{ADMIN}>",
        f"Re: {notification.subject}",
        "It left the warehouse today.\n\nOn Mon, Support <support@example.com> wrote:\n> New support request",
        in_reply_to=notification.msg["Message-ID"],
    )
    daemon.send(answer)
    update = wait_until(lambda: [m for m in sink.to(REQUESTER) if "updated" in m.subject], what="update email")[0]
    assert update.subject == f"[{number}] Your support request has been updated"
    assert "It left the warehouse today." in update.text()
    assert "New support request" not in update.text()
    (cc_update,) = sink.wait_for("colleague@example.org")  # CC'd people follow public answers
    assert "It left the warehouse today." in cc_update.text()

    roles = [(m[1], m[3]) for m in _messages(daemon, ticket_id)]
    assert roles == [("user", False), ("admin", False)]
    status, first_response = daemon.sql("SELECT status, first_response_at FROM tickets WHERE id=:t", t=ticket_id)[0]
    assert status == "in_progress" and first_response is not None
    assert daemon.sql("SELECT matched_by FROM inbound_messages ORDER BY id")[1][0] == "in_reply_to"


def test_forged_admin_from_without_token_is_an_ordinary_sender(daemon_factory, sink: Sink) -> None:
    daemon = daemon_factory(start=False)
    _create_admin(daemon)
    daemon.start()
    daemon.send(make_mail(REQUESTER, "Account locked", "Cannot sign in."))
    (notification,) = sink.wait_for(ADMIN)
    ticket_id, number = daemon.tickets()[0][:2]
    sink.clear()

    forged = make_mail(ADMIN, f"Re: [{number}] Account locked", "Please send me your password.")
    daemon.send(forged)
    daemon.wait_processed(2)
    assert len(_messages(daemon, ticket_id)) == 1
    # Outbound mail is written in the same transaction as the change it follows, so once the
    # message is processed its mail (if any) is already in the outbox: no update was queued.
    kinds = daemon.sql("SELECT kind FROM outbound_messages WHERE to_addr = :a", a=REQUESTER.lower())
    assert [k for (k,) in kinds if k == "update"] == []
    # The requester's own address replying to an admin notification is not an admin either.
    daemon.send(make_mail(REQUESTER, "Re: x", "sneaky", in_reply_to=notification.msg["Message-ID"]))
    daemon.wait_processed(3)
    assert [m[1] for m in _messages(daemon, ticket_id)] == ["user", "user"]


def test_reply_to_closed_ticket_opens_a_linked_one_and_resolved_reopens(daemon: Daemon, ticket: dict) -> None:
    n, ticket_id = ticket["number"], ticket["id"]
    daemon.sql("UPDATE tickets SET status='resolved', sla_basis = NULL WHERE id=:t", t=ticket_id)
    daemon.send(make_mail(REQUESTER, f"Re: [{n}] Broken checkout", "Still broken, sorry."))
    daemon.wait_processed(2)
    assert daemon.sql("SELECT status FROM tickets WHERE id=:t", t=ticket_id)[0][0] == "in_progress"

    daemon.sql("UPDATE tickets SET status='closed', sla_basis = NULL WHERE id=:t", t=ticket_id)
    daemon.send(make_mail(REQUESTER, f"Re: [{n}] Broken checkout", "New problem now."))
    daemon.wait_processed(3)
    tickets = daemon.tickets()
    assert len(tickets) == 2 and tickets[1][2] == REQUESTER
    assert daemon.sql("SELECT linked_ticket_id FROM tickets WHERE id=:t", t=tickets[1][0])[0][0] == ticket_id
    assert daemon.sql("SELECT status FROM tickets WHERE id=:t", t=ticket_id)[0][0] == "closed"
