"""Signing in over HTTP against a real `maildesk serve`: passwords, tokens, cookies, emailed links."""

from __future__ import annotations

import re
from datetime import datetime
from http.cookies import SimpleCookie

from tests.conftest import Daemon, Sink
from tests.integration.api_helpers import PASSWORD, add_user, anon, error


def _link(sink: Sink, address: str, count: int = 1) -> str:
    mail = sink.wait_for(address, count)[count - 1]
    match = re.search(r"http://\S+/auth/magic/\S+", mail.text())
    assert match, mail.text()
    return match.group(0)


def test_login_bearer_cookie_and_logout(daemon: Daemon) -> None:
    add_user(daemon, "ada@example.org", name="Ada")
    with anon(daemon) as client:
        wrong = client.post("/auth/login", json={"email": "ada@example.org", "password": "nope"})
        unknown = client.post("/auth/login", json={"email": "nobody@example.org", "password": "nope"})
        assert wrong.json() == unknown.json() == {"status_code": 401, "detail": "wrong email or password"}
        assert error(client.get("/support/tickets"), 401)

        r = client.post("/auth/login", json={"email": "ADA@example.org", "password": PASSWORD})
        assert r.status_code == 200
        token, user = r.json()["token"], r.json()["user"]
        assert user == {"id": user["id"], "email": "ada@example.org", "name": "Ada", "role": "user"}
        cookie = SimpleCookie(r.headers["set-cookie"])["maildesk_session"]
        assert cookie.value == token
        assert cookie["httponly"] and cookie["samesite"].lower() == "lax" and not cookie["secure"]
        # Only a hash of the token is stored.
        assert daemon.sql("SELECT count(*) FROM auth_tokens WHERE token_hash = :t", t=token)[0][0] == 0

    with anon(daemon) as by_cookie:  # the cookie alone signs in
        by_cookie.cookies.set("maildesk_session", token)
        assert by_cookie.get("/support/tickets").status_code == 200

    with anon(daemon) as client:
        bearer = {"Authorization": f"Bearer {token}"}
        assert client.get("/support/tickets", headers=bearer).status_code == 200
        assert client.post("/auth/logout", headers=bearer).status_code == 204
        r = client.get("/support/tickets", headers=bearer)
        assert error(r, 401) and r.headers["www-authenticate"] == "Bearer"
    with anon(daemon) as by_cookie:
        by_cookie.cookies.set("maildesk_session", token)
        assert error(by_cookie.get("/support/tickets"), 401)


def test_magic_link_is_single_use_and_expires(daemon: Daemon, sink: Sink) -> None:
    add_user(daemon, "bea@example.org")
    with anon(daemon) as client:
        # Unknown addresses get the same answer, and nothing is sent.
        r = client.post("/auth/magic-link", json={"email": "stranger@example.org"})
        assert r.status_code == 202
        r = client.post("/auth/magic-link", json={"email": "Bea@Example.org"})
        assert r.status_code == 202

        link = _link(sink, "bea@example.org")
        assert link.startswith(daemon.base_url + "/auth/magic/")
        assert "Your sign-in link" in sink.to("bea@example.org")[0].subject
        assert sink.to("stranger@example.org") == []

        r = client.get(link, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/help/tickets"
        session_token = SimpleCookie(r.headers["set-cookie"])["maildesk_session"].value
        with anon(daemon) as browser:
            browser.cookies.set("maildesk_session", session_token)
            me = browser.get("/support/tickets")
            assert me.status_code == 200 and me.json()["total"] == 0

        # Used once: the second click is refused, with a clear message.
        again = client.get(link, follow_redirects=False)
        assert "already been used" in error(again, 410)
        page = client.get(link, headers={"Accept": "text/html"})
        assert page.status_code == 410 and "already been used" in page.text and "text/html" in page.headers["content-type"]

        # A link past its 30 minutes is refused.
        # (client now holds the session cookie: a cookie-carrying write must name its origin.)
        assert client.post("/auth/magic-link", json={"email": "bea@example.org"},
                           headers={"Origin": daemon.base_url}).status_code == 202
        second = _link(sink, "bea@example.org", 2)
        daemon.sql("UPDATE auth_tokens SET expires_at = :t WHERE kind = 'magic' AND used_at IS NULL",
                   t=datetime(2000, 1, 1))
        assert "expired" in error(client.get(second, follow_redirects=False), 410)
        assert error(client.get("/auth/magic/not-a-real-token", follow_redirects=False), 400)


def test_login_is_rate_limited_and_cookie_secure_on_https(daemon_factory) -> None:
    daemon = daemon_factory(MAILDESK_BASE_URL="https://help.example.com")
    add_user(daemon, "cy@example.org")
    with anon(daemon) as client:
        r = client.post("/auth/login", json={"email": "cy@example.org", "password": PASSWORD})
        assert r.status_code == 200 and SimpleCookie(r.headers["set-cookie"])["maildesk_session"]["secure"]
        for _ in range(5):  # then a growing delay for this address from this client
            assert client.post("/auth/login", json={"email": "cy@example.org", "password": "guess"}).status_code == 401
        blocked = client.post("/auth/login", json={"email": "cy@example.org", "password": PASSWORD})
        assert "too many" in error(blocked, 429) and int(blocked.headers["retry-after"]) > 0
        # Another address from the same client is still allowed (the per-IP limit is higher).
        add_user(daemon, "dee@example.org")
        assert client.post("/auth/login", json={"email": "dee@example.org", "password": PASSWORD}).status_code == 200
        # Asking for sign-in links is limited as well.
        codes = [client.post("/auth/magic-link", json={"email": "cy@example.org"}).status_code for _ in range(11)]
        assert codes[:10] == [202] * 10 and codes[10] == 429
