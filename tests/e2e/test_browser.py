"""People using the pages in a real Chromium (JavaScript off): a requester writes in through the
contact form, signs in with an emailed link and replies; an admin signs in with a password,
works the queue and answers. Screenshots of the queue and a ticket land in the test's tmp dir."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

import httpx
from playwright.sync_api import expect

from tests.conftest import Daemon, Sink, wait_until
from tests.e2e.conftest import Visit, off_loop
from tests.integration.api_helpers import PASSWORD, add_user


def _link_in(sink: Sink, address: str) -> str:
    """The sign-in link from the latest sign-in email to address."""
    mails = wait_until(lambda: [m for m in sink.to(address) if "/auth/magic/" in m.text()], what=f"a link to {address}")
    match = re.search(r"http://\S+/auth/magic/\S+", mails[-1].text())
    assert match, mails[-1].text()
    return match.group(0)


def test_requester_contact_form_sign_in_link_and_reply(
    daemon: Daemon, sink: Sink, visit: Callable[[], Visit], tmp_path: Path
) -> None:
    v = visit()
    page = v.page

    # The contact form: a mistake is shown next to its field, with what was typed kept.
    v.go("/help/contact")
    page.get_by_label("Email").fill("nina@example.org")
    page.get_by_label("Name").fill("Nina")
    page.get_by_label("Subject").fill("Cannot withdraw my balance")
    page.get_by_label("Description").fill("The withdraw button is greyed out since Monday.")
    page.get_by_role("button", name="Send request").click()  # no category chosen: the browser's own check
    assert "/help/contact" in page.url and not page.get_by_text("has been received").count()
    page.get_by_label("Category").select_option(label="Payments")
    page.get_by_role("button", name="Send request").click()

    heading = page.get_by_role("heading", name=re.compile(r"Your request SUP-\d+ has been received"))
    number = re.search(r"SUP-\d+", heading.inner_text()).group(0)  # type: ignore[union-attr]
    (confirmation,) = sink.wait_for("nina@example.org")
    assert f"Your support request {number} has been received" in confirmation.subject

    # Sign in with an emailed link.
    v.go("/login")
    link_form = page.locator("form[action='/login/link']")
    link_form.get_by_label("Email").fill("nina@example.org")
    link_form.get_by_role("button", name="Send me a sign-in link").click()
    expect(page.get_by_text("If the address is known, a link is on its way.")).to_be_visible()
    v.go(_link_in(sink, "nina@example.org"))
    expect(page).to_have_url(f"{daemon.base_url}/help/tickets")
    expect(page.get_by_role("heading", name="My support requests")).to_be_visible()

    # Open the ticket from the list and reply.
    page.get_by_role("link", name=number).click()
    expect(page).to_have_url(re.compile(re.escape(f"/help/tickets/{number}") + "$"))
    expect(page.get_by_text("The withdraw button is greyed out since Monday.")).to_be_visible()
    expect(page.get_by_text("Open", exact=True)).to_be_visible()
    page.get_by_label("Your reply").fill("It also happens in the app.")
    page.get_by_role("button", name="Send reply").click()
    expect(page.get_by_text("Your reply has been added.")).to_be_visible()
    expect(page.get_by_text("It also happens in the app.")).to_be_visible()
    page.screenshot(path=str(tmp_path / "requester-ticket.png"), full_page=True)

    rows = off_loop(daemon.sql, "SELECT body, sender_role FROM ticket_messages ORDER BY id")
    assert rows[-1] == ("It also happens in the app.", "user")
    assert v.foreign_requests() == []


def _api_ticket(daemon: Daemon, subject: str, description: str, email: str, category: str = "other") -> dict[str, Any]:
    r = httpx.post(f"{daemon.base_url}/support/tickets", timeout=15,
                   json={"subject": subject, "description": description, "user_email": email, "category": category})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def test_admin_works_the_queue(daemon: Daemon, sink: Sink, visit: Callable[[], Visit], tmp_path: Path) -> None:
    off_loop(add_user, daemon, "olga@example.com", admin=True, name="Olga Agent")
    off_loop(add_user, daemon, "piet@example.com", admin=True, name="Piet Agent")
    subjects = [
        ("Where is my order?", "Ordered last week, nothing yet.", "buying"),
        ("Refund for a broken lamp", "It arrived in pieces.", "payments"),
        ("Account locked", "Too many attempts, now locked.", "account"),
        ("Payout for the kangaroo figurine", "The buyer paid but my payout is missing.", "selling"),
        ("App crashes on start", "Android 14, version 3.2.", "bug"),
    ]
    tickets = [_api_ticket(daemon, s, d, f"user{i}@example.org", c) for i, (s, d, c) in enumerate(subjects)]
    token = httpx.post(f"{daemon.base_url}/auth/login", json={"email": "olga@example.com", "password": PASSWORD}).json()["token"]
    r = httpx.patch(f"{daemon.base_url}/admin/support/tickets/{tickets[2]['id']}", json={"status": "in_progress",
                    "priority": "high"}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    kangaroo = tickets[3]
    number = kangaroo["ticket_number"]

    v = visit()
    page = v.page
    v.go("/admin/support")  # not signed in: to the sign-in page, and back afterwards
    assert page.url.startswith(f"{daemon.base_url}/login?next=")
    form = page.locator("form[action='/login']")
    form.get_by_label("Email").fill("olga@example.com")
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{daemon.base_url}/admin/support")

    # A click waits for the next page to begin, not to be parsed: expect() waits for the rows.
    queue = page.locator("table.queue tbody tr")
    expect(queue).to_have_count(5)
    headers = page.locator("table.queue thead th").all_inner_texts()
    assert headers == ["Number", "Subject", "Requester", "Status", "Priority", "Category", "Assignee", "Escalated", "Age", "Due",
                       "Updated", "Select"]
    page.screenshot(path=str(tmp_path / "queue.png"), full_page=True)

    # Filter by status, then search by a word.
    page.get_by_label("Status").select_option(label="Open")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"status=open"))
    expect(queue).to_have_count(4)
    assert set(queue.locator("td:nth-child(4)").all_inner_texts()) == {"Open"}
    page.get_by_label("Search").fill("kangaroo")
    page.get_by_role("button", name="Filter").click()
    expect(queue).to_have_count(1)
    assert queue.first.locator("td").first.inner_text() == number
    assert page.get_by_label("Status").input_value() == "open"  # the filters stay chosen

    # Open the ticket; post an internal note, then a public reply.
    page.get_by_role("link", name=number).click()
    expect(page).to_have_url(re.compile(re.escape(f"/admin/support/{number}") + "$"))
    page.get_by_label("Message").fill("Buyer's payment cleared on the 3rd; check the payout batch.")
    page.get_by_label("Internal note").check()
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_text("Your internal note has been added.")).to_be_visible()
    note = page.locator("article.message.internal")
    expect(note).to_have_count(1)
    assert "internal note" in note.inner_text().lower() and "payout batch" in note.inner_text()

    page.get_by_label("Message").fill("Your payout was delayed by a bank holiday; it is on its way now.")
    assert not page.get_by_label("Internal note").is_checked()
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_text("Your reply has been sent to the requester.")).to_be_visible()

    # Change status, priority, assignee and resolution notes in one go.
    page.get_by_label("Status").select_option(label="Resolved")
    page.get_by_label("Priority").select_option(label="High")
    page.get_by_label("Assignee").select_option(label="Piet Agent (piet@example.com)")
    page.get_by_label("Resolution notes").fill("Payout re-sent after the bank holiday.")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("The ticket has been updated.")).to_be_visible()
    facts = page.locator("dl.facts").inner_text()
    assert "Resolved" in facts and "High" in facts and "Piet Agent" in facts
    timeline = page.locator("ol.timeline").inner_text()
    assert "changed the status from In progress to Resolved" in timeline
    assert "added an internal note" in timeline
    page.screenshot(path=str(tmp_path / "ticket.png"), full_page=True)

    # The requester got the public reply by email, never the note.
    updates = [m for m in sink.wait_for("user3@example.org", 2) if "has been updated" in m.subject]
    assert len(updates) == 1 and number in updates[0].subject
    assert "bank holiday" in updates[0].text() and "payout batch" not in updates[0].text()
    row = off_loop(daemon.sql, "SELECT status, priority, resolution_notes FROM tickets WHERE id = :i", i=kangaroo["id"])
    assert row == [("resolved", "high", "Payout re-sent after the bank holiday.")]
    assert v.foreign_requests() == []

    # The requester confirms from their own page (signed in with a link).
    requester = visit()
    requester.go("/login")
    form = requester.page.locator("form[action='/login/link']")
    form.get_by_label("Email").fill("user3@example.org")
    form.get_by_role("button", name="Send me a sign-in link").click()
    requester.go(_link_in(sink, "user3@example.org"))
    requester.page.get_by_role("link", name=number).click()
    expect(requester.page.get_by_text("Payout re-sent after the bank holiday.")).to_be_visible()
    assert not requester.page.get_by_text("payout batch").count()
    requester.page.get_by_role("button", name="Confirm resolved and close").click()
    expect(requester.page.get_by_text("This request is now closed.")).to_be_visible()
    assert off_loop(daemon.sql, "SELECT status FROM tickets WHERE id = :i", i=kangaroo["id"]) == [("closed",)]
