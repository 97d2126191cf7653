"""Alembic environment: runs migrations over maildesk's async engine (aiosqlite or asyncpg)."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from maildesk.db import async_url
from maildesk.models import Base

target_metadata = Base.metadata


def _url() -> str:
    url = context.config.attributes.get("maildesk_url") or context.config.get_main_option("sqlalchemy.url")
    if not url:
        from maildesk.config import load_settings

        url = load_settings().database_url
    return async_url(url)


def _include_name(name, type_, parent_names) -> bool:  # type: ignore[no-untyped-def]
    # The FTS5 tables (with their shadow tables) and the PostgreSQL GIN expression indexes
    # of revision 0002 are not in the ORM models:
    # keep autogenerate from proposing to drop them.
    return not (type_ in ("table", "index") and name is not None and "_fts" in name)


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        include_name=_include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_async_engine(_url(), poolclass=NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
