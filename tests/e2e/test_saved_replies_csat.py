"""Chromium with JavaScript off: an agent inserts a saved reply into the reply form (the page
comes back with the text filled in) and sends it; the requester follows the resolved email's
"Good" link, sees a confirm page (nothing recorded yet), and confirms with a comment."""

from __future__ import annotations

import re
from typing import Any, Callable

import httpx
from playwright.sync_api import expect

from tests.conftest import Daemon, Sink, wait_until
from tests.e2e.conftest import Visit, off_loop
from tests.integration.api_helpers import PASSWORD, add_user


def _sign_in(v: Visit, email: str) -> Any:
    page = v.page
    v.go("/login")
    form = page.locator("form[action='/login']")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Sign in").click()
    return page


def test_insert_saved_reply_and_confirm_satisfaction_without_javascript(
    daemon: Daemon, sink: Sink, visit: Callable[[], Visit]
) -> None:
    off_loop(add_user, daemon, "ada@example.com", admin=True, name="Ada Agent")
    r = httpx.post(f"{daemon.base_url}/support/tickets", timeout=15, json={
        "subject": "Parcel never arrived", "description": "Tracking stopped.", "user_email": "kim@example.org"})
    number = r.json()["ticket_number"]

    ada = _sign_in(visit(), "ada@example.com")
    ada.goto(f"{daemon.base_url}/admin/saved-replies")
    add = ada.locator("form[action='/admin/saved-replies/add']")
    add.get_by_label("Title").fill("Carrier asked")
    add.get_by_label("Body").fill("We asked the carrier about {{ ticket.number }}. {{ agent.name }}")
    add.get_by_role("button", name="Add").click()
    expect(ada.get_by_text("The saved reply has been added.")).to_be_visible()

    ada.goto(f"{daemon.base_url}/admin/support/{number}")
    ada.get_by_label("Saved reply").select_option(label="Carrier asked")
    ada.get_by_role("button", name="Insert").click()
    assert ada.get_by_label("Message").input_value() == f"We asked the carrier about {number}. Ada Agent"
    ada.get_by_role("button", name="Send").click()
    expect(ada.get_by_text("Your reply has been sent to the requester.")).to_be_visible()
    wait_until(lambda: any(f"carrier about {number}" in m.text() for m in sink.to("kim@example.org")), 30,
               what="the inserted reply, emailed")

    ada.get_by_label("Status").select_option("resolved")
    ada.get_by_role("button", name="Save changes").click()
    (mail,) = wait_until(lambda: [m for m in sink.to("kim@example.org") if "has been resolved" in m.subject], 30,
                         what="the resolved email")
    good = re.search(r"Good:\s+(\S+)", mail.text()).group(1)  # type: ignore[union-attr]

    kim = visit().page
    kim.goto(good)
    expect(kim.get_by_role("heading", name="How did we do?")).to_be_visible()
    sql = "SELECT satisfaction_rating FROM tickets WHERE ticket_number = :n"
    assert off_loop(daemon.sql, sql, n=number) == [(None,)]  # opening the link recorded nothing
    kim.get_by_label("Comment (optional)").fill("Fast and friendly")
    kim.get_by_role("button", name=re.compile("Confirm")).click()
    expect(kim.get_by_text("has been recorded")).to_be_visible()
    assert off_loop(daemon.sql, sql, n=number) == [("good",)]

    ada.goto(f"{daemon.base_url}/admin/support/{number}")
    assert "Fast and friendly" in ada.locator("#satisfaction").inner_text()
