"""Hostile web clients: cross-site writes with the session cookie, forged X-Forwarded-For,
and password guessing aimed at locking someone else out (issue 11, items 6 and 7)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from http.cookies import SimpleCookie

import httpx

from tests.conftest import Daemon, Sink
from tests.integration.api_helpers import PASSWORD, add_user, anon, error, new_ticket
from tests.integration.test_pages import get_page

EVIL = "http://evil.example"


def _link(sink: Sink, address: str) -> str:
    """The sign-in link in the first mail to address."""
    match = re.search(r"http://\S+/auth/magic/\S+", sink.wait_for(address)[0].text())
    assert match, sink.to(address)
    return match.group(0)


def _sign_in(daemon: Daemon, email: str) -> str:
    """The session token from POST /auth/login (what the browser keeps as its cookie)."""
    with anon(daemon) as client:
        r = client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return str(SimpleCookie(r.headers["set-cookie"])["maildesk_session"].value)


def _cookie_client(daemon: Daemon, token: str) -> httpx.Client:
    return httpx.Client(base_url=daemon.base_url, timeout=15, cookies={"maildesk_session": token})


def _messages(daemon: Daemon, number: str) -> list[str]:
    rows = daemon.sql("SELECT m.body FROM ticket_messages m JOIN tickets t ON t.id = m.ticket_id "
                      "WHERE t.ticket_number = :n ORDER BY m.id", n=number)
    return [r[0] for r in rows]


def test_cross_site_writes_with_the_session_cookie_are_refused(daemon_factory) -> None:
    # BASE_URL names the public host; the test reaches the daemon at 127.0.0.1:port (its Host).
    daemon = daemon_factory(MAILDESK_BASE_URL="https://help.example.com")
    add_user(daemon, "root@example.com", admin=True)
    token = _sign_in(daemon, "root@example.com")
    with httpx.Client(base_url=daemon.base_url, timeout=15, headers={"Authorization": f"Bearer {token}"}) as bearer:
        number = new_ticket(bearer, "Cross-site target", user_email="req@example.org")["ticket_number"]
    path = f"/admin/support/tickets/{number}/messages"
    form_like = '{"body": "pwned", "is_internal": false}'
    before = _messages(daemon, number)

    with _cookie_client(daemon, token) as browser:
        # What an HTML form on evil.example can send: text/plain, cookie attached, Origin evil.
        r = browser.post(path, content=form_like, headers={"Origin": EVIL, "Content-Type": "text/plain"})
        assert "cross-site request refused" in error(r, 403)
        # Declaring JSON does not help a foreign origin, nor does a foreign Referer without Origin.
        r = browser.post(path, json={"body": "pwned", "is_internal": False}, headers={"Origin": EVIL})
        assert "cross-site" in error(r, 403)
        r = browser.post(path, json={"body": "pwned", "is_internal": False}, headers={"Referer": EVIL + "/x"})
        assert "cross-site" in error(r, 403)
        r = browser.post(path, json={"body": "pwned", "is_internal": False}, headers={"Origin": "null"})
        assert "cross-site" in error(r, 403)
        # A cookie with neither Origin nor Referer is refused too.
        r = browser.post(path, json={"body": "pwned", "is_internal": False})
        assert "no Origin or Referer" in error(r, 403)
        # Other write methods: PATCH and DELETE.
        r = browser.patch(f"/admin/support/tickets/{number}", json={"priority": "urgent"}, headers={"Origin": EVIL})
        assert "cross-site" in error(r, 403)
        r = browser.request("DELETE", "/admin/support/suppressed/someone@example.org", headers={"Origin": EVIL})
        assert "cross-site" in error(r, 403)
        assert _messages(daemon, number) == before
        assert daemon.sql("SELECT priority FROM tickets WHERE ticket_number = :n", n=number)[0][0] != "urgent"

        # Same origin (BASE_URL's, or the Host the request came to), but not JSON: 415.
        r = browser.post(path, content=form_like,
                         headers={"Origin": "https://help.example.com", "Content-Type": "text/plain"})
        assert "application/json" in error(r, 415)
        assert _messages(daemon, number) == before

        # Same origin and JSON: accepted, by Origin (BASE_URL or own Host) or by Referer alone.
        r = browser.post(path, json={"body": "From the site", "is_internal": False},
                         headers={"Origin": "https://help.example.com"})
        assert r.status_code == 201, r.text
        r = browser.post(path, json={"body": "Via own host", "is_internal": True},
                         headers={"Origin": daemon.base_url})
        assert r.status_code == 201, r.text
        r = browser.post(path, json={"body": "By referer", "is_internal": True},
                         headers={"Referer": f"{daemon.base_url}/admin/support/{number}"})
        assert r.status_code == 201, r.text
        r = browser.patch(f"/admin/support/tickets/{number}", json={"priority": "high"},
                          headers={"Origin": daemon.base_url})
        assert r.status_code == 200 and r.json()["priority"] == "high"

    # The bearer token needs no Origin (another site cannot make a browser send it).
    with httpx.Client(base_url=daemon.base_url, timeout=15, headers={"Authorization": f"Bearer {token}"}) as api:
        r = api.post(path, json={"body": "By token", "is_internal": False})
        assert r.status_code == 201, r.text
    assert _messages(daemon, number)[len(before):] == ["From the site", "Via own host", "By referer", "By token"]

    # Signing in and asking for a link without a cookie need no Origin.
    with anon(daemon) as client:
        assert client.post("/auth/login", json={"email": "root@example.com", "password": PASSWORD}).status_code == 200
        client.cookies.clear()
        assert client.post("/auth/magic-link", json={"email": "root@example.com"}).status_code == 202


def _login(daemon: Daemon, email: str, password: str, client_ip: str | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": client_ip} if client_ip else {}
    with anon(daemon) as client:
        return client.post("/auth/login", json={"email": email, "password": password}, headers=headers)


def test_forged_forwarded_for_does_not_reset_the_login_limit(daemon_factory) -> None:
    daemon = daemon_factory()  # MAILDESK_TRUSTED_PROXIES unset: X-Forwarded-For is nobody's word
    add_user(daemon, "ada@example.org")
    codes = [_login(daemon, "ada@example.org", "guess", f"198.51.100.{i}").status_code for i in range(1, 6)]
    assert codes == [401] * 5
    blocked = _login(daemon, "ada@example.org", "guess", "198.51.100.77")
    assert "too many" in error(blocked, 429) and int(blocked.headers["retry-after"]) >= 1


def test_guessing_slows_the_guesser_not_the_owner(daemon_factory, sink: Sink) -> None:
    daemon = daemon_factory(MAILDESK_TRUSTED_PROXIES="127.0.0.1")  # the test is the proxy
    add_user(daemon, "boss@example.com")
    attacker, owner = "203.0.113.66", "198.51.100.20"

    # Five free guesses, then a growing delay for this address from this client: 1 s, 2 s, 4 s.
    guess = {"email": "boss@example.com", "password": "guess"}
    with httpx.Client(base_url=daemon.base_url, timeout=15, headers={"X-Forwarded-For": attacker}) as bot:
        assert [bot.post("/auth/login", json=guess).status_code for _ in range(5)] == [401] * 5
        waits: list[int] = []
        failures = 5
        while len(waits) < 3:
            r = bot.post("/auth/login", json=guess)
            if r.status_code == 429:
                assert "too many" in error(r, 429)
                waits.append(int(r.headers["retry-after"]))
                time.sleep(waits[-1] + 0.2)
            else:
                assert r.status_code == 401, r.text
                failures += 1
                assert failures <= 10, waits
        assert bot.post("/auth/login", json=guess).status_code == 401  # the next delay starts
    assert waits[0] == 1 and waits[0] < waits[1] < waits[2], waits  # 1, 2, 4 on a machine not overloaded
    # Even the right password waits while the delay runs (the guesser cannot tell it was right).
    assert _login(daemon, "boss@example.com", PASSWORD, attacker).status_code == 429
    # The login page says the same, with Retry-After.
    with anon(daemon) as client:
        page = get_page(client, "/login")
        r = client.post("/login", headers={"X-Forwarded-For": attacker},
                        data={"csrf_token": page.csrf("/login"), "email": "boss@example.com", "password": "guess"})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1 and "Too many attempts" in r.text

    # The owner, from their own address, signs in with the password at once...
    assert _login(daemon, "boss@example.com", PASSWORD, owner).status_code == 200
    # ...and with an emailed link.
    with anon(daemon) as client:
        r = client.post("/auth/magic-link", json={"email": "boss@example.com"}, headers={"X-Forwarded-For": owner})
        assert r.status_code == 202
        link = _link(sink, "boss@example.com")
        r = client.get(link, follow_redirects=False)
        assert r.status_code == 303 and "maildesk_session" in r.headers["set-cookie"]

    # A looser cap per client IP across addresses: 30 guesses, then 429 for any address.
    sprayer = "192.0.2.99"
    codes = [_login(daemon, f"user{i}@example.org", "guess", sprayer).status_code for i in range(30)]
    assert codes == [401] * 30
    assert "too many" in error(_login(daemon, "boss@example.com", PASSWORD, sprayer), 429)
    assert _login(daemon, "boss@example.com", PASSWORD, owner).status_code == 200


def test_trusted_proxies_must_be_addresses(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILDESK_")}
    env.update(MAILDESK_TRUSTED_PROXIES="10.0.0.0/8, proxy.example", MAILDESK_DATA_DIR=str(tmp_path),
               MAILDESK_DATABASE_URL=f"sqlite:///{tmp_path / 'maildesk.db'}")
    result = subprocess.run([sys.executable, "-m", "maildesk", "serve"], env=env, capture_output=True, text=True,
                            timeout=60, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "MAILDESK_TRUSTED_PROXIES" in result.stderr and "proxy.example" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
