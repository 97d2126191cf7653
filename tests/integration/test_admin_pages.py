"""The admin pages for inbound mail, suppressed addresses and users (README, "Pages"), used
the way a browser does: a signed-in admin's cookie, forms with their CSRF tokens, real mail in
over SMTP and out to the sink."""

from __future__ import annotations

import re

import httpx

from tests.conftest import Daemon, Sink, make_mail, wait_until
from tests.integration.api_helpers import PASSWORD, add_user
from tests.integration.test_bounces import bounce, postfix_dsn
from tests.integration.test_loops import open_ticket, send_raw, wait_inbound
from tests.integration.test_pages import browser, get_page, location, post_form, sign_in

# What a browser sends when it navigates: /admin/users is one path for the page and the JSON list.
NAVIGATE = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

AUTO_REPLY = b"\r\n".join([
    b"From: Away <away@example.org>",
    b"To: support@example.com",
    b"Subject: Out of office: back on Monday",
    b"Message-ID: <away-1@example.org>",
    b"Auto-Submitted: auto-replied",
    b"",
    b"I am away until Monday.",
    b"",
])


def test_inbound_page_filters_shows_reasons_downloads_and_reprocesses(daemon: Daemon, sink: Sink) -> None:
    number, _confirmation = open_ticket(daemon, sink, "ana@example.org", "Printer on fire")
    ignored_id = send_raw(daemon, AUTO_REPLY, mail_from="away@example.org")
    status, reason, _c, _t = wait_inbound(daemon, ignored_id)
    assert status == "ignored" and reason
    (processed_id,) = daemon.sql("SELECT id FROM inbound_messages WHERE status = 'processed'")[0]

    with sign_in(daemon, "boss@example.com", admin=True) as admin:
        page = get_page(admin, "/admin/inbound")
        page.check_accessible(["Status"])
        text = page.text
        # Newest first, each with its status, reason and ticket.
        assert text.index("Out of office: back on Monday") < text.index("Printer on fire")
        assert "Ignored" in text and reason in text and number in text
        assert f"/admin/support/inbound/{ignored_id}/raw" in page.urls
        # Only failed / ignored messages offer the reprocess form.
        actions = {f["action"] for f in page.forms}
        assert f"/admin/inbound/{ignored_id}/reprocess" in actions
        assert f"/admin/inbound/{processed_id}/reprocess" not in actions

        # The filter.
        only_ignored = get_page(admin, "/admin/inbound?status=ignored").text
        assert "Out of office" in only_ignored and "Printer on fire" not in only_ignored
        assert "1 message ignored" in only_ignored
        assert "Unknown status" in get_page(admin, "/admin/inbound?status=bogus").text

        # The original, byte for byte, as a download.
        raw = admin.get(f"/admin/support/inbound/{ignored_id}/raw")
        assert raw.status_code == 200 and raw.content.replace(b"\r\n", b"\n") == AUTO_REPLY.replace(b"\r\n", b"\n")
        assert raw.headers["content-disposition"].startswith("attachment")

        # Reprocess: back to the pipeline, which looks at it again.
        attempts_before = daemon.sql("SELECT attempts FROM inbound_messages WHERE id = :i", i=ignored_id)[0][0]
        r = post_form(admin, page, f"/admin/inbound/{ignored_id}/reprocess")
        path, query = location(r)
        assert path == "/admin/inbound" and query["done"] == ["requeued"]
        assert f"Message {ignored_id} is queued to be processed again." in get_page(admin, r.headers["location"]).text
        wait_until(lambda: daemon.sql(
            "SELECT status, attempts FROM inbound_messages WHERE id = :i", i=ignored_id
        )[0] == ("ignored", attempts_before + 1), 20, what="the message processed again")

        # A processed message is refused (409) with the reason on the page; nothing changes.
        r = admin.post(f"/admin/inbound/{processed_id}/reprocess", data={"csrf_token": page.session_csrf()})
        assert r.status_code == 409 and "only failed or ignored messages can be reprocessed" in r.text
        assert daemon.sql("SELECT status FROM inbound_messages WHERE id = :i", i=processed_id) == [("processed",)]
        # Without the CSRF token: refused.
        assert admin.post(f"/admin/inbound/{ignored_id}/reprocess", data={}).status_code == 403


def test_suppressed_page_lists_and_clears_an_address(daemon: Daemon, sink: Sink) -> None:
    requester = "nobody@example.net"
    _number, confirmation = open_ticket(daemon, sink, requester, "Where is my parcel?")
    status, _reason, _c, _t = bounce(daemon, postfix_dsn(confirmation), confirmation.mail_from)
    assert status == "ignored"

    with sign_in(daemon, "boss@example.com", admin=True) as admin:
        page = get_page(admin, "/admin/suppressed")
        page.check_accessible([])
        assert requester in page.text and "5.1.1" in page.text
        r = post_form(admin, page, "/admin/suppressed/clear", email=requester)
        path, query = location(r)
        assert path == "/admin/suppressed" and query["cleared"] == [requester]
        after = get_page(admin, r.headers["location"]).text
        assert f"{requester} will be mailed again." in after and "No addresses are suppressed." in after
        # Clearing again: nothing to clear, said so.
        r = admin.post("/admin/suppressed/clear", data={"csrf_token": page.session_csrf(), "email": requester})
        assert r.status_code == 404 and "is not suppressed" in r.text

    # Mail to the address flows again.
    daemon.send(make_mail(requester, "Second try", "Hello?"))
    sink.wait_for(requester, 2)


def _link_in(sink: Sink, address: str, count: int) -> str:
    mails = wait_until(lambda: [m for m in sink.to(address) if "/auth/magic/" in m.text()][count - 1:] or None,
                       what=f"sign-in link {count} to {address}")
    match = re.search(r"http://\S+/auth/magic/\S+", mails[-1].text())
    assert match
    return match.group(0)


def _password_login(daemon: Daemon, email: str) -> int:
    return httpx.post(f"{daemon.base_url}/auth/login", json={"email": email, "password": PASSWORD}, timeout=15).status_code


def test_users_page_adds_an_admin_sends_links_and_disables(daemon: Daemon, sink: Sink) -> None:
    requester_id = add_user(daemon, "rita@example.org", name="Rita")
    with sign_in(daemon, "boss@example.com", admin=True, name="Boss") as admin:
        admin.headers["accept"] = NAVIGATE
        page = get_page(admin, "/admin/users")
        page.check_accessible(["Role", "Email", "Name"])
        assert "rita@example.org" in page.text and "boss@example.com" in page.text
        admins_only = get_page(admin, "/admin/users?role=admin").text
        assert "boss@example.com" in admins_only and "rita@example.org" not in admins_only

        # Add an admin: no password, a sign-in link by mail that signs them in as an admin.
        bad = post_form(admin, page, "/admin/users/add", email="not-an-address", name="X")
        assert bad.status_code == 422 and "Enter an email address" in bad.text
        r = post_form(admin, page, "/admin/users/add", email="New.Agent@Example.com", name="New Agent")
        path, query = location(r)
        assert path == "/admin/users" and query["done"] == ["added"]
        assert daemon.sql("SELECT role, is_active, password_hash FROM users WHERE email = 'new.agent@example.com'") \
            in ([("admin", 1, None)], [("admin", True, None)])
        with browser(daemon) as newcomer:
            used = newcomer.get(_link_in(sink, "new.agent@example.com", 1))
            assert used.status_code == 303
            assert get_page(newcomer, "/admin/support").text.count("Support queue")

        # Send a sign-in link to an existing user.
        r = post_form(admin, page, f"/admin/users/{requester_id}/sign-in-link")
        assert location(r)[1]["done"] == ["link"]
        rita_link = _link_in(sink, "rita@example.org", 1)

        # Rita signed in elsewhere; disabling her ends that session and refuses both ways back in.
        rita = httpx.Client(base_url=daemon.base_url, timeout=15)
        assert rita.post("/auth/login", json={"email": "rita@example.org", "password": PASSWORD}).status_code == 200
        assert rita.get("/support/tickets").status_code == 200
        r = post_form(admin, page, f"/admin/users/{requester_id}/disable")
        assert location(r)[1]["done"] == ["disabled"]
        assert "Disabled" in get_page(admin, "/admin/users").text
        wait_until(lambda: rita.get("/support/tickets").status_code == 401, 20, what="Rita's session ended")
        assert _password_login(daemon, "rita@example.org") == 401
        assert httpx.get(rita_link, timeout=15, follow_redirects=False).status_code != 303
        refused = post_form(admin, page, f"/admin/users/{requester_id}/sign-in-link")
        assert refused.status_code == 409 and "is disabled" in refused.text

        # An admin cannot disable themselves; enabling Rita lets her sign in again.
        (boss_id,) = daemon.sql("SELECT id FROM users WHERE email = 'boss@example.com'")[0]
        assert f"/admin/users/{boss_id}/disable" not in {f["action"] for f in page.forms}
        own = admin.post(f"/admin/users/{boss_id}/disable", data={"csrf_token": page.session_csrf()})
        assert own.status_code == 409 and "cannot disable your own account" in own.text
        listing = get_page(admin, "/admin/users")
        assert location(post_form(admin, listing, f"/admin/users/{requester_id}/enable"))[1]["done"] == ["enabled"]
        assert _password_login(daemon, "rita@example.org") == 200
        rita.close()


def test_new_admin_pages_are_for_admins_only(daemon: Daemon) -> None:
    with browser(daemon) as anonymous:
        anonymous.headers["accept"] = NAVIGATE
        for path in ("/admin/inbound", "/admin/users", "/admin/suppressed"):
            r = anonymous.get(path)
            assert r.status_code == 303 and r.headers["location"].startswith("/login"), (path, r.status_code)
    with sign_in(daemon, "rita@example.org") as requester:
        requester.headers["accept"] = NAVIGATE
        for path in ("/admin/inbound", "/admin/users", "/admin/suppressed"):
            get_page(requester, path, status=403)
        page = get_page(requester, "/help/tickets")
        assert "/admin/users" not in page.urls
        r = requester.post("/admin/users/add", data={"csrf_token": page.session_csrf(), "email": "x@example.org"})
        assert r.status_code == 403
    assert daemon.sql("SELECT count(*) FROM users WHERE email = 'x@example.org'") == [(0,)]
