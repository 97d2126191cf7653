"""Everything maildesk creates is owner-only whatever the umask (README, "Deploying").

`maildesk migrate`, `maildesk create-user` and `maildesk serve` run as real processes under
umask 022 (which would make new files world-readable); after mail with an attachment and a
sign-in link request, every file maildesk made is 0600 and every directory 0700.
"""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import ON_POSTGRES, Daemon, free_port, make_mail, new_database, wait_until


def _umask_022() -> None:
    os.umask(0o022)


def _maildesk(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "maildesk", *args], input=stdin, env=env, capture_output=True,
                          text=True, timeout=120, preexec_fn=_umask_022)


def _modes(root: Path) -> dict[str, str]:
    """Every path under root (root included) with its permission bits, as octal text."""
    found = {str(root): oct(stat.S_IMODE(root.stat().st_mode))}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            found[str(path)] = oct(stat.S_IMODE(path.lstat().st_mode))
    return found


def test_files_are_owner_only_under_a_permissive_umask(tmp_path: Path) -> None:
    # Neither directory exists yet: maildesk creates both.
    data_dir = tmp_path / "var" / "data"
    db_dir = tmp_path / "db" / "nested"
    db = new_database(db_dir) if ON_POSTGRES else None
    db_url = db.url if db else f"sqlite:///{db_dir / 'maildesk.db'}"
    smtp_port, http_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILDESK_")}
    env.update(
        MAILDESK_DATABASE_URL=db_url,
        MAILDESK_SMTP_LISTEN=f"127.0.0.1:{smtp_port}",
        MAILDESK_HTTP_LISTEN=f"127.0.0.1:{http_port}",
        MAILDESK_SUPPORT_ADDRESS="support@example.com",
        MAILDESK_BASE_URL=f"http://127.0.0.1:{http_port}",
        MAILDESK_DATA_DIR=str(data_dir),  # no relay: outgoing mail is written as .eml files
        MAILDESK_OUTBOX_RETRY_SECONDS="0.2",
        MAILDESK_SLA_CHECK_SECONDS="3600",
    )  # no MAILDESK_SECRET_KEY: serve generates one into the data dir
    log_path = tmp_path / "serve.log"
    proc = None
    try:
        migrated = _maildesk("migrate", env=env)
        assert migrated.returncode == 0, migrated.stderr
        created = _maildesk("create-user", "ada@example.org", "--password-stdin", env=env, stdin="pw-ada-long-enough\n")
        assert created.returncode == 0, created.stderr
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "maildesk", "serve"], env=env, stdout=log,
                                    stderr=subprocess.STDOUT, preexec_fn=_umask_022)
        daemon = Daemon(env, data_dir, None, smtp_port, http_port, proc=proc, log_path=log_path)  # type: ignore[arg-type]

        def ready() -> bool:
            assert proc is not None and proc.poll() is None, log_path.read_text(errors="replace")
            try:
                return httpx.get(f"{daemon.base_url}/healthz", timeout=0.5).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout=30, what="maildesk serve to listen")

        mail = make_mail("ada@example.org", "Invoice question", "Please see the attached invoice.")
        mail.add_attachment(secrets.token_bytes(2048), maintype="application", subtype="pdf",
                            filename="invoice.pdf")
        daemon.send(mail)
        r = httpx.post(f"{daemon.base_url}/auth/magic-link", json={"email": "ada@example.org"}, timeout=15)
        assert r.status_code == 202

        outbox = data_dir / "outbox"

        def written() -> bool:
            emls = [p.read_bytes() for p in outbox.glob("*.eml")] if outbox.exists() else []
            attachments = [p for p in (data_dir / "attachments").rglob("*") if p.is_file()] \
                if (data_dir / "attachments").exists() else []
            return bool(attachments) and any(b"/auth/magic/" in e for e in emls) and len(emls) >= 2

        wait_until(written, timeout=30, what="an attachment, a confirmation and a sign-in link on disk")

        modes = _modes(data_dir)
        for parent in (tmp_path / "var",):
            modes[str(parent)] = oct(stat.S_IMODE(parent.stat().st_mode))
        if not ON_POSTGRES:
            for parent in (tmp_path / "db", db_dir):
                modes[str(parent)] = oct(stat.S_IMODE(parent.stat().st_mode))
            db_files = sorted(db_dir.glob("maildesk.db*"))
            assert {p.name for p in db_files} >= {"maildesk.db", "maildesk.db-wal", "maildesk.db-shm"}
            modes.update({str(p): oct(stat.S_IMODE(p.stat().st_mode)) for p in db_files})
        assert (data_dir / "secret_key").exists()
        wrong = {path: mode for path, mode in modes.items()
                 if mode != (oct(0o700) if Path(path).is_dir() else oct(0o600))}
        assert not wrong, wrong
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
        if db is not None:
            db.drop()


def test_existing_loose_data_dir_and_database_are_tightened(tmp_path: Path) -> None:
    if ON_POSTGRES:  # the database part needs a SQLite file; the data dir part is the same code
        db = new_database(tmp_path)
        db_file = None
    else:
        db = None
        db_file = tmp_path / "db" / "maildesk.db"
        db_file.parent.mkdir()
        db_file.touch(mode=0o644)
        db_file.chmod(0o644)
        (tmp_path / "db" / "maildesk.db-shm").write_bytes(b"")
        (tmp_path / "db" / "maildesk.db-shm").chmod(0o644)
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    data_dir.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILDESK_")}
    env.update(MAILDESK_DATABASE_URL=db.url if db else f"sqlite:///{db_file}", MAILDESK_DATA_DIR=str(data_dir),
               MAILDESK_SECRET_KEY="k" * 40)
    try:
        migrated = _maildesk("migrate", env=env)
        assert migrated.returncode == 0, migrated.stderr
        assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
        if db_file is not None:
            assert stat.S_IMODE(db_file.stat().st_mode) == 0o600
            assert stat.S_IMODE((tmp_path / "db" / "maildesk.db-shm").stat().st_mode) == 0o600
    finally:
        if db is not None:
            db.drop()
