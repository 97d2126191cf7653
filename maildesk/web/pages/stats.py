"""The admin stats page: GET /admin/support/stats as HTML when a browser asks for it.

The JSON endpoint and the page share one path and one computation; the handler answers HTML
when the request prefers text/html (a browser) and JSON otherwise (API clients, `*/*`).
Errors follow the same choice: a browser gets error pages and the sign-in redirect.
The chart is an inline SVG drawn here (no JavaScript, nothing from other origins).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request, Response

from maildesk.web.pages import render as pages
from maildesk.web.schemas import StatsOut

CHART_HEIGHT = 120
BAR_GAP = 2


@dataclass
class Bar:
    x: int
    y: int
    width: int
    height: int
    label: str


def chart(daily: list[Any], *, bar_width: int = 12) -> dict[str, Any]:
    """Bars for tickets opened and resolved per day, scaled to the busiest day."""
    top = max([1, *(max(d.opened, d.resolved) for d in daily)])
    step = 2 * bar_width + BAR_GAP * 2
    opened, resolved = [], []
    for i, d in enumerate(daily):
        x = i * step
        for bars, value, offset, what in ((opened, d.opened, 0, "opened"), (resolved, d.resolved, bar_width, "resolved")):
            h = round(CHART_HEIGHT * value / top)
            bars.append(Bar(x + offset, CHART_HEIGHT - h, bar_width, h, f"{d.day}: {value} {what}"))
    return {"width": max(step * len(daily), step), "height": CHART_HEIGHT, "top": top,
            "opened": opened, "resolved": resolved}


def stats_page(request: Request[Any, Any, Any], stats: StatsOut) -> Response[str]:
    pages.admin_user(request)
    return pages.render(request, "stats.html", {"s": stats, "chart": chart(stats.daily)})
