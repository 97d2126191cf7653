"""The web handlers' database sessions, as two Litestar dependencies registered once by create_app.

- `db_session`: a read session (Database.read()), closed when the request is done.
- `db_write`: a session inside one write transaction (Database.write()): committed when the
  handler returns normally, rolled back when it raises.

Both are generator dependencies. Litestar runs a generator dependency's cleanup after the
handler has returned and its response object is built, but BEFORE the response is sent
(docs: usage/dependency-injection, "Dependencies with yield"); so the commit happens first:
a client told 201 finds the row, and a commit that fails (a unique violation at flush, a
lost connection) propagates as that request's error (500 through web/errors.py), never as a
success. An exception from the handler is thrown into the generator at its `yield`; the
`async with` rolls back and lets that same exception go on, which Litestar recognises as the
handler's own and hands to the exception handlers unchanged (a 404 stays a 404).

Database.write() is used unchanged, so on SQLite the process's write lock is held for the
transaction and the commit hooks (db.on_commit: waking the pipeline, the sender) still run.

Rules for handlers:
- `db_write` reads the whole request body before it takes the write lock, so a client that
  sends its form slowly never holds SQLite's single writer.
- Take one of the two, not both: Litestar resolves dependencies of one level together, and
  cleans several generators up in a task group (an error would become an ExceptionGroup).
- Code that opens its own `rt.db.write()` must not run inside a handler holding `db_write`
  (the lock is not re-entrant). Handlers that must do slow work between reading and writing
  (argon2 at sign-in, resolving a webhook URL) keep explicit, separate transactions.
- A handler that answers a refused change with a page (the form again, with its error) tries
  the change in a savepoint (`db_write.begin_nested()`): the refusal rolls back alone, then
  the page is read in the same transaction, as it stood before the attempt.
"""

from __future__ import annotations

from typing import Any, AsyncIterator

from litestar import Request
from litestar.di import NamedDependency, Provide
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.runtime import Runtime


async def read_session(rt: NamedDependency[Runtime]) -> AsyncIterator[AsyncSession]:
    async with rt.db.read() as session:
        yield session


async def write_session(request: Request[Any, Any, Any], rt: NamedDependency[Runtime]) -> AsyncIterator[AsyncSession]:
    await request.body()  # the body first (cached for the handler), then the write lock
    async with rt.db.write() as session:
        # Deliberately no try/except: the handler's exception must reach the `async with`
        # (rollback) and leave the generator as itself; a failing commit must leave it too.
        yield session


DEPENDENCIES = {
    "db_session": Provide(read_session),
    "db_write": Provide(write_session),
}
