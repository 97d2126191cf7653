"""Saved replies and satisfaction (CSAT) against a real `maildesk serve`: the admin API, the
no-JavaScript Insert on the ticket page, the management page, the resolved email's signed
links (GET changes nothing, the confirm POST records), the requester's JSON rating, stats."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import httpx

from tests.conftest import Daemon, Sink, wait_until
from tests.integration.api_helpers import add_user, anon, error, login, new_ticket, user_client
from tests.integration.test_pages import Page, get_page, post_form, sign_in

HTML = {"Accept": "text/html"}


def _resolve(admin: httpx.Client, number: str) -> None:
    r = admin.patch(f"/admin/support/tickets/{number}", json={"status": "resolved"})
    assert r.status_code == 200, r.text


def _links(sink: Sink, address: str) -> dict[str, str]:
    (mail,) = wait_until(lambda: [m for m in sink.to(address) if "has been resolved" in m.subject],
                         30, what="the resolved email")
    text = mail.text()
    assert "How did we do?" in text
    found = dict(re.findall(r"(Good|Bad):\s+(\S+/help/satisfaction/\S+)", text))
    assert set(found) == {"Good", "Bad"}, text
    return {k.lower(): v.split("/help/satisfaction/", 1)[1] for k, v in found.items()}


def _rating(daemon: Daemon, number: str) -> tuple[object, ...]:
    return tuple(daemon.sql(
        "SELECT satisfaction_rating, satisfaction_comment, version FROM tickets WHERE ticket_number = :n", n=number
    )[0])


# --- saved replies: API --------------------------------------------------------------------------


def test_saved_replies_api_crud_and_access(daemon: Daemon) -> None:
    add_user(daemon, "lead@example.com", admin=True, name="Lee Lead")
    with login(daemon, "lead@example.com") as admin, user_client(daemon, "kim@example.org") as kim, \
            anon(daemon) as nobody:
        for method, path in (("GET", "/admin/saved-replies"), ("POST", "/admin/saved-replies"),
                             ("PATCH", "/admin/saved-replies/1"), ("DELETE", "/admin/saved-replies/1")):
            error(nobody.request(method, path, json={"title": "t", "body": "b"}), 401)
            error(kim.request(method, path, json={"title": "t", "body": "b"}), 403)

        r = admin.post("/admin/saved-replies", json={
            "title": "Refund sent", "body": "Hi {{ requester.name|default('there') }}, refund for {{ ticket.number }}. {{ agent.name }}"})
        assert r.status_code == 201, r.text
        created = r.json()
        assert created["title"] == "Refund sent" and created["created_by"] == "lead@example.com"
        page = admin.get("/admin/saved-replies").json()
        assert (page["total"], page["page"], [i["title"] for i in page["items"]]) == (1, 1, ["Refund sent"])

        r = admin.patch(f"/admin/saved-replies/{created['id']}", json={"title": "Refund issued"})
        assert r.status_code == 200 and r.json()["title"] == "Refund issued" and r.json()["body"] == created["body"]

        t = new_ticket(kim, "Refund please", "Order 55")
        r = admin.post(f"/admin/saved-replies/{created['id']}/render", json={"ticket": t["ticket_number"]})
        assert r.status_code == 200, r.text
        assert r.json()["text"] == f"Hi there, refund for {t['ticket_number']}. Lee Lead"

        for hostile in ("{{ ''.__class__ }}", "{{ cycler.__init__ }}", "{{ ticket.__dict__ }}",
                        "{% for i in range(99999) %}{% for j in range(99999) %}x{% endfor %}{% endfor %}",
                        "{{ ticket.number", "{{ ticket.number|attr('__class__') }}"):
            assert error(admin.post("/admin/saved-replies", json={"title": "x", "body": hostile}), 422).startswith("body")
            assert error(admin.patch(f"/admin/saved-replies/{created['id']}", json={"body": hostile}), 422).startswith("body")
        assert admin.get("/admin/saved-replies").json()["total"] == 1  # nothing hostile stored
        assert error(admin.post("/admin/saved-replies", json={"title": " ", "body": "ok"}), 422).startswith("title")

        assert admin.delete(f"/admin/saved-replies/{created['id']}").status_code == 204
        error(admin.delete(f"/admin/saved-replies/{created['id']}"), 404)
        error(admin.patch(f"/admin/saved-replies/{created['id']}", json={"title": "x"}), 404)
        assert admin.get("/admin/saved-replies").json()["total"] == 0


# --- saved replies: pages -------------------------------------------------------------------------


def _manage_page(client: httpx.Client) -> Page:
    """GET /admin/saved-replies as a browser asks for it (the same path answers JSON otherwise)."""
    r = client.get("/admin/saved-replies", headers=HTML)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), r.text[:500]
    page = Page(r.text)
    page.check_same_origin()
    return page


def test_manage_page_and_insert_without_javascript(daemon: Daemon, sink: Sink) -> None:
    add_user(daemon, "kim@example.org", name="Kim Requester")
    with sign_in(daemon, "lead@example.com", admin=True, name="Lee Lead") as lead, \
            login(daemon, "kim@example.org") as kim:
        page = _manage_page(lead)
        page.check_accessible(["Title", "Body"])
        r = post_form(lead, page, "/admin/saved-replies/add", title="Greeting", body="{{ ticket.__dict__ }}")
        assert r.status_code == 422 and "not available" in Page(r.text).text
        r = post_form(lead, page, "/admin/saved-replies/add", title="Greeting",
                      body="Hello {{ requester.name }}, about {{ ticket.subject|lower }} ({{ ticket.number }}).\n-- {{ agent.name }}")
        assert r.status_code == 303, r.text
        reply_id = lead.get("/admin/saved-replies", headers={"Accept": "application/json"}).json()["items"][0]["id"]
        page = _manage_page(lead)
        page.check_accessible(["Title", "Body"])
        r = post_form(lead, page, f"/admin/saved-replies/{reply_id}/edit", title="Greeting v2",
                      body="Hi {{ requester.name }} ({{ ticket.number }}), about {{ ticket.subject|lower }}.\n-- {{ agent.name }}")
        assert r.status_code == 303
        assert "Greeting v2" in _manage_page(lead).text

        t = new_ticket(kim, "Lost PARCEL", "Where is it?")
        number = t["ticket_number"]
        page = get_page(lead, f"/admin/support/{number}")
        form = page.form(f"/admin/support/{number}/reply")
        version = [f["value"] for f in form["fields"] if f.get("name") == "version"][0]
        assert any(f.get("name") == "saved_reply" for f in form["fields"])
        r = lead.post(f"/admin/support/{number}/insert-reply", data={
            "csrf_token": page.csrf(f"/admin/support/{number}/reply"), "version": version,
            "saved_reply": str(reply_id), "body": "Typed first."})
        assert r.status_code == 200, r.text
        filled = Page(r.text)
        textarea = re.search(r'<textarea id="body"[^>]*>(.*?)</textarea>', r.text, re.S)
        assert textarea and textarea.group(1) == (
            f"Typed first.\n\nHi Kim Requester ({number}), about lost parcel.\n-- Lee Lead"), r.text
        reply_form = filled.form(f"/admin/support/{number}/reply")
        assert [f["value"] for f in reply_form["fields"] if f.get("name") == "version"] == [version]
        assert [f for f in reply_form["fields"] if f.get("name") == "csrf_token"]
        assert not sink.to("kim@example.org")[1:]  # inserting sends nothing (only the confirmation so far)
        assert daemon.sql("SELECT count(*) FROM ticket_messages WHERE ticket_id = :i", i=t["id"])[0][0] == 1

        page = _manage_page(lead)
        assert post_form(lead, page, f"/admin/saved-replies/{reply_id}/delete").status_code == 303
        assert lead.get("/admin/saved-replies", headers={"Accept": "application/json"}).json()["total"] == 0


# --- satisfaction -------------------------------------------------------------------------------


def test_resolved_email_link_get_changes_nothing_and_post_records(daemon: Daemon, sink: Sink) -> None:
    add_user(daemon, "lead@example.com", admin=True)
    with login(daemon, "lead@example.com") as admin, user_client(daemon, "ria@example.org") as ria:
        number = new_ticket(ria, "Broken zip", "It jams")["ticket_number"]
        _resolve(admin, number)
        links = _links(sink, "ria@example.org")
        with httpx.Client(base_url=daemon.base_url, timeout=15) as browser:
            before = _rating(daemon, number)
            events = daemon.sql("SELECT count(*) FROM ticket_events WHERE kind = 'satisfaction'")[0][0]
            page = get_page(browser, f"/help/satisfaction/{links['good']}")
            page.check_accessible(["Comment"])
            assert "Good" in page.text
            assert _rating(daemon, number) == before and before[0] is None
            assert daemon.sql("SELECT count(*) FROM ticket_events WHERE kind = 'satisfaction'")[0][0] == events == 0

            action = f"/help/satisfaction/{links['good']}"
            r = browser.post(action, data={"csrf_token": page.csrf(action), "comment": "Quick fix, thanks"})
            assert r.status_code == 200 and "has been recorded" in r.text
            assert _rating(daemon, number)[:2] == ("good", "Quick fix, thanks")

            # Changing the answer: the other link, confirmed.
            page = get_page(browser, f"/help/satisfaction/{links['bad']}")
            action = f"/help/satisfaction/{links['bad']}"
            assert browser.post(action, data={"csrf_token": page.csrf(action)}).status_code == 200
            assert _rating(daemon, number)[:2] == ("bad", None)

            # A forged token (other ticket, or rating edited) is a 404 page, not a vote.
            ticket_id, _ = links["good"].split(".", 1)
            forged = links["good"].replace(f"{ticket_id}.good.", f"{ticket_id}.bad.")
            assert browser.get(f"/help/satisfaction/{forged}").status_code == 404
            assert browser.get("/help/satisfaction/1.good.aaaaaaaaaaaaaaaaaaaaaaaaaa").status_code == 404

        timeline = admin.get(f"/admin/support/tickets/{number}").json()["events"]
        rated = [(e["old_value"], e["new_value"]) for e in timeline if e["kind"] == "satisfaction"]
        assert rated == [(None, "good"), ("good", "bad")]

        # Closed: the rating can no longer change (409), from the page and the API.
        assert ria.patch(f"/support/tickets/{number}", json={"status": "closed"}).status_code == 200
        with httpx.Client(base_url=daemon.base_url, timeout=15) as browser:
            page = get_page(browser, f"/help/satisfaction/{links['good']}")
            assert "closed" in page.text
            action = f"/help/satisfaction/{links['good']}"
            token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/help/contact").text).group(1)
            r = browser.post(action, data={"csrf_token": token})
            assert r.status_code == 409
        assert _rating(daemon, number)[0] == "bad"
        assert error(ria.post(f"/support/tickets/{number}/satisfaction", json={"rating": "good"}), 409)


def test_requester_rates_through_the_api(daemon: Daemon, sink: Sink) -> None:
    add_user(daemon, "lead@example.com", admin=True)
    with login(daemon, "lead@example.com") as admin, user_client(daemon, "sam@example.org") as sam, \
            user_client(daemon, "eve@example.org") as eve, anon(daemon) as nobody:
        t = new_ticket(sam, "Slow page", "Loads slowly")
        number = t["ticket_number"]
        error(nobody.post(f"/support/tickets/{number}/satisfaction", json={"rating": "good"}), 401)
        error(eve.post(f"/support/tickets/{number}/satisfaction", json={"rating": "good"}), 403)
        error(admin.post(f"/support/tickets/{number}/satisfaction", json={"rating": "good"}), 403)
        assert error(sam.post(f"/support/tickets/{number}/satisfaction", json={"rating": "meh"}), 422).startswith("rating")
        assert _rating(daemon, number)[0] is None

        r = sam.post(f"/support/tickets/{number}/satisfaction", json={"rating": "bad", "comment": "Took a week"})
        assert r.status_code == 200, r.text
        assert (r.json()["rating"], r.json()["comment"]) == ("bad", "Took a week")
        r = sam.post(f"/support/tickets/{number}/satisfaction", json={"rating": "good"})
        assert r.json()["rating"] == "good" and _rating(daemon, number)[:2] == ("good", None)

        page = admin.get(f"/admin/support/{number}", headers=HTML)
        assert page.status_code == 200 and re.search(r'id="satisfaction">.*Good', page.text), page.text[:500]
        assert "rated it good (was bad)" in " ".join(page.text.split())

        # Stats: good / rated over the range the ratings were given in.
        today = datetime.now(timezone.utc).date().isoformat()
        other = new_ticket(sam, "Another", "x")["ticket_number"]
        sam.post(f"/support/tickets/{other}/satisfaction", json={"rating": "bad"})
        s = admin.get("/admin/support/stats", params={"from": today, "to": today, "fresh": "true"}).json()
        assert s["satisfaction"] == {"good": 1, "bad": 1, "rated": 2, "score": 0.5}
        s = admin.get("/admin/support/stats", params={"from": "2020-01-01", "to": "2020-01-31", "fresh": "true"}).json()
        assert s["satisfaction"] == {"good": 0, "bad": 0, "rated": 0, "score": None}
        html = admin.get("/admin/support/stats", params={"from": today, "to": today, "fresh": "true"}, headers=HTML)
        assert "Satisfaction" in html.text and "50%" in html.text
