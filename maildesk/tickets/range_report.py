"""The SLA report over a date range: for the tickets opened in it, both SLA clocks in business time.

For the tickets opened from `start` to `end` (UTC days): opened and resolved counts per day,
and for each target (first response, resolution; tickets/clocks.py) the median and 90th
percentile of the clocks that stopped, and compliance overall, by priority and by category;
plus the satisfaction ratings given in the range. It aggregates the clock outcomes
tickets/due.py stores on each ticket; a ticket without current ones (sla_basis) has its
clocks computed from its status changes, so the answer is the same either way. tickets/stats.py
(the whole-table figures) re-exports it for the dashboard.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Mapping

from sqlalchemy import and_, case, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from maildesk.config import Settings
from maildesk.models import Ticket, TicketEvent, utcnow
from maildesk.tickets import due, rules
from maildesk.tickets.clocks import STOPPED, StatusChange, compute


@dataclass
class Compliance:
    met: int = 0
    missed: int = 0

    @property
    def compliance(self) -> float | None:
        total = self.met + self.missed
        return round(self.met / total, 4) if total else None


@dataclass
class TargetReport:
    """One SLA target over the tickets opened in the range."""

    target_hours: dict[str, float]
    overall: Compliance
    by_priority: dict[str, Compliance]
    by_category: dict[str, Compliance]
    # Over the business seconds of the clocks that stopped (answered / resolved).
    samples: int = 0
    median_seconds: float | None = None
    p90_seconds: float | None = None

    @property
    def median_hours(self) -> float | None:
        return _hours(self.median_seconds)

    @property
    def p90_hours(self) -> float | None:
        return _hours(self.p90_seconds)


@dataclass
class SlaReport:
    start: date
    end: date  # inclusive
    opened: int
    daily: list[tuple[str, int, int]]  # (YYYY-MM-DD, opened, resolved)
    first_response: TargetReport
    resolution: TargetReport
    # Satisfaction ratings given in the range (by when they were last given): good / rated.
    satisfaction_good: int = 0
    satisfaction_rated: int = 0


# The events that change a ticket's status: the same kinds tickets/due.py status_changes reads.
_STATUS_KINDS = ("status",)


async def _status_changes_in_range(conn: AsyncConnection, in_range: Any) -> dict[int, list[StatusChange]]:
    """The status changes (as due.status_changes reads them) of the tickets `in_range` selects,
    in one statement joined on the range: no id lists, whatever the number of tickets."""
    e = TicketEvent
    changes: dict[int, list[StatusChange]] = defaultdict(list)
    result = await conn.execute(
        select(e.ticket_id, e.created_at, e.new_value)
        .join(Ticket, Ticket.id == e.ticket_id)
        .where(in_range, e.kind.in_(_STATUS_KINDS))
        .order_by(e.ticket_id, e.created_at, e.id)
    )
    for ticket_id, at, new in result:
        if new:
            changes[ticket_id].append(StatusChange(at, new))
    return changes


def percentile(values: list[float], pct: float, *, ordered: bool = False) -> float | None:
    """Linear interpolation between the closest ranks (numpy's default); None without values.
    `ordered`: the values are sorted already."""
    if not values:
        return None
    ordered_values = values if ordered else sorted(values)
    rank = (len(ordered_values) - 1) * pct / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered_values) - 1)
    return ordered_values[low] + (ordered_values[high] - ordered_values[low]) * (rank - low)


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600.0, 2)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


def _target_seconds(hours: Mapping[str, float]) -> Any:
    """The target of each ticket's priority in seconds, as clocks.compute takes it."""
    return case({p: float(h) * 3600.0 for p, h in hours.items()}, value=Ticket.priority, else_=None)


def _missed(due_at: Any, seconds: Any, target: Any, now: datetime) -> Any:
    """1 when a clock missed its target, from its stored outcome, as clocks.py decides it (else
    null, for count()): a running clock (it has a due time) when the due time is not in the
    future; a stopped or paused one when it used more than the target (the current one:
    targets may change after it stopped)."""
    return case((due_at <= now, 1), (and_(due_at.is_(None), seconds > target), 1), else_=None)


async def sla_report(session: AsyncSession, settings: Settings, start: date, end: date,
                     *, now: datetime | None = None) -> SlaReport:
    """Tickets opened in [start, end] (UTC days): per-day opened and resolved counts, and for
    each target the median and 90th percentile (business hours) of the clocks that stopped
    (first public reply; resolution) and the share of tickets that met it, overall, by
    priority and by category. A ticket meets a target when its clock has not run longer than
    the target (a running clock still inside its window meets it so far), as in clocks.py.

    The tickets whose outcomes tickets/due.py stored under the current settings (sla_basis)
    are counted in SQL; the others (before migration 0012, a changed calendar or target, not
    yet refilled by the SLA pass) have their clocks computed from the event log, so the answer
    is the same either way."""
    now = now or utcnow()
    lo, hi = _midnight(start), _midnight(end + timedelta(days=1))
    t = Ticket
    conn = await session.connection()  # Core rows: no ORM loading for thousands of tuples
    dialect = session.bind.dialect.name
    in_range = and_(t.created_at >= lo, t.created_at < hi)
    basis = due.basis(settings)
    current = and_(in_range, t.sla_basis == basis)
    stale = and_(in_range, or_(t.sla_basis.is_(None), t.sla_basis != basis))

    def blank(hours: Mapping[str, float]) -> TargetReport:
        return TargetReport(dict(hours), Compliance(), {p: Compliance() for p in rules.PRIORITIES}, {})

    first, resolution = blank(settings.sla_hours), blank(settings.resolution_hours)
    # Tickets by (priority, category): [opened, first response missed, resolution missed],
    # folded into the Compliance buckets once at the end: thousands of tickets, a few keys.
    tallies: defaultdict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])

    # 1. The stored outcomes, counted.
    fr_missed = _missed(t.first_response_due_at, t.first_response_seconds, _target_seconds(settings.sla_hours), now)
    res_missed = _missed(t.resolution_due_at, t.resolution_seconds, _target_seconds(settings.resolution_hours), now)
    for priority, category, n, n_fr_missed, n_res_missed in await conn.execute(
        select(t.priority, t.category, func.count(), func.count(fr_missed), func.count(res_missed))
        .where(current).group_by(t.priority, t.category)
    ):
        tally = tallies[(priority, category)]
        tally[0] += int(n)
        tally[1] += int(n_fr_missed)
        tally[2] += int(n_res_missed)
    fr_sample = case((t.first_response_at.is_not(None), t.first_response_seconds), else_=None)
    res_sample = case((t.status.in_(tuple(STOPPED)), t.resolution_seconds), else_=None)

    # 2. The others, computed from their event log as tickets/due.py would store them.
    rows = (
        await conn.execute(select(t.id, t.created_at, t.first_response_at, t.priority, t.category).where(stale))
    ).all()
    changes = await _status_changes_in_range(conn, stale) if rows else {}
    calendar, fr_hours, res_hours = settings.calendar, settings.sla_hours, settings.resolution_hours
    no_changes: list[StatusChange] = []
    fr_computed: list[float] = []
    res_computed: list[float] = []
    for r in rows:
        # due.clocks_of without its per-call settings lookups.
        clocks = compute(
            created_at=r.created_at, changes=changes.get(r.id, no_changes), first_response_at=r.first_response_at,
            priority=r.priority, calendar=calendar, first_response_hours=fr_hours, resolution_hours=res_hours,
            now=now,
        )
        fr, res = clocks.first_response, clocks.resolution
        if r.first_response_at is not None:
            fr_computed.append(fr.elapsed_seconds)
        if res.stopped:
            res_computed.append(res.elapsed_seconds)
        tally = tallies[(r.priority, r.category)]
        tally[0] += 1
        tally[1] += fr.breached
        tally[2] += res.breached

    # The median and 90th percentile of each target's samples, stored and computed: both
    # targets' samples in one pass over the range (thousands of pairs, fetched whole), each
    # list sorted once.
    fr_values, res_values = fr_computed, res_computed
    for fr_value, res_value in (await conn.execute(
        select(fr_sample, res_sample).where(current, or_(fr_sample.is_not(None), res_sample.is_not(None)))
    )).all():
        if fr_value is not None:
            fr_values.append(fr_value)
        if res_value is not None:
            res_values.append(res_value)
    for report, values in ((first, fr_values), (resolution, res_values)):
        values.sort()
        report.samples = len(values)
        report.median_seconds = percentile(values, 50, ordered=True)
        report.p90_seconds = percentile(values, 90, ordered=True)

    opened = 0
    for (priority, category), (n, n_fr_missed, n_res_missed) in tallies.items():
        opened += n
        for report, missed in ((first, n_fr_missed), (resolution, n_res_missed)):
            for bucket in (report.overall, report.by_priority.setdefault(priority, Compliance()),
                           report.by_category.setdefault(category, Compliance())):
                bucket.missed += missed
                bucket.met += n - missed

    def day_of(column: Any) -> Any:
        return func.date(column) if dialect == "sqlite" else func.to_char(column, literal_column("'YYYY-MM-DD'"))

    opened_per_day = {
        str(d): int(n)
        for d, n in await conn.execute(select(day_of(t.created_at), func.count()).where(in_range)
                                       .group_by(day_of(t.created_at)))
    }
    resolved_per_day = {
        str(d): int(n)
        for d, n in await conn.execute(
            select(day_of(t.resolved_at), func.count()).where(t.resolved_at >= lo, t.resolved_at < hi)
            .group_by(day_of(t.resolved_at))
        )
    }
    rated = (
        await conn.execute(
            select(t.satisfaction_rating, func.count())
            .where(t.satisfaction_at >= lo, t.satisfaction_at < hi, t.satisfaction_rating.is_not(None))
            .group_by(t.satisfaction_rating)
        )
    ).all()
    ratings = {str(r): int(n) for r, n in rated}
    days = [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]
    for report in (first, resolution):
        report.by_category = dict(sorted(report.by_category.items()))
    return SlaReport(
        start=start,
        end=end,
        opened=opened,
        daily=[(d, opened_per_day.get(d, 0), resolved_per_day.get(d, 0)) for d in days],
        first_response=first,
        resolution=resolution,
        satisfaction_good=ratings.get("good", 0),
        satisfaction_rated=sum(ratings.values()),
    )
