"""The two SLA clocks of a ticket, computed from its event log (pure).

- First response: runs from creation until the first public admin reply; a ticket resolved
  or closed before any reply stops it then (it was dealt with). Target: MAILDESK_SLA_HOURS.
- Resolution: runs from creation while the ticket is open or in progress, stops while it is
  `waiting_on_user` (the ball is with the requester) and when it is resolved or closed; a
  reopened ticket resumes it with the time already used. Target: MAILDESK_RESOLUTION_HOURS.

Both count business time (tickets/calendar.py) and use the ticket's current priority for the
whole life of the ticket, so changing the priority moves the due times. Because the answer
is derived from (created_at, status changes, first_response_at) only, recomputing after a
calendar change or a reopen gives the right answer.

A due time is given only while its clock runs (None when the clock has stopped or is
paused). A target is *breached* when the clock ran longer than the target: for a running
clock, when its due time is not in the future.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Mapping, Sequence

from maildesk.calendar import Calendar

PAUSED = frozenset({"waiting_on_user"})
STOPPED = frozenset({"resolved", "closed"})
FIRST_RESPONSE = "first_response"
RESOLUTION = "resolution"
TARGET_WORDS = {FIRST_RESPONSE: "first response", RESOLUTION: "resolution"}


@dataclass(frozen=True)
class StatusChange:
    at: datetime
    new: str


@dataclass(frozen=True)
class Clock:
    target_seconds: float
    elapsed_seconds: float  # business seconds used so far (final when stopped)
    running: bool
    due_at: datetime | None  # only while running
    breached: bool
    stopped: bool  # finished for good (answered / resolved), not merely paused

    @property
    def met(self) -> bool:
        return not self.breached


@dataclass(frozen=True)
class Clocks:
    first_response: Clock
    resolution: Clock

    @property
    def breached(self) -> str | None:
        """The first target missed: first_response, else resolution, else None."""
        if self.first_response.breached:
            return FIRST_RESPONSE
        if self.resolution.breached:
            return RESOLUTION
        return None


def duration_words(seconds: float) -> str:
    """3 d 4 h, 5 h 20 min, 12 min: how long, for people (never 0: under a minute is 1 min)."""
    minutes = max(1, int(seconds // 60))
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


Period = tuple[datetime, datetime | None]  # [start, end); end None: still running


def _clock(periods: Sequence[Period], target: float, calendar: Calendar, now: datetime, *, stopped: bool) -> Clock:
    elapsed = 0.0
    reach: datetime | None = None  # when the running total hits the target
    remaining = target
    for start, end in periods:
        used = calendar.between(start, end if end is not None else max(now, start))
        if reach is None:
            if end is None:
                reach = calendar.add(start, remaining)
            elif used >= remaining:
                reach = calendar.add(start, remaining)
            else:
                remaining -= used
        elapsed += used
    running = bool(periods) and periods[-1][1] is None
    if running:
        breached = reach is not None and reach <= now
    else:
        breached = elapsed > target
    return Clock(
        target_seconds=target,
        elapsed_seconds=elapsed,
        running=running,
        due_at=reach if running else None,
        breached=breached,
        stopped=stopped,
    )


def compute(
    *,
    created_at: datetime,
    changes: Iterable[StatusChange],
    first_response_at: datetime | None,
    priority: str,
    calendar: Calendar,
    first_response_hours: Mapping[str, float],
    resolution_hours: Mapping[str, float],
    now: datetime,
) -> Clocks:
    """Both clocks of one ticket. `changes` are its status changes (any order); the ticket
    starts `open` at created_at."""
    ordered = sorted((c for c in changes if c.at >= created_at), key=lambda c: c.at)

    # Resolution: the periods spent neither paused nor stopped.
    periods: list[Period] = []
    status, since = "open", created_at
    for change in ordered:
        if change.new == status:
            continue
        active_before = status not in PAUSED | STOPPED
        if active_before:
            periods.append((since, change.at))
        status, since = change.new, change.at
    if status not in PAUSED | STOPPED:
        periods.append((since, None))
    resolution = _clock(
        periods, resolution_hours[priority] * 3600.0, calendar, now, stopped=status in STOPPED
    )

    # First response: until the first public reply, or the first resolve/close before one.
    end = first_response_at
    if end is None:
        end = next((c.at for c in ordered if c.new in STOPPED), None)
    first = _clock(
        [(created_at, end)], first_response_hours[priority] * 3600.0, calendar, now, stopped=end is not None
    )
    return Clocks(first_response=first, resolution=resolution)
