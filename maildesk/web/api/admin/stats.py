"""The stats answer: the report range from the query string, and tickets/stats figures as StatsOut."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

from litestar import Request

from maildesk.models import utcnow
from maildesk.runtime import Runtime
from maildesk.tickets import csat
from maildesk.tickets.range_report import SlaReport, TargetReport, sla_report
from maildesk.tickets.stats import Stats, ticket_stats
from maildesk.web.api.admin.stats_cache import StatsCache
from maildesk.web.errors import FieldError
from maildesk.web.schemas import (
    ComplianceOut,
    DailyOut,
    DayCount,
    RangeOut,
    SatisfactionStatsOut,
    SlaOut,
    StatsOut,
    TargetOut,
)


def _target_out(t: TargetReport) -> TargetOut:
    def out(c: Any) -> ComplianceOut:
        return ComplianceOut(met=c.met, missed=c.missed, compliance=c.compliance)

    return TargetOut(
        target_hours=t.target_hours, median_hours=t.median_hours, p90_hours=t.p90_hours,
        samples=t.samples, met=t.overall.met, missed=t.overall.missed, compliance=t.overall.compliance,
        by_priority={k: out(v) for k, v in t.by_priority.items()},
        by_category={k: out(v) for k, v in t.by_category.items()},
    )


MAX_RANGE_DAYS = 366


def stats_range(date_from: str | None, date_to: str | None, today: date) -> tuple[date, date]:
    """?from=&to= as dates (inclusive): default the 30 days up to today; 422 naming the field."""
    def parse(name: str, value: str | None, default: date) -> date:
        if value is None or not value.strip():
            return default
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise FieldError(name, f"{value.strip()[:40]!r} is not a date (YYYY-MM-DD)") from None

    end = parse("to", date_to, today)
    start = parse("from", date_from, end - timedelta(days=29))
    if start > end:
        raise FieldError("from", "must not be after to")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise FieldError("from", f"the range may span at most {MAX_RANGE_DAYS} days")
    return start, end


def _stats_out(s: Stats, sla_hours: dict[str, float], report: SlaReport | None = None) -> StatsOut:
    return StatsOut(
        total=s.total,
        by_status=s.by_status,
        by_priority=s.by_priority,
        by_category=s.by_category,
        by_day=[DayCount(day=d, count=n) for d, n in s.by_day],
        open_escalated=s.open_escalated,
        avg_first_response_seconds=s.avg_first_response_seconds,
        avg_resolution_seconds=s.avg_resolution_seconds,
        sla=SlaOut(
            compliance=s.sla_compliance,
            met=s.sla_met,
            missed=s.sla_missed,
            by_priority=s.sla_by_priority,
            window_hours=sla_hours,
        ),
        generated_at=s.generated_at,
        range=RangeOut(from_=report.start.isoformat(), to=report.end.isoformat()) if report else None,
        daily=[DailyOut(day=d, opened=o, resolved=r) for d, o, r in report.daily] if report else [],
        first_response=_target_out(report.first_response) if report else None,
        resolution=_target_out(report.resolution) if report else None,
        satisfaction=SatisfactionStatsOut(
            good=report.satisfaction_good, bad=report.satisfaction_rated - report.satisfaction_good,
            rated=report.satisfaction_rated, score=csat.score(report.satisfaction_good, report.satisfaction_rated),
        ) if report else None,
    )


async def cached_stats(request: Request, rt: Runtime, *, days: int, fresh: bool,  # type: ignore[type-arg]
                       date_from: str | None, date_to: str | None) -> StatsOut:
    """The stats for ?days=&from=&to=, through the app's StatsCache unless `fresh`."""
    start, end = stats_range(date_from, date_to, utcnow().date())

    async def whole_table() -> Stats:
        async with rt.db.read() as session:
            return await ticket_stats(session, rt.settings.sla_hours, days=days)

    async def ranged() -> SlaReport:
        async with rt.db.read() as session:
            return await sla_report(session, rt.settings, start, end)

    async def compute() -> StatsOut:
        # Read sessions of their own, not the handler's: only a cache miss queries, and the
        # cache may hand this computation's result to other requests waiting for the same key.
        # One each, at once: the database works on both in its threads (two cores).
        s, report = await asyncio.gather(whole_table(), ranged())
        return _stats_out(s, dict(rt.settings.sla_hours), report)

    cache: StatsCache = request.app.state.stats_cache
    return await cache.get((days, start, end), compute, fresh=fresh)
