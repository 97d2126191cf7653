"""Two agents in two Chromium windows (JavaScript off) answer the same ticket: the second one
is told what changed meanwhile, and keeps the text they wrote (README, "Pages")."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import httpx
from playwright.sync_api import expect

from tests.conftest import Daemon, Sink
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


def test_second_agent_gets_the_collision_with_their_text_kept(
    daemon: Daemon, sink: Sink, visit: Callable[[], Visit], tmp_path: Path
) -> None:
    off_loop(add_user, daemon, "ada@example.com", admin=True, name="Ada Agent")
    off_loop(add_user, daemon, "ben@example.com", admin=True, name="Ben Agent")
    r = httpx.post(f"{daemon.base_url}/support/tickets", timeout=15, json={
        "subject": "Parcel never arrived", "description": "Tracking stopped a week ago.", "user_email": "kim@example.org"})
    number = r.json()["ticket_number"]

    ada, ben = _sign_in(visit(), "ada@example.com"), _sign_in(visit(), "ben@example.com")
    for page in (ada, ben):  # both open the ticket before anyone answers
        page.goto(f"{daemon.base_url}/admin/support/{number}")
        expect(page.get_by_role("heading", name=f"{number} Parcel never arrived")).to_be_visible()

    ada.get_by_label("Message").fill("We have asked the carrier; you will hear from us tomorrow.")
    ada.get_by_role("button", name="Send").click()
    expect(ada.get_by_text("Your reply has been sent to the requester.")).to_be_visible()

    ben_text = "I refunded the parcel just now."
    ben.get_by_label("Message").fill(ben_text)
    ben.get_by_role("button", name="Send").click()
    alert = ben.locator("#collision")
    expect(alert).to_be_visible()
    said = alert.inner_text()
    assert "changed since version 1" in said and "Ada Agent replied" in said and "Ada Agent set status to in_progress" in said
    assert ben.get_by_label("Message").input_value() == ben_text  # nothing lost
    expect(ben.get_by_text("We have asked the carrier")).to_be_visible()  # the page shows what Ada sent
    ben.screenshot(path=str(tmp_path / "collision.png"), full_page=True)

    # Having seen it, Ben sends again from the refreshed form: it goes through.
    ben.get_by_role("button", name="Send").click()
    expect(ben.get_by_text("Your reply has been sent to the requester.")).to_be_visible()
    bodies = [m.text() for m in sink.wait_for("kim@example.org", count=3)]
    assert any(ben_text in b for b in bodies) and any("asked the carrier" in b for b in bodies)
