"""The API's shapes for the stats dashboard and the SLA pass."""

from __future__ import annotations

from datetime import datetime

import msgspec
from msgspec import Struct


class EscalatedOut(Struct):
    escalated: list[str]


class DayCount(Struct):
    day: str  # YYYY-MM-DD (UTC)
    count: int


class SlaOut(Struct):
    """First-response SLA compliance; see maildesk.tickets.stats for the definition."""

    compliance: float | None  # met / total, None when there are no tickets
    met: int
    missed: int
    by_priority: dict[str, float | None]
    window_hours: dict[str, float]


class ComplianceOut(Struct):
    met: int
    missed: int
    compliance: float | None  # met / (met + missed), None without tickets


class TargetOut(Struct):
    """One SLA target (first response or resolution) over the tickets opened in the range."""

    target_hours: dict[str, float]  # per priority, business hours
    median_hours: float | None  # business hours, over the clocks that stopped
    p90_hours: float | None
    samples: int  # how many clocks stopped (answered / resolved)
    met: int
    missed: int
    compliance: float | None
    by_priority: dict[str, ComplianceOut]
    by_category: dict[str, ComplianceOut]


class DailyOut(Struct):
    day: str  # YYYY-MM-DD (UTC)
    opened: int
    resolved: int


class RangeOut(Struct):
    from_: str = msgspec.field(name="from")
    to: str = ""


class SatisfactionStatsOut(Struct):
    """Ratings given in the stats range: score = good / rated (null when none)."""

    good: int
    bad: int
    rated: int
    score: float | None


class StatsOut(Struct):
    total: int
    by_status: dict[str, int]
    by_priority: dict[str, int]
    by_category: dict[str, int]
    by_day: list[DayCount]
    open_escalated: int
    avg_first_response_seconds: float | None
    avg_resolution_seconds: float | None
    sla: SlaOut
    generated_at: datetime
    # The SLA report over ?from=&to= (tickets opened in the range; tickets/range_report.sla_report).
    range: RangeOut | None = None
    daily: list[DailyOut] = msgspec.field(default_factory=list)
    first_response: TargetOut | None = None
    resolution: TargetOut | None = None
    satisfaction: SatisfactionStatsOut | None = None
