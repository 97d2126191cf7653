"""The queue's list statements are built once per shape of filter and reused with other values
(tickets/queries.py _list_page, issue 14): each request still gets its own values' answer.

Same shapes, different values, one after the other on one daemon: single and several statuses,
priorities, categories, an assignee, a requester's own list, and a page past the end (whose
total is counted on its own)."""

from __future__ import annotations

from tests.conftest import Daemon
from tests.integration.api_helpers import add_user, login, new_ticket, user_client


def _numbers(page: dict) -> list[str]:
    return [t["ticket_number"] for t in page["items"]]


def test_one_shape_of_filter_answers_each_request_with_its_own_values(daemon: Daemon) -> None:
    lead_id = add_user(daemon, "lead@example.com", admin=True)
    add_user(daemon, "other@example.com", admin=True)
    with user_client(daemon, "kim@example.org") as kim, user_client(daemon, "ola@example.org") as ola, \
            login(daemon, "lead@example.com") as admin:
        a = new_ticket(kim, "Card declined", category="payments")["ticket_number"]
        b = new_ticket(ola, "Selling a bike", category="selling")["ticket_number"]
        c = new_ticket(kim, "Account locked", category="account")["ticket_number"]
        assert admin.patch(f"/admin/support/tickets/{c}", json={"status": "in_progress", "priority": "urgent",
                                                                  "assigned_to": lead_id}).status_code == 200
        assert admin.patch(f"/admin/support/tickets/{b}", json={"status": "waiting_on_user"}).status_code == 200

        def queue(**params: object) -> dict:
            r = admin.get("/admin/support/tickets", params=params)
            assert r.status_code == 200, r.text
            return r.json()  # type: ignore[no-any-return]

        for _ in range(2):  # the second round runs on the statements the first one built
            assert _numbers(queue(status="open")) == [a]
            assert _numbers(queue(status="in_progress")) == [c]
            assert _numbers(queue(status="open,in_progress")) == [c, a]
            assert _numbers(queue(status="waiting_on_user,in_progress")) == [c, b]
            assert _numbers(queue(category="payments")) == [a]
            assert _numbers(queue(category="selling,account")) == [c, b]
            assert _numbers(queue(priority="urgent")) == [c]
            assert _numbers(queue(priority="medium,low")) == [b, a]
            assert _numbers(queue(assigned_to=str(lead_id))) == [c]
            assert _numbers(queue(assigned_to="me")) == [c]
            assert _numbers(queue(assigned_to="none", sort="created_at")) == [a, b]
            assert (queue(page_size=2, page=2)["total"], _numbers(queue(page_size=2, page=2))) == (3, [a])
            past = queue(status="open,in_progress", page_size=2, page=3)
            assert (past["items"], past["total"], past["page"]) == ([], 2, 3)
            assert kim.get("/support/tickets").json()["total"] == 2
            assert _numbers(kim.get("/support/tickets").json()) == [c, a]
            assert _numbers(ola.get("/support/tickets").json()) == [b]
            assert ola.get("/support/tickets", params={"page": 2}).json() == {
                "items": [], "total": 1, "page": 2, "page_size": 20}
