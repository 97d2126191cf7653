"""tickets/rows.insert_object: a new ticket written with one Core INSERT is the ticket the
rest of the change and later reads see, and a savepoint rolled back around it leaves nothing
behind in the session (the pipeline rolls back one failed message inside a batch, then the
next message may take the same ticket number). Runs on SQLite, and on PostgreSQL under
MAILDESK_TEST_DATABASE_URL."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import select

from maildesk.db import Database
from maildesk.models import Ticket, TicketMessage
from maildesk.tickets import numbering, rows, rules, users
from tests.support import on_new_database

NOW = datetime(2026, 5, 4, 9, 30, tzinfo=timezone.utc)


def _ticket(ticket_id: int, user_id: int, subject: str) -> Ticket:
    return Ticket(
        id=ticket_id, ticket_number=rules.format_number(ticket_id), user_id=user_id, user_email="ada@example.org",
        category="other", priority="medium", status="open", subject=subject, description="It broke.",
        created_at=NOW, updated_at=NOW, context={}, source="email", root_message_id="root@example.org",
        escalated=False, version=1,
    )


def test_inserted_ticket_is_persistent_and_a_rolled_back_one_leaves_the_session(tmp_path: Path) -> None:
    async def go(db: Database) -> None:
        async with db.write() as session:
            user, _ = await users.get_or_create_user(session, "ada@example.org", "Ada")
            failed = _ticket(7, user.id, "first try")
            try:
                async with session.begin_nested():
                    await rows.insert_object(session, failed)
                    raise RuntimeError("a later step of the change failed")
            except RuntimeError:
                rows.forget_inserted(session, rolled_back=True)
            assert failed not in session
            # The same id again, as numbering.py gives it after the rollback.
            ticket = _ticket(7, user.id, "second try")
            await rows.insert_object(session, ticket)
            assert await session.get(Ticket, 7) is ticket
            # Columns never given read as NULL without a load (no I/O on attribute access).
            assert ticket.assigned_to is None and ticket.resolved_at is None
            ticket.status = "in_progress"  # a later change of the same transaction: an UPDATE
            message = TicketMessage(
                ticket_id=7, sender_user_id=user.id, sender_email=user.email, sender_role="user", body="hi",
                full_body=None, body_html=None, is_internal=False, source="email", email_message_id=None,
                inbound_id=None, sender_verified=None, created_at=NOW,
            )
            await rows.insert_object(session, message)  # the id comes back (RETURNING)
            assert message.id is not None
            rows.forget_inserted(session, rolled_back=False)
        async with db.read() as session:
            stored = (await session.execute(select(Ticket.subject, Ticket.status, Ticket.ticket_number))).all()
            assert stored == [("second try", "in_progress", "SUP-00007")]
            assert await session.scalar(select(TicketMessage.ticket_id).where(TicketMessage.id == message.id)) == 7

    on_new_database(tmp_path, go)


def test_ticket_numbers_in_one_transaction_follow_on_and_a_rolled_back_one_is_reused(tmp_path: Path) -> None:
    """A pipeline batch opens several tickets in one transaction (numbering.py reads the largest
    id once on SQLite); a message rolled back in between gives its number to the next one, as
    when every number was read from the table."""
    async def go(db: Database) -> None:
        async with db.write() as session:
            user, _ = await users.get_or_create_user(session, "ada@example.org", "Ada")

            async def open_one(subject: str) -> Ticket:
                ticket_id = await numbering.next_ticket_id(session)
                assert ticket_id is not None
                ticket = _ticket(ticket_id, user.id, subject)
                await rows.insert_object(session, ticket)
                numbering.inserted(session, ticket)
                return ticket

            first = await open_one("first")
            second = await open_one("second")
            assert second.id == first.id + 1
            try:
                async with session.begin_nested():
                    failed = await open_one("failed")
                    raise RuntimeError("a later step of the change failed")
            except RuntimeError:
                rows.forget_inserted(session, rolled_back=True)
            third = await open_one("third")
            # SQLite numbers from the table (the failed one's number is free again);
            # PostgreSQL's sequence never hands a value out twice.
            assert third.id == (failed.id if db.is_sqlite else failed.id + 1)
        async with db.write() as session:  # a new transaction reads the table again
            user = await users.user_by_email(session, "ada@example.org")
            assert user is not None
            assert await numbering.next_ticket_id(session) == third.id + 1
        async with db.read() as session:
            stored = (await session.execute(select(Ticket.subject).order_by(Ticket.id))).scalars().all()
            assert stored == ["first", "second", "third"]

    on_new_database(tmp_path, go)
