"""Shared fixtures: a real SMTP sink, a migrated database per daemon, and real `maildesk serve` processes.

The helpers themselves live in tests/support.py (the benchmarks use them too); they are
re-exported here because test files import them from tests.conftest.

The database is SQLite in a temp dir, or, when MAILDESK_TEST_DATABASE_URL names a PostgreSQL
server (scripts/test sets it for its second pass), a database created on that server. Either
way it is a copy of a template migrated once per session (per pytest-xdist worker).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Callable, Iterator

import pytest
from aiosmtpd.controller import Controller

from tests.support import (  # noqa: F401  (re-exported for the test files)
    ON_POSTGRES,
    PG_URL,
    Daemon,
    Sink,
    SinkMessage,
    Template,
    TestDatabase,
    WaitTimeout,
    _SinkHandler,
    free_port,
    make_mail,
    migrate_database,
    new_database,
    run_sql,
    wait_until,
)

# Test files import these from tests.conftest; keep them importable from here.
__all__ = [
    "ON_POSTGRES", "PG_URL", "Daemon", "Sink", "SinkMessage", "Template", "TestDatabase", "WaitTimeout",
    "_SinkHandler", "free_port", "make_mail", "migrate_database", "new_database", "run_sql", "wait_until",
]

# --- the sink: a real SMTP server that keeps what maildesk sends --------------------------


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


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Template]:
    """The migrated database each test's daemon gets a copy of (one per xdist worker)."""
    t = Template(tmp_path_factory.mktemp("template"))
    yield t
    t.drop()


# --- the daemon -----------------------------------------------------------------------------


@pytest.fixture
def daemon_factory(tmp_path: Path, sink: Sink, template: Template) -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []
    databases: list[TestDatabase] = []

    def factory(start: bool = True, db: TestDatabase | None = None, **overrides: str) -> Daemon:
        index = len(started)
        data_dir = tmp_path / f"daemon{index}"
        data_dir.mkdir()
        if db is None:
            db = template.copy(data_dir)
            databases.append(db)
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


# Test modules whose outcome does not depend on the database backend: scripts/test runs them in
# the SQLite pass only (its PostgreSQL pass selects -m "not any_database"). Everything that
# stores, queries, locks or claims through SQL in a way the backends differ in (text with NUL
# bytes, full-text search, SKIP LOCKED, advisory locks, upserts, backups) runs on both.
_TESTS = Path(__file__).resolve().parent
BACKEND_NEUTRAL_DIRS = {
    "unit",  # pure functions; the few that need a database use a SQLite file of their own
    "e2e",  # the browser's view of pages whose queries the API and page tests cover on both
}
BACKEND_NEUTRAL_FILES = {
    "test_smtp_differential.py",  # the DATA reader against stock aiosmtpd, byte for byte
    "test_hostile_smtp.py",  # the listener's limits, timeouts, session caps and STARTTLS
    "test_postfix.py",  # a private Postfix in front of the listener
    "test_wheel.py",  # the built wheel and the image's command, on their own SQLite database
    "test_docs_examples.py",  # the README's and docs' commands as written
    "test_file_modes.py",  # modes of the files maildesk creates (the SQLite files among them)
    "test_real_mail.py",  # what real clients' messages become (parsing, bodies, attachments)
    "test_forged_senders.py",  # who sent a message: From and Authentication-Results rules
    "test_observability.py",  # log lines and metric names
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = item.path.resolve()
        if path.parent.name in BACKEND_NEUTRAL_DIRS and path.parent.parent == _TESTS:
            item.add_marker(pytest.mark.any_database)
        elif path.name in BACKEND_NEUTRAL_FILES:
            item.add_marker(pytest.mark.any_database)

