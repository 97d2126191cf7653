"""The stats from stored clock outcomes give exactly what the clocks computed from the event log give.

tickets/due.py stores each ticket's clock outcomes when it recomputes them; tickets/stats.py
aggregates them in SQL and computes, from the event log as before, only the tickets whose
outcomes are missing or were stored under other settings (sla_basis). This differential test
writes a few hundred varied ticket histories (pauses while waiting on the requester,
reopened tickets, priority changes, tickets closed without a reply, late and early
answers) through the same write path as the ticket service (due.start at creation,
due.refresh after every change), then compares the report computed from the stored outcomes
with the report computed purely from the event log (every sla_basis cleared), under a
business-hours calendar, later in time (running clocks crossing their due times meanwhile),
with half the tickets unstored, after a calendar and target change, and after the SLA pass's
backfill stored them under the new settings. Runs on SQLite, and on PostgreSQL under
MAILDESK_TEST_DATABASE_URL.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select, update

from maildesk.calendar import parse_business_hours, parse_holidays, parse_timezone
from maildesk.config import Settings
from maildesk.db import Database
from maildesk.models import Ticket, TicketEvent, User
from maildesk.tickets import due, rules
from maildesk.tickets.sla import backfill_outcomes
from maildesk.tickets.stats import SlaReport, Stats, sla_report, ticket_stats
from tests.support import on_new_database

HOUR = timedelta(hours=1)
# Well in the past and fixed, so the test means the same whenever it runs; "now" is passed in.
START = datetime(2026, 3, 2, 6, 0, tzinfo=timezone.utc)  # a Monday, weeks before the DST change
NOW = START + timedelta(days=34)  # after the Berlin DST change of 29 March: it is in the histories

OFFICE = Settings(
    business_hours=parse_business_hours("Mon-Fri 09:00-12:00,13:00-17:30; Sat 10:00-14:00"),
    timezone=parse_timezone("Europe/Berlin"),
    holidays=parse_holidays("2026-03-17,2026-04-03"),
    sla_hours={"urgent": 1.0, "high": 4.0, "medium": 8.0, "low": 24.0},
    resolution_hours={"urgent": 8.0, "high": 16.0, "medium": 40.0, "low": 80.0},
)
# The calendar and the targets changed: every stored outcome is stale at once.
ROUND_THE_CLOCK = Settings(
    sla_hours={"urgent": 2.0, "high": 6.0, "medium": 24.0, "low": 48.0},
    resolution_hours={"urgent": 12.0, "high": 36.0, "medium": 96.0, "low": 160.0},
)


def _histories(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """Ticket histories: creation, then (time, what) changes in order."""
    out = []
    for i in range(n):
        created = START + timedelta(minutes=rng.randint(0, 30 * 24 * 60))
        at, status = created, "open"
        changes: list[tuple[datetime, str, str]] = []
        priority = rng.choice(rules.PRIORITIES)
        answered = False
        for _ in range(rng.randint(0, 7)):
            at += timedelta(minutes=rng.choice((3, 20, 90, 300, 1000, 3000)) + rng.randint(0, 59))
            if at >= NOW:
                break
            roll = rng.random()
            if roll < 0.15:
                changes.append((at, "priority", rng.choice(rules.PRIORITIES)))
                continue
            if roll < 0.4 and not answered and status != "closed":
                changes.append((at, "reply", ""))
                answered = True
                if status == "open":
                    changes.append((at, "status", "in_progress"))
                    status = "in_progress"
                continue
            if roll < 0.45 and status != "closed":
                changes.append((at, "status", "closed"))  # a merge closes from any status
                status = "closed"
                continue
            allowed = rules.TRANSITIONS[status]
            if allowed:
                status = rng.choice(allowed)
                changes.append((at, "status", status))
        out.append({"n": i, "created": created, "priority": priority, "changes": changes,
                    "category": rng.choice(("bug", "billing", "other"))})
    return out


async def _write(db: Database, histories: list[dict[str, Any]], settings: Settings) -> None:
    """Each history through the service's write path: due.start before the INSERT, then every
    change applied as tickets/desk.py does and followed by due.refresh at its time."""
    async with db.write() as session:
        user = User(email="requester@example.org", name="R", role="user")
        session.add(user)
        await session.flush()
        for h in histories:
            created = h["created"]
            ticket = Ticket(
                ticket_number=f"SUP-{h['n'] + 1:05d}", user_id=user.id, user_email=user.email,
                category=h["category"], priority=h["priority"], status="open", subject=f"t{h['n']}",
                description="x", created_at=created, updated_at=created, context={}, escalated=False, version=1,
            )
            due.start(ticket, settings, created)
            session.add(ticket)
            await session.flush()
            session.add(TicketEvent(ticket_id=ticket.id, actor="system", kind="created", new_value="open",
                                    detail={}, created_at=created))
            for at, kind, value in h["changes"]:
                if kind == "priority":
                    ticket.priority = value
                elif kind == "reply":
                    ticket.first_response_at = at
                else:
                    old = ticket.status
                    ticket.status = value
                    if value == "resolved":
                        ticket.resolved_at = at
                    elif value == "closed":
                        ticket.closed_at = at
                    elif old == "resolved":
                        ticket.resolved_at = None
                    session.add(TicketEvent(ticket_id=ticket.id, actor="system", kind="status", old_value=old,
                                            new_value=value, detail={}, created_at=at))
                await due.refresh(session, ticket, settings, at)


async def _both(db: Database, settings: Settings, now: datetime,
                start: date, end: date) -> tuple[SlaReport, Stats]:
    async with db.read() as session:
        report = await sla_report(session, settings, start, end, now=now)
        stats = await ticket_stats(session, settings.sla_hours, days=40, now=now)
    return report, stats


async def _pure(db: Database, settings: Settings, now: datetime,
                start: date, end: date) -> tuple[SlaReport, Stats]:
    """The report from the event log alone: on a copy of the state with every outcome forgotten."""
    async with db.write() as session:
        saved = (await session.execute(select(Ticket.id, Ticket.sla_basis))).all()
        await session.execute(update(Ticket).values(sla_basis=None))
    result = await _both(db, settings, now, start, end)
    async with db.write() as session:
        for ticket_id, basis in saved:
            await session.execute(update(Ticket).where(Ticket.id == ticket_id).values(sla_basis=basis))
    return result


def _assert_same(stored: tuple[SlaReport, Stats], pure: tuple[SlaReport, Stats]) -> None:
    (report, stats), (expected_report, expected_stats) = stored, pure
    # Every count, bucket and day, and the medians and 90th percentiles to the last bit
    # (order statistics read from the database, or computed over the samples in Python).
    assert report == expected_report
    # Stored wall-clock seconds against seconds computed from timestamps in SQL: the same
    # counts; the averages agree to the rounding of the arithmetic (julianday on SQLite).
    for field in ("total", "by_status", "by_priority", "by_category", "by_day", "open_escalated",
                  "sla_met", "sla_missed", "sla_by_priority"):
        assert getattr(stats, field) == getattr(expected_stats, field), field
    assert stats.avg_first_response_seconds == pytest.approx(expected_stats.avg_first_response_seconds, abs=0.11)
    assert stats.avg_resolution_seconds == pytest.approx(expected_stats.avg_resolution_seconds, abs=0.11)


async def _unstored(db: Database, settings: Settings) -> int:
    basis = due.basis(settings)
    async with db.read() as session:
        return int(await session.scalar(
            select(func.count()).where((Ticket.sla_basis.is_(None)) | (Ticket.sla_basis != basis))
        ) or 0)


def test_stats_from_stored_outcomes_equal_the_clocks(tmp_path: Path) -> None:
    histories = _histories(random.Random(14), 300)
    start, end = START.date(), NOW.date()

    async def go(db: Database) -> None:
        await _write(db, histories, OFFICE)
        assert await _unstored(db, OFFICE) == 0

        # 1. Everything stored under the current settings, at several later times: running
        #    clocks reach their due times after their last change, stopped ones do not move.
        for later in (NOW, NOW + 5 * HOUR, NOW + timedelta(days=3)):
            stored = await _both(db, OFFICE, later, start, end)
            assert stored[0].opened == 300
            _assert_same(stored, await _pure(db, OFFICE, later, start, end))
        report = stored[0]
        # The histories are varied enough to mean something: both clocks stopped and ran,
        # tickets met and missed both targets.
        assert report.first_response.samples > 50 and report.resolution.samples > 50
        for target in (report.first_response, report.resolution):
            assert target.overall.met > 20 and target.overall.missed > 20

        # 2. Half the tickets without stored outcomes (as after migration 0012): both paths at once.
        async with db.write() as session:
            await session.execute(update(Ticket).where(Ticket.id % 2 == 0).values(sla_basis=None))
        _assert_same(await _both(db, OFFICE, NOW, start, end), await _pure(db, OFFICE, NOW, start, end))

        # 3. The calendar and targets change: every stored outcome is stale, the stats
        #    compute all of them from the event log under the new settings.
        changed = await _both(db, ROUND_THE_CLOCK, NOW, start, end)
        _assert_same(changed, await _pure(db, ROUND_THE_CLOCK, NOW, start, end))
        assert changed != await _both(db, OFFICE, NOW, start, end)  # the change shows

        # 4. The SLA pass stores them again under the new settings, in bounded batches
        #    (finished tickets here; running ones get theirs in its main loop, as due.refresh).
        rt = SimpleNamespace(db=db, settings=ROUND_THE_CLOCK)
        finished = Ticket.status.in_(("resolved", "closed"))
        async with db.read() as session:
            n_finished = int(await session.scalar(select(func.count()).where(finished)) or 0)
        assert await backfill_outcomes(rt, NOW, limit=100) == 100  # type: ignore[arg-type]
        assert await backfill_outcomes(rt, NOW) == n_finished - 100  # type: ignore[arg-type]
        assert await backfill_outcomes(rt, NOW) == 0  # type: ignore[arg-type]
        async with db.write() as session:
            running = (await session.scalars(select(Ticket).where(~finished))).all()
            for ticket in running:
                await due.refresh(session, ticket, ROUND_THE_CLOCK, NOW)
        assert await _unstored(db, ROUND_THE_CLOCK) == 0
        _assert_same(await _both(db, ROUND_THE_CLOCK, NOW + HOUR, start, end),
                     await _pure(db, ROUND_THE_CLOCK, NOW + HOUR, start, end))
        assert (await _both(db, ROUND_THE_CLOCK, NOW, start, end)) == changed

    on_new_database(tmp_path, go)


def test_basis_names_everything_the_clocks_depend_on() -> None:
    """A stored outcome is used only under the settings it was computed with."""
    basis = due.basis(OFFICE)
    assert due.basis(replace(OFFICE)) == basis  # the same settings: the same fingerprint
    for changed in (
        replace(OFFICE, business_hours=parse_business_hours("Mon-Fri 09:00-17:00")),
        replace(OFFICE, timezone=parse_timezone("Europe/London")),
        replace(OFFICE, holidays=parse_holidays("2026-03-17")),
        replace(OFFICE, sla_hours={**OFFICE.sla_hours, "low": 25.0}),
        replace(OFFICE, resolution_hours={**OFFICE.resolution_hours, "urgent": 9.0}),
    ):
        assert due.basis(changed) != basis
