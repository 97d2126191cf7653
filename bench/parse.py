"""Time parse_message (and visible_reply on its text) over every .eml under tests/data.

    python bench/parse.py [-n REPETITIONS] [--top K]

Prints, per message, the median and worst wall time in milliseconds over the
repetitions, then the slowest files.  Not part of the test run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from maildesk.mime.body import visible_reply  # noqa: E402
from maildesk.mime.limits import MessageRefused, MimeLimits  # noqa: E402
from maildesk.mime.parse import parse_message  # noqa: E402


def corpus() -> list[Path]:
    data = ROOT / "tests" / "data"
    return sorted(set(data.glob("clients/*.eml")) | set(data.glob("**/*.eml")))


def time_one(raw: bytes, repetitions: int, limits: MimeLimits) -> tuple[list[float], list[float]]:
    parse_times, reply_times = [], []
    for _ in range(repetitions):
        start = time.perf_counter()
        try:
            parsed = parse_message(raw, limits)
        except MessageRefused:
            parse_times.append(time.perf_counter() - start)
            continue
        middle = time.perf_counter()
        visible_reply(parsed.text)
        end = time.perf_counter()
        parse_times.append(middle - start)
        reply_times.append(end - middle)
    return parse_times, reply_times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--repetitions", type=int, default=20)
    parser.add_argument("--top", type=int, default=5)
    args = parser.parse_args()
    limits = MimeLimits()
    rows = []
    for path in corpus():
        raw = path.read_bytes()
        parse_times, reply_times = time_one(raw, args.repetitions, limits)
        rows.append((
            str(path.relative_to(ROOT / "tests" / "data")),
            len(raw),
            statistics.median(parse_times) * 1000,
            max(parse_times) * 1000,
            statistics.median(reply_times) * 1000 if reply_times else 0.0,
        ))
    width = max(len(row[0]) for row in rows)
    print(f"parse_message over {len(rows)} messages, {args.repetitions} repetitions each\n")
    print(f"{'message':<{width}}  {'bytes':>8}  {'median ms':>9}  {'worst ms':>8}  {'reply ms':>8}")
    print("-" * (width + 42))
    for name, size, median, worst, reply in rows:
        print(f"{name:<{width}}  {size:>8}  {median:>9.2f}  {worst:>8.2f}  {reply:>8.2f}")
    medians = [row[2] for row in rows]
    print("-" * (width + 42))
    print(f"{'all messages':<{width}}  {sum(r[1] for r in rows):>8}  {statistics.median(medians):>9.2f}  "
          f"{max(r[3] for r in rows):>8.2f}  {statistics.median(r[4] for r in rows):>8.2f}")
    print(f"\nslowest {args.top} by median:")
    for name, _size, median, worst, _reply in sorted(rows, key=lambda r: -r[2])[: args.top]:
        print(f"  {median:8.2f} ms median  {worst:8.2f} ms worst  {name}")


if __name__ == "__main__":
    main()
