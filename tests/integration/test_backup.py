"""`maildesk backup` while mail arrives, `maildesk restore` into a new install, and a daemon on the copy.

The restored daemon must hold every ticket the backup holds, serve their attachments
byte for byte, and thread a reply to a confirmation sent before the backup into the right
ticket (which needs the same secret key: it signs our Message-IDs).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from maildesk.db import migrate
from tests.conftest import Daemon, Sink, make_mail, wait_until
from tests.conftest import TestDatabase as Database
from tests.integration.api_helpers import add_user, login

BURST = 50


def _maildesk(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "maildesk", *args], env=env, capture_output=True, text=True,
                          timeout=300)


def _with_attachment(i: int) -> object:
    msg = make_mail(f"customer{i}@example.org", f"Request {i}", f"Body of request {i}.")
    msg.add_attachment(f"attachment of request {i}\n".encode() * (i + 1), maintype="application",
                       subtype="octet-stream", filename=f"file{i}.bin")
    return msg


def _sqlite(daemon_factory, tmp_path: Path, name: str, **env: str) -> Daemon:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / name}.db"
    if not env.pop("restored", ""):
        migrate(url)
    return daemon_factory(db=Database(url), **env)


def test_backup_during_a_burst_restores_every_ticket_attachment_and_thread(daemon_factory, sink: Sink,
                                                                           tmp_path: Path) -> None:
    # The secret key is generated into the data dir (not set in the environment): the backup must carry it.
    live = _sqlite(daemon_factory, tmp_path, "live", MAILDESK_SECRET_KEY="")
    for i in range(5):
        live.send(_with_attachment(i))
    live.wait_processed(5)
    (confirmation,) = sink.wait_for("customer0@example.org")
    first_number = live.sql("SELECT ticket_number FROM tickets WHERE user_email = 'customer0@example.org'")[0][0]

    backup_done = threading.Event()
    sent = [5]

    def burst() -> None:
        # At least BURST messages, and on until the backup has finished: it runs mid-burst.
        while sent[0] < 5 + BURST or not backup_done.is_set():
            i = sent[0]
            live.send(_with_attachment(i) if i % 2 else make_mail(f"customer{i}@example.org", f"Request {i}", "Hi"))
            sent[0] += 1
            time.sleep(0.02)

    sender = threading.Thread(target=burst)
    sender.start()
    try:
        wait_until(lambda: live.sql("SELECT count(*) FROM inbound_messages")[0][0] >= 15, timeout=60,
                   what="the burst to be under way")
        backup_dir = tmp_path / "backup"
        made = _maildesk("backup", str(backup_dir), env=live.env)
        at_backup = live.sql("SELECT count(*) FROM tickets")[0][0]
    finally:
        backup_done.set()
        sender.join(timeout=300)
    assert made.returncode == 0, made.stderr
    live.wait_processed(sent[0], timeout=120)
    final = live.sql("SELECT count(*) FROM tickets")[0][0]

    with sqlite3.connect(backup_dir / "maildesk.db") as copy:
        in_backup = copy.execute("SELECT id, ticket_number, user_email FROM tickets ORDER BY id").fetchall()
        accepted = copy.execute("SELECT count(*) FROM inbound_messages").fetchone()[0]
        attachments = copy.execute(
            "SELECT t.ticket_number, a.id, a.filename, a.size FROM attachments a "
            "JOIN ticket_messages m ON m.id = a.message_id JOIN tickets t ON t.id = m.ticket_id").fetchall()
    assert f"{len(in_backup)} tickets" in made.stdout and "secret_key copied" in made.stdout
    assert 5 <= len(in_backup) < final == sent[0]  # taken mid-burst: some of it, not all
    assert (backup_dir / "secret_key").read_text() == (live.data_dir / "secret_key").read_text()
    assert (backup_dir / "secret_key").stat().st_mode & 0o077 == 0
    print(f"\ntickets: {len(in_backup)} in the backup ({at_backup} in the live database just after it), "
          f"{final} live after the burst of {sent[0] - 5}; {len(attachments)} attachments in the backup; "
          f"{accepted - len(in_backup)} messages accepted but not yet processed in the backup")

    # A new install: new database path, new data dir, restored from the backup.
    new_dir = tmp_path / "restored-data"
    env = dict(live.env, MAILDESK_DATABASE_URL=f"sqlite:///{tmp_path / 'restored'}.db",
               MAILDESK_DATA_DIR=str(new_dir))
    restored = _maildesk("restore", str(backup_dir), env=env)
    assert restored.returncode == 0, restored.stderr
    # Files are copied after the database snapshot: every one it names, maybe a few newer ones.
    files = int(restored.stdout.split(" attachment files")[0].rsplit(" ", 1)[1])
    assert f"restored {len(in_backup)} tickets, " in restored.stdout and files >= len(attachments)
    again = _maildesk("restore", str(backup_dir), env=env)
    assert again.returncode == 1 and "exists" in again.stderr  # never over existing data
    live.stop()

    copy = _sqlite(daemon_factory, tmp_path, "restored", restored="1", MAILDESK_SECRET_KEY="",
                   MAILDESK_DATA_DIR=str(new_dir))
    # Mail accepted (250) but not yet processed when the backup ran is in it too: the copy
    # processes it, so each of the `accepted` messages (all from different senders) is a ticket.
    copy.wait_processed(accepted, timeout=60)
    on_copy = copy.sql("SELECT id, ticket_number, user_email FROM tickets ORDER BY id")
    assert on_copy[: len(in_backup)] == [tuple(r) for r in in_backup] and len(on_copy) == accepted
    print(f"restored daemon: {len(on_copy)} tickets")
    add_user(copy, "restorer@example.com", admin=True)
    with login(copy, "restorer@example.com") as admin:
        for number, attachment_id, filename, size in attachments:
            r = admin.get(f"/support/tickets/{number}/attachments/{attachment_id}")
            assert r.status_code == 200, (number, r.status_code)
            i = int(filename.removeprefix("file").removesuffix(".bin"))
            assert r.content == f"attachment of request {i}\n".encode() * (i + 1) and len(r.content) == size

    # A reply to the confirmation sent before the backup threads into its ticket on the copy.
    reply = make_mail("customer0@example.org", "Re: " + str(confirmation.msg["Subject"]), "Any news?",
                      in_reply_to=confirmation.msg["Message-ID"])
    reply.replace_header("Subject", "Re: no ticket number here")  # threading by the Message-ID alone
    def messages_on_first() -> int:
        return copy.sql("SELECT count(*) FROM ticket_messages tm JOIN tickets t ON t.id = tm.ticket_id "
                        "WHERE t.ticket_number = :n", n=first_number)[0][0]

    before = messages_on_first()
    copy.send(reply)
    wait_until(lambda: messages_on_first() == before + 1, timeout=30, what="the reply to land in the first ticket")
    assert copy.sql("SELECT count(*) FROM tickets")[0][0] == accepted  # no new ticket opened


def test_backup_on_postgresql_copies_the_data_dir_and_points_to_pg_dump(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "attachments" / "ab").mkdir(parents=True)
    (data / "attachments" / "ab" / "abcdef").write_bytes(b"file")
    (data / "secret_key").write_text("k" * 48)
    (data / "outbox").mkdir()
    (data / "outbox" / "00000001-confirmation.eml").write_bytes(b"Subject: hi\r\n\r\nx\r\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILDESK_")}
    env.update(MAILDESK_DATABASE_URL="postgresql://maildesk:hunter2hunter2@db.internal:5432/maildesk",
               MAILDESK_DATA_DIR=str(data))
    made = _maildesk("backup", str(tmp_path / "backup"), env=env)
    assert made.returncode == 0, made.stderr
    assert "pg_dump --format=custom" in made.stdout and "hunter2" not in made.stdout
    notice = (tmp_path / "backup" / "README.txt").read_text()
    assert notice.strip() == made.stdout.strip() and "pg_restore" in notice
    assert (tmp_path / "backup" / "attachments" / "ab" / "abcdef").read_bytes() == b"file"
    assert (tmp_path / "backup" / "secret_key").read_text() == "k" * 48
    assert (tmp_path / "backup" / "outbox" / "00000001-confirmation.eml").exists()  # the whole data dir
    assert not (tmp_path / "backup" / "maildesk.db").exists()


def test_backup_inside_the_data_dir_with_the_database_there_too(tmp_path: Path) -> None:
    # The container's layout: /data holds the SQLite file; the backup goes to /data/backups/x.
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILDESK_")}
    env.update(MAILDESK_DATABASE_URL=f"sqlite:///{data}/maildesk.db", MAILDESK_DATA_DIR=str(data),
               MAILDESK_SECRET_KEY="")
    assert _maildesk("migrate", env=env).returncode == 0
    (data / "outbox").mkdir()
    (data / "outbox" / "1.eml").write_bytes(b"x")
    made = _maildesk("backup", str(data / "backups" / "one"), env=env)
    assert made.returncode == 0, made.stderr
    assert "0 tickets" in made.stdout and "no secret key yet" in made.stdout  # backup does not invent one
    assert not (data / "secret_key").exists()
    copied = sorted(p.relative_to(data / "backups" / "one").as_posix()
                    for p in (data / "backups" / "one").rglob("*") if p.is_file())
    assert copied == ["README.txt", "maildesk.db", "outbox/1.eml"]  # no copy of itself, no WAL files
    new = tmp_path / "new"
    env.update(MAILDESK_DATABASE_URL=f"sqlite:///{new}/maildesk.db", MAILDESK_DATA_DIR=str(new))
    restored = _maildesk("restore", str(data / "backups" / "one"), env=env)
    assert restored.returncode == 0, restored.stderr
    assert (new / "outbox" / "1.eml").read_bytes() == b"x" and (new / "maildesk.db").exists()
    assert not (new / "README.txt").exists()
