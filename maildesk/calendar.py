"""Business time: which instants count towards an SLA, and arithmetic over them (pure).

A Calendar is a weekly schedule of working ranges in one IANA time zone, minus holidays.
All instants in and out are timezone-aware UTC datetimes; the schedule is applied in local
time, each local range is turned into its real UTC interval, and durations are real elapsed
seconds. So across a DST change a range keeps its wall-clock bounds: `09:00-17:30` is 8.5 h
every day, and a range that spans the change (`00:00-04:00` on the last Sunday of March in
Europe/Berlin) is one hour shorter that day. A local time skipped by a spring-forward change
is read with the offset in force before it (fold=0, PEP 495), a repeated one as its first
occurrence.

MAILDESK_BUSINESS_HOURS grammar (case-insensitive, spaces around separators allowed):

    schedule := group (";" group)*
    group    := days " " ranges
    days     := day ("-" day)? ("," day ("-" day)?)*       day := Mon Tue Wed Thu Fri Sat Sun
    ranges   := range ("," range)*                         range := HH:MM "-" HH:MM

e.g. `Mon-Fri 09:00-12:00,13:00-17:30; Sat 10:00-14:00`. A day span may wrap (`Fri-Mon`). A
range ends after it starts; `24:00` is the end of the day. Ranges of one day (even from two
groups) may not overlap. Unset (empty): every hour of every day counts. Holidays (ISO dates,
local) never count, with or without hours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
# A working range as minutes after local midnight, end exclusive (1440 = 24:00).
Range = tuple[int, int]
Week = tuple[tuple[Range, ...], ...]  # seven entries, Monday first
ALWAYS: Week = tuple(((0, 1440),) for _ in DAYS)
_MAX_DAYS = 366 * 20  # add() gives up rather than loop forever on a calendar with no time in it


def _minutes(text: str, *, end: bool) -> int:
    match = _TIME.match(text.strip())
    if not match:
        raise ValueError(f"expected HH:MM, got {text.strip()!r}")
    hours, minutes = int(match.group(1)), int(match.group(2))
    if minutes > 59 or hours > 24 or (hours == 24 and (minutes or not end)):
        raise ValueError(f"no such time of day {text.strip()!r}")
    return hours * 60 + minutes


def _day(text: str) -> int:
    name = text.strip().lower()[:3]
    if name not in DAYS or len(text.strip()) < 3:
        raise ValueError(f"unknown day {text.strip()!r}; use Mon, Tue, Wed, Thu, Fri, Sat, Sun")
    return DAYS.index(name)


def _days(text: str) -> list[int]:
    days: list[int] = []
    for part in text.split(","):
        first, sep, last = part.partition("-")
        a = _day(first)
        b = _day(last) if sep else a
        days.append(a)
        while a != b:  # a span may wrap round the week: Fri-Mon
            a = (a + 1) % 7
            days.append(a)
    return days


def parse_business_hours(text: str) -> Week | None:
    """The weekly schedule of MAILDESK_BUSINESS_HOURS, or None (every hour counts) when empty."""
    if not text.strip():
        return None
    week: list[list[Range]] = [[] for _ in DAYS]
    for group in text.split(";"):
        group = group.strip()
        if not group:
            continue
        days_text, sep, ranges_text = re.sub(r"\s*([,-])\s*", r"\1", group).partition(" ")
        if not sep or not ranges_text.strip():
            raise ValueError(f"{group!r}: expected days and times, like 'Mon-Fri 09:00-17:30'")
        ranges: list[Range] = []
        for item in ranges_text.replace(" ", "").split(","):
            start_text, sep, end_text = item.partition("-")
            if not sep:
                raise ValueError(f"{item!r}: expected a range HH:MM-HH:MM")
            start, end = _minutes(start_text, end=False), _minutes(end_text, end=True)
            if end <= start:
                raise ValueError(f"{item!r}: a range must end after it starts")
            ranges.append((start, end))
        for day in _days(days_text):
            week[day].extend(ranges)
    for day, ranges in enumerate(week):
        ranges.sort()
        for (_s1, e1), (s2, _e2) in zip(ranges, ranges[1:]):
            if s2 < e1:
                raise ValueError(f"ranges overlap on {DAYS[day].title()}")
    if not any(week):
        raise ValueError("no working time in the schedule")
    return tuple(tuple(r) for r in week)


def parse_timezone(text: str) -> ZoneInfo:
    if not text.strip():
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(text.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {text.strip()!r}; expected an IANA name like Europe/Berlin") from None


def parse_holidays(text: str) -> frozenset[date]:
    days: set[date] = set()
    for item in text.split(","):
        if item.strip():
            try:
                days.add(date.fromisoformat(item.strip()))
            except ValueError:
                raise ValueError(f"{item.strip()!r} is not an ISO date (YYYY-MM-DD)") from None
    return frozenset(days)


def _aware(instant: datetime) -> datetime:
    if instant.tzinfo is timezone.utc:  # the common case (models return UTC): no conversion
        return instant
    if instant.tzinfo is None:
        raise ValueError("naive datetime given to the business calendar")
    return instant.astimezone(timezone.utc)


@dataclass(frozen=True)
class Calendar:
    week: Week | None = None  # None: every hour counts
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    holidays: frozenset[date] = frozenset()

    @property
    def always(self) -> bool:
        """Every instant counts: no schedule and no holidays (plain wall-clock arithmetic)."""
        return self.week is None and not self.holidays

    def _walk(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working intervals in UTC from the local day before start's onwards, in order, never
        overlapping: a range touching an hour a DST change skipped can map to UTC bounds that
        run backwards or into the previous range, so each interval starts at the earliest
        after the previous one ended (and after start)."""
        day = start.astimezone(self.zone).date() - timedelta(days=1)
        floor = start
        for _ in range(_MAX_DAYS):
            if day not in self.holidays:
                for a, b in (self.week or ALWAYS)[day.weekday()]:
                    lo, hi = max(self._utc(day, a), floor), self._utc(day, b)
                    if lo < hi:
                        yield lo, hi
                        floor = hi
            day += timedelta(days=1)
        raise ValueError("the business calendar has no working time left")

    def _utc(self, day: date, minutes: int) -> datetime:
        if minutes == 1440:
            day, minutes = day + timedelta(days=1), 0
        local = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=self.zone)
        return local.astimezone(timezone.utc)

    def intervals(self, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The working intervals inside [start, end), clipped, in order."""
        start, end = _aware(start), _aware(end)
        if end <= start:
            return
        if self.always:
            yield start, end
            return
        for a, b in self._walk(start):
            if a >= end:
                return
            yield a, min(b, end)

    def between(self, start: datetime, end: datetime) -> float:
        """Business seconds from start to end (0 when end is not after start)."""
        if self.always:
            return max(0.0, (_aware(end) - _aware(start)).total_seconds())
        total = sum((b - a for a, b in self.intervals(start, end)), timedelta())
        return total.total_seconds()

    def add(self, start: datetime, seconds: float) -> datetime:
        """The instant at which `seconds` business seconds have passed since start.

        With 0 seconds that is start itself; otherwise it lies inside (or at the end of) a
        working interval, so add(s, between(s, e)) == e whenever e is in working time.
        """
        start = _aware(start)
        remaining = timedelta(seconds=seconds)
        if remaining <= timedelta():
            return start
        if self.always:
            return start + remaining
        for a, b in self._walk(start):
            if b - a >= remaining:
                return a + remaining
            remaining -= b - a
        raise ValueError("the business calendar has no working time left")  # pragma: no cover
