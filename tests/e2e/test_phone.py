"""Every page fits a phone: in Chromium at 390x844 (JavaScript off) no page is wider than the
screen, so nothing scrolls sideways; wide tables become one card per row, each value introduced
by its column name. Screenshots of the queue and the inbound list land in the test's tmp dir."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.conftest import Daemon, Sink
from tests.e2e.conftest import off_loop
from tests.integration.api_helpers import PASSWORD, add_user
from tests.integration.test_admin_pages import AUTO_REPLY
from tests.integration.test_bounces import bounce, postfix_dsn
from tests.integration.test_loops import open_ticket, send_raw, wait_inbound

PHONE = {"width": 390, "height": 844}
LONG_SUBJECT = "Payout for the kangaroo figurine sold on Tuesday still missing from my account balance"


def _phone(browser: Any, daemon: Daemon, email: str | None) -> Any:
    """A phone-sized window, signed in through the /login form when email is given."""
    context = browser.new_context(java_script_enabled=False, viewport=PHONE, is_mobile=True, device_scale_factor=2)
    context.set_default_timeout(15_000)
    page = context.new_page()
    if email:
        page.goto(f"{daemon.base_url}/login")
        form = page.locator("form[action='/login']")
        form.get_by_label("Email").fill(email)
        form.get_by_label("Password").fill(PASSWORD)
        form.get_by_role("button", name="Sign in").click()
        assert "/login" not in page.url
    return context, page


def _width(page: Any) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))


def _fits(page: Any, daemon: Daemon, path: str, heading: str) -> None:
    response = page.goto(daemon.base_url + path)
    assert response.status == 200, (path, response.status)
    assert heading in page.get_by_role("heading", level=1).first.inner_text(), path
    assert _width(page) <= PHONE["width"], (path, _width(page))


def _data(daemon: Daemon, sink: Sink) -> list[str]:
    """Accounts, tickets with long subjects, inbound mail and a suppressed address (runs off the
    browser's event loop: these helpers use asyncio.run)."""
    add_user(daemon, "olga.longname-agent@example.com", admin=True, name="Olga Agent")
    add_user(daemon, "nina.requester@example.org", name="Nina")
    numbers = []
    for i in range(3):
        r = httpx.post(f"{daemon.base_url}/support/tickets", timeout=15, json={
            "subject": f"{LONG_SUBJECT} ({i})", "description": "The buyer paid but my payout is missing.",
            "user_email": "nina.requester@example.org", "category": "selling"})
        assert r.status_code == 201, r.text
        numbers.append(r.json()["ticket_number"])
    wait_inbound(daemon, send_raw(daemon, AUTO_REPLY, mail_from="away@example.org"))
    _n, confirmation = open_ticket(daemon, sink, "nobody.at.all@example.net", "Where is my parcel?")
    assert bounce(daemon, postfix_dsn(confirmation), confirmation.mail_from)[0] == "ignored"
    return numbers


def test_every_page_fits_a_phone(daemon: Daemon, sink: Sink, browser: Any, tmp_path: Path) -> None:
    numbers = off_loop(_data, daemon, sink)

    # Anonymous pages.
    context, page = _phone(browser, daemon, None)
    _fits(page, daemon, "/login", "Sign in")
    _fits(page, daemon, "/help/contact", "Contact support")
    context.close()

    # The requester's pages.
    context, page = _phone(browser, daemon, "nina.requester@example.org")
    _fits(page, daemon, "/help/tickets", "My support requests")
    _fits(page, daemon, f"/help/tickets/{numbers[0]}", LONG_SUBJECT[:20])
    context.close()

    # The support team's pages.
    context, page = _phone(browser, daemon, "olga.longname-agent@example.com")
    _fits(page, daemon, "/admin/support", "Support queue")
    # Readable, not just narrow: each row is a card whose cells say what they are.
    row = page.locator("table.queue tbody tr", has_text=LONG_SUBJECT[:20]).first
    assert row.bounding_box()["width"] <= PHONE["width"]
    subject_cell = row.locator("td[data-label='Subject']")
    assert subject_cell.is_visible() and LONG_SUBJECT[:20] in subject_cell.inner_text()
    assert page.locator("table.queue thead").bounding_box()["height"] <= 1  # column heads only for screen readers
    before = page.evaluate(
        "getComputedStyle(document.querySelector(\"table.queue td[data-label='Status']\"), '::before').content"
    )
    assert before == '"Status"'
    page.screenshot(path=str(tmp_path / "queue-390.png"), full_page=True)
    _fits(page, daemon, f"/admin/support/{numbers[0]}", LONG_SUBJECT[:20])
    _fits(page, daemon, "/admin/support/stats", "Support stats")
    _fits(page, daemon, "/admin/notifications", "Notifications")
    _fits(page, daemon, "/admin/inbound", "Inbound mail")
    page.screenshot(path=str(tmp_path / "inbound-390.png"), full_page=True)
    _fits(page, daemon, "/admin/suppressed", "Suppressed addresses")
    _fits(page, daemon, "/admin/users", "Users")
    context.close()
    print(f"screenshots in {tmp_path}")
