"""The support agent's tools against a real `maildesk serve`: in-app notifications, queue
filters, merging, bulk changes and collision checks (README, "Pages" and "API")."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Daemon, Sink, make_mail, wait_until
from tests.integration.api_helpers import add_user, error, login, new_ticket, user_client


def _notes(client: httpx.Client, **params: Any) -> dict[str, Any]:
    r = client.get("/admin/notifications", params=params)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _kinds(page: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(n["kind"], n["ticket_number"]) for n in page["items"]]


def test_notifications_for_each_trigger_and_marking_read(daemon: Daemon) -> None:
    ada_id = add_user(daemon, "ada@example.com", admin=True, name="Ada Admin")
    bob_id = add_user(daemon, "bob@example.com", admin=True, name="Bob Builder")
    with login(daemon, "ada@example.com") as ada, login(daemon, "bob@example.com") as bob, \
            user_client(daemon, "kim@example.org") as kim:
        # A new ticket: every admin.
        t1 = new_ticket(kim, "Printer on fire")["ticket_number"]
        assert _kinds(_notes(ada)) == [("new_ticket", t1)] and _kinds(_notes(bob)) == [("new_ticket", t1)]
        assert "Printer on fire" in _notes(ada)["items"][0]["text"] and _notes(ada)["unread"] == 1

        # A requester's reply on an unassigned ticket: every admin.
        assert kim.post(f"/support/tickets/{t1}/messages", json={"body": "Still burning."}).status_code == 201
        assert _kinds(_notes(bob))[0] == ("reply", t1) and _kinds(_notes(ada))[0] == ("reply", t1)

        # Assigned by Ada to Bob: Bob is told, Ada (who did it) is not.
        assert ada.patch(f"/admin/support/tickets/{t1}", json={"assigned_to": bob_id}).status_code == 200
        assert _kinds(_notes(bob))[0] == ("assigned", t1) and "Ada Admin" in _notes(bob)["items"][0]["text"]
        assert _kinds(_notes(ada))[0] == ("reply", t1)
        # Assigning to yourself tells nobody.
        t2 = new_ticket(kim, "Second thing")["ticket_number"]
        assert ada.patch(f"/admin/support/tickets/{t2}", json={"assigned_to": ada_id}).status_code == 200
        assert _kinds(_notes(ada))[0] == ("new_ticket", t2)

        # A reply on an assigned ticket: only the assignee.
        assert kim.post(f"/support/tickets/{t1}/messages", json={"body": "Now smoking."}).status_code == 201
        assert [k for k in _kinds(_notes(bob))].count(("reply", t1)) == 2
        assert [k for k in _kinds(_notes(ada))].count(("reply", t1)) == 1

        # Notes that mention: @local-part, @NameWithoutSpaces (any case) or the address.
        for body, who in (("@bob please look", bob), ("ask @bobbuilder.", bob), ("cc bob@example.com", bob),
                          ("@ADA over to you", ada)):
            before = _notes(who)["total"]
            r = (ada if who is bob else bob).post(f"/admin/support/tickets/{t1}/messages",
                                                   json={"body": body, "is_internal": True})
            assert r.status_code == 201, r.text
            page = _notes(who)
            assert page["total"] == before + 1 and _kinds(page)[0] == ("mention", t1), body
        # Not a mention: an address's domain, someone unknown.
        before = (_notes(ada)["total"], _notes(bob)["total"])
        assert bob.post(f"/admin/support/tickets/{t1}/messages",
                        json={"body": "mail someone@example.com or @nobody", "is_internal": True}).status_code == 201
        # Escalation: every admin except who escalated. Its notification is the next one Bob gets.
        assert ada.patch(f"/admin/support/tickets/{t1}", json={"escalated": True}).status_code == 200
        assert _kinds(_notes(bob))[0] == ("escalation", t1)
        assert (_notes(ada)["total"], _notes(bob)["total"]) == (before[0], before[1] + 1)

        # Reading: unread filter, count, someone else's ids never marked.
        bobs = _notes(bob)
        assert bobs["unread"] == bobs["total"] == len(_notes(bob, unread="true")["items"])
        adas = _notes(ada)
        r = ada.post("/admin/notifications/read", json={"ids": [bobs["items"][0]["id"], adas["items"][0]["id"]]})
        assert r.status_code == 200 and r.json() == {"marked": 1, "unread": adas["unread"] - 1}
        assert _notes(bob)["unread"] == bobs["unread"]
        assert _notes(ada)["items"][0]["read_at"] is not None
        assert adas["items"][0]["id"] not in [n["id"] for n in _notes(ada, unread="true")["items"]]
        r = bob.post("/admin/notifications/read", json={"all": True})
        assert r.json() == {"marked": bobs["unread"], "unread": 0} and _notes(bob, unread="true")["items"] == []
        assert "ids" in error(bob.post("/admin/notifications/read", json={}), 422)
        assert error(kim.get("/admin/notifications"), 403)


def test_queue_assigned_to_me_and_none(daemon: Daemon) -> None:
    ada_id = add_user(daemon, "ada@example.com", admin=True)
    with login(daemon, "ada@example.com") as ada, user_client(daemon, "kim@example.org") as kim:
        mine = new_ticket(kim, "Mine")["ticket_number"]
        loose = new_ticket(kim, "Nobody's")["ticket_number"]
        ada.patch(f"/admin/support/tickets/{mine}", json={"assigned_to": ada_id})
        me = ada.get("/admin/support/tickets", params={"assigned_to": "me"}).json()
        none = ada.get("/admin/support/tickets", params={"assigned_to": "none"}).json()
        assert [t["ticket_number"] for t in me["items"]] == [mine]
        assert [t["ticket_number"] for t in none["items"]] == [loose]


def _first_mail(sink: Sink, address: str) -> Any:
    return sink.wait_for(address)[0]


def test_merge_moves_thread_people_and_later_mail(daemon: Daemon, sink: Sink) -> None:
    add_user(daemon, "ada@example.com", admin=True, name="Ada Admin")
    daemon.send(make_mail("kim@example.org", "Login broken", "Cannot sign in.", message_id="<k1@client.example.org>"))
    daemon.send(make_mail("lou@example.org", "Cannot log in either", "Same here.",
                          message_id="<l1@client.example.org>", headers={"Cc": "lou.boss@example.org"}))
    daemon.wait_processed(2)
    (target_id, target, *_), (source_id, source, *_) = daemon.tickets()
    lou_confirmation = wait_until(lambda: [m for m in sink.to("lou@example.org") if source in m.subject],
                                  what="confirmation to lou")[0]
    with login(daemon, "ada@example.com") as ada:
        assert "itself" in error(ada.post(f"/admin/support/tickets/{source}/merge", json={"into": source}), 409)
        r = ada.post(f"/admin/support/tickets/{source}/merge", json={"into": target})
        assert r.status_code == 200, r.text
        merged = r.json()
        assert merged["ticket_number"] == target
        assert [m["body"].strip() for m in merged["messages"]] == ["Cannot sign in.", "Same here."]
        assert set(merged["participants"]) == {"lou@example.org", "lou.boss@example.org"}
        assert merged["events"][-1]["kind"] == "merged_in" and merged["events"][-1]["new_value"] == source
        old = ada.get(f"/admin/support/tickets/{source}").json()
        assert (old["status"], old["merged_into"]) == ("closed", target)
        assert [e["kind"] for e in old["events"]][-2:] == ["merged", "status"]

        # Loops and closed targets are refused.
        assert "loop" in error(ada.post(f"/admin/support/tickets/{target}/merge", json={"into": source}), 409)
        third = new_ticket(ada, "Unrelated")["ticket_number"]
        assert "closed" in error(ada.post(f"/admin/support/tickets/{third}/merge", json={"into": source}), 409)
        assert error(ada.post(f"/admin/support/tickets/{target}/merge", json={"into": "SUP-99999"}), 422)

        # Later mail that threads to the merged ticket lands in the target: by In-Reply-To (our
        # confirmation), by the subject tag, and from a CC of the merged ticket.
        daemon.send(make_mail("lou@example.org", f"Re: {lou_confirmation.subject}", "Any news?",
                              in_reply_to=lou_confirmation.msg["Message-ID"]))
        daemon.wait_processed(3)
        daemon.send(make_mail("lou.boss@example.org", f"Re: [{source}] hello", "Me too, urgent."))
        daemon.wait_processed(4)
        daemon.send(make_mail("lou@example.org", "More details", "It started on Monday.",
                              to=f"support+{source}@example.com"), to=[f"support+{source}@example.com"])
        daemon.wait_processed(5)
        assert len(daemon.tickets()) == 3  # no new ticket for any of them
        bodies = [m["body"].strip() for m in ada.get(f"/admin/support/tickets/{target}").json()["messages"]]
        assert bodies[-3:] == ["Any news?", "Me too, urgent.", "It started on Monday."]
        assert daemon.sql("SELECT count(*) FROM ticket_messages WHERE ticket_id = :t", t=target_id)[0][0] == 4
        assert [r[0] for r in daemon.sql("SELECT matched_by FROM inbound_messages ORDER BY id")][2:] == [
            "in_reply_to", "subject", "plus_address"]

        # The merged requester now follows the target's public answers.
        sink.clear()
        assert ada.post(f"/admin/support/tickets/{target}/messages", json={"body": "Fixed it."}).status_code == 201
        for address in ("kim@example.org", "lou@example.org", "lou.boss@example.org"):
            assert target in sink.wait_for(address)[0].subject


def test_bulk_change_reports_each_ticket(daemon: Daemon) -> None:
    add_user(daemon, "ada@example.com", admin=True)
    with login(daemon, "ada@example.com") as ada, user_client(daemon, "kim@example.org") as kim:
        a, b, c = (new_ticket(kim, f"Ticket {i}") for i in range(3))
        assert ada.patch(f"/admin/support/tickets/{b['ticket_number']}",
                         json={"status": "resolved"}).status_code == 200
        ada.patch(f"/admin/support/tickets/{b['ticket_number']}", json={"status": "closed"})
        r = ada.post("/admin/support/tickets/bulk", json={
            "tickets": [a["ticket_number"], b["id"], c["ticket_number"], "SUP-99999"],
            "changes": {"status": "waiting_on_user", "priority": "high"},
        })
        assert r.status_code == 200, r.text
        results = r.json()["results"]
        assert results[0] == {"ticket": a["ticket_number"], "ok": True}
        assert results[1]["ticket"] == b["ticket_number"] and results[1]["ok"] is False
        assert results[1]["status_code"] == 409 and "allowed next statuses" in results[1]["detail"]
        assert results[2] == {"ticket": c["ticket_number"], "ok": True}
        assert results[3]["status_code"] == 404
        states = {t["ticket_number"]: (t["status"], t["priority"])
                  for t in ada.get("/admin/support/tickets").json()["items"]}
        assert states[a["ticket_number"]] == states[c["ticket_number"]] == ("waiting_on_user", "high")
        assert states[b["ticket_number"]] == ("closed", "medium")  # the refused ticket changed nothing
        assert "changes" in error(ada.post("/admin/support/tickets/bulk", json={"tickets": [1]}), 422)


def test_stale_version_is_a_409_naming_the_change(daemon: Daemon) -> None:
    add_user(daemon, "ada@example.com", admin=True, name="Ada Admin")
    add_user(daemon, "bob@example.com", admin=True, name="Bob")
    with login(daemon, "ada@example.com") as ada, login(daemon, "bob@example.com") as bob, \
            user_client(daemon, "kim@example.org") as kim:
        t = new_ticket(kim, "Collide")
        number, v1 = t["ticket_number"], t["version"]
        assert v1 == 1
        r = ada.patch(f"/admin/support/tickets/{number}", json={"status": "resolved", "priority": "high"},
                      headers={"If-Match": "1"})
        assert r.status_code == 200 and r.json()["version"] == 2  # one change, one version
        detail = error(bob.post(f"/admin/support/tickets/{number}/messages", json={"body": "Hi"},
                                headers={"If-Match": '"1"'}), 409)
        assert "changed since version 1" in detail and "Ada Admin set status to resolved" in detail
        assert "Ada Admin set priority to high" in detail
        assert "version 1" in error(bob.patch(f"/admin/support/tickets/{number}",
                                              json={"priority": "low", "version": 1}), 409)
        # The requester too: their reply from version 1 is refused, from version 2 accepted.
        assert "Ada Admin" in error(kim.post(f"/support/tickets/{number}/messages",
                                             json={"body": "thanks", "version": 1}), 409)
        assert kim.post(f"/support/tickets/{number}/messages", json={"body": "thanks", "version": 2}).status_code == 201
        assert "kim@example.org replied" in error(
            ada.patch(f"/admin/support/tickets/{number}", json={"priority": "low"}, headers={"If-Match": "2"}), 409)
        # Without a version there is no check; a current one passes; a bad one is 422.
        assert bob.patch(f"/admin/support/tickets/{number}", json={"priority": "low"}).status_code == 200
        now = bob.get(f"/admin/support/tickets/{number}").json()["version"]
        assert bob.post(f"/admin/support/tickets/{number}/messages", json={"body": "ok"},
                        headers={"If-Match": str(now)}).status_code == 201
        assert "If-Match" in error(bob.patch(f"/admin/support/tickets/{number}", json={},
                                             headers={"If-Match": "abc"}), 422)
        assert kim.get(f"/support/tickets/{number}").json()["version"] == now + 1


# --- the pages (plain HTTP, like a browser without JavaScript) ----------------------------------

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def test_notifications_page_header_count_and_mark_all_read(daemon: Daemon) -> None:
    from tests.integration.test_pages import Page, get_page, location, post_form, sign_in

    add_user(daemon, "kim@example.org")
    with sign_in(daemon, "ada@example.com", admin=True, name="Ada") as ada, login(daemon, "kim@example.org") as kim:
        assert "unread" not in get_page(ada, "/admin/support").text
        numbers = [new_ticket(kim, f"Help {i}")["ticket_number"] for i in range(2)]
        assert "Notifications 2 unread" in get_page(ada, "/admin/support").text
        assert "2 unread" in get_page(ada, f"/admin/support/{numbers[0]}").text

        r = ada.get("/admin/notifications", headers=HTML)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), r.text[:500]
        page = Page(r.text)
        page.check_accessible([])
        page.check_same_origin()
        assert f"New ticket {numbers[1]}" in page.text and f"New ticket {numbers[0]}" in page.text
        assert page.text.index(numbers[1]) < page.text.index(numbers[0])  # newest first
        ids = [n["id"] for n in ada.get("/admin/notifications").json()["items"]]  # the same path, as JSON
        assert len(ids) == 2
        assert f'href="/admin/support/{int(numbers[0][4:])}"' in r.text

        path, query = location(post_form(ada, page, "/admin/notifications/mark-read"))
        assert (path, query) == ("/admin/notifications", {"done": ["read"]})
        after = Page(ada.get("/admin/notifications?done=read", headers=HTML).text)
        assert "All notifications are marked read." in after.text and "0 unread" in after.text
        assert "unread" not in get_page(ada, "/admin/support").text.replace("0 unread", "")
        assert ada.get("/admin/notifications", params={"unread": "true"}).json()["items"] == []
        # Without the token nothing is marked; anonymous browsers are sent to sign in.
        assert ada.post("/admin/notifications/mark-read", data={}).status_code == 403
    with httpx.Client(base_url=daemon.base_url, follow_redirects=False) as nobody:
        r = nobody.get("/admin/notifications", headers=HTML)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
        assert error(nobody.get("/admin/notifications"), 401)


def test_queue_page_age_assignee_filter_and_bulk_form(daemon: Daemon) -> None:
    from tests.integration.test_pages import Page, get_page, sign_in

    ada_id = add_user(daemon, "ada@example.com", admin=True, name="Ada")
    add_user(daemon, "kim@example.org")
    with sign_in(daemon, "ada@example.com", admin=True, name="Ada") as ada, \
            login(daemon, "kim@example.org") as kim, login(daemon, "ada@example.com") as api:
        a, b, c = (new_ticket(kim, f"Ticket {i}")["ticket_number"] for i in range(3))
        # Make one of them 3 hours and another 2 days old.
        daemon.sql("UPDATE tickets SET created_at = created_at - INTERVAL '3 hours', sla_basis = NULL WHERE ticket_number = :n"
                   if daemon.db.name else
                   "UPDATE tickets SET created_at = datetime(created_at, '-3 hours'), sla_basis = NULL WHERE ticket_number = :n", n=a)
        daemon.sql("UPDATE tickets SET created_at = created_at - INTERVAL '50 hours', sla_basis = NULL WHERE ticket_number = :n"
                   if daemon.db.name else
                   "UPDATE tickets SET created_at = datetime(created_at, '-50 hours'), sla_basis = NULL WHERE ticket_number = :n", n=b)
        api.patch(f"/admin/support/tickets/{a}", json={"assigned_to": ada_id})
        api.patch(f"/admin/support/tickets/{b}", json={"status": "resolved"})
        api.patch(f"/admin/support/tickets/{b}", json={"status": "closed"})

        page = get_page(ada, "/admin/support?sort=created_at")
        page.check_accessible(["Assignee", "Move selected to", "Urgency for selected", "Hand selected to"])
        ages = {row[0]: row[8] for row in page.rows}
        assert ages == {b: "2 d", a: "3 h", c: "0 min"}, page.rows
        assert [r[0] for r in get_page(ada, "/admin/support?assignee=me").rows] == [a]
        assert [r[0] for r in get_page(ada, "/admin/support?assignee=none&sort=created_at").rows] == [b, c]

        # Bulk: a closed ticket cannot be put on hold; the other two are, and say so.
        token = page.csrf("/admin/support/bulk")
        r = ada.post("/admin/support/bulk", data={"csrf_token": token, "ticket": [a, b, c],
                                                  "bulk_status": "waiting_on_user", "bulk_priority": "high"})
        assert r.status_code == 409, r.text[:500]
        result = Page(r.text).text
        assert f"{a}: updated." in result and f"{c}: updated." in result
        assert f"{b}: not changed. Cannot change status from closed" in result
        states = {t["ticket_number"]: (t["status"], t["priority"]) for t in api.get("/admin/support/tickets").json()["items"]}
        assert states == {a: ("waiting_on_user", "high"), b: ("closed", "medium"), c: ("waiting_on_user", "high")}
        r = ada.post("/admin/support/bulk", data={"csrf_token": token, "ticket": [c], "bulk_assigned_to": "me"})
        assert r.status_code == 200 and f"{c}: updated." in Page(r.text).text
        assert api.get(f"/admin/support/tickets/{c}").json()["assigned_to"] == ada_id
        r = ada.post("/admin/support/bulk", data={"csrf_token": token, "bulk_status": "resolved"})
        assert r.status_code == 422 and "Select at least one ticket first." in r.text
        assert ada.post("/admin/support/bulk", data={"ticket": [c], "bulk_status": "resolved"}).status_code == 403


def test_merge_form_and_collision_on_the_ticket_page(daemon: Daemon) -> None:
    from tests.integration.test_pages import Page, get_page, location, sign_in

    add_user(daemon, "kim@example.org")
    with sign_in(daemon, "ada@example.com", admin=True, name="Ada") as ada, login(daemon, "kim@example.org") as kim, \
            login(daemon, "ada@example.com") as api:
        target = new_ticket(kim, "Original", "First words.")["ticket_number"]
        source = new_ticket(kim, "Duplicate", "Second words.")["ticket_number"]
        page = get_page(ada, f"/admin/support/{source}")
        page.check_accessible(["Merge into", "Message"])
        versions = [f["value"] for f in page.form(f"/admin/support/{source}/reply")["fields"] if f.get("name") == "version"]
        assert versions == ["1"]

        token = page.csrf(f"/admin/support/{source}/merge")
        r = ada.post(f"/admin/support/{source}/merge", data={"csrf_token": token, "into": source})
        assert r.status_code == 409 and "into itself" in Page(r.text).text
        r = ada.post(f"/admin/support/{source}/merge", data={"csrf_token": token, "into": "nonsense"})
        assert r.status_code == 422 and "Enter a ticket number" in r.text
        path, _ = location(ada.post(f"/admin/support/{source}/merge", data={"csrf_token": token, "into": target}))
        assert path == f"/admin/support/{target}"
        shown = get_page(ada, f"/admin/support/{target}?done=merged").text
        assert "The ticket has been merged into this one." in shown and f"merged {source} into it" in shown
        assert shown.index("First words.") < shown.index("Second words.")
        assert f"This ticket was merged into {target}" in get_page(ada, f"/admin/support/{source}").text

        # A collision: the page was opened at one version, the requester replied meanwhile.
        page = get_page(ada, f"/admin/support/{target}")
        (seen,) = [f["value"] for f in page.form(f"/admin/support/{target}/reply")["fields"] if f.get("name") == "version"]
        assert kim.post(f"/support/tickets/{target}/messages", json={"body": "Any news?"}).status_code == 201
        r = ada.post(f"/admin/support/{target}/reply", data={
            "csrf_token": page.csrf(f"/admin/support/{target}/reply"), "version": seen, "body": "My careful answer"})
        assert r.status_code == 409
        again = Page(r.text)
        assert f"changed since version {seen}" in again.text and "kim@example.org replied" in again.text
        assert ">My careful answer</textarea>" in r.text
        (newer,) = [f["value"] for f in again.form(f"/admin/support/{target}/reply")["fields"] if f.get("name") == "version"]
        assert int(newer) > int(seen)
        assert [m["body"] for m in api.get(f"/admin/support/tickets/{target}").json()["messages"]][-1] == "Any news?"
        r = ada.post(f"/admin/support/{target}/reply", data={
            "csrf_token": again.csrf(f"/admin/support/{target}/reply"), "version": newer, "body": "My careful answer"})
        assert location(r)[0] == f"/admin/support/{target}"
