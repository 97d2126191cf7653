"""Helpers the benchmarks share (free_port and wait_until come from tests/support.py, shared
with the test suite): a counting SMTP sink, a real `maildesk serve`
on a fresh SQLite database, concurrent smtplib senders that time each message to its 250,
an RSS sampler, and table printing.

Nothing here imports maildesk: the daemon runs as its own process, exactly as an operator
starts it, so the benchmark process (senders, sink) never shares an interpreter with it.
"""

from __future__ import annotations

import http.client
import os
import secrets
import signal
import smtplib
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from aiosmtpd.controller import Controller

# The benchmarks run as scripts from the repository root (python bench/ingest.py): make the
# shared testing helpers (tests/support.py) importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import free_port, wait_until  # noqa: E402  (shared with the test suite)

SUPPORT = "support@example.com"


def wait_for_port(port: int, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    def ready() -> bool:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False

    wait_until(ready, timeout, 0.05, f"port {port}")


# --- the sink: where maildesk delivers its outbound mail --------------------------------------


class _SinkHandler:
    def __init__(self, sink: "Sink") -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw: bytes = envelope.original_content or b""
        head = raw[: raw.find(b"\r\n\r\n") if b"\r\n\r\n" in raw else 8192]
        with self.sink.lock:
            self.sink.total += 1
            if b"\nAuto-Submitted: auto-replied" in head and b"has been received" in head:
                self.sink.confirmations += 1
            self.sink.last_at = time.perf_counter()
        return "250 2.0.0 Ok"


@dataclass
class Sink:
    """An aiosmtpd server (in a thread) that counts what it is sent and keeps nothing."""

    port: int = 0
    total: int = 0
    confirmations: int = 0
    last_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    _controller: Controller | None = None

    def start(self) -> "Sink":
        self.port = self.port or free_port()
        self._controller = Controller(_SinkHandler(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()

    def reset(self) -> None:
        with self.lock:
            self.total = self.confirmations = 0
            self.last_at = 0.0


# --- a real maildesk daemon -----------------------------------------------------------------


@dataclass
class Daemon:
    """`python -m maildesk serve` on free ports with a fresh, migrated SQLite database."""

    workdir: Path
    relay_port: int | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    smtp_port: int = 0
    http_port: int = 0
    proc: subprocess.Popen | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def db_path(self) -> Path:
        return self.workdir / "maildesk.db"

    def start(self, timeout: float = 60.0, attempts: int = 3) -> "Daemon":
        """Start it; on a shared machine a free port can be taken before the daemon binds it,
        so a daemon that does not come up is tried again on other ports."""
        for attempt in range(attempts):
            try:
                return self._start(timeout)
            except (RuntimeError, TimeoutError):
                self.stop(timeout=10)
                if attempt == attempts - 1:
                    raise
        return self

    def _start(self, timeout: float) -> "Daemon":
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.db_path.exists():  # a failed attempt: start again from a fresh database
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.db_path}{suffix}").unlink(missing_ok=True)
        self.smtp_port, self.http_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAILDESK_")}
        env.update(
            MAILDESK_DATABASE_URL=f"sqlite:///{self.db_path}",
            MAILDESK_SMTP_LISTEN=f"127.0.0.1:{self.smtp_port}",
            MAILDESK_HTTP_LISTEN=f"127.0.0.1:{self.http_port}",
            MAILDESK_SUPPORT_ADDRESS=SUPPORT,
            MAILDESK_BASE_URL=f"http://127.0.0.1:{self.http_port}",
            MAILDESK_DATA_DIR=str(self.workdir / "data"),
            MAILDESK_SECRET_KEY="bench-" + secrets.token_hex(16),
            MAILDESK_OUTBOX_RETRY_SECONDS="0.5",
            MAILDESK_SLA_CHECK_SECONDS="3600",
            # Every bench sender connects from 127.0.0.1: the per-IP cap (default 10) is not measured here.
            MAILDESK_SMTP_MAX_SESSIONS_PER_IP="1000",
        )
        if self.relay_port:
            env["MAILDESK_RELAY_URL"] = f"smtp://127.0.0.1:{self.relay_port}"
        env.update(self.extra_env)
        self.env = env
        log = open(self.workdir / "daemon.log", "ab")
        migrated = subprocess.run([sys.executable, "-m", "maildesk", "migrate"], env=env,
                                  stdout=log, stderr=subprocess.STDOUT)
        if migrated.returncode != 0:
            raise RuntimeError(f"maildesk migrate failed:\n{self.log()}")
        self.proc = subprocess.Popen([sys.executable, "-m", "maildesk", "serve"], env=env,
                                     stdout=log, stderr=subprocess.STDOUT)
        wait_for_port(self.smtp_port, timeout, self.proc)
        wait_until(self._healthy, timeout, 0.05, "maildesk /healthz")
        return self

    def _healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"maildesk serve exited with {self.proc.returncode}:\n{self.log()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/healthz", timeout=1) as r:
                return r.status == 200
        except (OSError, http.client.HTTPException):
            return False

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self, timeout: float = 60.0) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def log(self) -> str:
        path = self.workdir / "daemon.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def query(self, sql: str) -> list[tuple]:
        """A read-only look at the daemon's database (WAL: never blocks its writer)."""
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()

    def processed(self) -> int:
        return self.query("SELECT count(*) FROM inbound_messages WHERE status != 'received'")[0][0]

    def statuses(self) -> dict[str, int]:
        return dict(self.query("SELECT status, count(*) FROM inbound_messages GROUP BY status"))


def scratch_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


# --- senders ------------------------------------------------------------------------------


@dataclass
class SendResult:
    latencies: list[float]  # seconds from MAIL FROM to the 250 after DATA, per message
    first_at: float  # perf_counter when the first message started
    last_at: float  # perf_counter when the last 250 arrived
    errors: list[str]
    waited: int  # replies that had to wait for their original's 250

    @property
    def seconds(self) -> float:
        return max(self.last_at - self.first_at, 1e-9)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds


def send_all(port: int, messages: Sequence[Any], concurrency: int, timeout: float = 120.0) -> SendResult:
    """Send `messages` (corpus.Message) over `concurrency` smtplib connections, each sending one
    message after another. A reply is sent only once its original got its 250."""
    accepted = [threading.Event() for _ in messages]
    position = iter(range(len(messages)))
    take = threading.Lock()
    latencies: list[float] = [0.0] * len(messages)
    errors: list[str] = []
    waited = [0]
    firsts: list[float] = []
    lasts: list[float] = []
    start = threading.Barrier(concurrency)

    def sender() -> None:
        client = smtplib.SMTP("127.0.0.1", port, timeout=timeout)
        client.ehlo("bench.example.net")
        start.wait()
        first = last = 0.0
        try:
            while True:
                with take:
                    i = next(position, None)
                if i is None:
                    break
                msg = messages[i]
                if msg.reply_to_index is not None and not accepted[msg.reply_to_index].is_set():
                    waited[0] += 1
                    accepted[msg.reply_to_index].wait(timeout)
                t0 = time.perf_counter()
                first = first or t0
                try:
                    client.sendmail(msg.sender, [SUPPORT], msg.raw)
                except (smtplib.SMTPException, OSError) as exc:
                    errors.append(f"message {i}: {type(exc).__name__}: {exc}"[:300])
                    try:
                        client.close()
                        client = smtplib.SMTP("127.0.0.1", port, timeout=timeout)
                        client.ehlo("bench.example.net")
                    except OSError:
                        pass
                last = time.perf_counter()
                latencies[i] = last - t0
                accepted[i].set()
        finally:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()
            if first:
                firsts.append(first)
                lasts.append(last)

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return SendResult(latencies, min(firsts), max(lasts), errors, waited[0])


# --- memory -------------------------------------------------------------------------------


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def hwm_bytes(pid: int) -> int:
    """The kernel's exact peak RSS (VmHWM) since start or since reset_hwm."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def reset_hwm(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux: write 5 to clear_refs; needs the same user)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


class RssSampler:
    """Samples a process's VmRSS every `interval` seconds in a thread; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid, self.interval = pid, interval
        self.peak = 0
        self.samples = 0
        self.timeline: list[tuple[float, int]] = []  # (perf_counter, bytes)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                rss = rss_bytes(self.pid)
                self.timeline.append((time.perf_counter(), rss))
                self.peak = max(self.peak, rss)
                self.samples += 1
            except OSError:
                return
            self._stop.wait(self.interval)

    def peak_between(self, start: float, end: float) -> int:
        return max((rss for t, rss in self.timeline if start <= t <= end), default=0)

    def __enter__(self) -> "RssSampler":
        self.peak = rss_bytes(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


# --- figures ------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(c.rjust(w) if n and i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def machine() -> str:
    cores = os.cpu_count()
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    return f"python {sys.version.split()[0]}, {cores} cores, load average {load:.2f} at start"
