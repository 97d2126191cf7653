"""The `maildesk` command: exit codes, messages, create-user, check-sla, schema check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import Daemon, Sink, make_mail, new_database


def _maildesk(*args: str, env: dict[str, str], stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "maildesk", *args], input=stdin.decode(), env=env,
                          capture_output=True, text=True, timeout=60)


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILDESK_")}
    env.update(values)
    return env


def test_bad_configuration_exits_2_naming_the_variable(tmp_path: Path) -> None:
    result = _maildesk("serve", env=_env(MAILDESK_SMTP_LISTEN="localhost", MAILDESK_DATA_DIR=str(tmp_path)))
    assert result.returncode == 2
    assert "MAILDESK_SMTP_LISTEN" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_serve_on_a_schema_that_is_behind_says_run_migrate(tmp_path: Path) -> None:
    db = new_database(tmp_path)
    try:
        result = _maildesk("serve", env=_env(MAILDESK_DATABASE_URL=db.url, MAILDESK_DATA_DIR=str(tmp_path),
                                             MAILDESK_SMTP_LISTEN="127.0.0.1:0", MAILDESK_HTTP_LISTEN="127.0.0.1:0"))
        assert result.returncode == 1
        assert "maildesk migrate" in result.stderr and "Traceback" not in result.stderr
        migrated = _maildesk("migrate", env=_env(MAILDESK_DATABASE_URL=db.url, MAILDESK_DATA_DIR=str(tmp_path)))
        assert migrated.returncode == 0, migrated.stderr
    finally:
        db.drop()


def test_create_user_creates_then_updates(daemon_factory) -> None:
    daemon = daemon_factory(start=False)
    first = _maildesk("create-user", "Boss@Example.com", "--admin", "--name", "The Boss", "--password-stdin",
                      env=daemon.env, stdin=b"pw-one-long-enough\n")
    assert first.returncode == 0 and "created admin boss@example.com" in first.stdout
    again = _maildesk("create-user", "boss@example.com", "--password-stdin", env=daemon.env, stdin=b"pw-two-long-enough\n")
    assert again.returncode == 0 and "updated" in again.stdout
    role, name, hashed = daemon.sql("SELECT role, name, password_hash FROM users WHERE email='boss@example.com'")[0]
    assert (role, name) == ("admin", "The Boss") and hashed.startswith("$argon2")
    empty = _maildesk("create-user", "x@example.com", "--password-stdin", env=daemon.env, stdin=b"\n")
    assert empty.returncode == 2 and "empty password" in empty.stderr
    bad = _maildesk("create-user", "not-an-address", env=daemon.env)
    assert bad.returncode == 2


def test_create_user_and_mail_from_the_same_address_are_one_user(daemon_factory, sink: Sink) -> None:
    # The CLI and the mail pipeline find or create users through one function: same address
    # form (spaces and case do not make a second person), same name limit (users.name is 200
    # characters; PostgreSQL refused a longer CLI name with a traceback).
    daemon = daemon_factory(start=False)
    long_name = "Ada Lovelace " + "x" * 250
    made = _maildesk("create-user", " Ada@Example.org ", "--name", long_name, env=daemon.env)
    assert made.returncode == 0, made.stderr
    assert "created user ada@example.org" in made.stdout
    daemon.start()
    daemon.send(make_mail("Ada Lovelace <ada@example.org>", "Hello", "It is me again"))
    daemon.wait_processed(1)
    users = daemon.sql("SELECT id, email, name FROM users WHERE email LIKE '%ada%'")
    assert len(users) == 1 and users[0][1] == "ada@example.org" and users[0][2] == long_name[:200]
    assert daemon.sql("SELECT user_id, user_email FROM tickets") == [(users[0][0], "ada@example.org")]


def test_check_sla_escalates_once_and_prints_numbers(daemon: Daemon, sink: Sink) -> None:
    _maildesk("create-user", "oncall@example.com", "--admin", "--password-stdin", env=daemon.env,
              stdin=b"oncall-password\n")
    daemon.send(make_mail("late@example.org", "Nobody answers", "Hello?"))
    daemon.send(make_mail("fresh@example.org", "Just now", "Hi"))
    daemon.wait_processed(2)
    late_id, late_number = daemon.tickets()[0][:2]
    daemon.sql("UPDATE tickets SET created_at = '2020-01-01 00:00:00', sla_basis = NULL WHERE id = :t", t=late_id)

    first = _maildesk("check-sla", env=daemon.env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.split() == [late_number]
    (urgent,) = sink.wait_for("oncall@example.com", count=3)[2:]
    assert urgent.subject == f"[{late_number}] URGENT: Ticket {late_number} needs attention"
    assert urgent.msg["Auto-Submitted"] == "auto-generated"
    assert _maildesk("check-sla", env=daemon.env).stdout.strip() == ""
    escalated, at = daemon.sql("SELECT escalated, escalated_at FROM tickets WHERE id=:t", t=late_id)[0]
    assert escalated and at is not None


def test_poll_imap_without_url_is_a_configuration_error(tmp_path: Path) -> None:
    result = _maildesk("poll-imap", "--once", env=_env(MAILDESK_DATA_DIR=str(tmp_path)))
    assert result.returncode == 2 and "MAILDESK_IMAP_URL" in result.stderr


def test_create_user_admin_needs_a_long_password_or_an_explicit_no_password(daemon_factory) -> None:
    daemon = daemon_factory(start=False)
    short = _maildesk("create-user", "boss@example.com", "--admin", "--password-stdin", env=daemon.env,
                      stdin=b"short\n")
    assert short.returncode == 2 and "at least 12 characters" in short.stderr
    silent = _maildesk("create-user", "boss@example.com", "--admin", env=daemon.env)
    assert silent.returncode == 2 and "--no-password" in silent.stderr
    assert daemon.sql("SELECT count(*) FROM users")[0][0] == 0  # neither attempt created anyone
    link_only = _maildesk("create-user", "boss@example.com", "--admin", "--no-password", env=daemon.env)
    assert link_only.returncode == 0 and "sign-in by link only" in link_only.stdout
    assert daemon.sql("SELECT role, password_hash FROM users WHERE email='boss@example.com'") == [("admin", None)]
    both = _maildesk("create-user", "boss@example.com", "--admin", "--no-password", "--password-stdin",
                     env=daemon.env, stdin=b"a-long-enough-password\n")
    assert both.returncode == 2


def test_migrate_says_from_which_revision_to_which_and_leaves_nothing_behind_on_failure(tmp_path: Path) -> None:
    from maildesk.db import head_revision

    db = new_database(tmp_path)
    data_dir = tmp_path / "data"
    try:
        env = _env(MAILDESK_DATABASE_URL=db.url, MAILDESK_DATA_DIR=str(data_dir))
        first = _maildesk("migrate", env=env)
        assert first.returncode == 0, first.stderr
        assert first.stdout.strip() == f"database schema migrated from none to {head_revision()}"
        again = _maildesk("migrate", env=env)
        assert again.stdout.strip() == f"database schema already at {head_revision()}"
        assert not data_dir.exists()  # migrate needs no secret key, so it writes none
    finally:
        db.drop()
    work = tmp_path / "cwd"
    work.mkdir()
    broken = subprocess.run([sys.executable, "-m", "maildesk", "migrate"], cwd=work, capture_output=True, text=True,
                            timeout=60, env=_env(MAILDESK_DATABASE_URL="postgresql://nobody:x@127.0.0.1:1/none"))
    assert broken.returncode == 1 and broken.stderr.startswith("maildesk: migration failed:")
    assert len(broken.stderr.strip().splitlines()) == 1 and "Traceback" not in broken.stderr
    assert list(work.iterdir()) == []  # no ./var/secret_key from a failed migrate


def test_check_sla_and_poll_imap_on_an_unmigrated_database_say_one_line(tmp_path: Path) -> None:
    db = new_database(tmp_path)
    try:
        env = _env(MAILDESK_DATABASE_URL=db.url, MAILDESK_DATA_DIR=str(tmp_path / "data"),
                   MAILDESK_IMAP_URL="imap://bot:pw@127.0.0.1:1/INBOX")
        for args in (("check-sla",), ("poll-imap", "--once")):
            result = _maildesk(*args, env=env)
            assert result.returncode == 1, (args, result.stderr)
            assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
            assert "run `maildesk migrate`" in result.stderr
    finally:
        db.drop()
