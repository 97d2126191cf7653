"""Core INSERTs for the rows a change adds, on the path every new ticket takes (creating.py).

The ORM unit of work (change tracking, dependency sorting, identity map) costs several times
the writes themselves for rows that nothing reads back in the same transaction: the message,
events, participants, notifications and outbox rows of a new ticket. They are collected as
column dicts, built by the same functions that build the ORM objects elsewhere, and written
here, one statement per table (executemany when a table has several rows), in the order the
tables first appear (every one of them refers only to the ticket, flushed before).

`loaded_object` turns a row read with Core into the ORM object a query would have given (the
one the session already holds, or a new one), for lookups on every message.

`insert_object` does the same for a new ORM object the change goes on to use (the ticket, a
reply's message): one Core INSERT, then the object joins the session as if it had been
loaded, without the unit of work's flush. The session then does not know it is new: should
a savepoint around the change roll back, `forget_inserted` takes such objects out of the
session, as the rollback does for objects it flushed itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Table, inspect, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

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
    return int((await connection.execute(_insert_returning(table, table.c.id), values)).scalar_one())


_INSERTED = "maildesk.rows.inserted"  # session.info: objects written in this transaction


async def insert_object(session: AsyncSession, obj: Any) -> None:
    """Write a new (transient) ORM object with one Core INSERT and make it persistent in the
    session with the values it was given; a primary key left unset is read back (RETURNING).

    Every column attribute must have its value set (None for NULL): one left None whose
    column has a default goes through the ORM's flush instead, which fills the default in."""
    mapper = inspect(obj).mapper
    table = mapper.local_table
    values: dict[str, Any] = {}
    nulls: list[str] = []
    for attr in mapper.column_attrs:
        column = attr.columns[0]
        value = getattr(obj, attr.key)
        if value is not None:
            values[column.key] = value
        elif column.default is not None or column.server_default is not None:
            session.add(obj)  # the flush fills the default in, as for any new object
            await session.flush()
            return
        elif not column.primary_key:
            nulls.append(attr.key)
    (key,) = mapper.primary_key
    connection = await session.connection()
    if values.get(key.key) is None:
        new_id = (await connection.execute(_insert_returning(table, key), values)).scalar_one()
        setattr(obj, key.key, new_id)
    else:
        await connection.execute(_insert(table), values)
    for name in nulls:  # known to be NULL: not "unloaded", which would mean a load on access
        set_committed_value(obj, name, None)
    make_transient_to_detached(obj)
    session.add(obj)
    session.info.setdefault(_INSERTED, []).append(obj)


_INSERTS_RETURNING: dict[Table, Any] = {}


def _insert_returning(table: Table, key: Any) -> Any:
    statement = _INSERTS_RETURNING.get(table)
    if statement is None:
        statement = _INSERTS_RETURNING[table] = insert(table).returning(key)
    return statement


def forget_inserted(session: AsyncSession, *, rolled_back: bool) -> None:
    """End of a savepoint around a change: after a rollback, the objects `insert_object` wrote
    in it leave the session (their rows are gone); after a release they simply stay."""
    inserted = session.info.pop(_INSERTED, ())
    if rolled_back:
        for obj in inserted:
            if obj in session:
                session.expunge(obj)


def loaded_object(
    session: AsyncSession, cls: type[Any], row: Mapping[str, Any], *, inserted: bool = False
) -> Any | None:
    """The ORM object of `cls` for a row read with Core (every column of the mapped table, by
    attribute name), as an ORM query would give it: the object the session already holds for
    that identity, else a new one attached as loaded. None when the session's object has
    expired attributes (a rolled-back change): the caller then runs the ORM query, which
    refreshes them. `inserted`: the row is one this transaction just wrote (INSERT ...
    RETURNING), so a savepoint rolled back around it takes the object out of the session
    (`forget_inserted`): SQLite may hand the same id to the next row, which must not come
    back as this object."""
    mapper = inspect(cls)
    key = identity_key(cls, tuple(row[c.key] for c in mapper.primary_key))
    held = session.identity_map.get(key)
    if held is not None:
        return None if inspect(held).expired_attributes else held
    obj = cls(**row)
    make_transient_to_detached(obj)
    session.add(obj)
    if inserted:
        session.info.setdefault(_INSERTED, []).append(obj)
    return obj
