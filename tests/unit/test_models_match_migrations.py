"""The ORM models (maildesk/models/) describe exactly the schema the migrations build.

A table, column, index or constraint that one side has and the other lacks would make the
daemon fail on a migrated database, or leave `alembic revision --autogenerate` proposing
changes nobody asked for. Runs on SQLite, and on PostgreSQL under MAILDESK_TEST_DATABASE_URL.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from maildesk.db import async_url
from maildesk.models import Base
from tests.support import migrate_database, new_database


def _not_fts(name: str | None, type_: str, parent_names: Any) -> bool:
    # The full-text tables and indexes of revision 0002 live outside the ORM, as in migrations/env.py.
    return not (type_ in ("table", "index") and name is not None and "_fts" in name)


def _differences(url: str) -> list[Any]:
    async def go() -> list[Any]:
        engine = create_async_engine(async_url(url), poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda sync: compare_metadata(
                        MigrationContext.configure(sync, opts={"include_name": _not_fts, "compare_type": True}),
                        Base.metadata,
                    )
                )
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_models_and_migrations_describe_the_same_schema(tmp_path: Path) -> None:
    db = new_database(tmp_path)
    try:
        migrate_database(db.url)
        assert _differences(db.url) == []
        # Every table of the models is there, so an empty comparison is not an empty metadata.
        assert {"tickets", "ticket_messages", "users", "outbound_messages", "webhook_deliveries",
                "saved_replies", "imap_seen"} <= set(Base.metadata.tables)
    finally:
        db.drop()
