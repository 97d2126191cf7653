"""Benchmark the JSON API on a large SQLite database.

    python bench/web.py                 # 100,000 tickets, 500,000 messages (a few minutes)
    python bench/web.py --tickets 20000 # smaller
    python bench/web.py --db seeded.db --only queue,requester   # a copy of a seeded database (--keep), some endpoints

Seeds a fresh SQLite database with bulk inserts (SQLAlchemy core executemany, not the ticket
service; the full-text triggers (migration 0011's search_fts) index every row as it goes in), starts a
real `maildesk serve` on it, signs in over HTTP, then measures each endpoint with an async
httpx client at a fixed concurrency and prints p50/p99 latency and requests per second.

The seed is consistent with what the daemon itself would have done, so its SLA/auto-close
pass finds nothing to do while we measure: each ticket's due times and breach are its SLA
clocks' (tickets/clocks.py), targets missed while a clock runs are already escalated,
resolved tickets were resolved within the auto-close period. (Without the stored clocks the
pass escalated ~50,000 tickets at start-up and held the writer for minutes while the
measurements ran.)
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import create_engine, insert  # noqa: E402

from maildesk.calendar import Calendar  # noqa: E402
from maildesk.config import DEFAULT_CATEGORIES, DEFAULT_RESOLUTION_HOURS, Settings  # noqa: E402
from maildesk.tickets import due  # noqa: E402
from maildesk.tickets.clocks import StatusChange, compute  # noqa: E402
from maildesk.db import migrate  # noqa: E402
from maildesk.models import Ticket, TicketEvent, TicketMessage, User  # noqa: E402
from maildesk.tickets.users import hash_password  # noqa: E402
from tests.support import free_port  # noqa: E402  (shared with the test suite)

PASSWORD = "bench-password"
REQUESTER = "requester@example.org"
ADMIN = "admin@example.com"
RARE_WORD = "zeppelin"  # in about 1 message in 2,000
COMMON_WORD = "order"  # in about 1 message in 4
SLA_HOURS = {"urgent": 2, "high": 4, "medium": 24, "low": 48}
STATUSES = [("open", 25), ("in_progress", 15), ("waiting_on_user", 10), ("resolved", 5), ("closed", 45)]
PRIORITIES = [("urgent", 5), ("high", 15), ("medium", 60), ("low", 20)]


def _weighted(rng: random.Random, pairs: list[tuple[str, int]]) -> str:
    return rng.choices([p for p, _ in pairs], weights=[w for _, w in pairs])[0]


def _vocabulary(rng: random.Random) -> list[str]:
    base = ("account payment refund invoice shipping parcel login password reset card declined listing "
            "seller buyer dispute bug crash app update email address photo upload error page browser "
            "mobile desktop delivery tracking number price fee charge bank transfer verify identity "
            "message reply thanks please help urgent problem issue question works again still").split()
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "po", "da", "fe", "gi", "hu"]
    made = {"".join(rng.choices(syllables, k=rng.randint(2, 4))) for _ in range(3000)}
    return base + sorted(made - {RARE_WORD, COMMON_WORD})


def _text(rng: random.Random, words: list[str], n: int) -> str:
    chosen = rng.choices(words, k=n)
    if rng.random() < 0.25:
        chosen[rng.randrange(n)] = COMMON_WORD
    if rng.random() < 0.0005:
        chosen[rng.randrange(n)] = RARE_WORD
    return " ".join(chosen).capitalize() + "."


def seed(db_path: Path, tickets: int, messages_per_ticket: int, users: int, seed_value: int = 7) -> dict[str, Any]:
    """Bulk-insert users, tickets, messages and events; return what the measurements need."""
    rng = random.Random(seed_value)
    words = _vocabulary(rng)
    now = datetime.now(timezone.utc)
    calendar = Calendar()  # the daemon's default: every hour counts
    # What the daemon started by start_daemon computes its clocks with (tickets/due.py basis).
    basis = due.basis(Settings(sla_hours=SLA_HOURS, resolution_hours=DEFAULT_RESOLUTION_HOURS))
    engine = create_engine(f"sqlite:///{db_path}")
    pw_hash = hash_password(PASSWORD)
    started = time.monotonic()
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA synchronous=OFF")
        admins = [
            {"id": i + 1, "email": ADMIN if i == 0 else f"agent{i}@example.com", "name": f"Agent {i}",
             "role": "admin", "password_hash": pw_hash, "is_active": True, "created_at": now - timedelta(days=400)}
            for i in range(3)
        ]
        requesters = [
            {"id": 4 + i, "email": REQUESTER if i == 0 else f"user{i}@example.org", "name": f"User {i}",
             "role": "user", "password_hash": pw_hash if i == 0 else None, "is_active": True,
             "created_at": now - timedelta(days=400)}
            for i in range(users)
        ]
        conn.execute(insert(User.__table__), admins + requesters)

        ticket_rows: list[dict[str, Any]] = []
        message_rows: list[dict[str, Any]] = []
        event_rows: list[dict[str, Any]] = []
        message_id = 0

        def flush() -> None:
            if ticket_rows:
                conn.execute(insert(Ticket.__table__), ticket_rows)
                conn.execute(insert(TicketMessage.__table__), message_rows)
                conn.execute(insert(TicketEvent.__table__), event_rows)
            ticket_rows.clear(), message_rows.clear(), event_rows.clear()

        for tid in range(1, tickets + 1):
            user = requesters[0] if tid % 5000 == 1 else rng.choice(requesters)
            status = _weighted(rng, STATUSES)
            priority = _weighted(rng, PRIORITIES)
            created = now - timedelta(seconds=rng.uniform(60, 365 * 86400))
            window = timedelta(hours=SLA_HOURS[priority])
            resolved_at = closed_at = first_response = escalated_at = None
            if status == "resolved":
                resolved_at = now - timedelta(seconds=rng.uniform(60, 6 * 86400))
                created = min(created, resolved_at - timedelta(hours=1))
            if status == "closed":
                created = min(created, now - timedelta(hours=2))
                resolved_at = min(created + timedelta(seconds=rng.uniform(3600, 5 * 86400)), now - timedelta(minutes=1))
                closed_at = min(now, resolved_at + timedelta(seconds=rng.uniform(60, 7 * 86400)))
            if status != "open" or rng.random() < 0.4:
                first_response = created + timedelta(seconds=rng.uniform(300, 1.5 * window.total_seconds()))
                if resolved_at is not None:
                    first_response = min(first_response, resolved_at)
                first_response = min(first_response, now)
            if status == "open" and first_response is None and now - created > window:
                escalated_at = created + window
            # The stored SLA columns as the daemon's SLA pass would leave them (tickets/due.py,
            # tickets/sla.py): current due times, the breach, missed running targets escalated.
            clocks = compute(
                created_at=created,
                changes=[StatusChange(first_response or created, status)] if status != "open" else [],
                first_response_at=first_response, priority=priority, calendar=calendar,
                first_response_hours=SLA_HOURS, resolution_hours=DEFAULT_RESOLUTION_HOURS, now=now,
            )
            fr_clock, res_clock = clocks.first_response, clocks.resolution
            # The due times, breach and outcomes, exactly as tickets/due.py stores them.
            stored = due.columns(
                SimpleNamespace(created_at=created, first_response_at=first_response,
                                resolved_at=resolved_at, closed_at=closed_at),
                clocks, basis,
            )
            description = _text(rng, words, rng.randint(20, 60))
            ticket_rows.append({
                "id": tid, "ticket_number": f"SUP-{tid:05d}", "user_id": user["id"], "user_email": user["email"],
                "category": rng.choice(DEFAULT_CATEGORIES), "priority": priority, "status": status,
                "subject": _text(rng, words, rng.randint(3, 8))[:-1], "description": description,
                "assigned_to": rng.choice(admins)["id"] if rng.random() < 0.6 else None,
                "escalated": escalated_at is not None, "escalated_at": escalated_at,
                "resolution_notes": None, "resolved_at": resolved_at, "closed_at": closed_at,
                "first_response_at": first_response, "created_at": created,
                "updated_at": closed_at or resolved_at or first_response or created,
                "context": {}, "source": "email", "root_message_id": f"bench.{tid}@example.com",
                **stored,
                "first_response_escalated_at": fr_clock.due_at if fr_clock.running and fr_clock.breached else None,
                "resolution_escalated_at": res_clock.due_at if res_clock.running and res_clock.breached else None,
            })
            span = max(60.0, ((closed_at or resolved_at or now) - created).total_seconds())
            for i in range(messages_per_ticket):
                message_id += 1
                if i == 0:
                    role, body, at = "user", description, created
                else:
                    role = "admin" if i % 2 == 1 else "user"
                    body = _text(rng, words, rng.randint(10, 50))
                    at = created + timedelta(seconds=span * i / messages_per_ticket)
                    if role == "admin" and i == 1 and first_response is not None:
                        at = first_response
                sender = rng.choice(admins) if role == "admin" else user
                message_rows.append({
                    "id": message_id, "ticket_id": tid, "sender_user_id": sender["id"],
                    "sender_email": sender["email"], "sender_role": role, "body": body, "full_body": None,
                    "body_html": None, "is_internal": role == "admin" and rng.random() < 0.1,
                    "source": "email", "email_message_id": None, "inbound_id": None, "created_at": at,
                })
            event_rows.append({"ticket_id": tid, "actor_user_id": user["id"], "actor": user["email"],
                               "kind": "created", "old_value": None, "new_value": "open",
                               "detail": {"source": "email"}, "created_at": created})
            if status != "open":
                event_rows.append({"ticket_id": tid, "actor_user_id": 1, "actor": ADMIN, "kind": "status",
                                   "old_value": "open", "new_value": status, "detail": {},
                                   "created_at": first_response or created})
            if len(ticket_rows) >= 5000:
                flush()
                print(f"\r  seeded {tid:,} tickets, {message_id:,} messages "
                      f"({time.monotonic() - started:.0f} s)", end="", flush=True)
        flush()
    engine.dispose()
    print(f"\r  seeded {tickets:,} tickets, {message_id:,} messages in {time.monotonic() - started:.0f} s")
    return {"tickets": tickets, "messages": message_id}


def start_daemon(db_path: Path, data_dir: Path, root: Path = ROOT) -> tuple[subprocess.Popen[bytes], str]:
    http_port, smtp_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILDESK_")}
    env.update(
        MAILDESK_DATABASE_URL=f"sqlite:///{db_path}",
        MAILDESK_HTTP_LISTEN=f"127.0.0.1:{http_port}",
        MAILDESK_SMTP_LISTEN=f"127.0.0.1:{smtp_port}",
        MAILDESK_BASE_URL=f"http://127.0.0.1:{http_port}",
        MAILDESK_SUPPORT_ADDRESS="support@example.com",
        MAILDESK_DATA_DIR=str(data_dir),
        MAILDESK_SECRET_KEY="bench-" + secrets.token_hex(16),
        MAILDESK_SLA_HOURS=",".join(f"{k}={v}" for k, v in SLA_HOURS.items()),
        MAILDESK_LOG_LEVEL="WARNING",
        PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    )
    log = open(data_dir / "daemon.log", "ab")
    # cwd=root: `python -m` puts the working directory first on sys.path, ahead of PYTHONPATH, so
    # run from another checkout the daemon would import that checkout's maildesk, not root's.
    proc = subprocess.Popen([sys.executable, "-m", "maildesk", "serve"], env=env, stdout=log,
                            stderr=subprocess.STDOUT, cwd=root)
    base = f"http://127.0.0.1:{http_port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"maildesk serve exited with {proc.returncode}; see {data_dir / 'daemon.log'}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("maildesk serve did not answer /healthz within 60 s")


async def measure(
    client: httpx.AsyncClient, make_url: Callable[[int], str], requests: int, concurrency: int
) -> dict[str, float]:
    # Warm up caches and connections: in waves as wide as the measurement, so that each of the
    # daemon's pooled read connections has run the query before (one at a time warmed only one;
    # the first concurrent wave then met cold connections, 50-70 ms instead of ~15).
    for wave in range(2):
        replies = await asyncio.gather(*(client.get(make_url(wave * concurrency + i)) for i in range(concurrency)))
        for reply in replies:
            reply.raise_for_status()
    # This client's own garbage collection out of the timed part: a full collection walks every
    # object it has imported (SQLAlchemy, the models) for 30-40 ms, during which every response
    # in flight waits unread; the first endpoint measured met one each run (8 requests at once
    # ~20 ms late: its p99). main() froze start-up's objects; what the warm-up left is freed here.
    gc.collect()
    latencies: list[float] = []
    counter = iter(range(requests))

    async def worker() -> None:
        for i in counter:
            t0 = time.perf_counter()
            r = await client.get(make_url(i))
            latencies.append(time.perf_counter() - t0)
            if r.status_code != 200:
                raise SystemExit(f"GET {make_url(i)} -> {r.status_code}: {r.text[:200]}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "rps": len(latencies) / elapsed,
    }


async def run_measurements(base: str, info: dict[str, Any], requests: int, concurrency: int,
                           only: list[str] | None = None) -> list[tuple[str, str, dict[str, float]]]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    tokens = {}
    for email in (ADMIN, REQUESTER):
        # A client of its own per sign-in: a second POST carrying the first one's session
        # cookie (and no Origin) is refused as cross-site (web/sameorigin.py).
        async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as anon:
            r = await anon.post("/auth/login", json={"email": email, "password": PASSWORD})
            r.raise_for_status()
            tokens[email] = r.json()["token"]
    rng = random.Random(11)
    ids = [rng.randint(1, info["tickets"]) for _ in range(max(requests, 2 * concurrency))]
    cases: list[tuple[str, str, Callable[[int], str], str]] = [
        ("admin queue", "/admin/support/tickets?status=open&page_size=50", lambda i: "/admin/support/tickets?status=open&page_size=50", ADMIN),
        ("admin queue, page 20", "/admin/support/tickets?status=open&page_size=50&page=20",
         lambda i: "/admin/support/tickets?status=open&page_size=50&page=20", ADMIN),
        ("search, rare word", f"/admin/support/tickets?q={RARE_WORD}", lambda i: f"/admin/support/tickets?q={RARE_WORD}&page_size=50", ADMIN),
        ("search, common word", f"/admin/support/tickets?q={COMMON_WORD}", lambda i: f"/admin/support/tickets?q={COMMON_WORD}&page_size=50", ADMIN),
        ("search + status", f"?q={COMMON_WORD}&status=open", lambda i: f"/admin/support/tickets?q={COMMON_WORD}&status=open&page_size=50", ADMIN),
        ("ticket detail (admin)", "/admin/support/tickets/{random id}", lambda i: f"/admin/support/tickets/{ids[i]}", ADMIN),
        ("stats (5 s cache)", "/admin/support/stats", lambda i: "/admin/support/stats", ADMIN),
        ("stats, uncached", "/admin/support/stats?fresh=true", lambda i: "/admin/support/stats?fresh=true", ADMIN),
        ("requester's list", "/support/tickets", lambda i: "/support/tickets", REQUESTER),
    ]
    if only:
        cases = [case for case in cases if any(word in case[0] for word in only)]
    results = []
    for name, shown, make_url, who in cases:
        n = requests if "uncached" not in name else max(40, requests // 5)
        async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits,
                                     headers={"Authorization": f"Bearer {tokens[who]}"}) as client:
            stats = await measure(client, make_url, n, concurrency)
        results.append((name, shown, stats))
        print(f"  {name:<24} p50 {stats['p50']:7.1f} ms   p99 {stats['p99']:7.1f} ms   {stats['rps']:7.1f} req/s")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--messages-per-ticket", type=int, default=5)
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--requests", type=int, default=400, help="requests per endpoint")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--keep", action="store_true", help="keep the database directory afterwards")
    parser.add_argument("--db", type=Path, help="measure on a copy of this seeded database (an earlier run's --keep) "
                        "instead of seeding one (the SLA pass may find the few clocks due since)")
    parser.add_argument("--only", help="comma-separated words: measure only the endpoints whose name has one")
    parser.add_argument("--serve-from", type=Path, default=ROOT,
                        help="the checkout whose maildesk the daemon runs (default this one), to compare branches")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="maildesk-bench-"))
    db_path = work / "bench.db"
    print(f"database: {db_path}")
    proc = None
    try:
        if args.db:
            shutil.copyfile(args.db, db_path)
            migrate(f"sqlite:///{db_path}")  # a no-op when it is current
            with create_engine(f"sqlite:///{db_path}").connect() as conn:
                info = {"tickets": conn.exec_driver_sql("SELECT count(*) FROM tickets").scalar_one(),
                        "messages": conn.exec_driver_sql("SELECT count(*) FROM ticket_messages").scalar_one()}
        else:
            migrate(f"sqlite:///{db_path}")
            info = seed(db_path, args.tickets, args.messages_per_ticket, args.users)
        print(f"  database size {db_path.stat().st_size / 1e6:.0f} MB")
        proc, base = start_daemon(db_path, work, args.serve_from.resolve())
        print(f"maildesk serve on {base} (from {args.serve_from}); {args.requests} requests per endpoint, "
              f"concurrency {args.concurrency}")
        only = [w.strip() for w in args.only.split(",") if w.strip()] if args.only else None
        gc.collect()
        gc.freeze()  # as the daemon does (daemon.settle_garbage_collector): see measure()
        results = asyncio.run(run_measurements(base, info, args.requests, args.concurrency, only))
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    print()
    print(f"{info['tickets']:,} tickets, {info['messages']:,} messages; SQLite; concurrency {args.concurrency}")
    print(f"| {'endpoint':<24} | {'p50 ms':>7} | {'p99 ms':>7} | {'req/s':>7} |")
    print(f"|{'-' * 26}|{'-' * 9}|{'-' * 9}|{'-' * 9}|")
    for name, _shown, s in results:
        print(f"| {name:<24} | {s['p50']:7.1f} | {s['p99']:7.1f} | {s['rps']:7.1f} |")


if __name__ == "__main__":
    main()
