"""The daemon's start-up schema check (daemon.check_schema) answers a current schema without
alembic, from db.SCHEMA_HEAD and one query, and otherwise exactly as alembic says (issue 14:
alembic is ~10 MB of the idle daemon's memory)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from maildesk.db import SCHEMA_HEAD, Database, at_schema_head, head_revision
from tests.support import migrate_database, new_database, on_new_database, run_sql


def test_the_written_head_is_alembics_head() -> None:
    # A new migration must move SCHEMA_HEAD (maildesk/db.py) along.
    assert SCHEMA_HEAD == head_revision()


def test_a_current_schema_is_recognised(tmp_path: Path) -> None:
    async def body(db: Database) -> None:
        assert await at_schema_head(db)

    on_new_database(tmp_path, body)


def test_anything_else_is_left_to_alembic(tmp_path: Path) -> None:
    test_db = new_database(tmp_path)
    try:
        async def check() -> bool:
            db = Database(test_db.url, pool_size=1)
            try:
                return await at_schema_head(db)
            finally:
                await db.dispose()

        assert not asyncio.run(check())  # no alembic_version table at all
        run_sql(test_db.url, "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        assert not asyncio.run(check())  # the table, empty
        run_sql(test_db.url, "INSERT INTO alembic_version VALUES ('0012_sla_outcomes')")
        assert not asyncio.run(check())  # an older revision
        run_sql(test_db.url, "INSERT INTO alembic_version VALUES (:head)", head=SCHEMA_HEAD)
        assert not asyncio.run(check())  # two rows, one of them the head
    finally:
        test_db.drop()


def test_checking_a_current_schema_loads_neither_alembic_nor_httpx(tmp_path: Path) -> None:
    """What `maildesk serve` imports and runs before it serves, in a fresh interpreter: the
    libraries only some paths need (migrations, webhook delivery) stay unloaded."""
    test_db = new_database(tmp_path)
    try:
        migrate_database(test_db.url)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAILDESK_")}
        env.update(MAILDESK_DATABASE_URL=test_db.url, MAILDESK_SUPPORT_ADDRESS="support@example.com",
                   MAILDESK_BASE_URL="http://127.0.0.1:8025", MAILDESK_DATA_DIR=str(tmp_path / "data"),
                   MAILDESK_SECRET_KEY="test-" + "k" * 32)
        code = (
            "import asyncio, sys\n"
            "from maildesk.config import load_settings\n"
            "from maildesk.daemon import check_schema\n"
            "from maildesk.runtime import Runtime\n"
            "rt = Runtime.build(load_settings())\n"
            "asyncio.run(check_schema(rt))\n"
            "asyncio.run(rt.db.dispose())\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'alembic', 'mako', 'httpx'}))\n"
        )
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "[]"
    finally:
        test_db.drop()
