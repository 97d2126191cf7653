"""Core INSERTs for the rows a change adds, on the path every new ticket takes (creating.py).

The ORM unit of work (change tracking, dependency sorting, identity map) costs several times
the writes themselves for rows that nothing reads back in the same transaction: the message,
events, participants, notifications and outbox rows of a new ticket. They are collected as
column dicts, built by the same functions that build the ORM objects elsewhere, and written
here, one statement per table (executemany when a table has several rows), in the order the
tables first appear (every one of them refers only to the ticket, flushed before).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

# Built once per table: the compiled-statement cache then finds them without rebuilding keys.
_INSERTS: dict[Table, Any] = {}


def _insert(table: Table) -> Any:
    statement = _INSERTS.get(table)
    if statement is None:
        statement = _INSERTS[table] = insert(table)
    return statement


async def insert_rows(session: AsyncSession, rows: list[tuple[Table, dict[str, Any]]]) -> None:
    """Write `rows` ((table, columns) pairs) in the session's transaction."""
    grouped: dict[Table, list[dict[str, Any]]] = {}
    for table, values in rows:
        grouped.setdefault(table, []).append(values)
    if not grouped:
        return
    connection = await session.connection()
    for table, values in grouped.items():
        await connection.execute(_insert(table), values if len(values) > 1 else values[0])


async def insert_returning_id(session: AsyncSession, table: Table, values: dict[str, Any]) -> int:
    """Write one row and return its new id (for rows that others refer to, e.g. attachments)."""
    connection = await session.connection()
    return int((await connection.execute(insert(table).returning(table.c.id), values)).scalar_one())
