"""The daemon: one asyncio loop running the listeners and the workers, and a clean shutdown.

`maildesk serve` runs the SMTP listener, the HTTP app (uvicorn), the pipeline worker, the
outbox sender, the SLA/auto-close timer and, when configured, the IMAP poller. On SIGTERM or
SIGINT it stops accepting connections, lets the message in flight finish (up to a grace
period), stops the workers between two units of work, and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from typing import Any, Awaitable, Callable

import uvicorn

from maildesk.db import at_schema_head, current_revision, head_revision
from maildesk.pipeline import worker as pipeline
from maildesk.outbound import sender
from maildesk.intake.store import WAKE_PIPELINE, Intake
from maildesk.outbound.outbox import WAKE_SENDER
from maildesk.intake.sessions import (
    BASE_RESERVE,
    SessionGate,
    install_accept_error_log,
    raise_open_file_limit,
    session_cap,
)
from maildesk.intake.smtp import SupportHandler, start_smtp
from maildesk.runtime import Runtime
from maildesk.tickets import sla
from maildesk.web.app import create_app
from maildesk.web.slowclients import header_guard, read_deadline
from maildesk.webhooks import delivery as webhook_delivery
from maildesk.webhooks.events import WAKE_WEBHOOKS

log = logging.getLogger("maildesk")

SHUTDOWN_GRACE_SECONDS = 30.0


class SchemaBehind(Exception):
    pass


async def check_schema(rt: Runtime) -> None:
    if await at_schema_head(rt.db):
        return  # the usual case, answered without loading alembic (maildesk/db.py: SCHEMA_HEAD)
    head = head_revision()
    current = await current_revision(rt.db)
    if current != head:
        raise SchemaBehind(
            f"the database schema is at revision {current or 'none'}, the code needs {head}: run `maildesk migrate`"
        )


async def _every(seconds: float, stop: asyncio.Event, name: str, job: Callable[[], Awaitable[Any]]) -> None:
    while not stop.is_set():
        try:
            await job()
        except Exception:
            log.exception("%s pass failed", name)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=seconds)


def settle_garbage_collector() -> None:
    """Take what start-up built (modules, the app, its routes, SQLAlchemy's mappers: ~150,000
    objects, all living as long as the process) out of the cyclic collector's view.

    Every full collection otherwise walks all of them, ~35 ms during which the event loop,
    and so every HTTP request and SMTP reply in flight, waits (issue 14: the web p99). After
    gc.freeze() a full collection walks only what was created later (~2 ms). Collected first,
    so start-up's own garbage is freed rather than frozen (the gc module's documentation
    recommends this order for long-running servers)."""
    gc.collect()
    gc.freeze()


async def _sla_pass(rt: Runtime) -> None:
    await sla.check_sla(rt)  # logs one line per escalated ticket
    closed = await sla.autoclose(rt)
    if closed:
        log.info("auto-closed %s", ", ".join(closed))


async def serve(rt: Runtime) -> None:
    """Run until SIGTERM/SIGINT."""
    settings = rt.settings
    await check_schema(rt)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    wake_pipeline, wake_sender, wake_webhooks = asyncio.Event(), asyncio.Event(), asyncio.Event()
    rt.db.on_commit(WAKE_PIPELINE, wake_pipeline.set)
    rt.db.on_commit(WAKE_SENDER, wake_sender.set)
    rt.db.on_commit(WAKE_WEBHOOKS, wake_webhooks.set)

    # Running out of descriptors must never take HTTP or the database down (issue 11.1):
    # use all the process may have, and cap SMTP sessions below it with a reserve.
    install_accept_error_log(loop)
    soft_limit = raise_open_file_limit()
    reserve = BASE_RESERVE + settings.http_max_connections
    cap = session_cap(settings.smtp_max_sessions, soft_limit, reserve)
    if cap < settings.smtp_max_sessions:
        log.warning("SMTP sessions capped at %d (not %d): the open-file limit is %d and %d are kept for "
                    "HTTP and the database", cap, settings.smtp_max_sessions, soft_limit, reserve)
    gate = SessionGate(cap, settings.smtp_max_sessions_per_ip)

    intake = Intake(rt.db, rt.metrics)
    handler = SupportHandler(settings, intake, rt.limits)
    handler.session_gauge = rt.metrics.smtp_sessions
    smtp_server = await start_smtp(settings, handler, gate)
    log.info("SMTP listening on %s%s", settings.smtp_listen, " (STARTTLS offered)" if settings.smtp_tls_cert else "")

    config = uvicorn.Config(
        read_deadline(create_app(rt), settings.http_read_seconds),
        host=settings.http_listen.host,
        port=settings.http_listen.port,
        log_level="warning",
        log_config=None,  # uvicorn's lines go through our handler and format (maildesk/logs.py)
        access_log=False,
        lifespan="on",
        # X-Forwarded-For/-Proto only from MAILDESK_TRUSTED_PROXIES (uvicorn would trust 127.0.0.1).
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies),
        http=header_guard(settings.http_read_seconds),
        # Over this many connections (or requests in progress) uvicorn answers 503.
        limit_concurrency=settings.http_max_connections,
        timeout_keep_alive=5,
        h11_max_incomplete_event_size=64 * 1024,  # a header block larger than this is a 400
    )
    # uvicorn's documented programmatic entry point, Server.serve(): while it runs it takes
    # SIGINT/SIGTERM for itself (and gives them back when it returns), so a signal either
    # reaches our handler (stop) or ends the HTTP task; the daemon treats both as the signal.
    http = uvicorn.Server(config)
    http_task = asyncio.create_task(http.serve(), name="http")
    while not http.started and not http_task.done():
        await asyncio.sleep(0.02)
    if http_task.done():
        smtp_server.close()
        raise RuntimeError(f"HTTP server could not start on {settings.http_listen}")
    log.info("HTTP listening on http://%s", settings.http_listen)
    settle_garbage_collector()

    workers = [
        asyncio.create_task(pipeline.worker(rt, wake_pipeline, stop), name="pipeline"),
        asyncio.create_task(sender.worker(rt, wake_sender, stop), name="sender"),
        asyncio.create_task(webhook_delivery.worker(rt, wake_webhooks, stop), name="webhooks"),
        asyncio.create_task(_every(settings.sla_check_seconds, stop, "SLA", lambda: _sla_pass(rt)), name="sla"),
    ]
    if not rt.db.is_sqlite:
        # Other daemons on the same database hear of new work at once, not at their next poll.
        from maildesk.wakeup import CrossWake

        cross = CrossWake(rt.db, {WAKE_PIPELINE: wake_pipeline, WAKE_SENDER: wake_sender,
                                  WAKE_WEBHOOKS: wake_webhooks})
        workers.append(asyncio.create_task(cross.run(stop), name="wakeups"))
    if settings.imap is not None:
        from maildesk.intake import imap

        workers.append(asyncio.create_task(imap.worker(rt, intake, stop), name="imap"))
        log.info("IMAP polling %s@%s:%s/%s", settings.imap.username, settings.imap.host,
                 settings.imap.port, settings.imap.folder)

    stopping = asyncio.create_task(stop.wait(), name="stop")
    await asyncio.wait([stopping, http_task], return_when=asyncio.FIRST_COMPLETED)
    stop.set()
    await stopping
    log.info("shutting down: no new connections; finishing work in flight")
    smtp_server.close()
    http.should_exit = True
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(handler.idle.wait(), timeout=SHUTDOWN_GRACE_SECONDS)
    wake_pipeline.set()
    wake_sender.set()
    wake_webhooks.set()
    done, pending = await asyncio.wait([*workers, http_task], timeout=SHUTDOWN_GRACE_SECONDS)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    await intake.close()
    await rt.db.dispose()
    log.info("stopped")
