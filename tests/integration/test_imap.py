"""Mail in over IMAP: a real Dovecot mailbox read by `maildesk poll-imap --once` and by `serve`."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Callable, Iterator

import httpx
import pytest

from tests.conftest import Daemon, Sink, free_port, make_mail, wait_until
from tests.dovecot import TOO_LARGE_FLAG, Dovecot, start_dovecot

SECRET = "s3cret-imap-pw"


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    server = start_dovecot(password=SECRET)
    yield server
    server.stop()


def _raw(sender: str, subject: str, body: str, **kw: str) -> bytes:
    headers = {k.replace("_", "-"): v for k, v in kw.items()}
    return bytes(make_mail(sender, subject, body, headers=headers))


def _poll_once(daemon: Daemon) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "maildesk", "poll-imap", "--once"],
        env=daemon.env, capture_output=True, text=True, timeout=120,
    )


def _subjects(daemon: Daemon) -> list[str]:
    return sorted(row[3] for row in daemon.tickets())


def test_poll_once_turns_waiting_mail_into_tickets_and_empties_the_folder(
    daemon_factory: Callable[..., Daemon], dovecot: Dovecot, sink: Sink
) -> None:
    daemon = daemon_factory(start=False, MAILDESK_IMAP_URL=dovecot.url())
    dovecot.append(_raw("ann@example.org", "Printer on fire", "Please help."))
    dovecot.append(_raw("ben@example.org", "Refund", "Order 9 was wrong."))
    # Someone read this one in webmail first: it is still waiting for maildesk.
    dovecot.append(_raw("cat@example.org", "Read already", "Seen by a human."), flags=(b"\\Seen",))

    done = _poll_once(daemon)
    assert done.returncode == 0, done.stderr
    assert "ingested 3 message(s)" in done.stdout

    assert _subjects(daemon) == ["Printer on fire", "Read already", "Refund"]
    assert [s for (s,) in daemon.sql("SELECT DISTINCT source FROM inbound_messages")] == ["imap"]
    assert daemon.sql("SELECT count(*) FROM inbound_messages WHERE status = 'processed'")[0][0] == 3
    assert dovecot.uids() == []  # removed from the mailbox once committed
    # The confirmations went out too: --once leaves nothing half done.
    for requester in ("ann@example.org", "ben@example.org", "cat@example.org"):
        (confirmation,) = sink.wait_for(requester)
        assert "has been received" in confirmation.subject

    again = _poll_once(daemon)
    assert again.returncode == 0, again.stderr
    assert "ingested 0 message(s)" in again.stdout
    assert len(daemon.tickets()) == 3


def test_a_message_delivered_again_after_a_crash_is_stored_once(
    daemon_factory: Callable[..., Daemon], dovecot: Dovecot
) -> None:
    daemon = daemon_factory(start=False, MAILDESK_IMAP_URL=dovecot.url())
    raw = _raw("dan@example.org", "Twice", "Same message.")
    dovecot.append(raw)
    assert _poll_once(daemon).returncode == 0
    # A crash between the commit and the expunge leaves the message in the folder: simulate it.
    dovecot.append(raw)
    done = _poll_once(daemon)
    assert done.returncode == 0, done.stderr
    assert "ingested 0 message(s)" in done.stdout and "1 already stored" in done.stdout
    assert _subjects(daemon) == ["Twice"]
    assert dovecot.uids() == []


def test_plus_address_from_delivered_to_picks_the_category(
    daemon_factory: Callable[..., Daemon], dovecot: Dovecot
) -> None:
    daemon = daemon_factory(start=False, MAILDESK_IMAP_URL=dovecot.url())
    dovecot.append(b"Delivered-To: support+bug@example.com\r\n" + _raw("eve@example.org", "Crash", "It crashes."))
    assert _poll_once(daemon).returncode == 0
    ((_id, _n, requester, subject, status, category),) = daemon.tickets()
    assert (requester, subject, status, category) == ("eve@example.org", "Crash", "open", "bug")


def test_oversized_message_is_left_flagged_in_the_folder(
    daemon_factory: Callable[..., Daemon], dovecot: Dovecot
) -> None:
    daemon = daemon_factory(start=False, MAILDESK_IMAP_URL=dovecot.url(), MAILDESK_MAX_MESSAGE_BYTES="4000")
    dovecot.append(_raw("fay@example.org", "Huge", "x" * 20_000))
    dovecot.append(_raw("gus@example.org", "Small", "fine"))
    done = _poll_once(daemon)
    assert done.returncode == 0, done.stderr
    assert "ingested 1 message(s)" in done.stdout
    assert _subjects(daemon) == ["Small"]
    (left,) = dovecot.uids()
    assert dovecot.uids(criteria=f"KEYWORD {TOO_LARGE_FLAG}") == [left]
    assert "over MAILDESK_MAX_MESSAGE_BYTES" in done.stderr
    # The next pass skips it instead of warning again.
    again = _poll_once(daemon)
    assert "ingested 0 message(s)" in again.stdout and "MAX_MESSAGE_BYTES" not in again.stderr


def test_wrong_password_fails_with_one_line_that_hides_the_password(
    daemon_factory: Callable[..., Daemon], dovecot: Dovecot
) -> None:
    wrong = "Wr0ng-pa55word-xyz"
    daemon = daemon_factory(start=False, MAILDESK_IMAP_URL=dovecot.url(password=wrong))
    dovecot.append(_raw("hal@example.org", "Waiting", "Still here."))
    done = _poll_once(daemon)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "login refused" in lines[0] and dovecot.user in lines[0]
    assert wrong not in done.stderr + done.stdout and SECRET not in done.stderr + done.stdout
    assert len(dovecot.uids()) == 1  # nothing was touched
    assert daemon.tickets() == []


def test_unreachable_server_fails_with_one_line(daemon_factory: Callable[..., Daemon]) -> None:
    daemon = daemon_factory(start=False, MAILDESK_IMAP_URL=f"imap://u:{SECRET}@127.0.0.1:{free_port()}/INBOX")
    done = _poll_once(daemon)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert "unreachable" in line and SECRET not in line


def test_serve_keeps_running_when_the_imap_server_is_down(daemon_factory: Callable[..., Daemon]) -> None:
    daemon = daemon_factory(MAILDESK_IMAP_URL=f"imap://support:{SECRET}@127.0.0.1:{free_port()}/INBOX")
    wait_until(lambda: "unreachable" in daemon.log(), timeout=20, what="the IMAP failure in the log")
    failure = [line for line in daemon.log().splitlines() if "unreachable" in line]
    assert "retrying in" in failure[0]
    assert SECRET not in daemon.log()
    # Mail over SMTP still works.
    daemon.send(make_mail("ivy@example.org", "SMTP still fine", "Hello."))
    daemon.wait_processed(1)
    assert _subjects(daemon) == ["SMTP still fine"]
    assert daemon.proc is not None and daemon.proc.poll() is None
    assert daemon.stop(signal.SIGTERM) == 0


def test_serve_picks_up_mail_appended_while_it_runs_with_idle(
    daemon_factory: Callable[..., Daemon], dovecot: Dovecot, sink: Sink
) -> None:
    # A long poll interval: only IDLE can bring the second message in quickly.
    daemon = daemon_factory(MAILDESK_IMAP_URL=dovecot.url(), MAILDESK_IMAP_POLL_SECONDS="600")
    dovecot.append(_raw("jon@example.org", "Before start", "queued"))
    wait_until(lambda: len(daemon.tickets()) == 1, timeout=20, what="the waiting message")
    time.sleep(1.5)  # let it settle into IDLE
    dovecot.append(_raw("kim@example.org", "While running", "new mail"))
    wait_until(lambda: len(daemon.tickets()) == 2, timeout=20, what="the message appended while idling")
    assert _subjects(daemon) == ["Before start", "While running"]
    sink.wait_for("kim@example.org")
    wait_until(lambda: dovecot.uids() == [], timeout=10, what="the folder to empty")
    assert daemon.stop(signal.SIGTERM) == 0


def test_serve_polls_a_server_without_idle(daemon_factory: Callable[..., Daemon]) -> None:
    server = start_dovecot(password=SECRET, capabilities="IMAP4rev1 UIDPLUS")
    try:
        with server.client() as c:
            assert not c.has_capability("IDLE")
        daemon = daemon_factory(MAILDESK_IMAP_URL=server.url(), MAILDESK_IMAP_POLL_SECONDS="1")
        server.append(_raw("lea@example.org", "Polled", "no idle here"))
        wait_until(lambda: len(daemon.tickets()) == 1, timeout=20, what="the polled message")
        server.append(_raw("max@example.org", "Polled again", "second"))
        wait_until(lambda: len(daemon.tickets()) == 2, timeout=20, what="the second polled message")
        wait_until(lambda: server.uids() == [], timeout=10, what="the folder to empty")
        assert daemon.stop(signal.SIGTERM) == 0
    finally:
        server.stop()


def test_serve_recovers_when_the_password_is_fixed_on_the_server(
    daemon_factory: Callable[..., Daemon], dovecot: Dovecot
) -> None:
    """A refused login is retried with backoff, so the daemon recovers without a restart."""
    daemon_url = dovecot.url()
    dovecot.set_password("changed-later")
    daemon = daemon_factory(MAILDESK_IMAP_URL=daemon_url)
    wait_until(lambda: "login refused" in daemon.log(), timeout=20, what="the refused login in the log")
    assert SECRET not in daemon.log()
    dovecot.set_password(SECRET)
    dovecot.append(_raw("ned@example.org", "After the fix", "hello"))
    wait_until(lambda: len(daemon.tickets()) == 1, timeout=30, what="the message after the password fix")
    assert "connected again" in daemon.log()


def test_failure_lines_never_show_the_password_even_when_echoed() -> None:
    from imapclient.exceptions import LoginError

    from maildesk.config import load_settings
    from maildesk.intake.imap import describe_failure
    from maildesk.intake.imap_lock import lock_key

    cfg = load_settings({"MAILDESK_IMAP_URL": "imap://desk%40example.com:p%40ss%2Fw0rd@mail.example.com/Support"}).imap
    assert cfg is not None and cfg.password == "p@ss/w0rd"
    line = describe_failure(cfg, LoginError("b'[AUTHENTICATIONFAILED] bad password p@ss/w0rd'"))
    assert "p@ss/w0rd" not in line and "p%40ss" not in line and "\n" not in line
    assert "login refused for user desk@example.com" in line and "mail.example.com:143/Support" in line
    refused = describe_failure(cfg, ConnectionRefusedError(111, "Connection refused"))
    assert refused.endswith("server unreachable: Connection refused")
    # The advisory-lock key names the mailbox, not the password: a changed password is the same mailbox.
    other = load_settings({"MAILDESK_IMAP_URL": "imap://desk%40example.com:new@mail.example.com/Support"}).imap
    assert other is not None and lock_key(cfg) == lock_key(other)


def test_a_long_folder_is_drained_in_bounded_chunks(
    tmp_path, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sizes are asked for a window at a time and bodies fetched a few at a time; all arrive once."""
    import asyncio

    from maildesk.config import load_settings
    from maildesk.db import migrate
    from maildesk.intake import imap
    from maildesk.intake import imap_mailbox
    from maildesk.intake.store import Intake
    from maildesk.runtime import Runtime
    from tests.conftest import new_database

    monkeypatch.setattr(imap_mailbox, "_SIZE_WINDOW", 3)
    monkeypatch.setattr(imap_mailbox, "_CHUNK_MESSAGES", 2)
    db = new_database(tmp_path)
    migrate(db.url)
    for i in range(7):
        body = "x" * 9000 if i == 3 else f"message {i}"
        dovecot.append(_raw(f"u{i}@example.org", f"Chunk {i}", body))
    settings = load_settings({
        "MAILDESK_DATABASE_URL": db.url, "MAILDESK_IMAP_URL": dovecot.url(), "MAILDESK_DATA_DIR": str(tmp_path),
        "MAILDESK_SECRET_KEY": "k" * 40, "MAILDESK_MAX_MESSAGE_BYTES": "5000",
    })

    async def go() -> imap.PassResult:
        rt = Runtime.build(settings)
        intake = Intake(rt.db)
        assert settings.imap is not None
        mailbox = imap_mailbox.Mailbox(settings.imap, settings.max_message_bytes)
        try:
            await asyncio.to_thread(mailbox.connect)
            return await imap.drain(mailbox, intake, settings)
        finally:
            await asyncio.to_thread(mailbox.close)
            await intake.close()
            await rt.db.dispose()

    try:
        result = asyncio.run(go())
        assert (result.ingested, result.duplicates) == (6, 0)
        assert len(dovecot.uids()) == 1  # the one too large
        from tests.conftest import run_sql

        subjects = sorted(s for (s,) in run_sql(db.url, "SELECT subject FROM inbound_messages"))
        assert subjects == [f"Chunk {i}" for i in range(7) if i != 3]
    finally:
        db.drop()


# --- MAILDESK_IMAP_AFTER: delete (above), keep, move:FOLDER ------------------------------------


def _flags(server: Dovecot, folder: str = "INBOX") -> dict[int, set[bytes]]:
    with server.client() as c:
        c.select_folder(folder, readonly=True)
        uids = c.search("ALL")
        return {uid: set(data[b"FLAGS"]) for uid, data in c.fetch(uids, ["FLAGS"]).items()} if uids else {}


def test_keep_leaves_mail_seen_and_never_takes_it_twice_even_after_restart_and_unread(
    daemon_factory: Callable[..., Daemon], dovecot: Dovecot
) -> None:
    daemon = daemon_factory(start=False, MAILDESK_IMAP_URL=dovecot.url(), MAILDESK_IMAP_AFTER="keep")
    dovecot.append(_raw("oli@example.org", "Keep me", "Archive stays."))
    dovecot.append(_raw("pam@example.org", "Keep me too", "Read already."), flags=(b"\\Seen",))

    done = _poll_once(daemon)
    assert done.returncode == 0, done.stderr
    assert "ingested 2 message(s)" in done.stdout
    assert _subjects(daemon) == ["Keep me", "Keep me too"]
    flags = _flags(dovecot)
    assert len(flags) == 2 and all(b"\\Seen" in f and b"\\Deleted" not in f for f in flags.values())

    # Someone marks one unread again; a new process (a restart) still does not take it again.
    with dovecot.client() as c:
        c.select_folder("INBOX")
        c.remove_flags(list(flags), [b"\\Seen"])
    again = _poll_once(daemon)
    assert again.returncode == 0, again.stderr
    assert "ingested 0 message(s)" in again.stdout and "already stored" not in again.stdout
    assert len(daemon.tickets()) == 2
    assert daemon.sql("SELECT count(*) FROM inbound_messages")[0][0] == 2

    # New mail in the kept folder is still taken, once.
    dovecot.append(_raw("quin@example.org", "Later", "New one."))
    third = _poll_once(daemon)
    assert "ingested 1 message(s)" in third.stdout and "already stored" not in third.stdout
    assert _subjects(daemon) == ["Keep me", "Keep me too", "Later"]
    assert len(dovecot.uids()) == 3
    assert daemon.sql("SELECT count(*) FROM imap_seen")[0][0] == 3


def test_move_files_mail_into_a_folder_it_creates(
    daemon_factory: Callable[..., Daemon], dovecot: Dovecot
) -> None:
    assert not dovecot.folder_exists("Done/Imported")
    daemon = daemon_factory(start=False, MAILDESK_IMAP_URL=dovecot.url(), MAILDESK_IMAP_AFTER="move:Done/Imported")
    dovecot.append(_raw("rae@example.org", "Move me", "To the archive."))
    dovecot.append(_raw("sam@example.org", "Me too", "Also."))
    done = _poll_once(daemon)
    assert done.returncode == 0, done.stderr
    assert "ingested 2 message(s)" in done.stdout
    assert _subjects(daemon) == ["Me too", "Move me"]
    assert dovecot.uids() == []
    moved = _flags(dovecot, "Done/Imported")
    assert len(moved) == 2 and all(b"\\Seen" in f and b"\\Deleted" not in f for f in moved.values())
    again = _poll_once(daemon)
    assert "ingested 0 message(s)" in again.stdout and "already stored" not in again.stdout
    assert len(dovecot.uids("Done/Imported")) == 2


def test_move_without_the_move_capability_copies_then_expunges(
    daemon_factory: Callable[..., Daemon]
) -> None:
    server = start_dovecot(password=SECRET, capabilities="IMAP4rev1 UIDPLUS IDLE")
    try:
        with server.client() as c:
            assert not c.has_capability("MOVE")
            c.create_folder("Archive")
        daemon = daemon_factory(start=False, MAILDESK_IMAP_URL=server.url(), MAILDESK_IMAP_AFTER="move:Archive")
        server.append(_raw("tia@example.org", "Copied", "no MOVE here"))
        done = _poll_once(daemon)
        assert done.returncode == 0, done.stderr
        assert "ingested 1 message(s)" in done.stdout
        assert server.uids() == [] and len(server.uids("Archive")) == 1
        assert _subjects(daemon) == ["Copied"]
    finally:
        server.stop()


def test_serve_with_keep_takes_new_mail_once(daemon_factory: Callable[..., Daemon], dovecot: Dovecot) -> None:
    import re

    daemon = daemon_factory(MAILDESK_IMAP_URL=dovecot.url(), MAILDESK_IMAP_AFTER="keep",
                            MAILDESK_IMAP_POLL_SECONDS="1")
    dovecot.append(_raw("uma@example.org", "Kept by serve", "one"))
    wait_until(lambda: len(daemon.tickets()) == 1, timeout=20, what="the kept message")
    dovecot.append(_raw("vic@example.org", "Second kept", "two"))
    wait_until(lambda: len(daemon.tickets()) == 2, timeout=20, what="the second kept message")
    assert all(b"\\Seen" in f for f in _flags(dovecot).values()) and len(dovecot.uids()) == 2
    metrics = httpx.get(f"{daemon.base_url}/metrics", timeout=10).text
    assert 'maildesk_inbound_messages_total{source="imap",status="received"} 2.0' in metrics
    assert "via imap" in daemon.log()
    assert daemon.stop(signal.SIGTERM) == 0
    # Every drain after the first saw the kept message and did not fetch it again.
    assert not re.search(r"\([1-9]\d* already stored\)", daemon.log()), daemon.log()
    assert daemon.sql("SELECT count(*) FROM imap_seen")[0][0] == 2


def test_move_into_the_polled_folder_is_a_configuration_error(daemon_factory: Callable[..., Daemon]) -> None:
    daemon = daemon_factory(start=False, MAILDESK_IMAP_URL=f"imap://u:{SECRET}@127.0.0.1:143/INBOX",
                            MAILDESK_IMAP_AFTER="move:INBOX")
    done = _poll_once(daemon)
    assert done.returncode == 2
    assert "MAILDESK_IMAP_AFTER" in done.stderr and SECRET not in done.stderr
