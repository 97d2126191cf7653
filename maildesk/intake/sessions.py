"""How many SMTP sessions the daemon holds, and what it does when descriptors run short.

Every session is an open file descriptor. Without a cap, ~1,100 idle connections under a
soft RLIMIT_NOFILE of 1024 made accept() fail on both listeners, so HTTP hung and the
database and attachment files could not be opened. As Postfix does it:

- sessions are capped in total and per client IP; over either cap the client gets
  `421 4.7.0` and the connection is closed (RFC 5321 §3.8: a server may close with 421
  when it must, and the client retries later);
- the soft open-file limit is raised to the hard one at start, and the total cap is kept
  below it with a reserve of descriptors for HTTP, the database and attachment files;
- accept() failing for lack of descriptors is logged at most once every few seconds
  instead of a traceback per attempt.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
import time
from collections import Counter
from typing import Any, Callable

log = logging.getLogger("maildesk.smtp")

# Descriptors kept for everything but SMTP sessions, on top of the HTTP connection cap: the
# database (SQLite file and journal, or the PostgreSQL pool), attachment and outbox files,
# the listeners, logs, the interpreter's own.
BASE_RESERVE = 64

TOO_MANY = "421 4.7.0 {host} Error: too many connections; try again later"
TOO_MANY_FROM_YOU = "421 4.7.0 {host} Error: too many connections from {ip}; try again later"
IDLE = "421 4.4.2 {host} Error: timeout exceeded"

_ACCEPT_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class LogEvery:
    """One log line per `interval` seconds for a repeated event, with how many times it
    happened since the last line (the count is the message's first argument)."""

    def __init__(self, level: int, interval: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.level, self.interval, self.clock = level, interval, clock
        self.count = 0
        self.last = float("-inf")
        self.pending: tuple[str, tuple[Any, ...]] | None = None
        self.flush_timer: asyncio.TimerHandle | None = None

    def note(self, message: str, *args: Any) -> None:
        self.count += 1
        self.pending = (message, args)
        now = self.clock()
        if now - self.last >= self.interval:
            self.flush()
        elif self.flush_timer is None:
            # The rest of a burst is said once the interval is over, not left unsaid.
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self.flush_timer = loop.call_later(self.interval - (now - self.last), self.flush)

    def flush(self) -> None:
        self.flush_timer = None
        if self.pending is not None and self.count:
            message, args = self.pending
            log.log(self.level, message, self.count, *args)
        self.last, self.count, self.pending = self.clock(), 0, None


class SessionGate:
    """Counts open sessions in total and by client IP; says when one more is too many."""

    def __init__(self, max_total: int, max_per_ip: int) -> None:
        self.max_total = max_total
        self.max_per_ip = max_per_ip
        self.total = 0
        self.by_ip: Counter[str] = Counter()
        self.refusals = LogEvery(logging.WARNING)
        self.idle_closes = LogEvery(logging.INFO)

    def admit(self, ip: str) -> str | None:
        """Count a new session from `ip` and return None, or return why it is refused
        (`total` or `ip`) and count nothing."""
        if self.total >= self.max_total:
            return "total"
        if self.by_ip[ip] >= self.max_per_ip:
            return "ip"
        self.total += 1
        self.by_ip[ip] += 1
        return None

    def refused(self, ip: str, why: str) -> None:
        """Log refusals at most once every few seconds: a flood must not flood the log."""
        self.refusals.note("refused %d SMTP connection(s) over the %s cap (last from %s; %d sessions open)",
                           "per-IP" if why == "ip" else "session", ip, self.total)

    def idle_closed(self, ip: str, seconds: float) -> None:
        self.idle_closes.note("closed %d SMTP session(s) with no transaction within %g s (last from %s)",
                              seconds, ip)

    def release(self, ip: str) -> None:
        self.total -= 1
        self.by_ip[ip] -= 1
        if self.by_ip[ip] <= 0:
            del self.by_ip[ip]


def raise_open_file_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (no privilege needed); return the soft
    limit now in force. An unlimited hard limit is taken as 1,048,576 (Linux's default
    nr_open), since the soft limit cannot be set to infinity by an unprivileged process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft if soft != resource.RLIM_INFINITY else target
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as exc:
        log.warning("could not raise the open-file limit from %d to %d: %s", soft, target, exc)
        return soft
    return target


def session_cap(configured: int, soft_limit: int, reserve: int) -> int:
    """The SMTP session cap that cannot exhaust descriptors: the configured one, or fewer when
    the open-file limit minus the reserve is lower (at least 1)."""
    return max(1, min(configured, soft_limit - reserve))


class AcceptErrorLog:
    """A loop exception handler that reports accept() running out of descriptors at most once
    every `interval` seconds, with how many were left unsaid, and no traceback; everything
    else goes to the loop's default handler. asyncio already stops accepting on that listener
    for a second and retries (selector_events, ACCEPT_RETRY_DELAY)."""

    def __init__(self, interval: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self.last = -interval
        self.unsaid = 0

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in _ACCEPT_ERRNOS and "accept" in str(context.get("message", "")):
            now = self.clock()
            if now - self.last < self.interval:
                self.unsaid += 1
                return
            more = f" ({self.unsaid} more since the last report)" if self.unsaid else ""
            log.warning("cannot accept connections: %s; retrying%s", exc.strerror or exc, more)
            self.last, self.unsaid = now, 0
            return
        loop.default_exception_handler(context)


def install_accept_error_log(loop: asyncio.AbstractEventLoop, interval: float = 5.0) -> AcceptErrorLog:
    handler = AcceptErrorLog(interval)
    loop.set_exception_handler(handler)
    return handler
