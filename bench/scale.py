"""Throughput of whole daemons: SMTP in -> committed ticket -> confirmation delivered to a sink.

    .venv/bin/python bench/scale.py [--messages 1000] [--senders 8] [--only sqlite,pg1,pg2]

Runs, in one go and with the same load, one daemon on SQLite, one daemon on PostgreSQL and
two daemons sharing one PostgreSQL database (and, with --only ...,pg2door, two daemons of which
only the first receives SMTP, so the second finds its work through the database alone). It starts everything it needs: a throwaway
PostgreSQL (scripts/pg.sh), an SMTP sink in this process, and real `maildesk serve`
processes. `--senders` client threads deliver the messages over SMTP (each from its own
requester, round-robin over the daemons, one connection per thread and daemon, many messages
per connection). A message counts as done when its confirmation (the mail that proves the
ticket was committed) reaches the sink.

Prints a table: accepted/s (every 250 received), end-to-end/s (the last confirmation in),
and latency from a message's 250 to its confirmation at the sink (p50, p95, max).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from maildesk.db import migrate  # noqa: E402
from tests.support import free_port  # noqa: E402  (shared with the test suite)


# --- the sink -------------------------------------------------------------------------------


class _Sink:
    """Records when each confirmation arrives, keyed by the Message-ID it answers."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.expect = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        now = time.monotonic()
        headers = BytesHeaderParser().parsebytes(envelope.original_content)
        answered = str(headers.get("In-Reply-To", "")).strip().strip("<>")
        if "has been received" in str(headers.get("Subject", "")) and answered:
            with self.lock:
                self.arrived.setdefault(answered, now)
                if len(self.arrived) >= self.expect:
                    self.done.set()
        return "250 2.0.0 Ok"

    def reset(self, expect: int) -> None:
        with self.lock:
            self.arrived.clear()
            self.expect = expect
            self.done.clear()


# --- databases --------------------------------------------------------------------------------


class Postgres:
    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="maildesk-bench-pg-")
        os.rmdir(self.dir)  # pg.sh wants a new or empty directory; it creates it
        out = subprocess.run([str(ROOT / "scripts/pg.sh"), "start", self.dir], check=True,
                             capture_output=True, text=True)
        self.url = out.stdout.strip().splitlines()[-1]

    def _admin(self, sql: str) -> None:
        import asyncpg

        async def go() -> None:
            conn = await asyncpg.connect(self.url)
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        asyncio.run(go())

    def new_database(self) -> str:
        name = "bench_" + secrets.token_hex(4)
        self._admin(f'CREATE DATABASE "{name}"')
        return self.url.rsplit("/", 1)[0] + "/" + name

    def stop(self) -> None:
        subprocess.run([str(ROOT / "scripts/pg.sh"), "stop", self.dir], check=False)


# --- daemons ---------------------------------------------------------------------------------


@dataclass
class Daemon:
    proc: subprocess.Popen[bytes]
    smtp_port: int
    http_port: int
    log: Path


def start_daemon(db_url: str, data_dir: Path, sink_port: int, secret: str) -> Daemon:
    data_dir.mkdir(parents=True, exist_ok=True)
    smtp_port, http_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILDESK_")}
    env.update(
        MAILDESK_DATABASE_URL=db_url,
        MAILDESK_SMTP_LISTEN=f"127.0.0.1:{smtp_port}",
        MAILDESK_HTTP_LISTEN=f"127.0.0.1:{http_port}",
        MAILDESK_SUPPORT_ADDRESS="support@example.com",
        MAILDESK_RELAY_URL=f"smtp://127.0.0.1:{sink_port}",
        MAILDESK_DATA_DIR=str(data_dir),
        MAILDESK_SECRET_KEY=secret,
        MAILDESK_LOG_LEVEL="INFO",
        MAILDESK_SMTP_MAX_SESSIONS_PER_IP="1000",  # every sender is on 127.0.0.1
    )
    log = data_dir / "daemon.log"
    proc = subprocess.Popen([sys.executable, "-m", "maildesk", "serve"], env=env,
                            stdout=open(log, "ab"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"maildesk serve exited {proc.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", smtp_port), timeout=0.5) as s:
                if s.recv(100).startswith(b"220"):
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("maildesk serve did not listen within 60 s")
        time.sleep(0.1)
    return Daemon(proc, smtp_port, http_port, log)


def stop_daemon(daemon: Daemon) -> None:
    if daemon.proc.poll() is None:
        daemon.proc.send_signal(signal.SIGTERM)
        try:
            daemon.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.proc.kill()
            daemon.proc.wait()


# --- load -----------------------------------------------------------------------------------


def _message(i: int, run: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"Requester {i} <req{i:05d}.{run}@example.org>"
    msg["To"] = "support@example.com"
    msg["Subject"] = f"Bench question {i}"
    msg["Message-ID"] = f"<bench-{run}-{i}@client.example.org>"
    msg["Date"] = "Mon, 23 Nov 2026 10:00:00 +0000"
    msg.set_content(f"Hello,\n\nthis is benchmark message {i}. My order is late.\n\nThanks,\nRequester {i}\n")
    return msg


@dataclass
class Result:
    name: str
    daemons: int
    messages: int
    accept_seconds: float = 0.0
    total_seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    missing: int = 0


def run_load(name: str, daemons: list[Daemon], count: int, senders: int, sink: _Sink, timeout: float,
             doors: int | None = None) -> Result:
    """Send `count` messages; message i goes to daemon i % doors (default: every daemon)."""
    doors = doors or len(daemons)
    run = secrets.token_hex(3)
    accepted: dict[str, float] = {}
    lock = threading.Lock()
    errors: list[str] = []

    def client(thread: int) -> None:
        conns: dict[int, smtplib.SMTP] = {}
        try:
            for i in range(thread, count, senders):
                index = i % doors
                msg = _message(i, run)
                try:
                    if index not in conns:
                        conns[index] = smtplib.SMTP("127.0.0.1", daemons[index].smtp_port, timeout=60)
                    conns[index].send_message(msg)
                except (OSError, smtplib.SMTPException) as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    conns.pop(index, None)
                    continue
                with lock:
                    accepted[msg["Message-ID"].strip("<>")] = time.monotonic()
        finally:
            for c in conns.values():
                try:
                    c.quit()
                except (OSError, smtplib.SMTPException):
                    pass

    sink.reset(count)
    start = time.monotonic()
    threads = [threading.Thread(target=client, args=(t,)) for t in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    accept_done = time.monotonic()
    # Wait for every confirmation; give up early when nothing arrives for a minute.
    deadline, last, last_change = time.monotonic() + timeout, -1, time.monotonic()
    while not sink.done.wait(timeout=1.0) and time.monotonic() < deadline:
        if len(sink.arrived) != last:
            last, last_change = len(sink.arrived), time.monotonic()
        elif time.monotonic() - last_change > 60:
            break
    end = max(sink.arrived.values(), default=time.monotonic())
    result = Result(name, len(daemons), count, accept_done - start, end - start)
    result.latencies = [sink.arrived[mid] - t for mid, t in accepted.items() if mid in sink.arrived]
    result.missing = count - len(sink.arrived)
    if errors:
        print(f"  {name}: {len(errors)} SMTP errors, first: {errors[0]}", file=sys.stderr)
    return result


def scenario(name: str, db_url: str, n_daemons: int, args: argparse.Namespace, sink_port: int,
             sink: _Sink, workdir: Path, doors: int | None = None) -> Result:
    print(f"-- {name}: migrating", file=sys.stderr)
    migrate(db_url)
    secret = secrets.token_hex(16)
    daemons = [start_daemon(db_url, workdir / f"{name}-{i}", sink_port, secret) for i in range(n_daemons)]
    try:
        # A few messages first, so connections, caches and the JIT of the database are warm.
        run_load(name + "-warmup", daemons, 16 * n_daemons, min(args.senders, 4), sink, timeout=60)
        print(f"-- {name}: {args.messages} messages from {args.senders} senders", file=sys.stderr)
        result = run_load(name, daemons, args.messages, args.senders, sink, timeout=args.timeout, doors=doors)
        if result.missing:
            for d in daemons:
                tail = d.log.read_text(errors="replace").splitlines()[-30:]
                print(f"  {name}: {result.missing} confirmations missing; end of {d.log}:", *tail,
                      sep="\n    ", file=sys.stderr)
        return result
    finally:
        for d in daemons:
            stop_daemon(d)


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def print_table(results: list[Result]) -> None:
    print()
    print(f"{'setup':<28} {'daemons':>7} {'msgs':>6} {'accepted/s':>11} {'end-to-end/s':>13} "
          f"{'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'missing':>8}")
    for r in results:
        lat = [x * 1000 for x in r.latencies]
        print(f"{r.name:<28} {r.daemons:>7} {r.messages:>6} {r.messages / r.accept_seconds:>11.1f} "
              f"{(r.messages - r.missing) / r.total_seconds:>13.1f} {_pct(lat, .5):>8.0f} {_pct(lat, .95):>8.0f} "
              f"{max(lat, default=float('nan')):>8.0f} {r.missing:>8}")
    print()
    print(f"cpus: {os.cpu_count()}, load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the confirmations")
    parser.add_argument("--only", default="sqlite,pg1,pg2",
                        help="comma-separated: sqlite, pg1, pg2, pg2door (two daemons, all SMTP into the first)")
    args = parser.parse_args()
    wanted = [w.strip() for w in args.only.split(",") if w.strip()]

    sink = _Sink()
    sink_port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=sink_port)
    controller.start()
    workdir = Path(tempfile.mkdtemp(prefix="maildesk-bench-"))
    pg: Postgres | None = None
    results: list[Result] = []
    try:
        if "sqlite" in wanted:
            results.append(scenario("SQLite, 1 daemon", f"sqlite:///{workdir / 'bench.db'}", 1, args,
                                    sink_port, sink, workdir))
        if {"pg1", "pg2", "pg2door"} & set(wanted):
            print("-- starting PostgreSQL (scripts/pg.sh)", file=sys.stderr)
            pg = Postgres()
        if "pg1" in wanted:
            assert pg is not None
            results.append(scenario("PostgreSQL, 1 daemon", pg.new_database(), 1, args, sink_port, sink, workdir))
        if "pg2" in wanted:
            assert pg is not None
            results.append(scenario("PostgreSQL, 2 daemons", pg.new_database(), 2, args, sink_port, sink, workdir))
        if "pg2door" in wanted:
            assert pg is not None
            results.append(scenario("PostgreSQL, 2 daemons, 1 door", pg.new_database(), 2, args, sink_port, sink,
                                    workdir, doors=1))
    finally:
        controller.stop()
        if pg is not None:
            pg.stop()
        subprocess.run(["rm", "-rf", str(workdir)], check=False)
    print_table(results)
    return 0 if all(r.missing == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
