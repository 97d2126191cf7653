"""The SLA pass against a real `maildesk serve`: it computes only the tickets whose stored
clocks need it (tickets/sla.py), so these check that what it must still do happens to tickets
nobody touches: new targets reach them after a restart with other settings, and a stored due
time that comes is escalated once, by a pass, without any change to the ticket; and the
auto-close, whose search also moved out of the write transaction."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from tests.conftest import Daemon, Sink
from tests.integration.api_helpers import add_user, login, new_ticket, user_client
from tests.support import wait_until

HOUR = timedelta(hours=1)


def ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _escalations(ticket: dict[str, Any]) -> list[Any]:
    return [e["detail"]["targets"] for e in ticket["events"] if e["kind"] == "escalated"]


def test_changed_targets_reach_tickets_nobody_touched(daemon_factory: Callable[..., Daemon], sink: Sink) -> None:
    first = daemon_factory(MAILDESK_SLA_HOURS="urgent=1,medium=100", MAILDESK_RESOLUTION_HOURS="urgent=5,medium=200")
    add_user(first, "duty@example.com", admin=True)
    with user_client(first, "uma@example.org") as uma, login(first, "duty@example.com") as admin:
        slow = new_ticket(uma, "Medium one")
        fast = new_ticket(uma, "Urgent one")["ticket_number"]
        admin.patch(f"/admin/support/tickets/{fast}", json={"priority": "urgent"})
        assert admin.post("/admin/support/check-sla").json() == {"escalated": []}
    assert first.stop() == 0

    # Other targets: the medium ticket's first response is now due 3.6 s after it was opened,
    # the urgent ticket's ten times later than before. Neither is changed.
    daemon = daemon_factory(db=first.db, MAILDESK_SLA_HOURS="urgent=10,medium=0.001",
                            MAILDESK_RESOLUTION_HOURS="urgent=50,medium=200")
    with login(daemon, "duty@example.com") as admin:
        created = ts(slow["created_at"])
        assert created is not None
        due = created + timedelta(seconds=3.6)
        wait_until(lambda: datetime.now(timezone.utc) > due, 30, what="the new due time")
        # The start-up pass (if it ran after the due time) or this one escalates; either way once.
        assert admin.post("/admin/support/check-sla").json()["escalated"] in ([], [slow["ticket_number"]])
        late = admin.get(f"/admin/support/tickets/{slow['ticket_number']}").json()
        assert ts(late["first_response_due_at"]) == due
        assert late["sla_breached"] == "first_response" and late["escalated"] is True
        assert _escalations(late) == [["first_response"]]
        moved = admin.get(f"/admin/support/tickets/{fast}").json()
        assert ts(moved["first_response_due_at"]) == ts(moved["created_at"]) + 10 * HOUR
        assert ts(moved["resolution_due_at"]) == ts(moved["created_at"]) + 50 * HOUR
        assert moved["sla_breached"] is None and moved["escalated"] is False

        assert admin.post("/admin/support/check-sla").json() == {"escalated": []}
        assert _escalations(admin.get(f"/admin/support/tickets/{slow['ticket_number']}").json()) == [
            ["first_response"]]
    alerts = [m for m in sink.wait_for("duty@example.com", 3) if "URGENT" in m.subject]
    assert [m.subject for m in alerts] == [f"[{slow['ticket_number']}] URGENT: Ticket {slow['ticket_number']} needs attention"]


def test_a_due_time_that_comes_is_escalated_by_the_periodic_pass(daemon_factory: Callable[..., Daemon],
                                                                  sink: Sink) -> None:
    # First response due 7.2 s after a ticket is opened; the pass runs every second.
    daemon = daemon_factory(MAILDESK_SLA_HOURS="medium=0.002", MAILDESK_SLA_CHECK_SECONDS="1")
    add_user(daemon, "duty@example.com", admin=True)
    with user_client(daemon, "vic@example.org") as vic, login(daemon, "duty@example.com") as admin:
        number = new_ticket(vic, "Nobody answers")["ticket_number"]
        fresh = admin.get(f"/admin/support/tickets/{number}").json()
        due = ts(fresh["first_response_due_at"])
        assert due is not None and due == ts(fresh["created_at"]) + timedelta(seconds=7.2)
        assert fresh["escalated"] is False

        # Nothing changes the ticket: a pass after the due time escalates it, once.
        (alert,) = [m for m in sink.wait_for("duty@example.com", 2, timeout=60) if "URGENT" in m.subject]
        assert alert.subject == f"[{number}] URGENT: Ticket {number} needs attention"
        assert datetime.now(timezone.utc) >= due
        wait_until(lambda: admin.get(f"/admin/support/tickets/{number}").json()["escalated"], 30,
                   what="the escalation committed")
        late = admin.get(f"/admin/support/tickets/{number}").json()
        assert late["sla_breached"] == "first_response" and ts(late["first_response_due_at"]) == due
        assert _escalations(late) == [["first_response"]]
        # Later passes leave it alone: a new ticket's escalation comes after, alone.
        second = new_ticket(vic, "Me neither")["ticket_number"]
        alerts = [m for m in sink.wait_for("duty@example.com", 4, timeout=60) if "URGENT" in m.subject]
        assert [m.subject for m in alerts] == [
            f"[{n}] URGENT: Ticket {n} needs attention" for n in (number, second)]
        assert _escalations(admin.get(f"/admin/support/tickets/{number}").json()) == [["first_response"]]


def test_the_pass_closes_tickets_resolved_longer_than_the_autoclose_days(daemon_factory: Callable[..., Daemon]) -> None:
    daemon = daemon_factory(MAILDESK_AUTOCLOSE_DAYS="1", MAILDESK_SLA_CHECK_SECONDS="1")
    add_user(daemon, "duty@example.com", admin=True)
    with user_client(daemon, "wim@example.org") as wim, login(daemon, "duty@example.com") as admin:
        old, recent = (new_ticket(wim, subject)["ticket_number"] for subject in ("Old", "Recent"))
        for number in (old, recent):
            admin.post(f"/admin/support/tickets/{number}/messages", json={"body": "Done."})
            assert admin.patch(f"/admin/support/tickets/{number}", json={"status": "resolved"}).status_code == 200
        two_days_ago = datetime.now(timezone.utc).replace(tzinfo=None) - 48 * HOUR
        daemon.sql("UPDATE tickets SET resolved_at = :t, sla_basis = NULL WHERE ticket_number = :n",
                   t=two_days_ago, n=old)

        wait_until(lambda: admin.get(f"/admin/support/tickets/{old}").json()["status"] == "closed", 30,
                   what="the old resolved ticket closed")
        # The same pass looked at the recent one (one search over the resolved tickets).
        assert admin.get(f"/admin/support/tickets/{recent}").json()["status"] == "resolved"
        events = [e for e in admin.get(f"/admin/support/tickets/{old}").json()["events"] if e["kind"] == "status"]
        assert events[-1]["new_value"] == "closed"
