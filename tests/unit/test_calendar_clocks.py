"""Business time and the two SLA clocks: weekends, holidays, DST changes, pauses, reopens."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maildesk.calendar import Calendar, parse_business_hours, parse_holidays
from maildesk.tickets.clocks import StatusChange, compute

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
HOURS = 3600.0


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN).astimezone(UTC)


OFFICE = Calendar(parse_business_hours("Mon-Fri 09:00-17:00"), BERLIN, parse_holidays("2026-12-25"))
SPLIT = Calendar(parse_business_hours("mon-fri 09:00-12:00, 13:00-17:30; Sat 10:00-14:00"), BERLIN)


def test_grammar() -> None:
    week = parse_business_hours("Mon-Fri 09:00-12:00,13:00-17:30; Sat 10:00-14:00")
    assert week is not None
    assert week[0] == ((540, 720), (780, 1050)) and week[5] == ((600, 840),) and week[6] == ()
    assert parse_business_hours("Fri-Mon 00:00-24:00")[1] == ()  # type: ignore[index]
    assert parse_business_hours("Fri-Mon 00:00-24:00")[6] == ((0, 1440),)  # type: ignore[index]
    assert parse_business_hours("  ") is None
    for bad in ("Mon-Fri", "Mon-Fri 9-17", "Mon 10:00-09:00", "Mon 09:00-12:00; Mon 11:00-13:00",
                "Xyz 09:00-10:00", "Mon 24:30-25:00"):
        with pytest.raises(ValueError):
            parse_business_hours(bad)


def test_weekend_is_skipped() -> None:
    # Friday 16:00 Berlin + 2 business hours = Monday 10:00 (the weekend does not count).
    friday = berlin(2026, 11, 27, 16, 0)
    assert OFFICE.add(friday, 2 * HOURS) == berlin(2026, 11, 30, 10, 0)
    assert OFFICE.between(friday, berlin(2026, 11, 30, 10, 0)) == 2 * HOURS
    assert OFFICE.between(berlin(2026, 11, 28, 8), berlin(2026, 11, 29, 20)) == 0


def test_holiday_is_skipped() -> None:
    # Thursday 24 Dec 16:00 + 2 h: the 25th is a holiday, the 26th/27th a weekend -> Mon 28th 10:00.
    assert OFFICE.add(berlin(2026, 12, 24, 16), 2 * HOURS) == berlin(2026, 12, 28, 10)
    assert OFFICE.between(berlin(2026, 12, 24, 0), berlin(2026, 12, 29, 0)) == 16 * HOURS


def test_split_ranges_and_saturday() -> None:
    assert SPLIT.between(berlin(2026, 12, 1, 11), berlin(2026, 12, 1, 14)) == 2 * HOURS  # lunch skipped
    assert SPLIT.add(berlin(2026, 12, 4, 17), 3 * HOURS) == berlin(2026, 12, 5, 12, 30)  # Fri -> Sat


def test_dst_changes_in_berlin() -> None:
    # Spring forward: Sunday 29 March 2026, 02:00 -> 03:00. A Sunday 00:00-04:00 range is 3 real hours.
    night = Calendar(parse_business_hours("Sun 00:00-04:00"), BERLIN)
    assert night.between(berlin(2026, 3, 28), berlin(2026, 3, 30)) == 3 * HOURS
    # Fall back: Sunday 25 October 2026, 03:00 -> 02:00. The same range is 5 real hours.
    assert night.between(berlin(2026, 10, 24), berlin(2026, 10, 26)) == 5 * HOURS
    # Office hours keep their wall-clock bounds across the change: 09:00 local is 08:00 UTC
    # before and 07:00 UTC after spring forward.
    assert OFFICE.add(utc(2026, 3, 27, 15, 0), 2 * HOURS) == utc(2026, 3, 30, 8, 0)
    assert OFFICE.between(utc(2026, 3, 27, 0), utc(2026, 3, 31, 0)) == 16 * HOURS
    # A range touching the skipped hour is never counted twice.
    odd = Calendar(parse_business_hours("Sun 01:00-02:30,03:00-04:00"), BERLIN)
    assert odd.between(berlin(2026, 3, 28), berlin(2026, 3, 30)) == 2 * HOURS


def test_unset_hours_count_every_hour() -> None:
    always = Calendar()
    start = utc(2026, 12, 5, 23, 0)
    assert always.add(start, 5 * HOURS) == start + timedelta(hours=5)
    assert always.between(start, start + timedelta(days=2)) == 48 * HOURS
    # Holidays still do not count without hours.
    off = Calendar(None, UTC, frozenset({date(2026, 12, 6)}))
    assert off.between(start, start + timedelta(days=2)) == 24 * HOURS


instants = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC))


@settings(max_examples=150, deadline=None)
@given(start=instants, hours=st.floats(min_value=0.001, max_value=200))
def test_add_then_between_round_trips(start: datetime, hours: float) -> None:
    for cal in (OFFICE, SPLIT):
        end = cal.add(start, hours * HOURS)
        assert end > start
        assert cal.between(start, end) == pytest.approx(hours * HOURS, abs=1e-5)


@settings(max_examples=150, deadline=None)
@given(start=instants, a=st.integers(0, 400 * 3600), b=st.integers(0, 400 * 3600))
def test_between_is_monotonic_and_add_inverts_it_inside_hours(start: datetime, a: int, b: int) -> None:
    t1, t2 = start + timedelta(seconds=min(a, b)), start + timedelta(seconds=max(a, b))
    for cal in (OFFICE, SPLIT):
        assert cal.between(start, t1) <= cal.between(start, t2)
        inside = any(x <= t2 <= y for x, y in cal.intervals(t2 - timedelta(days=1), t2 + timedelta(seconds=1)))
        if inside and t2 > start and cal.between(start, t2) > 0:
            assert cal.add(start, cal.between(start, t2)) == t2


TARGETS = {"urgent": 2, "high": 4, "medium": 8, "low": 48}
RESOLVE = {"urgent": 8, "high": 16, "medium": 24, "low": 120}


def clocks(changes: list[StatusChange], now: datetime, *, first_response_at: datetime | None = None,
           priority: str = "medium", cal: Calendar = OFFICE):
    return compute(created_at=berlin(2026, 11, 30, 9), changes=changes, first_response_at=first_response_at,
                   priority=priority, calendar=cal, first_response_hours=TARGETS, resolution_hours=RESOLVE,
                   now=now)


def test_first_response_clock() -> None:
    # Created Monday 09:00, medium: 8 business hours -> due Monday 17:00.
    c = clocks([], berlin(2026, 11, 30, 12))
    assert c.first_response.due_at == berlin(2026, 11, 30, 17) and not c.first_response.breached
    assert c.breached is None
    late = clocks([], berlin(2026, 12, 1, 9, 30))
    assert late.first_response.breached and late.breached == "first_response"
    answered = clocks([], berlin(2026, 12, 1, 12), first_response_at=berlin(2026, 11, 30, 16))
    assert answered.first_response.due_at is None and answered.first_response.elapsed_seconds == 7 * HOURS
    assert not answered.first_response.breached
    # Priority urgent: 2 hours.
    assert clocks([], berlin(2026, 11, 30, 9), priority="urgent").first_response.due_at == berlin(2026, 11, 30, 11)


def test_resolution_clock_pauses_while_waiting_on_user() -> None:
    # Medium resolution target: 24 business hours = three office days -> Wednesday 17:00.
    assert clocks([], berlin(2026, 11, 30, 10)).resolution.due_at == berlin(2026, 12, 2, 17)
    # Waiting on the requester from Monday 13:00 to Tuesday 13:00 (8 business hours): paused.
    waiting = [StatusChange(berlin(2026, 11, 30, 13), "waiting_on_user")]
    paused = clocks(waiting, berlin(2026, 12, 1, 12))
    assert paused.resolution.due_at is None and not paused.resolution.running
    assert paused.resolution.elapsed_seconds == 4 * HOURS
    resumed = clocks(waiting + [StatusChange(berlin(2026, 12, 1, 13), "in_progress")], berlin(2026, 12, 1, 14))
    assert resumed.resolution.due_at == berlin(2026, 12, 3, 17)  # pushed back by the 8 paused hours
    assert resumed.resolution.elapsed_seconds == 5 * HOURS


def test_resolution_clock_stops_and_resumes_on_reopen() -> None:
    changes = [StatusChange(berlin(2026, 11, 30, 17), "resolved")]
    done = clocks(changes, berlin(2026, 12, 10))
    assert done.resolution.stopped and done.resolution.due_at is None and not done.resolution.breached
    assert done.resolution.elapsed_seconds == 8 * HOURS
    reopened = changes + [StatusChange(berlin(2026, 12, 1, 9), "in_progress")]
    c = clocks(reopened, berlin(2026, 12, 1, 10))
    assert c.resolution.due_at == berlin(2026, 12, 2, 17) and c.resolution.elapsed_seconds == 9 * HOURS
    # Past the target: breached, overdue due time kept for sorting.
    over = clocks(reopened, berlin(2026, 12, 4, 9))
    assert over.resolution.breached and over.resolution.due_at == berlin(2026, 12, 2, 17)
    # Resolved before any reply stops the first-response clock too (it was dealt with).
    assert done.first_response.due_at is None and done.first_response.stopped
