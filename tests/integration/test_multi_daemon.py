"""Several `maildesk serve` processes on one PostgreSQL database share the work exactly once.

Two real daemons, one database, one sink. Mail is sent to both over SMTP by concurrent
clients; the pipeline, the outbox, the SLA pass and the IMAP poller run in both at once.
Every accepted message becomes exactly one ticket, every mail goes out once, every breached
ticket is escalated once, and a daemon killed with SIGKILL loses nothing that got a 250.

PostgreSQL only: on SQLite one process owns the work by design (the database allows one
writer), so the SQLite pass has nothing to run here.
"""

from __future__ import annotations

import collections
import signal
import smtplib
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from maildesk.db import migrate
from tests.conftest import ON_POSTGRES, Daemon, Sink, make_mail, new_database, wait_until
from tests.conftest import TestDatabase as SharedDatabase

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(
        not ON_POSTGRES,
        reason="several daemons on one database need PostgreSQL; on SQLite one process owns the work by design",
    ),
]

ADMIN = "ops@example.com"
SENDERS = 8


@pytest.fixture
def shared_db(tmp_path: Path) -> Iterator[SharedDatabase]:
    db = new_database(tmp_path)
    migrate(db.url)
    yield db
    db.drop()  # after daemon_factory's teardown (set up later, torn down earlier) killed the daemons


def _pair(daemon_factory: Callable[..., Daemon], db: SharedDatabase, **env: str) -> tuple[Daemon, Daemon]:
    # One deployment: the same secret on every daemon (signed Message-IDs, links, sessions).
    common = {"MAILDESK_SECRET_KEY": "shared-test-secret-0123456789abcdef", "MAILDESK_ADMIN_NOTIFY": ADMIN, **env}
    return daemon_factory(db=db, **common), daemon_factory(db=db, **common)


class Burst:
    """SENDERS client threads; message i goes to daemons[i % 2]. Records the Message-IDs that got 250.

    A client whose daemon is gone delivers to the other one instead, as a mail server with
    two MX hosts does.
    """

    def __init__(self, daemons: list[Daemon], count: int) -> None:
        self.daemons = daemons
        self.count = count
        self.accepted: dict[str, str] = {}  # Message-ID -> requester
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.dead: set[int] = set()

    def _client(self, index: int) -> smtplib.SMTP:
        return smtplib.SMTP("127.0.0.1", self.daemons[index].smtp_port, timeout=30)

    def _run(self, thread: int) -> None:
        clients: dict[int, smtplib.SMTP] = {}
        try:
            for i in range(thread, self.count, SENDERS):
                requester = f"user{i:04d}@example.org"
                msg = make_mail(requester, f"Question number {i}", f"Body of message {i}.",
                                message_id=f"<burst-{i}@client.example.org>")
                target = i % len(self.daemons)
                for attempt in range(len(self.daemons) * 2):
                    index = (target + attempt) % len(self.daemons)
                    if index in self.dead:
                        continue
                    try:
                        if index not in clients:
                            clients[index] = self._client(index)
                        clients[index].send_message(msg)
                    except (OSError, smtplib.SMTPException) as exc:
                        clients.pop(index, None)
                        if self.daemons[index].proc is not None and self.daemons[index].proc.poll() is not None:
                            self.dead.add(index)
                        with self.lock:
                            self.errors.append(f"{i} via daemon {index}: {type(exc).__name__}")
                        continue
                    with self.lock:
                        self.accepted[msg["Message-ID"].strip("<>")] = requester
                    break
        finally:
            for client in clients.values():
                try:
                    client.quit()
                except (OSError, smtplib.SMTPException):
                    pass

    def start(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self._run, args=(t,), daemon=True) for t in range(SENDERS)]
        for t in threads:
            t.start()
        return threads


def _run_burst(daemons: list[Daemon], count: int, during: Callable[[Burst], None] | None = None) -> Burst:
    burst = Burst(daemons, count)
    threads = burst.start()
    if during is not None:
        during(burst)
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "SMTP clients did not finish"
    return burst


def _by_kind(sink: Sink, kind: str) -> collections.Counter[str]:
    """How many mails of a kind went out per ticket number (from the [SUP-xxxxx] subject tag)."""
    counts: collections.Counter[str] = collections.Counter()
    for m in list(sink.messages):
        subject = m.subject
        matches = {
            "confirmation": "has been received" in subject,
            "escalation": subject.startswith("[SUP-") and "URGENT" in subject,
        }
        if matches.get(kind):
            counts[subject.split("]", 1)[0].lstrip("[")] += 1
    return counts


def _settled(daemon: Daemon, sink: Sink) -> None:
    """Wait until the outbox has nothing due or in flight and the sink holds every mail the
    database says was sent (a positive event, not a quiet period)."""
    def settled() -> bool:
        busy, sent = daemon.sql(
            "SELECT count(*) FILTER (WHERE status IN ('pending', 'sending')), "
            "count(*) FILTER (WHERE status = 'sent') FROM outbound_messages"
        )[0]
        return busy == 0 and len(sink.messages) >= sent

    wait_until(settled, timeout=60, what="the outbox to drain into the sink")


def test_two_daemons_share_500_messages_exactly_once(
    shared_db: SharedDatabase, daemon_factory: Callable[..., Daemon], sink: Sink
) -> None:
    # Every ticket breaches its SLA within a second, and both daemons run the SLA pass every
    # second while the burst is still arriving.
    a, b = _pair(
        daemon_factory, shared_db,
        MAILDESK_SLA_HOURS="urgent=0.0001,high=0.0001,medium=0.0001,low=0.0001",
        MAILDESK_SLA_CHECK_SECONDS="1",
    )
    burst = _run_burst([a, b], 500)
    assert not burst.errors
    assert len(burst.accepted) == 500

    a.wait_processed(500, timeout=120)
    wait_until(lambda: a.sql("SELECT count(*) FROM tickets WHERE escalated")[0][0] == 500, timeout=60,
               what="every ticket escalated")
    _settled(a, sink)

    inbound = a.sql("SELECT message_id, status, ticket_id FROM inbound_messages")
    assert len(inbound) == 500
    assert {status for _, status, _ in inbound} == {"processed"}
    assert {mid for mid, _, _ in inbound} == set(burst.accepted)
    assert len({ticket for _, _, ticket in inbound}) == 500

    tickets = a.sql("SELECT ticket_number, user_email FROM tickets")
    numbers = [n for n, _ in tickets]
    assert len(numbers) == 500 and len(set(numbers)) == 500
    assert sorted(e for _, e in tickets) == sorted(burst.accepted.values())

    # Every confirmation sent exactly once, to its requester.
    confirmations = _by_kind(sink, "confirmation")
    assert set(confirmations) == set(numbers)
    assert set(confirmations.values()) == {1}
    assert sorted(m.to for m in sink.messages if "has been received" in m.subject) == sorted(burst.accepted.values())
    # The admin heard of every new ticket once.
    new_ticket_notes = [m for m in sink.to(ADMIN) if "URGENT" not in m.subject]
    assert len(new_ticket_notes) == 500

    # SLA passes ran in both daemons at once: each ticket escalated (and mailed about) once.
    escalations = _by_kind(sink, "escalation")
    assert set(escalations) == set(numbers)
    assert set(escalations.values()) == {1}
    events = a.sql("SELECT ticket_id, count(*) FROM ticket_events WHERE kind = 'escalated' GROUP BY ticket_id")
    assert len(events) == 500 and {n for _, n in events} == {1}
    assert a.sql("SELECT count(*) FROM outbound_messages WHERE status != 'sent'")[0][0] == 0
    for d in (a, b):
        assert d.stop(signal.SIGTERM) == 0


def test_a_daemon_killed_mid_burst_loses_nothing_that_got_250(
    shared_db: SharedDatabase, daemon_factory: Callable[..., Daemon], sink: Sink
) -> None:
    victim, survivor = _pair(daemon_factory, shared_db)
    total = 400

    def kill_a_third_in(burst: Burst) -> None:
        wait_until(lambda: len(burst.accepted) >= total // 3, timeout=120, what="a third of the burst")
        assert victim.proc is not None
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait()

    burst = _run_burst([victim, survivor], total, during=kill_a_third_in)
    assert victim.proc is not None and victim.proc.returncode == -signal.SIGKILL
    assert len(burst.accepted) == total  # the clients moved to the survivor
    assert burst.errors  # some deliveries to the victim failed mid-way and were retried

    # The survivor processes everything, including what the victim had claimed in the
    # transaction it never committed.
    survivor.wait_processed(total, timeout=120)
    inbound = survivor.sql("SELECT message_id, status, ticket_id FROM inbound_messages")
    by_mid = {mid: (status, ticket) for mid, status, ticket in inbound}
    missing = [mid for mid in burst.accepted if mid not in by_mid]
    assert not missing, f"{len(missing)} messages that got 250 were lost"
    assert {by_mid[mid][0] for mid in burst.accepted} == {"processed"}
    assert len(inbound) == total  # stored once, even when the client delivered it twice
    tickets = survivor.sql("SELECT id, ticket_number, user_email FROM tickets")
    assert len(tickets) == total and len({n for _, n, _ in tickets}) == total
    assert {by_mid[mid][1] for mid in burst.accepted} == {t for t, _, _ in tickets}

    # Outbound rows the victim had claimed stay `sending` until their lease expires. Let the
    # survivor finish its own sends, then expire the victim's leases as time would.
    def nothing_pending() -> bool:
        return survivor.sql("SELECT count(*) FROM outbound_messages WHERE status = 'pending'")[0][0] == 0

    wait_until(nothing_pending, timeout=60, what="the survivor to send what is due")
    time.sleep(1.5)
    orphans = survivor.sql(
        "SELECT o.id, t.ticket_number FROM outbound_messages o JOIN tickets t ON t.id = o.ticket_id "
        "WHERE o.status = 'sending'"
    )
    survivor.sql("UPDATE outbound_messages SET claimed_until = now() - interval '1 second' WHERE status = 'sending'")
    _settled(survivor, sink)
    assert survivor.sql("SELECT count(*) FROM outbound_messages WHERE status != 'sent'")[0][0] == 0

    # Every ticket's confirmation went out; only a mail the victim may have handed to the
    # relay just before it died can go out twice (delivery is at least once).
    confirmations = _by_kind(sink, "confirmation")
    assert set(confirmations) == {n for _, n, _ in tickets}
    orphaned = {n for _, n in orphans}
    assert {n for n, c in confirmations.items() if c > 1} <= orphaned
    assert survivor.stop(signal.SIGTERM) == 0


def test_one_daemon_polls_a_mailbox_and_the_other_takes_over_when_it_dies(
    shared_db: SharedDatabase, daemon_factory: Callable[..., Daemon], sink: Sink
) -> None:
    from tests.dovecot import start_dovecot

    server = start_dovecot()
    try:
        a, b = _pair(daemon_factory, shared_db, MAILDESK_IMAP_URL=server.url(), MAILDESK_IMAP_POLL_SECONDS="1")
        wait_until(lambda: any("standing by" in d.log() for d in (a, b)), timeout=20,
                   what="one daemon to stand by")
        standby, poller = (a, b) if "standing by" in a.log() else (b, a)
        assert "standing by" not in poller.log()
        for i in range(30):
            server.append(bytes(make_mail(f"imap{i}@example.org", f"By IMAP {i}", "hello")))
        wait_until(lambda: len(poller.tickets()) == 30, timeout=60, what="30 IMAP tickets")
        wait_until(lambda: server.uids() == [], timeout=20, what="the folder to empty")
        assert poller.sql("SELECT count(*) FROM inbound_messages")[0][0] == 30
        # A one-off poll from cron next to the daemons leaves the mailbox to the daemon polling it.
        once = subprocess.run([sys.executable, "-m", "maildesk", "poll-imap", "--once"], env=standby.env,
                              capture_output=True, text=True, timeout=120)
        assert once.returncode == 0, once.stderr
        assert "another maildesk process is polling" in once.stdout

        assert poller.proc is not None
        poller.proc.send_signal(signal.SIGKILL)
        poller.proc.wait()
        wait_until(lambda: "taking over polling" in standby.log(), timeout=30, what="the standby to take over")
        server.append(bytes(make_mail("late@example.org", "After the failover", "still there?")))
        wait_until(lambda: len(standby.tickets()) == 31, timeout=30, what="the message after the failover")
        wait_until(lambda: server.uids() == [], timeout=20, what="the folder to empty")
        assert standby.stop(signal.SIGTERM) == 0
    finally:
        server.stop()


def test_a_commit_that_makes_work_tells_the_other_daemons(
    shared_db: SharedDatabase, daemon_factory: Callable[..., Daemon], sink: Sink
) -> None:
    """The daemon that stores a message NOTIFYs the others, so they need not wait for their poll."""
    import asyncio

    import asyncpg

    from maildesk.wakeup import CHANNEL

    a, _b = _pair(daemon_factory, shared_db)
    heard: list[str] = []

    async def listen() -> None:
        conn = await asyncpg.connect(shared_db.url)
        try:
            await conn.add_listener(CHANNEL, lambda _c, _pid, _ch, payload: heard.append(payload))
            await asyncio.to_thread(a.send, make_mail("nia@example.org", "Tell the others", "hello"))
            for _ in range(200):
                if {"wake:pipeline", "wake:sender"} <= set(heard):
                    break
                await asyncio.sleep(0.05)
        finally:
            await conn.close()

    asyncio.run(listen())
    assert "wake:pipeline" in heard  # the intake commit
    assert "wake:sender" in heard  # the pipeline commit that queued the confirmation
    sink.wait_for("nia@example.org")
