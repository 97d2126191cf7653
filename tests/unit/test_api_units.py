"""API pieces without a daemon: the app on a real SQLite database with no workers running,
the rate limiter, and the download header."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Iterator

import pytest
from litestar.testing import TestClient

from maildesk.config import Settings
from maildesk.db import migrate
from maildesk.runtime import Runtime
from maildesk.tickets.users import set_user
from maildesk.tickets.service import subject_from
from maildesk.web.api.support import content_disposition
from maildesk.web.app import create_app
from maildesk.web.ratelimit import Limit, RateLimiter


@pytest.fixture
def app_client(tmp_path: Path) -> Iterator[tuple[TestClient, Runtime]]:
    url = f"sqlite:///{tmp_path / 'md.db'}"
    migrate(url)
    settings = Settings(database_url=url, secret_key="unit-secret", data_dir=tmp_path)
    asyncio.run(set_user(settings, "admin@example.com", admin=True, name="", password="pw"))
    rt = Runtime.build(settings)
    with TestClient(create_app(rt)) as client:
        token = client.post("/auth/login", json={"email": "admin@example.com", "password": "pw"}).json()["token"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield client, rt


def test_reprocess_refuses_a_message_still_waiting(app_client: tuple[TestClient, Runtime]) -> None:
    client, rt = app_client

    def insert(status: str) -> int:
        with sqlite3.connect(rt.settings.database_url[len("sqlite:///"):]) as conn:
            cur = conn.execute(
                "INSERT INTO inbound_messages (dedupe_key, envelope_to, source, raw, size, status, attempts, "
                "received_at) VALUES (?, '[]', 'smtp', ?, 3, ?, 0, '2026-01-01 00:00:00')",
                (f"key-{status}", b"abc", status),
            )
            return int(cur.lastrowid or 0)

    waiting = insert("received")
    failed = insert("failed")
    r = client.post(f"/admin/support/inbound/{waiting}/reprocess")
    assert r.status_code == 409 and r.json() == {
        "status_code": 409,
        "detail": f"inbound message {waiting} is received (still waiting for the pipeline); "
        "only failed or ignored messages can be reprocessed",
    }
    r = client.post(f"/admin/support/inbound/{failed}/reprocess")
    assert r.status_code == 202 and r.json()["status"] == "received"
    assert client.post(f"/admin/support/inbound/{failed}/reprocess").status_code == 409


def test_openapi_lists_every_route_with_shapes(app_client: tuple[TestClient, Runtime]) -> None:
    client, _rt = app_client
    doc = client.get("/schema/openapi.json").json()
    paths = doc["paths"]
    for path, method in [
        ("/auth/login", "post"), ("/auth/logout", "post"), ("/auth/magic-link", "post"), ("/auth/magic/{token}", "get"),
        ("/support/tickets", "post"), ("/support/tickets", "get"), ("/support/tickets/{ref}", "get"),
        ("/support/tickets/{ref}", "patch"), ("/support/tickets/{ref}/messages", "post"),
        ("/support/tickets/{ref}/attachments/{attachment_id}", "get"), ("/help/contact", "post"),
        ("/admin/support/tickets", "get"), ("/admin/support/tickets/{ref}", "get"),
        ("/admin/support/tickets/{ref}", "patch"), ("/admin/support/tickets/{ref}/messages", "post"),
        ("/admin/support/stats", "get"), ("/admin/support/check-sla", "post"), ("/admin/users", "get"),
        ("/admin/support/inbound", "get"), ("/admin/support/inbound/{inbound_id}/reprocess", "post"),
    ]:
        assert method in paths.get(path, {}), (method, path)
    assert "requestBody" in paths["/help/contact"]["post"]
    schemas = doc["components"]["schemas"]
    assert {"ContactIn", "ContactOut", "TicketPage", "AdminPatchIn", "AdminTicketOut", "StatsOut"} <= set(schemas)
    assert client.get("/schema").status_code == 200


def test_rate_limiter_sliding_window() -> None:
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    checks = [(("login-address", "a@x"), Limit(2, 60)), (("login-ip", "1.2.3.4"), Limit(3, 60))]
    assert limiter.hit(checks) is None
    now[0] = 10
    assert limiter.hit(checks) is None
    now[0] = 20
    assert limiter.hit(checks) == 40  # the first attempt leaves the window at t=60
    now[0] = 60.5
    assert limiter.hit(checks) is None  # refused attempts were not counted
    # The per-IP limit binds across addresses.
    other = [(("login-address", "b@x"), Limit(2, 60)), (("login-ip", "1.2.3.4"), Limit(3, 60))]
    assert limiter.hit(other) is None  # the IP's third attempt in the window (t=10, 60.5, 60.5)
    assert limiter.hit(other) == 10  # the fourth is refused until t=10 leaves the window


def test_download_header_and_subject_helpers() -> None:
    assert content_disposition('Rechnung "März".pdf') == (
        "attachment; filename=\"Rechnung _M_rz_.pdf\"; filename*=UTF-8''Rechnung%20%22M%C3%A4rz%22.pdf"
    )
    assert subject_from("\n  Hello there\nmore") == "Hello there"
    long = "word " * 40
    assert len(subject_from(long)) <= 81 and subject_from(long).endswith("…")
    assert subject_from("   ") == "Contact form"


def test_summary_rows_match_the_summary_struct() -> None:
    from maildesk.tickets.queries import SUMMARY_COLUMNS
    from maildesk.web.schemas import TicketSummary

    assert [c.key for c in SUMMARY_COLUMNS] == list(TicketSummary.__struct_fields__)
