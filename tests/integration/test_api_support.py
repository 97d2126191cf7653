"""Requesters over HTTP against a real `maildesk serve`: open, list, read, answer, close, download."""

from __future__ import annotations

from email.message import EmailMessage

from tests.conftest import Daemon, Sink, make_mail
from tests.integration.api_helpers import add_user, anon, error, login, new_ticket, user_client


def test_create_ticket_signed_in_and_anonymous(daemon: Daemon, sink: Sink) -> None:
    with user_client(daemon, "ann@example.org") as ann:
        t = new_ticket(ann, "Cannot upload photos", "The upload button does nothing.", category="bug")
        assert t["ticket_number"] == f"SUP-{t['id']:05d}"
        assert (t["user_email"], t["status"], t["category"], t["priority"], t["source"]) == (
            "ann@example.org", "open", "bug", "medium", "api")
        assert [m["body"] for m in t["messages"]] == ["The upload button does nothing."]
        (confirmation,) = sink.wait_for("ann@example.org")
        assert f"Your support request {t['ticket_number']} has been received" in confirmation.subject
        # A signed-in user cannot open a ticket in someone else's name.
        r = ann.post("/support/tickets", json={"subject": "x", "description": "y", "user_email": "bob@example.org"})
        assert "user_email" in error(r, 403)

    with anon(daemon) as client:
        r = client.post("/support/tickets", json={"subject": "Hi", "description": "Help"})
        assert "user_email" in error(r, 422)
        t = new_ticket(client, "Refund", "Order 12 arrived broken.", category="payments", user_email="Zoe@Example.org")
        assert t["user_email"] == "zoe@example.org"
        # The ticket belongs to the user record of that address, created on first contact.
        (user_id,) = daemon.sql("SELECT id FROM users WHERE email = 'zoe@example.org'")[0]
        assert daemon.sql("SELECT user_id FROM tickets WHERE id = :i", i=t["id"])[0][0] == user_id
        sink.wait_for("zoe@example.org")


def test_list_only_mine_newest_first_with_paging(daemon: Daemon) -> None:
    with user_client(daemon, "amy@example.org") as amy, user_client(daemon, "ben@example.org") as ben:
        mine = [new_ticket(amy, f"Amy {i}")["ticket_number"] for i in range(3)]
        new_ticket(ben, "Ben's")
        r = amy.get("/support/tickets")
        body = r.json()
        assert (body["total"], body["page"], body["page_size"]) == (3, 1, 20)
        assert [t["ticket_number"] for t in body["items"]] == mine[::-1]

        p1 = amy.get("/support/tickets", params={"page_size": 2}).json()
        p2 = amy.get("/support/tickets", params={"page_size": 2, "page": 2}).json()
        assert (p1["total"], p2["total"], len(p1["items"]), len(p2["items"])) == (3, 3, 2, 1)
        assert [t["ticket_number"] for t in p1["items"] + p2["items"]] == mine[::-1]
        assert [t["subject"] for t in ben.get("/support/tickets").json()["items"]] == ["Ben's"]
        assert "page_size" in error(amy.get("/support/tickets", params={"page_size": 1000}), 422)


def test_detail_reply_and_what_others_see(daemon: Daemon, sink: Sink) -> None:
    add_user(daemon, "boss@example.com", admin=True, name="Boss")
    with user_client(daemon, "cat@example.org") as cat, user_client(daemon, "dan@example.org") as dan, \
            login(daemon, "boss@example.com") as admin, anon(daemon) as nobody:
        t = new_ticket(cat, "Login loop", "I keep getting logged out.")
        number, tid = t["ticket_number"], t["id"]

        assert cat.get(f"/support/tickets/{number}").json()["id"] == tid
        assert cat.get(f"/support/tickets/{tid}").json()["ticket_number"] == number
        assert error(dan.get(f"/support/tickets/{number}"), 403)
        assert error(cat.get("/support/tickets/SUP-99999"), 404)
        assert error(cat.get("/support/tickets/not-a-ticket"), 404)
        assert error(nobody.get(f"/support/tickets/{number}"), 401)

        # The owner answers; someone else may not.
        r = cat.post(f"/support/tickets/{number}/messages", json={"body": "It happens on mobile only."})
        assert r.status_code == 201 and r.json()["sender_role"] == "user"
        assert error(dan.post(f"/support/tickets/{number}/messages", json={"body": "me too"}), 403)

        # An internal note is for admins only.
        r = admin.post(f"/admin/support/tickets/{number}/messages",
                       json={"body": "Probably the cookie bug", "is_internal": True})
        assert r.status_code == 201
        seen_by_owner = [m["body"] for m in cat.get(f"/support/tickets/{number}").json()["messages"]]
        assert seen_by_owner == ["I keep getting logged out.", "It happens on mobile only."]
        seen_by_admin = admin.get(f"/support/tickets/{number}").json()["messages"]
        assert [m["is_internal"] for m in seen_by_admin] == [False, False, True]

        # An admin answering through the requester's endpoint is a public reply.
        r = admin.post(f"/support/tickets/{number}/messages", json={"body": "Fixed in 2.1, please update."})
        assert r.status_code == 201 and r.json()["sender_role"] == "admin"
        update = sink.wait_for("cat@example.org", 2)[1]
        assert "Your support request has been updated" in update.subject
        assert "Fixed in 2.1" in update.text() and "cookie bug" not in update.text()


def test_requester_closes_only_a_resolved_ticket(daemon: Daemon) -> None:
    add_user(daemon, "root@example.com", admin=True)
    with user_client(daemon, "eve@example.org") as eve, login(daemon, "root@example.com") as admin:
        number = new_ticket(eve, "Password reset")["ticket_number"]
        detail = error(eve.patch(f"/support/tickets/{number}", json={"status": "closed"}), 409)
        assert "allowed next statuses" in detail and "resolved" in detail
        assert "status" in error(eve.patch(f"/support/tickets/{number}", json={"status": "done"}), 422)
        assert error(eve.patch(f"/support/tickets/{number}", json={"status": "in_progress"}), 409)
        assert error(admin.patch(f"/support/tickets/{number}", json={"status": "closed"}), 403)

        assert admin.patch(f"/admin/support/tickets/{number}", json={"status": "resolved"}).status_code == 200
        r = eve.patch(f"/support/tickets/{number}", json={"status": "closed"})
        assert r.status_code == 200 and r.json()["status"] == "closed" and r.json()["closed_at"]
        assert "closed" in error(eve.post(f"/support/tickets/{number}/messages", json={"body": "one more"}), 409)


def test_attachment_download_for_requester_and_admins_only(daemon: Daemon) -> None:
    msg: EmailMessage = make_mail("fox@example.org", "Broken invoice", "See the attached file.")
    msg.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="Rechnung März.pdf")
    daemon.send(msg)
    daemon.wait_processed(1)
    add_user(daemon, "fox@example.org")
    add_user(daemon, "ops@example.com", admin=True)
    with login(daemon, "fox@example.org") as fox, login(daemon, "ops@example.com") as admin, \
            user_client(daemon, "gil@example.org") as gil:
        (ticket,) = fox.get("/support/tickets").json()["items"]
        messages = fox.get(f"/support/tickets/{ticket['ticket_number']}").json()["messages"]
        (att,) = messages[0]["attachments"]
        assert (att["filename"], att["content_type"], att["size"]) == ("Rechnung März.pdf", "application/pdf", 13)

        for client in (fox, admin):
            r = client.get(att["url"])
            assert r.status_code == 200 and r.content == b"%PDF-1.4 fake"
            assert r.headers["content-disposition"].startswith("attachment;")
            assert "filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf" in r.headers["content-disposition"]
            assert r.headers["x-content-type-options"] == "nosniff"
        assert error(gil.get(att["url"]), 403)
        assert error(fox.get(f"/support/tickets/{ticket['id']}/attachments/999999"), 404)


def test_contact_form_opens_ticket_and_confirms_by_mail(daemon: Daemon, sink: Sink) -> None:
    with anon(daemon) as client:
        r = client.post("/help/contact", json={
            "email": "Hal@Example.org", "name": "Hal", "category": "account",
            "description": "I cannot change my email address.\nIt says 'invalid'.",
        })
        assert r.status_code == 201
        body = r.json()
        assert set(body) == {"ticket_number", "id", "message"}
        assert body["ticket_number"] == f"SUP-{body['id']:05d}" and body["ticket_number"] in body["message"]
        (mail,) = sink.wait_for("hal@example.org")
        assert f"Your support request {body['ticket_number']} has been received" in mail.subject
        row = daemon.sql("SELECT subject, category, source, user_email FROM tickets WHERE id = :i", i=body["id"])[0]
        assert row == ("I cannot change my email address.", "account", "contact", "hal@example.org")

        assert "category" in error(client.post("/help/contact", json={
            "email": "hal@example.org", "category": "astrology", "description": "x"}), 422)
        assert "email" in error(client.post("/help/contact", json={
            "email": "not an address", "category": "other", "description": "x"}), 422)
        assert "description" in error(client.post("/help/contact", json={
            "email": "hal@example.org", "category": "other", "description": "   "}), 422)


def test_bad_input_is_422_naming_the_field_or_400_for_broken_json(daemon: Daemon) -> None:
    with user_client(daemon, "ivy@example.org") as ivy:
        unknown = error(ivy.post("/support/tickets", json={"subject": "a", "description": "b", "urgent": True}), 422)
        assert "urgent" in unknown
        assert "subject" in error(ivy.post("/support/tickets", json={"subject": 5, "description": "b"}), 422)
        assert "description" in error(ivy.post("/support/tickets", json={"subject": "a"}), 422)
        assert "category" in error(ivy.post("/support/tickets", json={"subject": "a", "description": "b",
                                                                       "category": "nope"}), 422)
        r = ivy.post("/support/tickets", content=b'{"subject": "a", "descr', headers={"content-type": "application/json"})
        assert "malformed JSON" in error(r, 400)
        assert daemon.sql("SELECT count(*) FROM tickets")[0][0] == 0
        assert error(ivy.get("/no/such/route"), 404)
