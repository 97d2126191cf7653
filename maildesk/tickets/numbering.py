"""A new ticket's id, known before its INSERT, so that its number (SUP-00042, made from the id)
and everything else about it go into that one statement instead of an INSERT and an UPDATE.

- PostgreSQL: the next value of the id column's own sequence (what the column default would
  have taken); nextval() never hands the same value to two transactions.
- SQLite: one more than the largest id. The table has no AUTOINCREMENT, so this is the rowid
  SQLite itself would pick (https://www.sqlite.org/autoinc.html), and maildesk's write
  transactions take the write lock at BEGIN IMMEDIATE (db.py): no other writer can insert
  between this read and the INSERT, nor before the transaction's next ticket.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.models import Ticket

_SQLITE_NEXT = select(func.coalesce(func.max(Ticket.id), 0) + 1)
_POSTGRESQL_NEXT = select(func.nextval(func.pg_get_serial_sequence(Ticket.__tablename__, "id")))


_LAST = "maildesk.numbering.last"  # session.info: (transaction, the last ticket it inserted)


async def next_ticket_id(session: AsyncSession) -> int | None:
    """The id the next ticket inserted in this transaction gets; None for a database this does
    not know (the caller then lets the INSERT choose and reads the id back)."""
    dialect = session.bind.dialect.name
    if dialect == "postgresql":
        return int(await session.scalar(_POSTGRESQL_NEXT))
    if dialect == "sqlite":
        # A transaction that opens several tickets (a pipeline batch) reads the largest id
        # once: holding the write lock, it inserted the largest since. Not after a savepoint
        # rolled that ticket back (the pipeline then takes it out of the session, rows.py).
        last = session.info.get(_LAST)
        if last is not None and last[0] is session.sync_session.get_transaction() and last[1] in session:
            return int(last[1].id) + 1
        return int(await session.scalar(_SQLITE_NEXT))
    return None


def inserted(session: AsyncSession, ticket: Ticket) -> None:
    """`ticket` (numbered by next_ticket_id) is written: the next one in this transaction follows it."""
    if session.bind.dialect.name == "sqlite":
        session.info[_LAST] = (session.sync_session.get_transaction(), ticket)
