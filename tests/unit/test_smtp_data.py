"""The DATA parser (intake/smtp_data.py) against RFC 5321 read a line at a time, however the
bytes are cut into pieces: the end of the message, dot-unstuffing, the pipelined rest."""

from __future__ import annotations

import random

from maildesk.intake.smtp_data import DataReader


def by_lines(stream: bytes, size_limit: int | None, line_limit: int) -> tuple[bytes | str, bytes]:
    """RFC 5321 §4.1.1.4 / §4.5.2 the slow way: CRLF lines, the lone dot ends, a leading dot goes."""
    lines, at, size, longest = [], 0, 0, 0
    while True:
        end = stream.index(b"\r\n", at) + 2
        line = stream[at:end]
        at = end
        if line == b".\r\n":
            break
        size += len(line)
        longest = max(longest, len(line))
        lines.append(line[1:] if line.startswith(b".") else line)
    if longest > line_limit:
        return "554", stream[at:]
    if size_limit and size > size_limit:
        return "552", stream[at:]
    return b"".join(lines), stream[at:]


def fed(stream: bytes, cuts: list[int], size_limit: int | None = None, line_limit: int = 1000) -> tuple[bytes | str, bytes]:
    reader = DataReader(size_limit, line_limit)
    bounds = [0, *cuts, len(stream)]
    for start, end in zip(bounds, bounds[1:]):
        piece = stream[start:end]
        if not piece:
            continue
        rest = reader.feed(piece)
        if rest is not None:
            result = reader.result()
            tail = piece[len(piece) - rest :] if rest else b""
            return (result[:3] if isinstance(result, str) else result), tail + stream[end:]
    raise AssertionError("no end found")


STREAMS = [
    b".\r\n",
    b"..\r\n.\r\nNOOP\r\n",
    b"a\r\n..b\r\n.\r\n",
    b"..x\r\n...\r\n.\r\nRSET\r\nQUIT\r\n",
    b"a\n.\nb\r.\rc\r\n.\nd\n.\r\ne\r\n.\r\n",
    b"x" * 999 + b"\r\n.\r\n",
    b"x" * 998 + b"\r\n.\r\n",
    b"b" * 98 + b"\r\n" + b"c" * 50 + b"\r\n.\r\nMAIL FROM:<a@b>\r\n",
]


def test_every_two_piece_cut_reads_as_lines() -> None:
    for stream in STREAMS:
        expected = by_lines(stream, None, 1000)
        for cut in range(1, len(stream)):
            assert fed(stream, [cut]) == expected, (stream, cut)


def test_random_cuts_of_random_streams_read_as_lines() -> None:
    rng = random.Random(5321)
    alphabet = [b".", b"\r", b"\n", b"\r\n", b"\r\n.", b"a", b"..", b".\r\n", b"x" * 40]
    for _ in range(300):
        body = b"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        stream = body.replace(b"\r\n.\r\n", b"\r\n..\r\n") + b"\r\n.\r\nNOOP\r\n"
        if stream.startswith(b".\r\n"):
            stream = b"." + stream
        cuts = sorted(rng.sample(range(1, len(stream)), min(len(stream) - 1, rng.randint(1, 12))))
        # One limit at a time: which refusal is said when a piece crosses both is not fixed.
        for size_limit, line_limit in ((None, 40), (30, 10_000), (None, 10_000)):
            assert fed(stream, cuts, size_limit, line_limit) == by_lines(stream, size_limit, line_limit), (stream, cuts)
