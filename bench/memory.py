"""How much memory a running maildesk holds: idle, after a day's mail, and while a 25 MB message
goes through.

    .venv/bin/python bench/memory.py            # 10,000 messages, then one 25 MB message
    .venv/bin/python bench/memory.py --quick    # 2,000 messages, then one 25 MB message

It starts a real `maildesk serve` (fresh SQLite database, relay = a counting sink in this
process) and reads the daemon's VmRSS from /proc/<pid>/status every 50 ms in a thread:

  idle            after start-up, before any mail (median of 1 s of samples)
  after N         once N corpus messages are processed and their confirmations delivered
  25 MB peak      the highest RSS from the start of one message of just under
                  MAILDESK_MAX_MESSAGE_BYTES (a ~19 MB attachment, base64) until it is a
                  ticket with its attachment stored and its confirmation delivered: the
                  kernel's exact high-water mark (VmHWM, reset just before) where it can be
                  reset, and the 50 ms samples (which also split it by phase)

Targets (issue 14): idle < 90 MB, 25 MB peak < 200 MB.
"""

from __future__ import annotations

import argparse
import os
import smtplib
import sys
import time
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import corpus  # noqa: E402

MB = 1024 * 1024
MAX_MESSAGE_BYTES = 26_214_400


def big_message(limit: int = MAX_MESSAGE_BYTES) -> bytes:
    """A message with one attachment, as close under `limit` bytes on the wire as fits."""
    def build(size: int) -> bytes:
        msg = EmailMessage()
        msg["From"] = "Grete Schäfer <grete.big@example.org>"
        msg["To"] = "Support <support@example.com>"
        msg["Subject"] = "Scan of the signed contract (large)"
        msg["Message-ID"] = f"<big.{os.getpid()}.{time.time_ns()}@mail.example.org>"
        msg["Date"] = "Mon, 23 Nov 2026 10:00:00 +0000"
        msg.set_content("Hello,\n\nthe signed contract is attached as one scan.\n\nGrete\n")
        msg.add_attachment(os.urandom(size), maintype="application", subtype="pdf", filename="contract-scan.pdf")
        return msg.as_bytes(policy=SMTP)

    size = int((limit - 4096) / 1.37)
    raw = build(size)
    # The SIZE limit counts the DATA lines as sent (CRLF included): stay a few KB under it.
    while len(raw) > limit - 8192:
        size -= (len(raw) - limit + 16384) * 3 // 4
        raw = build(size)
    return raw


def wait_done(daemon: common.Daemon, sink: common.Sink, processed: int, confirmations: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sink.confirmations >= confirmations and daemon.processed() >= processed:
            return time.perf_counter()
        time.sleep(0.05)
    raise TimeoutError(f"not done after {timeout:.0f}s: {daemon.processed()}/{processed} processed, "
                       f"{sink.confirmations}/{confirmations} confirmations")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2,000 messages instead of 10,000")
    parser.add_argument("--messages", type=int, help="corpus messages before the big one (default 10000)")
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    count = args.messages or (2000 if args.quick else 10_000)

    print(f"memory benchmark: {common.machine()}")
    messages = corpus.generate(count, seed=11)
    print(f"corpus: {corpus.describe(messages)}")
    big = big_message()
    print(f"big message: {len(big):,} bytes on the wire (limit {MAX_MESSAGE_BYTES:,})")

    root = common.scratch_dir("maildesk-mem-")
    sink = common.Sink().start()
    extra = dict(kv.split("=", 1) for kv in os.environ.get("BENCH_DAEMON_ENV", "").split(",") if kv)
    daemon = common.Daemon(root / "maildesk", relay_port=sink.port, extra_env=extra).start()
    rows = []
    try:
        time.sleep(2.0)
        samples = []
        for _ in range(20):
            samples.append(common.rss_bytes(daemon.pid))
            time.sleep(0.05)
        idle = common.median(samples)
        rows.append(["idle after start", f"{idle / MB:.1f}", "", "< 90", "yes" if idle < 90 * MB else "NO"])

        expected = sum(not m.is_reply for m in messages)
        with common.RssSampler(daemon.pid) as during:
            started = time.perf_counter()
            result = common.send_all(daemon.smtp_port, messages, args.senders)
            finished = wait_done(daemon, sink, count, expected, args.timeout)
        time.sleep(2.0)
        after = common.rss_bytes(daemon.pid)
        rows.append([f"after {count:,} messages (settled)", f"{after / MB:.1f}", f"{during.peak / MB:.1f}", "", ""])
        if result.errors:
            print(f"note: {len(result.errors)} send errors, first: {result.errors[0]}")

        before = common.rss_bytes(daemon.pid)
        exact = common.reset_hwm(daemon.pid)
        with common.RssSampler(daemon.pid) as big_run:
            t0 = time.perf_counter()
            with smtplib.SMTP("127.0.0.1", daemon.smtp_port, timeout=300) as client:
                client.sendmail("grete.big@example.org", [common.SUPPORT], big)
            t250 = time.perf_counter()
            t_done = wait_done(daemon, sink, count + 1, expected + 1, args.timeout)
        hwm = common.hwm_bytes(daemon.pid) if exact else 0
        rows.append(["one 25 MB message: before", f"{before / MB:.1f}", "", "", ""])
        peak = max(big_run.peak, hwm)
        rows.append(["one 25 MB message: peak", "", f"{peak / MB:.1f}", "< 200", "yes" if peak < 200 * MB else "NO"])
        if exact:
            rows.append(["  exact (kernel VmHWM)", "", f"{hwm / MB:.1f}", "", ""])
            rows.append(["  sampled every 50 ms", "", f"{big_run.peak / MB:.1f}", "", ""])
        rows.append(["  of which: receiving, until 250", "", f"{big_run.peak_between(t0, t250) / MB:.1f}", "", ""])
        rows.append(["  of which: processing, after 250", "", f"{big_run.peak_between(t250, t_done) / MB:.1f}",
                     "", ""])
        settled = common.rss_bytes(daemon.pid)
        rows.append(["one 25 MB message: after", f"{settled / MB:.1f}", "", "", ""])
        stored = daemon.query("SELECT a.size FROM attachments a ORDER BY a.id DESC LIMIT 1")
        statuses = daemon.statuses()
    finally:
        daemon.stop()
        sink.stop()
        os.system(f"rm -rf '{root}'")

    print()
    print(common.table(["daemon RSS", "MB", "peak MB", "target", "met"], rows))
    print()
    print(f"{count:,} messages: {count / (finished - started):.0f} msg/s end to end with {args.senders} senders; "
          f"inbound statuses {statuses}")
    print(f"25 MB message: 250 after {t250 - t0:.2f}s, processed and confirmed after {t_done - t0:.2f}s; "
          f"stored attachment {stored[0][0] if stored else 0:,} bytes; {big_run.samples} RSS samples")


if __name__ == "__main__":
    main()
