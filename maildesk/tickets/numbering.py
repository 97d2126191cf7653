"""A new ticket's id, known before its INSERT, so that its number (SUP-00042, made from the id)
and everything else about it go into that one statement instead of an INSERT and an UPDATE.

- PostgreSQL: the next value of the id column's own sequence (what the column default would
  have taken); nextval() never hands the same value to two transactions.
- SQLite: one more than the largest id. The table has no AUTOINCREMENT, so this is the rowid
  SQLite itself would pick (https://www.sqlite.org/autoinc.html), and maildesk's write
  transactions take the write lock at BEGIN IMMEDIATE (db.py): no other writer can insert
  between this read and the INSERT.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.models import Ticket

_SQLITE_NEXT = select(func.coalesce(func.max(Ticket.id), 0) + 1)
_POSTGRESQL_NEXT = select(func.nextval(func.pg_get_serial_sequence(Ticket.__tablename__, "id")))


async def next_ticket_id(session: AsyncSession) -> int | None:
    """The id the next ticket inserted in this transaction gets; None for a database this does
    not know (the caller then lets the INSERT choose and reads the id back)."""
    dialect = session.bind.dialect.name
    if dialect == "postgresql":
        return int(await session.scalar(_POSTGRESQL_NEXT))
    if dialect == "sqlite":
        return int(await session.scalar(_SQLITE_NEXT))
    return None
