"""How fast maildesk takes in mail, against what the machine and the libraries allow.

    .venv/bin/python bench/ingest.py            # 1,000 messages per configuration, 3 rounds
    .venv/bin/python bench/ingest.py --quick    # 300 messages, 1 round
    .venv/bin/python bench/ingest.py --quick --senders 4 --variants c --profile
                                                # the daemon under cProfile: top 30 printed

For 1, 4 and 16 concurrent SMTP senders it measures, side by side in each round:

  (a) ceiling   an aiosmtpd server that answers 250 and stores nothing
  (b) durable   the same server inserting each raw message into SQLite (aiosqlite, the driver
                maildesk uses; WAL, synchronous=FULL) in its own transaction before the 250
  (e) minimal   the same server parsing each message with the stdlib (policy.default) and
                inserting a ticket or a reply row (aiosqlite, own transaction) before the 250
  (c) intake    a real `maildesk serve`: throughput and time of the 250s it answers
  (d) e2e       the same run, from the first send until every message is processed (ticket or
                reply committed) and every confirmation reached the sink (maildesk's relay)

Every server runs in its own process; the senders and the sink run in this one. Figures are
medians over the rounds; p50/p99 are over every message of every round. Targets: c/b >= 0.70
with 4 senders, d/e >= 0.80.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import corpus  # noqa: E402

VARIANTS = ("a", "b", "e", "c", "d")
NAMES = {
    "a": "(a) ceiling: 250, store nothing",
    "b": "(b) durable floor: raw -> SQLite",
    "e": "(e) minimal pipeline floor",
    "c": "(c) maildesk intake (250s)",
    "d": "(d) maildesk end to end",
}


# --- the baseline servers (run as `ingest.py --serve KIND`) ----------------------------------

_SCHEMA = {
    "b": [
        "CREATE TABLE inbound (id INTEGER PRIMARY KEY, raw BLOB NOT NULL, size INTEGER, received_at REAL)",
    ],
    "e": [
        "CREATE TABLE tickets (id INTEGER PRIMARY KEY, subject TEXT, requester TEXT, status TEXT, created_at REAL)",
        "CREATE TABLE messages (id INTEGER PRIMARY KEY, ticket_id INTEGER REFERENCES tickets(id), "
        "message_id TEXT UNIQUE, sender TEXT, body TEXT, created_at REAL)",
    ],
}


async def _serve(kind: str, port: int, db_path: str) -> None:
    import email
    from email import policy

    from aiosmtpd.smtp import SMTP

    db = None
    lock = asyncio.Lock()
    if kind in ("b", "e"):
        import aiosqlite

        db = await aiosqlite.connect(db_path, isolation_level=None)
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=FULL")
        for statement in _SCHEMA[kind]:
            await db.execute(statement)

    class Handler:
        async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]
            raw: bytes = envelope.original_content
            if kind == "b":
                async with lock:
                    await db.execute("BEGIN IMMEDIATE")
                    cursor = await db.execute("INSERT INTO inbound (raw, size, received_at) VALUES (?, ?, ?)",
                                              (raw, len(raw), time.time()))
                    await db.execute("COMMIT")
                return f"250 2.0.0 Ok: queued as {cursor.lastrowid}"
            if kind == "e":
                msg = email.message_from_bytes(raw, policy=policy.default)
                body_part = msg.get_body(preferencelist=("plain", "html"))
                body = body_part.get_content() if body_part is not None else ""
                message_id = str(msg.get("Message-ID", "")).strip().strip("<>")
                parent = str(msg.get("In-Reply-To", "") or "").strip().strip("<>")
                sender = msg["From"].addresses[0].addr_spec if msg["From"] else ""
                subject = str(msg.get("Subject", ""))
                now = time.time()
                async with lock:
                    await db.execute("BEGIN IMMEDIATE")
                    ticket_id = None
                    if parent:
                        async with db.execute("SELECT ticket_id FROM messages WHERE message_id = ?", (parent,)) as cur:
                            row = await cur.fetchone()
                            ticket_id = row[0] if row else None
                    if ticket_id is None:
                        cursor = await db.execute(
                            "INSERT INTO tickets (subject, requester, status, created_at) VALUES (?, ?, 'open', ?)",
                            (subject, sender, now))
                        ticket_id = cursor.lastrowid
                    await db.execute(
                        "INSERT INTO messages (ticket_id, message_id, sender, body, created_at) VALUES (?, ?, ?, ?, ?)",
                        (ticket_id, message_id, sender, body, now))
                    await db.execute("COMMIT")
                return "250 2.0.0 Ok"
            return "250 2.0.0 Ok"

    handler = Handler()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, data_size_limit=26_214_400, enable_SMTPUTF8=True, decode_data=False,
                     hostname="bench.example.com"),
        host="127.0.0.1", port=port)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)  # bound by us: no port race
    async with server:
        await server.serve_forever()


class Baseline:
    def __init__(self, kind: str, workdir: Path) -> None:
        self.kind, self.workdir = kind, workdir
        self.port = 0
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "Baseline":
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", self.kind, "--port", "0", "--db", str(self.workdir / "floor.db")],
            stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"baseline server {self.kind} did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait(10)


# --- one measurement ------------------------------------------------------------------------


@dataclass
class Figures:
    rates: dict[tuple[str, int], list[float]] = field(default_factory=dict)
    latencies: dict[tuple[str, int], list[float]] = field(default_factory=dict)
    # CPU milliseconds the server process spent per message: on a shared machine a steadier
    # figure of the Python work per message than the rates, which other processes slow down.
    cpu: dict[tuple[str, int], list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, variant: str, senders: int, rate: float, latencies: list[float] | None = None) -> None:
        self.rates.setdefault((variant, senders), []).append(rate)
        if latencies:
            self.latencies.setdefault((variant, senders), []).extend(latencies)

    def rate(self, variant: str, senders: int) -> float:
        return common.median(self.rates.get((variant, senders), []))


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a process (all its threads) has used so far; None off Linux."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_baseline(kind: str, messages: list[corpus.Message], senders: int, figures: Figures, root: Path) -> None:
    with Baseline(kind, root / f"{kind}-{senders}-{time.monotonic_ns()}") as server:
        assert server.proc is not None
        before = cpu_seconds(server.proc.pid)
        result = common.send_all(server.port, messages, senders)
        after = cpu_seconds(server.proc.pid)
    if result.errors:
        figures.notes.append(f"({kind}) {senders} senders: {len(result.errors)} errors, first: {result.errors[0]}")
    figures.add(kind, senders, result.rate, result.latencies)
    if before is not None and after is not None:
        figures.cpu.setdefault((kind, senders), []).append((after - before) * 1000 / len(messages))


# The daemon runs under cProfile by way of a sitecustomize module put first on its path: the
# daemon is started exactly as usual (common.Daemon), and the profile is written when it exits
# after SIGTERM. Only `serve` is profiled (not `migrate`); only the main thread (the event loop).
_PROFILE_HOOK = """
import atexit, cProfile, os, sys
if sys.argv[1:2] == ["serve"] and os.environ.get("MAILDESK_BENCH_PROFILE"):
    _profile = cProfile.Profile()
    _profile.enable()
    atexit.register(lambda: (_profile.disable(), _profile.dump_stats(os.environ["MAILDESK_BENCH_PROFILE"])))
"""


def profile_env(root: Path, out: Path) -> dict[str, str]:
    hook = root / "profile-hook"
    hook.mkdir(parents=True, exist_ok=True)
    (hook / "sitecustomize.py").write_text(_PROFILE_HOOK)
    path = os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "MAILDESK_BENCH_PROFILE": str(out)}


def print_profile(path: Path, top: int = 30) -> None:
    import pstats

    for order in ("cumulative", "tottime"):
        print(f"\n--- daemon profile, top {top} by {order} ---")
        pstats.Stats(str(path)).strip_dirs().sort_stats(order).print_stats(top)


def run_maildesk(messages: list[corpus.Message], senders: int, figures: Figures, sink: common.Sink,
                 root: Path, timeout: float, profile: Path | None = None) -> None:
    expected_confirmations = sum(not m.is_reply for m in messages)
    sink.reset()
    extra_env = profile_env(root, profile) if profile is not None else {}
    daemon = common.Daemon(root / f"maildesk-{senders}-{time.monotonic_ns()}", relay_port=sink.port,
                           extra_env=extra_env).start()
    try:
        before = cpu_seconds(daemon.pid)
        result = common.send_all(daemon.smtp_port, messages, senders)
        deadline = time.monotonic() + timeout
        done_at = None
        while time.monotonic() < deadline:
            if sink.confirmations >= expected_confirmations and daemon.processed() >= len(messages):
                done_at = time.perf_counter()
                break
            time.sleep(0.02)
        after = cpu_seconds(daemon.pid)
        if before is not None and after is not None:
            figures.cpu.setdefault(("d", senders), []).append((after - before) * 1000 / len(messages))
        statuses = daemon.statuses()
        replies = daemon.query("SELECT count(*) FROM ticket_messages m JOIN tickets t ON t.id = m.ticket_id "
                               "WHERE m.email_message_id IS NOT NULL AND m.email_message_id != t.root_message_id")
    finally:
        daemon.stop()
    if result.errors:
        figures.notes.append(f"(c) {senders} senders: {len(result.errors)} errors, first: {result.errors[0]}")
    figures.add("c", senders, result.rate, result.latencies)
    expected_replies = sum(m.is_reply for m in messages)
    if statuses.get("processed", 0) != len(messages) or replies[0][0] != expected_replies:
        figures.notes.append(f"(d) {senders} senders: inbound statuses {statuses}; "
                             f"{replies[0][0]} of {expected_replies} replies threaded into their ticket")
    if done_at is None:
        figures.notes.append(f"(d) {senders} senders: not done after {timeout:.0f}s "
                             f"({daemon.processed()} processed, {sink.confirmations} confirmations)")
        figures.add("d", senders, float("nan"))
    else:
        figures.add("d", senders, len(messages) / (done_at - result.first_at))


# --- the report ------------------------------------------------------------------------------


def report(figures: Figures, sender_counts: list[int], variants: list[str]) -> str:
    rows = []
    for senders in sender_counts:
        for v in variants:
            rates = figures.rates.get((v, senders))
            if not rates:
                continue
            lat = figures.latencies.get((v, senders), [])
            rows.append([
                senders, NAMES[v], f"{figures.rate(v, senders):,.0f}",
                f"{min(rates):,.0f}-{max(rates):,.0f}" if len(rates) > 1 else "",
                f"{common.percentile(lat, 50) * 1000:.1f}" if lat else "-",
                f"{common.percentile(lat, 99) * 1000:.1f}" if lat else "-",
            ])
    out = [common.table(["senders", "variant", "msg/s (median)", "range", "p50 ms to 250", "p99 ms to 250"], rows)]
    ratio_rows = []
    for senders in sender_counts:
        row: list[object] = [senders]
        for top, bottom in (("c", "b"), ("d", "e"), ("c", "a"), ("b", "a")):
            if (top, senders) in figures.rates and (bottom, senders) in figures.rates:
                row.append(f"{figures.rate(top, senders) / figures.rate(bottom, senders):.2f}")
            else:
                row.append("-")
        row.append("n/a" if senders != 4 or row[1] == "-" else "yes" if float(row[1]) >= 0.70 else "NO")
        row.append("yes" if row[2] == "-" or float(row[2]) >= 0.80 else "NO")
        ratio_rows.append(row)
    out.append("")
    out.append(common.table(["senders", "c/b", "d/e", "c/a", "b/a", "c/b>=0.70 (4 senders)", "d/e>=0.80"],
                            ratio_rows))
    cpu_rows = []
    for senders in sender_counts:
        for v in ("b", "e", "d"):
            if (v, senders) in figures.cpu:
                cpu_rows.append([senders, NAMES[v], f"{common.median(figures.cpu[(v, senders)]):.2f}"])
        e, d = figures.cpu.get(("e", senders)), figures.cpu.get(("d", senders))
        if e and d:
            cpu_rows.append([senders, "CPU e/d (d/e if CPU-bound)", f"{common.median(e) / common.median(d):.2f}"])
    if cpu_rows:
        out.append("")
        out.append(common.table(["senders", "server process", "CPU ms per message (median)"], cpu_rows))
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="300 messages, 1 round")
    parser.add_argument("--messages", type=int, help="messages per configuration (default 1000)")
    parser.add_argument("--rounds", type=int, help="rounds; figures are medians over them (default 3)")
    parser.add_argument("--senders", default="1,4,16", help="concurrent sender counts (default 1,4,16)")
    parser.add_argument("--variants", default="a,b,e,c", help="which to run; c also measures d")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for (d) to finish")
    parser.add_argument("--profile", metavar="FILE", nargs="?", const="ingest.prof",
                        help="run the daemon under cProfile, keep the stats in FILE (default ingest.prof) "
                             "and print the top 30 by cumulative and by own time")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        try:
            asyncio.run(_serve(args.serve, args.port, args.db))
        except KeyboardInterrupt:
            pass
        return

    count = args.messages or (300 if args.quick else 1000)
    rounds = args.rounds or (1 if args.quick else 3)
    sender_counts = [int(s) for s in args.senders.split(",")]
    chosen = [v for v in args.variants.split(",") if v in VARIANTS]
    if "d" in chosen:  # (d) is measured in the same run as (c)
        chosen = [v for v in chosen if v != "d"] + ([] if "c" in chosen else ["c"])
    if not chosen:
        parser.error(f"--variants: choose among {','.join(VARIANTS)}, not {args.variants!r}")
    messages = corpus.generate(count, seed=7)
    print(f"ingest benchmark: {corpus.describe(messages)}")
    print(f"{rounds} round(s) x senders {sender_counts}; {common.machine()}")
    root = common.scratch_dir("maildesk-bench-")
    sink = common.Sink().start()
    figures = Figures()
    started = time.monotonic()
    try:
        for round_no in range(rounds):
            for senders in sender_counts:
                for v in chosen:
                    try:
                        if v == "c":
                            run_maildesk(messages, senders, figures, sink, root, args.timeout,
                                         Path(args.profile).resolve() if args.profile else None)
                        elif v in ("a", "b", "e"):
                            run_baseline(v, messages, senders, figures, root)
                    except Exception as exc:  # one failed run (a port taken, a timeout) must not lose the rest
                        figures.notes.append(f"round {round_no + 1}, {senders} senders, {v}: "
                                             f"{type(exc).__name__}: {str(exc)[:300]}")
                        print(f"  round {round_no + 1}, {senders:2d} senders, {v}: failed ({type(exc).__name__})")
                        continue
                    print(f"  round {round_no + 1}, {senders:2d} senders, {v}: "
                          f"{figures.rates[(v, senders)][-1]:,.0f} msg/s"
                          + (f"; d: {figures.rates[('d', senders)][-1]:,.0f} msg/s" if v == "c" else ""),
                          flush=True)
    finally:
        sink.stop()
        subprocess.run(["rm", "-rf", str(root)])
    shown = [v for v in ("a", "b", "e", "c", "d") if v in chosen or (v == "d" and "c" in chosen)]
    print()
    print(report(figures, sender_counts, shown))
    for note in figures.notes:
        print("note:", note)
    if args.profile and Path(args.profile).exists():
        print_profile(Path(args.profile))
    print(f"\n{time.monotonic() - started:.0f}s; {os.cpu_count()} cores; load average now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
