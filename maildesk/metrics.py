"""Prometheus metrics: one registry per Runtime, counters bumped in-process, gauges read from the DB.

Counters and the pipeline histogram are counted by this process when the event happens
(intake, pipeline, sender, SLA pass), so they start at zero when the daemon starts, as
Prometheus expects of counters (`rate()` and `increase()` handle the reset). Queue depths
and ticket counts describe the shared database, so they are read from it at scrape time:
`refresh()` runs the queries (async), then `exposition()` renders the text format with the
public prometheus-client API. Each Runtime has its own CollectorRegistry: nothing global.
"""

from __future__ import annotations

from typing import Any, Iterable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from maildesk.db import Database
from maildesk.models import InboundMessage, OutboundMessage, Ticket
from maildesk.vocabulary import STATUSES

CONTENT_TYPE = CONTENT_TYPE_LATEST


class _DatabaseGauges(Collector):
    """maildesk_queue_depth{queue} and maildesk_tickets{status} from the last refresh()."""

    def __init__(self) -> None:
        self.queues: dict[str, float] = {"inbound": 0, "outbound": 0}
        self.tickets: dict[str, float] = {s: 0 for s in STATUSES}

    def collect(self) -> Iterable[GaugeMetricFamily]:
        depth = GaugeMetricFamily(
            "maildesk_queue_depth",
            "Messages waiting: inbound received but not yet processed, outbound pending or being sent.",
            labels=["queue"],
        )
        for queue, value in self.queues.items():
            depth.add_metric([queue], value)
        yield depth
        tickets = GaugeMetricFamily("maildesk_tickets", "Tickets in the database by status.", labels=["status"])
        for status, value in self.tickets.items():
            tickets.add_metric([status], value)
        yield tickets


class Metrics:
    """Everything /metrics shows for one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.inbound = Counter(
            "maildesk_inbound_messages", "Inbound messages: status=received|duplicate when taken in, "
            "processed|ignored|failed when the pipeline finished with them.",
            ["source", "status"], registry=r,
        )
        self.outbound = Counter(
            "maildesk_outbound_messages", "Delivery attempts by outcome: sent, retry (temporary failure), "
            "failed (given up), suppressed (address suppressed, not sent).",
            ["kind", "status"], registry=r,
        )
        self.pipeline_seconds = Histogram(
            "maildesk_pipeline_seconds", "Time the pipeline spent on one inbound message.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=r,
        )
        self.smtp_sessions = Gauge("maildesk_smtp_sessions", "Open SMTP sessions.", registry=r)
        self.sla_escalations = Counter(
            "maildesk_sla_escalations", "Tickets escalated for missing their first-response SLA.", registry=r,
        )
        self._db = _DatabaseGauges()
        r.register(self._db)

    async def refresh(self, db: Database) -> None:
        """Read the DB-derived gauges (called by the /metrics handler just before rendering)."""
        async with db.read() as session:
            inbound = await session.scalar(
                select(func.count()).select_from(InboundMessage).where(InboundMessage.status == "received")
            )
            outbound = await session.scalar(
                select(func.count()).select_from(OutboundMessage)
                .where(OutboundMessage.status.in_(("pending", "sending")))
            )
            by_status = (await session.execute(select(Ticket.status, func.count()).group_by(Ticket.status))).all()
        self._db.queues = {"inbound": float(inbound or 0), "outbound": float(outbound or 0)}
        tickets: dict[str, float] = {s: 0.0 for s in STATUSES}
        tickets.update({status: float(count) for status, count in by_status})
        self._db.tickets = tickets

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class SessionCounting:
    """Mixin for the SMTP protocol class: keeps maildesk_smtp_sessions equal to the open sessions.

    The handler (event_handler) carries the gauge as `session_gauge` when metrics are on.
    """

    event_handler: Any

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        gauge = getattr(self.event_handler, "session_gauge", None)
        # STARTTLS makes aiosmtpd call connection_made a second time for the same session.
        if gauge is not None and getattr(self, "_counted_gauge", None) is None:
            gauge.inc()
            self._counted_gauge = gauge

    def connection_lost(self, error: Exception | None) -> None:
        super().connection_lost(error)  # type: ignore[misc]
        gauge = getattr(self, "_counted_gauge", None)
        if gauge is not None:
            self._counted_gauge = None
            gauge.dec()
