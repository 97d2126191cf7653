"""GET /admin/support/stats?fresh=true under concurrency, over HTTP against the real daemon.

Concurrent fresh requests share computations (web/api/admin/fresh_flights.py), but each one
still counts every change committed before it was sent, and the numbers equal the ones a
lone request gets.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from maildesk.config import load_settings
from maildesk.tickets import due
from tests.conftest import Daemon
from tests.integration.api_helpers import PASSWORD, add_user, login, new_ticket, user_client

FRESH = {"fresh": "true"}


def _figures(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer without the moment it was computed at."""
    return {k: v for k, v in answer.items() if k != "generated_at"}


async def _client(daemon: Daemon, email: str) -> httpx.AsyncClient:
    async with httpx.AsyncClient(base_url=daemon.base_url, timeout=60) as anon:
        r = await anon.post("/auth/login", json={"email": email, "password": PASSWORD})
        assert r.status_code == 200, r.text
    return httpx.AsyncClient(base_url=daemon.base_url, timeout=60,
                             headers={"Authorization": f"Bearer {r.json()['token']}"})


def test_concurrent_fresh_requests_share_computations_and_equal_the_sequential_answer(daemon: Daemon) -> None:
    add_user(daemon, "boss@example.com", admin=True)
    with user_client(daemon, "lia@example.org") as lia, login(daemon, "boss@example.com") as admin:
        for i, category in enumerate(("bug", "payments", "bug", "account")):
            new_ticket(lia, f"Ticket {i}", category=category)
        alone = admin.get("/admin/support/stats", params=FRESH)
        assert alone.status_code == 200, alone.text
        sequential = _figures(alone.json())
        assert sequential["total"] == 4 and sequential["first_response"]["missed"] + sequential[
            "first_response"]["met"] == 4

    async def bursts() -> int:
        """Bursts of 8 concurrent fresh requests until some of them shared a computation
        (the same generated_at): how many bursts that took."""
        client = await _client(daemon, "boss@example.com")
        async with client:
            for burst in range(1, 31):
                answers = await asyncio.gather(*(client.get("/admin/support/stats", params=FRESH) for _ in range(8)))
                assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
                for r in answers:
                    assert _figures(r.json()) == sequential
                if len({r.json()["generated_at"] for r in answers}) < len(answers):
                    return burst
        return 0

    assert asyncio.run(bursts()) > 0, "8 concurrent fresh requests never shared a computation"


def _closed_tickets(daemon: Daemon, user_id: int, n: int) -> None:
    """n tickets closed days ago with their clock outcomes stored (the SLA pass leaves them be),
    in one statement: enough rows that a stats computation takes a while, so requests sent
    right after a commit arrive while one that started before it is still running."""
    created = (datetime.now(timezone.utc) - timedelta(days=10)).replace(tzinfo=None, microsecond=1)
    daemon.sql(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :n) "
        "INSERT INTO tickets (user_id, user_email, category, priority, status, subject, description, escalated, "
        "created_at, updated_at, context, source, version, first_response_at, resolved_at, closed_at, "
        "first_response_seconds, resolution_seconds, first_response_wall_seconds, resolution_wall_seconds, sla_basis) "
        "SELECT :user_id, 'lia@example.org', 'other', 'medium', 'closed', 'Old', 'Old.', :no, "
        ":created, :created, '{}', 'api', 1, :created, :created, :created, i, i, i, i, :basis FROM n",
        n=n, user_id=user_id, no=False, created=created, basis=due.basis(load_settings(daemon.env)),
    )


def test_a_change_committed_before_a_fresh_request_is_in_its_answer_under_concurrency(daemon: Daemon) -> None:
    add_user(daemon, "boss@example.com", admin=True)
    background = 40_000
    _closed_tickets(daemon, add_user(daemon, "lia@example.org"), background)
    tickets_to_write = 25

    async def scenario() -> tuple[int, int]:
        writer = await _client(daemon, "lia@example.org")
        checker = await _client(daemon, "boss@example.com")
        readers = [await _client(daemon, "boss@example.com") for _ in range(3)]
        committed = 0  # tickets whose creation was answered (so committed) so far
        interleaved = 0  # readers' requests sent while tickets were being written

        async def stats(client: httpx.AsyncClient, before: int) -> None:
            r = await client.get("/admin/support/stats", params=FRESH)
            assert r.status_code == 200, r.text
            s = r.json()
            # The whole-table figures and the 30-day report (separate reads) both count them.
            opened = s["first_response"]["met"] + s["first_response"]["missed"]
            assert s["total"] - background >= before and opened - background >= before, (before, s["total"], opened)
            assert s["total"] - background <= committed + 1  # at most the one being written meanwhile

        async def write() -> None:
            # Each ticket, then at once a fresh request that must count it: the readers keep
            # computations running back to back, so one that started before the commit is
            # usually still running when this request arrives (it must not be handed out).
            nonlocal committed
            for i in range(tickets_to_write):
                r = await writer.post("/support/tickets", json={"subject": f"Change {i}", "description": "Details."})
                assert r.status_code == 201, r.text
                committed += 1
                await stats(checker, committed)

        async def read(client: httpx.AsyncClient) -> None:
            nonlocal interleaved
            while True:
                before = committed  # every one of these was committed before the request is sent
                interleaved += 0 < before < tickets_to_write
                await stats(client, before)
                if before == tickets_to_write:
                    return

        try:
            await asyncio.gather(write(), *(read(c) for c in readers))
        finally:
            for c in (writer, checker, *readers):
                await c.aclose()
        return committed, interleaved

    committed, interleaved = asyncio.run(scenario())
    assert committed == tickets_to_write and interleaved > 0
    with login(daemon, "boss@example.com") as admin:
        assert admin.get("/admin/support/stats", params=FRESH).json()["total"] == background + tickets_to_write
