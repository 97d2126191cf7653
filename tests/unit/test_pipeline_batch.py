"""One message of a pipeline batch fails: it alone is marked failed, the others of the same
pass keep their tickets and confirmations, once each (pipeline/worker.py runs a pass without
a savepoint per message and, when one does not complete, rolls the pass back and runs it
again with savepoints). Real intake store, real worker and a real database (SQLite; and
PostgreSQL under MAILDESK_TEST_DATABASE_URL); the failure is a real one: the attachment
store cannot write (its directory is a file).

The failed message's requester was created inside its rolled-back savepoint; on SQLite the
next message's new requester gets the same row id, and must not come back as the first one's
User object still held by the session (before: the third ticket went to bob@example.org).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select

from maildesk.config import Settings
from maildesk.intake.store import Intake
from maildesk.models import InboundMessage, OutboundMessage, Ticket
from maildesk.pipeline import worker
from maildesk.runtime import Runtime
from tests.support import make_mail, migrate_database, new_database

SUPPORT = "support@example.com"


def test_a_failing_message_is_failed_alone_and_its_batch_is_applied_once(tmp_path: Path) -> None:
    test_db = new_database(tmp_path)
    migrate_database(test_db.url)
    settings = Settings(database_url=test_db.url, secret_key="unit-secret-" + "x" * 32, data_dir=tmp_path / "data",
                        support_address=SUPPORT)
    (tmp_path / "data").mkdir()
    settings.attachments_dir.write_text("not a directory")  # every attachment write fails
    plain = make_mail("ada@example.org", "Printer on fire", "It is on fire.")
    with_file = make_mail("bob@example.org", "Invoice", "See the attached invoice.")
    with_file.add_attachment(b"%PDF-1.4 invoice", maintype="application", subtype="pdf", filename="invoice.pdf")
    later = make_mail("cy@example.org", "Cannot log in", "The reset link never arrives.")

    async def go() -> None:
        rt = Runtime.build(settings)
        intake = Intake(rt.db)
        try:
            stored = [await intake.store(m.as_bytes(), envelope_from=m["From"], envelope_to=[SUPPORT])
                      for m in (plain, with_file, later)]
            while await worker.run_once(rt, yield_to_clients=False):
                pass
            async with rt.db.read() as session:
                inbound = {row.id: row for row in await session.scalars(select(InboundMessage))}
                tickets = (await session.execute(
                    select(Ticket.id, Ticket.ticket_number, Ticket.user_email).order_by(Ticket.id))).all()
                confirmations = (await session.scalars(
                    select(OutboundMessage.to_addr).where(OutboundMessage.kind == "confirmation")
                    .order_by(OutboundMessage.id))).all()
        finally:
            await intake.close()
            await rt.db.dispose()
        first, failed, third = (inbound[s.inbound_id] for s in stored)
        assert failed.status == "failed" and failed.ticket_id is None
        assert failed.reason is not None and failed.reason.startswith("apply: ")
        assert failed.attempts == 1
        assert (first.status, third.status) == ("processed", "processed")
        assert [email for _, _, email in tickets] == ["ada@example.org", "cy@example.org"]
        assert [first.ticket_id, third.ticket_id] == [t.id for t in tickets]
        if rt.db.is_sqlite:  # numbered from the table: the failed message took no number
            assert [number for _, number, _ in tickets] == ["SUP-00001", "SUP-00002"]
        assert list(confirmations) == ["ada@example.org", "cy@example.org"]

    try:
        asyncio.run(go())
    finally:
        test_db.drop()
