"""Support statistics for the admin dashboard: volume, response and resolution times, SLA.

Definitions (all times UTC, over every ticket in the database):

- by_status / by_priority / by_category: ticket counts; by_day: tickets created per day over
  the last `days` days (days without tickets are listed with 0).
- avg_first_response_seconds: mean of first_response_at - created_at over tickets that have
  had a public admin reply. avg_resolution_seconds: mean of resolved_at (or closed_at) -
  created_at over tickets that are resolved or closed.
- SLA compliance (first response): a ticket *meets* the SLA when the clock stopped within its
  priority's window (MAILDESK_SLA_HOURS), or the clock is still running and the window has not
  passed yet. The clock stops at the first public admin reply; a ticket resolved or closed
  without any reply stops it at that moment (it was dealt with). Every other ticket *misses*.
  compliance = met / all tickets (None with no tickets); by_priority gives the same share per
  priority. So a ticket that is still unanswered past its window counts against compliance
  right away, whatever its status, and keeps counting after a late reply.

One scan of the tickets table answers everything but the per-day series (a range scan on
created_at); the result is small, so the caller may cache it for a few seconds.

`sla_report` adds, for the tickets opened in a date range, both SLA clocks in business time
(tickets/clocks.py): medians, 90th percentiles and compliance per target, by priority and by
category, with opened/resolved counts per day. It aggregates the clock outcomes tickets/due.py
stores on each ticket; a ticket without current ones has its clocks computed from its status
changes. It works over a range (default 30 days) rather than the whole table.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Mapping

from sqlalchemy import Integer, and_, case, cast, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from maildesk.config import Settings
from maildesk.models import Ticket, TicketEvent, utcnow
from maildesk.tickets import due, rules
from maildesk.tickets.clocks import STOPPED, StatusChange, compute


@dataclass
class Stats:
    total: int
    by_status: dict[str, int]
    by_priority: dict[str, int]
    by_category: dict[str, int]
    by_day: list[tuple[str, int]]
    open_escalated: int
    avg_first_response_seconds: float | None
    avg_resolution_seconds: float | None
    sla_met: int
    sla_missed: int
    sla_by_priority: dict[str, float | None]
    generated_at: datetime

    @property
    def sla_compliance(self) -> float | None:
        total = self.sla_met + self.sla_missed
        return round(self.sla_met / total, 4) if total else None


def _seconds_between(dialect: str, later: Any, earlier: Any) -> Any:
    if dialect == "sqlite":
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0
    return func.extract("epoch", later - earlier)


async def ticket_stats(
    session: AsyncSession, sla_hours: Mapping[str, float], *, days: int = 30, now: datetime | None = None
) -> Stats:
    dialect = session.bind.dialect.name
    now = now or utcnow()
    t = Ticket
    window = case({p: float(sla_hours[p]) * 3600.0 for p in rules.PRIORITIES}, value=t.priority, else_=0.0)

    def tally(where: Any, first_response: Any, resolution: Any, stop: Any, answered: Any, resolved: Any) -> Any:
        """Counts and sums per (status, priority, category): `first_response` and `resolution`
        the wall-clock seconds to the first reply and to resolution, `stop` those to the first
        of them (when the first-response SLA clock stopped: a stopped clock met the SLA when it
        stopped within the window), `answered` / `resolved` non-null for the tickets that have them."""
        return (
            select(
                t.status,
                t.priority,
                t.category,
                func.count().label("n"),
                func.count(case((stop <= window, 1))).label("met"),
                func.count(answered).label("n_fr"),
                func.sum(first_response).label("sum_fr"),
                func.count(resolved).label("n_res"),
                func.sum(resolution).label("sum_res"),
                func.sum(cast(t.escalated, Integer)).label("esc"),
            ).where(where).group_by(t.status, t.priority, t.category)
        )

    # The wall-clock durations as tickets/due.py stores them: one pass over the narrow
    # ix_tickets_stats adding numbers (on SQLite, computing them from the timestamps parsed
    # 4-6 of them in every row with julianday(), most of the time of the whole pass).
    frw, rw = t.first_response_wall_seconds, t.resolution_wall_seconds
    rows = list(await session.execute(tally(t.sla_basis.is_not(None), frw, rw, func.coalesce(frw, rw), frw, rw)))
    # The rows without stored outcomes (sla_basis null: from before migration 0012, or their
    # history rewritten by hand, until the SLA pass stores them), from their timestamps (over
    # the partial index ix_tickets_unstored, empty once the SLA pass has stored them all).
    resolved_at = func.coalesce(t.resolved_at, t.closed_at)
    rows += list(await session.execute(tally(
        t.sla_basis.is_(None),
        _seconds_between(dialect, t.first_response_at, t.created_at),
        _seconds_between(dialect, resolved_at, t.created_at),
        _seconds_between(dialect, func.coalesce(t.first_response_at, resolved_at), t.created_at),
        t.first_response_at,
        resolved_at,
    )))
    # A running clock (no reply, not resolved or closed) meets it while the window has not
    # passed: only tickets younger than the longest window qualify, a range of created_at
    # rather than a comparison in every row of the scan above.
    cutoffs = {p: now - timedelta(hours=float(sla_hours[p])) for p in rules.PRIORITIES}
    running_met = dict(
        (
            await session.execute(
                select(t.priority, func.count())
                .where(
                    t.created_at >= min(cutoffs.values()),
                    # One expression rather than three IS NULL tests: SQLite's planner would
                    # otherwise walk the NULL part of ix_tickets_resolved_at (most tickets).
                    func.coalesce(t.first_response_at, t.resolved_at, t.closed_at).is_(None),
                    or_(*(and_(t.priority == p, t.created_at >= cutoff) for p, cutoff in cutoffs.items())),
                )
                .group_by(t.priority)
            )
        ).all()
    )

    by_status = {s: 0 for s in rules.STATUSES}
    by_priority = {p: 0 for p in rules.PRIORITIES}
    by_category: dict[str, int] = {}
    met_by_priority = {p: 0 for p in rules.PRIORITIES}
    total = met_total = n_fr = n_res = open_escalated = 0
    sum_fr = sum_res = 0.0
    for priority, n in running_met.items():
        met_by_priority[priority] = met_by_priority.get(priority, 0) + int(n)
        met_total += int(n)
    for r in rows:
        n = int(r.n)
        total += n
        by_status[r.status] = by_status.get(r.status, 0) + n
        by_priority[r.priority] = by_priority.get(r.priority, 0) + n
        by_category[r.category] = by_category.get(r.category, 0) + n
        met_by_priority[r.priority] = met_by_priority.get(r.priority, 0) + int(r.met or 0)
        met_total += int(r.met or 0)
        n_fr += int(r.n_fr or 0)
        sum_fr += float(r.sum_fr or 0)
        n_res += int(r.n_res or 0)
        sum_res += float(r.sum_res or 0)
        if r.status not in ("resolved", "closed"):
            open_escalated += int(r.esc or 0)

    # Per-day volume over the last `days` days (UTC), zero-filled.
    start_day = (now - timedelta(days=days - 1)).date()
    day_expr = func.date(t.created_at) if dialect == "sqlite" else func.to_char(t.created_at, literal_column("'YYYY-MM-DD'"))
    day_rows = (
        await session.execute(
            select(day_expr.label("day"), func.count())
            .where(t.created_at >= datetime.combine(start_day, datetime.min.time(), tzinfo=now.tzinfo))
            .group_by(day_expr)
        )
    ).all()
    per_day = {str(d): int(n) for d, n in day_rows}
    by_day = [
        (day, per_day.get(day, 0))
        for day in ((start_day + timedelta(days=i)).isoformat() for i in range(days))
    ]

    return Stats(
        total=total,
        by_status=by_status,
        by_priority=by_priority,
        by_category=dict(sorted(by_category.items())),
        by_day=by_day,
        open_escalated=open_escalated,
        avg_first_response_seconds=round(sum_fr / n_fr, 1) if n_fr else None,
        avg_resolution_seconds=round(sum_res / n_res, 1) if n_res else None,
        sla_met=met_total,
        sla_missed=total - met_total,
        sla_by_priority={
            p: (round(met_by_priority[p] / by_priority[p], 4) if by_priority.get(p) else None)
            for p in rules.PRIORITIES
        },
        generated_at=now,
    )


# --- the SLA report over a date range (both clocks, business time) -----------------------------


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

    # The median and 90th percentile of each target's samples, stored and computed: one narrow
    # column each, fetched whole (thousands of floats), sorted once.
    for report, sample, computed in ((first, fr_sample, fr_computed), (resolution, res_sample, res_computed)):
        values = list((await conn.execute(select(sample).where(current, sample.is_not(None)))).scalars())
        values.extend(computed)
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
