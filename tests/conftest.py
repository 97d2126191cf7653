"""Shared fixtures: a real SMTP sink, a fresh database per daemon, and real `maildesk serve` processes.

The database is SQLite in a temp dir, or, when MAILDESK_TEST_DATABASE_URL names a PostgreSQL
server (scripts/test sets it for its second pass), a fresh database created on that server.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import smtplib
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest
from aiosmtpd.controller import Controller

from maildesk.db import migrate

PG_URL = os.environ.get("MAILDESK_TEST_DATABASE_URL", "")
ON_POSTGRES = PG_URL.startswith("postgres")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


# --- the sink: a real SMTP server that keeps what maildesk sends --------------------------


class _SinkHandler:
    def __init__(self, sink: "Sink") -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.sink.refuse:
            return self.sink.refuse
        msg = message_from_bytes(envelope.original_content, policy=policy.default)
        self.sink.messages.append(SinkMessage(envelope.mail_from, list(envelope.rcpt_tos), msg, envelope.original_content))
        return "250 2.0.0 Ok"


@dataclass
class SinkMessage:
    mail_from: str
    rcpt_tos: list[str]
    msg: EmailMessage
    raw: bytes

    @property
    def subject(self) -> str:
        return str(self.msg["Subject"])

    @property
    def to(self) -> str:
        return self.rcpt_tos[0].lower()

    def text(self) -> str:
        part = self.msg.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""


@dataclass
class Sink:
    port: int
    messages: list[SinkMessage] = field(default_factory=list)
    refuse: str | None = None
    controller: Controller | None = None

    def to(self, address: str) -> list[SinkMessage]:
        return [m for m in list(self.messages) if m.to == address.lower()]

    def wait_for(self, address: str, count: int = 1, timeout: float = 15.0) -> list[SinkMessage]:
        return wait_until(lambda: len(self.to(address)) >= count and self.to(address), timeout,
                          what=f"{count} message(s) to {address}")

    def clear(self) -> None:
        self.messages.clear()


@pytest.fixture
def sink() -> Iterator[Sink]:
    port = free_port()
    s = Sink(port)
    controller = Controller(_SinkHandler(s), hostname="127.0.0.1", port=port)
    controller.start()
    s.controller = controller
    yield s
    controller.stop()


# --- databases ------------------------------------------------------------------------------


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@dataclass
class TestDatabase:
    url: str
    name: str | None = None  # the PostgreSQL database name, to drop

    def drop(self) -> None:
        if self.name:
            asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))


def new_database(tmp_path: Path) -> TestDatabase:
    if ON_POSTGRES:
        name = "md_" + secrets.token_hex(6)
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
        base = PG_URL.rsplit("/", 1)[0]
        return TestDatabase(f"{base}/{name}", name)
    return TestDatabase(f"sqlite:///{tmp_path / 'maildesk.db'}")


def run_sql(url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """Run one statement against the daemon's database (for assertions and fault injection)."""
    from sqlalchemy import text

    from maildesk.db import Database

    async def go() -> list[tuple[Any, ...]]:
        db = Database(url, pool_size=1)
        try:
            async with db.write() as session:
                result = await session.execute(text(sql), params)
                return [tuple(r) for r in result.fetchall()] if result.returns_rows else []
        finally:
            await db.dispose()

    return asyncio.run(go())


# --- the daemon -----------------------------------------------------------------------------


@dataclass
class Daemon:
    env: dict[str, str]
    data_dir: Path
    db: TestDatabase
    smtp_port: int
    http_port: int
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def support(self) -> str:
        return self.env["MAILDESK_SUPPORT_ADDRESS"]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> "Daemon":
        assert self.log_path is not None
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "maildesk", "serve"], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        wait_until(self._ready, timeout=30, what="maildesk serve to listen")
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"maildesk serve exited with {self.proc.returncode}:\n{self.log()}")
        try:
            with socket.create_connection(("127.0.0.1", self.smtp_port), timeout=0.2):
                pass
            return httpx.get(f"{self.base_url}/healthz", timeout=0.5).status_code == 200
        except (OSError, httpx.HTTPError):
            return False

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def sql(self, statement: str, **params: Any) -> list[tuple[Any, ...]]:
        return run_sql(self.db.url, statement, **params)

    def send(self, msg: EmailMessage | bytes, *, mail_from: str | None = None, to: list[str] | None = None) -> None:
        with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=30) as client:
            if isinstance(msg, bytes):
                client.sendmail(mail_from or "someone@example.com", to or [self.support], msg)
            else:
                client.send_message(msg, from_addr=mail_from, to_addrs=to or [self.support])

    def wait_processed(self, count: int, timeout: float = 20) -> None:
        wait_until(
            lambda: self.sql("SELECT count(*) FROM inbound_messages WHERE status != 'received'")[0][0] >= count,
            timeout,
            what=f"{count} inbound message(s) processed",
        )

    def tickets(self) -> list[tuple[Any, ...]]:
        return self.sql("SELECT id, ticket_number, user_email, subject, status, category FROM tickets ORDER BY id")


def make_mail(
    sender: str,
    subject: str,
    body: str,
    *,
    to: str = "support@example.com",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = "Mon, 23 Nov 2026 10:00:00 +0000"
    msg["Message-ID"] = message_id or f"<{secrets.token_hex(8)}@client.example.org>"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg


@pytest.fixture
def daemon_factory(tmp_path: Path, sink: Sink) -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []
    databases: list[TestDatabase] = []

    def factory(start: bool = True, db: TestDatabase | None = None, **overrides: str) -> Daemon:
        index = len(started)
        data_dir = tmp_path / f"daemon{index}"
        data_dir.mkdir()
        if db is None:
            db = new_database(data_dir)
            databases.append(db)
            migrate(db.url)
        smtp_port, http_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAILDESK_")}
        env.update(
            MAILDESK_DATABASE_URL=db.url,
            MAILDESK_SMTP_LISTEN=f"127.0.0.1:{smtp_port}",
            MAILDESK_HTTP_LISTEN=f"127.0.0.1:{http_port}",
            MAILDESK_SUPPORT_ADDRESS="support@example.com",
            MAILDESK_BASE_URL=f"http://127.0.0.1:{http_port}",
            MAILDESK_RELAY_URL=f"smtp://127.0.0.1:{sink.port}",
            MAILDESK_DATA_DIR=str(data_dir),
            MAILDESK_SECRET_KEY="test-secret-" + secrets.token_hex(16),
            MAILDESK_OUTBOX_RETRY_SECONDS="0.2",
            MAILDESK_SLA_CHECK_SECONDS="3600",
        )
        env.update({k: v for k, v in overrides.items()})
        daemon = Daemon(env, data_dir, db, smtp_port, http_port, log_path=data_dir / "daemon.log")
        started.append(daemon)
        if start:
            daemon.start()
        return daemon

    yield factory
    for daemon in started:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait()
    for db in databases:
        db.drop()


@pytest.fixture
def daemon(daemon_factory: Callable[..., Daemon]) -> Daemon:
    return daemon_factory()
