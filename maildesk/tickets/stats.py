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

`sla_report` (tickets/range_report.py, re-exported here) adds, for the tickets opened in a
date range, both SLA clocks in business time: medians, 90th percentiles and compliance per
target, by priority and by category, with opened/resolved counts per day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping

from sqlalchemy import Integer, and_, case, cast, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.models import Ticket, utcnow
from maildesk.tickets import rules
from maildesk.tickets.range_report import Compliance, SlaReport, TargetReport, percentile, sla_report

__all__ = ["Compliance", "SlaReport", "Stats", "TargetReport", "percentile", "sla_report", "ticket_stats"]


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
