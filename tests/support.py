"""Testing helpers shared by the test suite and the benchmarks (bench/ imports this module).

Free ports, a polling `wait_until`, a real SMTP sink that keeps what it is sent, databases
(SQLite files or PostgreSQL databases, fresh or copied from a migrated template), a real
`maildesk serve` process, and `make_mail`. No pytest fixtures here: tests/conftest.py holds
those. maildesk itself is imported lazily, so the benchmarks can use the plain helpers
without loading the daemon's code into their own process.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import shutil
import signal
import smtplib
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Awaitable, Callable

import httpx
from aiosmtpd.controller import Controller

PG_URL = os.environ.get("MAILDESK_TEST_DATABASE_URL", "")
ON_POSTGRES = PG_URL.startswith("postgres")


def _ephemeral_low() -> int:
    try:
        return int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_HANDED_OUT: set[int] = set()


def _port_range() -> tuple[int, int]:
    """The ports this process picks from: 12,000 below the kernel's ephemeral range, split into
    disjoint slices, one per pytest-xdist worker (PYTEST_XDIST_WORKER gwN of
    PYTEST_XDIST_WORKER_COUNT), so that two workers never pick the same port."""
    high = _ephemeral_low() - 1
    low = max(1024, high - 12000)
    worker, count = os.environ.get("PYTEST_XDIST_WORKER", ""), os.environ.get("PYTEST_XDIST_WORKER_COUNT", "")
    if worker.startswith("gw") and worker[2:].isdigit() and count.isdigit() and int(count) > 1:
        size = (high - low) // int(count)
        low += size * int(worker[2:])
        high = low + size - 1
    return low, high


def free_port() -> int:
    """A port free now that this process has not handed out before, picked below the kernel's
    ephemeral range.

    Port 0 would hand out an ephemeral port, the range every outgoing connection (httpx,
    smtplib, the database) also takes its local port from: between this check and the
    daemon's bind, another test's client could take it ("address already in use"). Below
    that range only free_port() callers compete: each xdist worker has a slice of its own, and a
    port is never handed out twice by one process (a daemon's SMTP and HTTP ports are both
    picked before it binds either, so a free check alone could give the same port twice; and a
    port given to a daemon that has not bound it yet looks free to the next test).
    """
    low, high = _port_range()
    if len(_HANDED_OUT) > (high - low) // 2:  # a long session: start over with the oldest gone
        _HANDED_OUT.clear()
    for _ in range(200):
        port = random.randint(low, high)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    with socket.socket() as s:  # the range is crowded: fall back to the kernel's choice
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WaitTimeout(AssertionError, TimeoutError):
    """A `wait_until` that ran out of time: a failed assertion to pytest, a TimeoutError to bench."""


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05, what: str = "") -> Any:
    """Poll predicate until it returns something truthy (returned) or timeout seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise WaitTimeout(f"timed out after {timeout}s waiting for {what or predicate}")
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


class Template:
    """A database migrated once per test session (per xdist worker) and copied for each test.

    Migrating costs an Alembic run per test; copying a file (SQLite) or cloning a database
    with `CREATE DATABASE ... TEMPLATE` (PostgreSQL) gives the same schema for much less.
    """

    def __init__(self, directory: Path) -> None:
        self.db = new_database(directory)
        migrate_database(self.db.url)
        if not ON_POSTGRES:
            self.path = Path(self.db.url.removeprefix("sqlite:///"))
            # Fold any write-ahead log into the main file so that one file is the whole
            # database: copies take it alone (a stale -wal beside a copy would corrupt it).
            with sqlite3.connect(self.path) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            for suffix in ("-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def copy(self, directory: Path) -> TestDatabase:
        """A new, migrated database for one test."""
        if ON_POSTGRES:
            # PostgreSQL refuses a template that anyone is connected to; migrate() has
            # disposed of its engine, and nothing else ever connects to the template.
            name = "md_" + secrets.token_hex(6)
            asyncio.run(_pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.db.name}"'))
            base = PG_URL.rsplit("/", 1)[0]
            return TestDatabase(f"{base}/{name}", name)
        target = directory / "maildesk.db"
        # Created owner-only first: copyfile keeps the mode of an existing target (0600, as
        # maildesk creates its database files).
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        shutil.copyfile(self.path, target)
        return TestDatabase(f"sqlite:///{target}")

    def drop(self) -> None:
        self.db.drop()


def migrate_database(url: str) -> None:
    """Bring a database to the newest schema, as `maildesk migrate` does."""
    from maildesk.db import migrate

    migrate(url)


def on_new_database(tmp_path: Path, body: Callable[[Any], Awaitable[None]]) -> None:
    """Run `body(db)` against a new, migrated database (maildesk's own `Database`, two
    connections), then close and drop it, for tests that drive maildesk's modules directly."""
    from maildesk.db import Database

    test_db = new_database(tmp_path)
    migrate_database(test_db.url)

    async def go() -> None:
        db = Database(test_db.url, pool_size=2)
        try:
            await body(db)
        finally:
            await db.dispose()

    try:
        asyncio.run(go())
    finally:
        test_db.drop()


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


