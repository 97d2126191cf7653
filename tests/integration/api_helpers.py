"""Helpers for the API tests: accounts on a running daemon, signed-in httpx clients."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from maildesk.config import load_settings
from maildesk.tickets.users import set_user
from tests.conftest import Daemon

PASSWORD = "correct horse battery staple"


def add_user(daemon: Daemon, email: str, *, admin: bool = False, name: str = "", password: str = PASSWORD) -> int:
    """Create (or update) an account in the daemon's database; returns its id."""
    asyncio.run(set_user(load_settings(daemon.env), email, admin=admin, name=name, password=password))
    return int(daemon.sql("SELECT id FROM users WHERE email = :e", e=email.lower())[0][0])


def anon(daemon: Daemon) -> httpx.Client:
    return httpx.Client(base_url=daemon.base_url, timeout=15)


def login(daemon: Daemon, email: str, password: str = PASSWORD) -> httpx.Client:
    """A client that sends the bearer token from POST /auth/login (and no cookie)."""
    with anon(daemon) as client:
        r = client.post("/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    return httpx.Client(base_url=daemon.base_url, timeout=15,
                        headers={"Authorization": f"Bearer {r.json()['token']}"})


def user_client(daemon: Daemon, email: str, *, admin: bool = False) -> httpx.Client:
    add_user(daemon, email, admin=admin)
    return login(daemon, email)


def new_ticket(client: httpx.Client, subject: str, description: str = "Details.", **extra: Any) -> dict[str, Any]:
    r = client.post("/support/tickets", json={"subject": subject, "description": description, **extra})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def error(r: httpx.Response, status: int) -> str:
    """Assert the standard error body and return its detail."""
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"status_code", "detail"} and body["status_code"] == status, body
    return str(body["detail"])
