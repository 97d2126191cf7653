"""The webhook delivery worker: POSTs queued events to their endpoints, with retries over hours.

Like the mail sender (outbound/sender.py), rows are claimed, leased and settled as
maildesk/leases.py describes (a short claim transaction, SKIP LOCKED, sent outside any
transaction, each attempt recorded in a second one). Only a 2xx answer counts as
delivered; a redirect is a failure (never followed: it could point anywhere, including
inside the network), as are other statuses, timeouts and refused connections. The URL's
host is checked again before each attempt (urls.py) and the request goes to the checked
address. Retries follow MAILDESK_WEBHOOK_RETRY_SECONDS (by default the Standard Webhooks
schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h). When a delivery has failed on every
attempt and the endpoint had no success since that event, the endpoint is disabled, its
queued deliveries are marked failed, and the admins are emailed (`webhook_disabled`).
A daemon that dies mid-attempt leaves a lease that expires and the row is tried again, with
the same `webhook-id`, so receivers can drop the repeat.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk import leases
from maildesk.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, utcnow
from maildesk.context import Context
from maildesk.outbound.outbox import Outbox
from maildesk.outbound.recipients import admin_recipients
from maildesk.webhooks import signing, urls
from maildesk.workers import run_worker

if TYPE_CHECKING:
    import httpx


class DeliveryContext(Context, Protocol):
    """The delivery worker also tells admins, by mail, when it disables an endpoint."""

    outbox: Outbox


log = logging.getLogger("maildesk.webhooks")

_BATCH = 50
_PARALLEL = 8
_MAX_DEFER_SECONDS = 1.0
_USER_AGENT = "maildesk-webhooks"


@dataclass
class _Job:
    id: int
    endpoint_id: int
    url: str
    secret: str
    event_id: str
    event_type: str
    payload: str
    attempts: int


@dataclass
class _Result:
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _where(url: str) -> str:
    """The URL without its path and query, which may hold the receiver's token: for logs and mail."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class Deliverer:
    def __init__(self, rt: "DeliveryContext") -> None:
        self.rt = rt
        self.settings = rt.settings
        self._lease = timedelta(seconds=self.settings.webhook_timeout_seconds * 2 + 60)

    async def _claim(self) -> list[_Job]:
        now = utcnow()
        enabled = select(WebhookEndpoint.id).where(WebhookEndpoint.enabled.is_(True))
        async with self.rt.db.write() as session:
            rows = (
                await session.scalars(
                    leases.claim_query(WebhookDelivery, now, _BATCH, WebhookDelivery.endpoint_id.in_(enabled))
                )
            ).all()
            if not rows:
                return []
            endpoints = {
                e.id: e
                for e in await session.scalars(
                    select(WebhookEndpoint).where(WebhookEndpoint.id.in_({r.endpoint_id for r in rows}))
                )
            }
            jobs = []
            for row in rows:
                endpoint = endpoints[row.endpoint_id]
                leases.lease(row, now, self._lease)
                jobs.append(_Job(row.id, endpoint.id, endpoint.url, endpoint.secret, row.event_id,
                                 row.event_type, row.payload, row.attempts))
            return jobs

    async def _send(self, client: httpx.AsyncClient, job: _Job) -> _Result:
        import httpx  # imported by _deliver already: see there

        started = time.monotonic()

        def result(code: int | None, error: str | None) -> _Result:
            return _Result(code, error, int((time.monotonic() - started) * 1000))

        try:
            target = await urls.resolve(job.url, allow_private=self.settings.webhook_allow_private)
        except urls.UnsafeUrl as exc:
            return result(None, f"not sent: {exc}")
        # Connect to the address just checked, not to whatever a second lookup returns;
        # Host, TLS SNI and the certificate check still use the name in the URL.
        url = httpx.URL(job.url).copy_with(host=target.address)
        host_header = f"[{target.host}]" if ":" in target.host else target.host  # IPv6 literal: RFC 3986 3.2.2
        if target.port != (443 if target.scheme == "https" else 80):
            host_header += f":{target.port}"
        headers = {
            "content-type": "application/json",
            "user-agent": _USER_AGENT,
            "host": host_header,
            **signing.headers(job.secret, job.event_id, job.payload),
        }
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        try:
            # The answer's body is never read: only its status counts.
            async with client.stream("POST", url, content=job.payload.encode("utf-8"), headers=headers,
                                     extensions=extensions) as response:
                code = response.status_code
        except httpx.TimeoutException:
            return result(None, f"no answer within {self.settings.webhook_timeout_seconds:g}s")
        except httpx.HTTPError as exc:
            return result(None, f"{type(exc).__name__}: {' '.join(str(exc).split())[:300] or 'request failed'}")
        if 200 <= code < 300:
            return result(code, None)
        if 300 <= code < 400:
            return result(code, f"HTTP {code}: redirects are not followed")
        return result(code, f"HTTP {code}")

    async def _deliver(self, jobs: list[_Job]) -> list[_Result]:
        # httpx (and the CLI libraries its package imports, rich and pygments: ~100 modules,
        # ~4.5 MB) only once there is a webhook to deliver: most desks have none, and the
        # daemon's idle memory has a target (issue 14, bench/memory.py).
        import httpx

        limit = asyncio.Semaphore(_PARALLEL)
        async with httpx.AsyncClient(
            follow_redirects=False,
            timeout=self.settings.webhook_timeout_seconds,
            trust_env=False,  # a proxy from the environment would bypass the address check
        ) as client:

            async def one(job: _Job) -> _Result:
                async with limit:
                    return await self._send(client, job)

            return await asyncio.gather(*(one(job) for job in jobs))

    async def _record(self, jobs: list[_Job], results: list[_Result]) -> None:
        now = utcnow()
        async with self.rt.db.write() as session:
            for job, result in zip(jobs, results):
                log.info("webhook %s %s to endpoint %d (%s): attempt %d %s", job.event_type, job.event_id,
                         job.endpoint_id, _where(job.url), job.attempts + 1,
                         f"HTTP {result.status_code}" if result.ok else f"failed: {result.error}")
                row = await leases.still_claimed(session, WebhookDelivery, job.id)
                if row is None:
                    continue  # endpoint deleted meanwhile, or the lease expired and another daemon took it
                session.add(WebhookAttempt(delivery_id=row.id, attempted_at=now, status_code=result.status_code,
                                           error=result.error, duration_ms=result.duration_ms))
                row.last_status_code, row.last_error = result.status_code, result.error
                endpoint = await session.get(WebhookEndpoint, job.endpoint_id)
                live = endpoint is not None and endpoint.enabled
                attempt = job.attempts + 1
                retry_in = leases.next_delay(self.settings.webhook_retry_seconds, attempt) if live else None
                status = leases.settle(row, attempt, now, ok=result.ok, done="delivered", retry_in=retry_in)
                if status == "delivered":
                    row.delivered_at = now
                    if endpoint is not None:
                        endpoint.last_success_at = now
                elif status == leases.FAILED and endpoint is not None and endpoint.enabled and (
                    endpoint.last_success_at is None or endpoint.last_success_at < row.created_at
                ):
                    await self._disable(session, endpoint, row, now)

    async def _disable(self, session: AsyncSession, endpoint: WebhookEndpoint, row: WebhookDelivery,
                       now: datetime) -> None:
        hours = (now - row.created_at).total_seconds() / 3600
        endpoint.enabled, endpoint.disabled_at = False, now
        endpoint.disabled_reason = (
            f"all {row.attempts} attempts at event {row.event_id} failed over {hours:.1f} hours "
            f"with no success in between; last: {row.last_error}"
        )
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.status == "pending")
            .values(status="failed", last_error="not sent: the endpoint was disabled")
        )
        log.warning("webhook endpoint %d (%s) disabled: %s", endpoint.id, _where(endpoint.url),
                    endpoint.disabled_reason)
        context = {"endpoint_id": endpoint.id, "where": _where(endpoint.url), "reason": endpoint.disabled_reason}
        for admin in await admin_recipients(session, self.settings):
            await self.rt.outbox.enqueue(session, "webhook_disabled", admin, None, context=context)

    async def run_once(self) -> int:
        jobs = await self._claim()
        if not jobs:
            return 0
        await self._record(jobs, await self._deliver(jobs))
        return len(jobs)


async def worker(rt: "DeliveryContext", wake: asyncio.Event, stop: asyncio.Event, poll_seconds: float = 1.0) -> None:
    deliverer = Deliverer(rt)

    async def one_pass() -> int:
        # Like the other workers, hold back while SMTP clients wait for their 250s (bounded).
        await rt.db.background_turn(_MAX_DEFER_SECONDS)
        return await deliverer.run_once()

    await run_worker("webhooks", one_pass, wake, stop, poll_seconds)
