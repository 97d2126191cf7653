"""The support team over HTTP against a real `maildesk serve`: queue, changes, replies, SLA, stats."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import Daemon, Sink, make_mail, wait_until
from tests.integration.api_helpers import add_user, anon, error, login, new_ticket, user_client

ADMIN_ROUTES = [
    ("GET", "/admin/support/tickets"),
    ("GET", "/admin/support/tickets/1"),
    ("PATCH", "/admin/support/tickets/1"),
    ("POST", "/admin/support/tickets/1/messages"),
    ("GET", "/admin/support/stats"),
    ("POST", "/admin/support/check-sla"),
    ("GET", "/admin/users"),
    ("GET", "/admin/support/inbound"),
    ("POST", "/admin/support/inbound/1/reprocess"),
]


def _numbers(page: dict) -> list[str]:
    return [t["ticket_number"] for t in page["items"]]


def test_admin_routes_need_an_admin(daemon: Daemon) -> None:
    with user_client(daemon, "user@example.org") as user, anon(daemon) as nobody:
        for method, path in ADMIN_ROUTES:
            assert error(nobody.request(method, path, json={}), 401), path
            assert error(user.request(method, path, json={}), 403), path


def test_queue_filters_search_sort_and_paging(daemon: Daemon) -> None:
    add_user(daemon, "lead@example.com", admin=True)
    with user_client(daemon, "kim@example.org") as kim, login(daemon, "lead@example.com") as admin:
        a = new_ticket(kim, "Card declined at checkout", "My visa card is refused.", category="payments")["ticket_number"]
        b = new_ticket(kim, "How do I sell a bike?", "Listing question.", category="selling")["ticket_number"]
        c = new_ticket(kim, "Account locked", "Too many attempts.", category="account")["ticket_number"]
        d = new_ticket(kim, "Another payment issue", "Refund pending.", category="payments")["ticket_number"]
        # A word that is only in a later reply message, not in any subject or description.
        kim.post(f"/support/tickets/{b}/messages", json={"body": "The frame is aluminium, size 56."})
        assert admin.patch(f"/admin/support/tickets/{c}", json={"priority": "urgent", "status": "in_progress"}).status_code == 200
        assert admin.patch(f"/admin/support/tickets/{a}", json={"priority": "high"}).status_code == 200

        everything = admin.get("/admin/support/tickets").json()
        assert everything["total"] == 4 and _numbers(everything) == [d, c, b, a]
        assert _numbers(admin.get("/admin/support/tickets", params={"status": "open"}).json()) == [d, b, a]
        assert _numbers(admin.get("/admin/support/tickets", params={"status": "in_progress"}).json()) == [c]
        assert _numbers(admin.get("/admin/support/tickets", params={"category": "payments"}).json()) == [d, a]
        assert _numbers(admin.get("/admin/support/tickets", params={"priority": "urgent,high"}).json()) == [c, a]
        assert _numbers(admin.get("/admin/support/tickets", params={"sort": "priority"}).json()) == [c, a, b, d]
        assert _numbers(admin.get("/admin/support/tickets", params={"sort": "created_at"}).json()) == [a, b, c, d]
        assert _numbers(admin.get("/admin/support/tickets", params={"escalated": "false", "status": "open",
                                                                     "category": "selling"}).json()) == [b]

        assert _numbers(admin.get("/admin/support/tickets", params={"q": "aluminium"}).json()) == [b]
        assert _numbers(admin.get("/admin/support/tickets", params={"q": "VISA"}).json()) == [a]
        assert _numbers(admin.get("/admin/support/tickets", params={"q": "payment"}).json()) == [d]
        assert _numbers(admin.get("/admin/support/tickets", params={"q": 'refund* "pending" -)'}).json()) == [d]
        assert admin.get("/admin/support/tickets", params={"q": "zeppelin"}).json()["total"] == 0

        p1 = admin.get("/admin/support/tickets", params={"page_size": 3}).json()
        p2 = admin.get("/admin/support/tickets", params={"page_size": 3, "page": 2}).json()
        assert (p1["total"], p2["total"], _numbers(p1), _numbers(p2)) == (4, 4, [d, c, b], [a])
        assert (p2["page"], p2["page_size"]) == (2, 3)

        assert "sort" in error(admin.get("/admin/support/tickets", params={"sort": "colour"}), 422)
        assert "status" in error(admin.get("/admin/support/tickets", params={"status": "lost"}), 422)
        assert "escalated" in error(admin.get("/admin/support/tickets", params={"escalated": "perhaps"}), 422)


def test_search_total_and_pages_when_most_tickets_match(daemon: Daemon) -> None:
    """A word in nearly every ticket: the exact total, and every page in order, whichever way
    the page is read (on SQLite: walking the sort index for the dense first page, collecting
    the hits for the later ones; tickets/queries.py)."""
    add_user(daemon, "lead@example.com", admin=True)
    with user_client(daemon, "kim@example.org") as kim, login(daemon, "lead@example.com") as admin:
        numbers = []
        for i in range(14):
            text = "Nothing arrived." if i in (2, 6) else f"Where is my parcel number {i}?"
            numbers.append(new_ticket(kim, f"Question {i}", text)["ticket_number"])
        # Ticket 2 mentions the word only in a later reply; ticket 6 never does.
        kim.post(f"/support/tickets/{numbers[2]}/messages", json={"body": "The parcels never came."})
        assert admin.patch(f"/admin/support/tickets/{numbers[5]}", json={"status": "in_progress"}).status_code == 200
        matching = [n for i, n in enumerate(numbers) if i != 6]
        newest_first = matching[::-1]

        def search(**params: object) -> dict:
            r = admin.get("/admin/support/tickets", params={"q": "parcel", **params})
            assert r.status_code == 200, r.text
            return r.json()

        first = search(page_size=1)
        assert (first["total"], _numbers(first)) == (13, newest_first[:1])
        assert (search(page_size=1, page=2)["total"], _numbers(search(page_size=1, page=2))) == (13, newest_first[1:2])
        assert _numbers(search(page_size=1, page=13)) == [matching[0]]
        past = search(page_size=1, page=14)
        assert (past["total"], past["items"]) == (13, [])
        assert [n for p in (1, 2, 3) for n in _numbers(search(page_size=5, page=p))] == newest_first
        assert _numbers(search(page_size=5, sort="created_at")) == matching[:5]
        by_priority = search(page_size=50, sort="priority")
        assert by_priority["total"] == 13 and sorted(_numbers(by_priority)) == sorted(matching)
        in_progress = search(status="in_progress")
        assert (in_progress["total"], _numbers(in_progress)) == (1, [numbers[5]])
        assert search(q="parcel number", page_size=1)["total"] == 12  # both words in one text


def test_update_assign_and_illegal_transitions(daemon: Daemon) -> None:
    lead_id = add_user(daemon, "lead@example.com", admin=True, name="Lead")
    with user_client(daemon, "lou@example.org") as lou, login(daemon, "lead@example.com") as admin:
        number = new_ticket(lou, "Where is my parcel?")["ticket_number"]
        user_id = daemon.sql("SELECT id FROM users WHERE email = 'lou@example.org'")[0][0]

        r = admin.patch(f"/admin/support/tickets/{number}", json={"status": "waiting_on_user", "assigned_to": lead_id})
        assert r.status_code == 200 and (r.json()["status"], r.json()["assigned_to"]) == ("waiting_on_user", lead_id)
        mine = admin.get("/admin/support/tickets", params={"assigned_to": "me"}).json()
        assert _numbers(mine) == [number]
        assert admin.get("/admin/support/tickets", params={"assigned_to": "none"}).json()["total"] == 0

        detail = error(admin.patch(f"/admin/support/tickets/{number}", json={"status": "open"}), 409)
        assert "allowed next statuses: in_progress, resolved" in detail
        assert "assigned_to" in error(admin.patch(f"/admin/support/tickets/{number}", json={"assigned_to": user_id}), 422)
        assert "assigned_to" in error(admin.patch(f"/admin/support/tickets/{number}", json={"assigned_to": 424242}), 422)
        assert "priority" in error(admin.patch(f"/admin/support/tickets/{number}", json={"priority": "asap"}), 422)
        assert "assignee" in error(admin.patch(f"/admin/support/tickets/{number}", json={"assignee": 1}), 422)
        assert "escalated" in error(admin.patch(f"/admin/support/tickets/{number}", json={"escalated": "yes"}), 422)
        r = admin.patch(f"/admin/support/tickets/{number}", content=b"{not json", headers={"content-type": "application/json"})
        assert error(r, 400)

        r = admin.patch(f"/admin/support/tickets/{number}",
                        json={"status": "resolved", "resolution_notes": "Parcel found at the depot.", "assigned_to": None})
        body = r.json()
        assert (body["status"], body["resolution_notes"], body["assigned_to"]) == ("resolved", "Parcel found at the depot.", None)
        # Every change is on the timeline, with who made it.
        events = [(e["kind"], e["new_value"], e["actor"]) for e in body["events"]]
        assert events[0][0] == "created"
        assert ("status", "waiting_on_user", "lead@example.com") in events
        assert ("assigned", "lead@example.com", "lead@example.com") in events
        assert ("status", "resolved", "lead@example.com") in events
        assert ("resolution_notes", "Parcel found at the depot.", "lead@example.com") in events
        # A failed change leaves no trace.
        assert not any(e[1] == "open" for e in events if e[0] == "status")

        # An absent field stays as it is; null empties it (TicketChange's CLEAR).
        r = admin.patch(f"/admin/support/tickets/{number}", json={"priority": "low"})
        assert (r.json()["priority"], r.json()["resolution_notes"]) == ("low", "Parcel found at the depot.")
        r = admin.patch(f"/admin/support/tickets/{number}", json={"resolution_notes": None})
        assert (r.json()["priority"], r.json()["resolution_notes"]) == ("low", None)

        assert admin.patch(f"/admin/support/tickets/{number}", json={"status": "closed"}).status_code == 200
        assert "none (closed is final)" in error(
            admin.patch(f"/admin/support/tickets/{number}", json={"status": "in_progress"}), 409)


def test_admin_reply_emails_requester_and_internal_note_emails_nobody(daemon: Daemon, sink: Sink) -> None:
    add_user(daemon, "agent@example.com", admin=True, name="Agent Smith")
    with user_client(daemon, "mo@example.org") as mo, login(daemon, "agent@example.com") as admin:
        t = new_ticket(mo, "App crashes", "Crashes on start.")
        number = t["ticket_number"]
        sink.wait_for("mo@example.org")  # the confirmation

        r = admin.post(f"/admin/support/tickets/{number}/messages",
                       json={"body": "Customer on v1.2, old build", "is_internal": True})
        assert r.status_code == 201 and r.json()["is_internal"] is True
        after_note = admin.get(f"/admin/support/tickets/{number}").json()
        assert (after_note["status"], after_note["first_response_at"]) == ("open", None)

        r = admin.post(f"/admin/support/tickets/{number}/messages",
                       json={"body": "Please update to 1.3, that fixes the crash.", "is_internal": False})
        assert r.status_code == 201
        update = sink.wait_for("mo@example.org", 2)[1]
        assert update.subject == f"[{number}] Your support request has been updated"
        assert "Please update to 1.3" in update.text() and "old build" not in update.text()

        after_reply = admin.get(f"/admin/support/tickets/{number}").json()
        assert after_reply["status"] == "in_progress" and after_reply["first_response_at"]
        assert [e["kind"] for e in after_reply["events"]][-3:] == ["note", "reply", "status"]
        # The note reached no one: the only mail besides the confirmation and the update went to nobody else.
        kinds = daemon.sql("SELECT kind, to_addr FROM outbound_messages ORDER BY id")
        assert kinds == [("confirmation", "mo@example.org"), ("new_ticket", "agent@example.com"),
                         ("update", "mo@example.org")]
        assert [m["body"] for m in mo.get(f"/support/tickets/{number}").json()["messages"]] == [
            "Crashes on start.", "Please update to 1.3, that fixes the crash."]
        assert "body" in error(admin.post(f"/admin/support/tickets/{number}/messages", json={"is_internal": True}), 422)
        assert error(admin.post("/admin/support/tickets/SUP-77777/messages", json={"body": "hi"}), 404)


def test_sla_breach_is_escalated_once(daemon_factory, sink: Sink) -> None:
    daemon = daemon_factory(MAILDESK_SLA_HOURS="urgent=1,high=2,medium=3,low=4")
    add_user(daemon, "duty@example.com", admin=True)
    with user_client(daemon, "ned@example.org") as ned, login(daemon, "duty@example.com") as admin:
        late = new_ticket(ned, "Still waiting")["ticket_number"]
        fresh = new_ticket(ned, "Just now")["ticket_number"]
        answered = new_ticket(ned, "Answered late but answered")["ticket_number"]
        admin.post(f"/admin/support/tickets/{answered}/messages", json={"body": "On it."})
        four_hours_ago = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(hours=4)
        daemon.sql("UPDATE tickets SET created_at = :t, sla_basis = NULL WHERE ticket_number IN (:a, :b)", t=four_hours_ago, a=late, b=answered)

        assert admin.post("/admin/support/check-sla").json() == {"escalated": [late]}
        assert admin.post("/admin/support/check-sla").json() == {"escalated": []}
        alert = [m for m in sink.wait_for("duty@example.com", 4) if "URGENT" in m.subject]
        assert [m.subject for m in alert] == [f"[{late}] URGENT: Ticket {late} needs attention"]
        escalated = admin.get("/admin/support/tickets", params={"escalated": "true"}).json()
        assert _numbers(escalated) == [late] and escalated["items"][0]["escalated"] is True
        assert fresh not in _numbers(escalated)


def test_stats_match_the_tickets(daemon: Daemon) -> None:
    add_user(daemon, "stat@example.com", admin=True)
    with user_client(daemon, "ola@example.org") as ola, login(daemon, "stat@example.com") as admin:
        numbers = [
            new_ticket(ola, "One", category="bug")["ticket_number"],
            new_ticket(ola, "Two", category="bug")["ticket_number"],
            new_ticket(ola, "Three", category="payments")["ticket_number"],
            new_ticket(ola, "Four", category="other")["ticket_number"],
        ]
        admin.patch(f"/admin/support/tickets/{numbers[0]}", json={"priority": "urgent"})
        admin.post(f"/admin/support/tickets/{numbers[1]}/messages", json={"body": "Answer"})
        admin.patch(f"/admin/support/tickets/{numbers[1]}", json={"status": "resolved"})
        # One ticket unanswered for two days: past the 24-hour medium window.
        two_days_ago = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(days=2)
        daemon.sql("UPDATE tickets SET created_at = :t, sla_basis = NULL WHERE ticket_number = :n", t=two_days_ago, n=numbers[3])

        s = admin.get("/admin/support/stats", params={"fresh": "true"}).json()
        assert s["total"] == 4
        assert s["by_status"] == {"open": 3, "in_progress": 0, "waiting_on_user": 0, "resolved": 1, "closed": 0}
        assert s["by_priority"] == {"urgent": 1, "high": 0, "medium": 3, "low": 0}
        assert s["by_category"] == {"bug": 2, "other": 1, "payments": 1}
        today = datetime.now(timezone.utc).date().isoformat()
        by_day = {d["day"]: d["count"] for d in s["by_day"]}
        assert len(s["by_day"]) == 30 and by_day[today] == 3
        assert by_day[(datetime.now(timezone.utc) - timedelta(days=2)).date().isoformat()] == 1
        assert s["avg_first_response_seconds"] is not None and 0 <= s["avg_first_response_seconds"] < 60
        assert s["avg_resolution_seconds"] is not None and 0 <= s["avg_resolution_seconds"] < 60
        assert (s["sla"]["met"], s["sla"]["missed"], s["sla"]["compliance"]) == (3, 1, 0.75)
        assert s["sla"]["by_priority"] == {"urgent": 1.0, "high": None, "medium": pytest.approx(2 / 3, abs=1e-3), "low": None}
        assert s["sla"]["window_hours"]["medium"] == 24


def test_users_and_inbound_messages(daemon: Daemon) -> None:
    add_user(daemon, "pat@example.com", admin=True, name="Pat")
    add_user(daemon, "quinn@example.com", admin=True)
    add_user(daemon, "rey@example.org")
    with login(daemon, "pat@example.com") as admin:
        admins = admin.get("/admin/users", params={"role": "admin"}).json()
        assert [u["email"] for u in admins["items"]] == ["pat@example.com", "quinn@example.com"] and admins["total"] == 2
        assert {u["email"] for u in admin.get("/admin/users").json()["items"]} >= {"rey@example.org", "pat@example.com"}
        assert "role" in error(admin.get("/admin/users", params={"role": "wizard"}), 422)

        daemon.send(make_mail("sam@example.org", "Printer on fire", "Help!"))
        daemon.send(make_mail("mailer-daemon@example.net", "Undeliverable", "Bounce",
                              headers={"Auto-Submitted": "auto-replied"}))
        daemon.wait_processed(2)
        page = admin.get("/admin/support/inbound").json()
        assert page["total"] == 2
        newest, oldest = page["items"]
        assert newest["from_addr"] == "mailer-daemon@example.net" and oldest["subject"] == "Printer on fire"
        assert oldest["status"] == "processed" and oldest["ticket_number"] == daemon.tickets()[0][1]
        assert "raw" not in oldest and oldest["received_at"]
        processed = admin.get("/admin/support/inbound", params={"status": "processed"}).json()
        assert [m["id"] for m in processed["items"]] == [oldest["id"]]
        assert "status" in error(admin.get("/admin/support/inbound", params={"status": "eaten"}), 422)

        r = admin.post(f"/admin/support/inbound/{newest['id']}/reprocess")
        assert r.status_code == 202 and r.json()["status"] == "received"
        wait_until(lambda: daemon.sql("SELECT status FROM inbound_messages WHERE id = :i", i=newest["id"])[0][0] != "received",
                   what="the reprocessed message to be taken again")
        again = admin.get(f"/admin/support/inbound?status={newest['status']}").json()
        assert newest["id"] in [m["id"] for m in again["items"]]
        assert error(admin.post("/admin/support/inbound/999999/reprocess"), 404)
