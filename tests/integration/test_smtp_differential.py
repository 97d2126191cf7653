"""maildesk's DATA reader against stock aiosmtpd: the same byte streams, the same stored message.

maildesk reads DATA in large pieces (maildesk/intake/smtp.py) instead of aiosmtpd's line-at-a-time
loop, for the memory and speed of big messages. This is what proves the two are equivalent:
each case is sent, in chunks of random sizes, to a plain `aiosmtpd.smtp.SMTP` whose handler
keeps `envelope.original_content`, and to maildesk's listener protocol with the same limits,
and the stored bytes and the reply codes must agree. maildesk words its refusals with RFC
3463 codes: aiosmtpd's "500 Line too long" is maildesk's 554 5.6.0, its 552 is 552 5.3.4.
"""

from __future__ import annotations

import random
import socket
import time
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from maildesk.intake.sessions import SessionGate
from maildesk.intake.smtp import _Protocol

from tests.conftest import free_port

SIZE_LIMIT = 20_000
LINE_LIMIT = 1_000
# The same refusal, as each server words it (maildesk's codes per RFC 3463).
SAME_REPLY = {"500": "554"}


class Keeper:
    """A handler that keeps what DATA delivered, as both servers hand it over."""

    def __init__(self) -> None:
        self.stored: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.stored.append(envelope.original_content)
        return "250 OK"

    # maildesk's protocol marks a message in flight around DATA (shutdown waits for it).
    def begin(self) -> None:
        pass

    def end(self) -> None:
        pass


class StockSMTP(SMTP):
    line_length_limit = LINE_LIMIT  # aiosmtpd's documented class attribute


class MaildeskSMTP(_Protocol):
    line_length_limit = LINE_LIMIT


class StockController(Controller):
    def factory(self) -> SMTP:
        return StockSMTP(self.handler, data_size_limit=SIZE_LIMIT, decode_data=False, enable_SMTPUTF8=True)


class MaildeskController(Controller):
    def factory(self) -> SMTP:
        return MaildeskSMTP(self.handler, gate=SessionGate(100, 100), idle_seconds=60,
                            data_size_limit=SIZE_LIMIT, decode_data=False, enable_SMTPUTF8=True)


@pytest.fixture(scope="module")
def servers() -> Any:
    started = []
    pair = {}
    for name, cls in (("stock", StockController), ("maildesk", MaildeskController)):
        keeper = Keeper()
        controller = cls(keeper, hostname="127.0.0.1", port=free_port())
        controller.start()
        started.append(controller)
        pair[name] = (controller.port, keeper)
    yield pair
    for controller in started:
        controller.stop()


def _reply(sock: socket.socket, buffer: bytearray) -> str:
    """One SMTP reply (multi-line ones whole); its last line."""
    deadline = time.monotonic() + 30
    while True:
        while b"\r\n" in buffer:
            end = buffer.index(b"\r\n")
            line = bytes(buffer[:end]).decode("ascii", "replace")
            del buffer[: end + 2]
            if len(line) < 4 or line[3] != "-":
                return line
        assert time.monotonic() < deadline, "no reply"
        chunk = sock.recv(65536)
        assert chunk, "connection closed"
        buffer.extend(chunk)


def _transaction(port: int, data: bytes, rng: random.Random) -> tuple[str, str]:
    """DATA `data` (up to and including the end marker) in random chunks; (DATA reply, next reply)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = bytearray()
        assert _reply(sock, buffer).startswith("220")
        for command, code in ((b"EHLO client.test", "250"), (b"MAIL FROM:<a@client.test>", "250"),
                              (b"RCPT TO:<support@example.test>", "250"), (b"DATA", "354")):
            sock.sendall(command + b"\r\n")
            assert _reply(sock, buffer).startswith(code), command
        at = 0
        while at < len(data):
            size = rng.choice((1, 2, 3, 7, 64, 1000, 4096, 65536))
            sock.sendall(data[at : at + size])
            at += size
            if rng.random() < 0.05:
                time.sleep(0.002)  # let the server read a partial piece
        data_reply = _reply(sock, buffer)
        sock.sendall(b"RSET\r\n")  # the session goes on after the message, in the same state
        return data_reply, _reply(sock, buffer)


def _head(text: str = "x") -> bytes:
    return b"From: a@client.test\r\nTo: support@example.test\r\nSubject: " + text.encode() + b"\r\n\r\n"


END = b"\r\n.\r\n"


def stuffed(content: bytes) -> bytes:
    """What a client sends for `content` (RFC 5321 §4.5.2): a dot starting a line doubled."""
    content = content.replace(b"\r\n.", b"\r\n..")
    return b"." + content if content.startswith(b".") else content

CASES: dict[str, bytes] = {
    "plain": _head() + b"Hello\r\nthere" + END,
    "empty body": _head() + END[2:],
    "dot-stuffed lines": _head() + b"..leading dot\r\n..\r\n...\r\n..\r\nend" + END,
    "dot-stuffed first line": b"..From: x\r\n\r\nbody" + END,
    "lone dot in the middle is stuffed": _head() + b"a\r\n..\r\nb" + END,
    "bare LF": _head() + b"one\ntwo\n\nthree" + END,
    "bare CR": _head() + b"one\rtwo\r\rthree" + END,
    "smuggling LF.LF": _head() + b"a\n.\nMAIL FROM:<evil@x>\nRCPT TO:<v@x>\nDATA\nevil\n.\nb" + END,
    "smuggling CR.CR": _head() + b"a\r.\rMAIL FROM:<evil@x>\r.\r\nb" + END,
    "smuggling LF.CRLF": _head() + b"a\n.\r\nMAIL FROM:<evil@x>\r\nb" + END,
    "smuggling CR.LF": _head() + b"a\r\n.\nMAIL FROM:<evil@x>\r\nb" + END,
    "dot CR LF split": _head() + b"a.\r\n..b\r\n..\r" + b"\n..x.\r" + END,
    "8-bit": _head() + "héllo wörld ✓".encode() + END,
    "line at the limit": _head() + b"a" * (LINE_LIMIT - 2) + END,
    "line one over the limit": _head() + b"a" * (LINE_LIMIT - 1) + END,
    "line far over the limit": _head() + b"a" * (LINE_LIMIT * 5) + b"\r\nafter" + END,
    "long line without CR": _head() + (b"a" * 300 + b"\n") * 20 + END,
    "many short lines": _head() + b"ab\r\n" * 3000 + END,
}


def _sized(total: int) -> bytes:
    """A message whose DATA (without the final ".\\r\\n") is exactly `total` bytes."""
    head = _head()
    filler = total - len(head) - 2
    lines, rest = divmod(filler, 100)
    return head + (b"b" * 98 + b"\r\n") * lines + b"c" * rest + END


CASES["size at the limit"] = _sized(SIZE_LIMIT)
CASES["size one over the limit"] = _sized(SIZE_LIMIT + 1)
CASES["size far over the limit"] = _sized(SIZE_LIMIT * 4)


@pytest.mark.parametrize("name", list(CASES))
def test_same_message_and_reply_as_stock_aiosmtpd(servers: Any, name: str) -> None:
    data = CASES[name]
    results = {}
    for server, (port, keeper) in servers.items():
        before = len(keeper.stored)
        data_reply, next_reply = _transaction(port, data, random.Random(name))
        stored = keeper.stored[before:]
        results[server] = (data_reply[:3], next_reply[:3], stored)
    stock_code, stock_next, stock_stored = results["stock"]
    ours_code, ours_next, ours_stored = results["maildesk"]
    assert ours_code == SAME_REPLY.get(stock_code, stock_code), (results["stock"][0], results["maildesk"][0])
    assert ours_next == stock_next == "250"
    assert ours_stored == stock_stored


def test_random_streams_match_stock_aiosmtpd(servers: Any) -> None:
    """Random mixes of the awkward bytes (dots, CR, LF) at random chunk sizes."""
    rng = random.Random(14)
    alphabet = [b".", b"\r", b"\n", b"\r\n", b"\r\n.", b"a", b"\r\n..", b".\r\n", b"x" * 50]
    for _ in range(40):
        body = b"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 400)))
        data = stuffed(_head() + body) + END
        results = {}
        for server, (port, keeper) in servers.items():
            before = len(keeper.stored)
            data_reply, _ = _transaction(port, data, rng)
            results[server] = (data_reply[:3], keeper.stored[before:])
        assert results["maildesk"][0] == SAME_REPLY.get(results["stock"][0], results["stock"][0]), body
        assert results["maildesk"][1] == results["stock"][1], body


# --- Byte streams that matter to a reader fed by data_received (issue 14) ---------------------

COMMANDS = b"EHLO client.test\r\nMAIL FROM:<a@client.test>\r\nRCPT TO:<support@example.test>\r\n"


def _session(port: int, writes: list[bytes], replies: int, pause: float = 0.0) -> list[str]:
    """Send `writes` one send() each (with `pause` between, so the server reads them apart),
    then read `replies` replies after the greeting; their codes."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = bytearray()
        assert _reply(sock, buffer).startswith("220")
        for data in writes:
            sock.sendall(data)
            if pause:
                time.sleep(pause)
        return [_reply(sock, buffer)[:3] for _ in range(replies)]


def _both(servers: Any, writes: list[bytes], replies: int, pause: float = 0.0) -> dict[str, tuple[list[str], list[bytes]]]:
    results = {}
    for server, (port, keeper) in servers.items():
        before = len(keeper.stored)
        codes = _session(port, writes, replies, pause)
        results[server] = ([SAME_REPLY.get(c, c) for c in codes], keeper.stored[before:])
    return results


def test_one_byte_writes(servers: Any) -> None:
    """Every byte of the message in its own write: the end, stuffed dots and CRLFs all split."""
    data = stuffed(_head() + b".a\r\n..\r\nb\r\n.\rc\n.\nd") + END
    for server, (port, keeper) in servers.items():
        before = len(keeper.stored)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            buffer = bytearray()
            assert _reply(sock, buffer).startswith("220")
            for command in COMMANDS.split(b"\r\n")[:-1] + [b"DATA"]:
                sock.sendall(command + b"\r\n")
                assert _reply(sock, buffer)[:1] in ("2", "3")
            for at in range(len(data)):
                sock.sendall(data[at : at + 1])
            assert _reply(sock, buffer).startswith("250"), server
        assert keeper.stored[before:] == [_head() + b".a\r\n..\r\nb\r\n.\rc\n.\nd\r\n"], server


@pytest.mark.parametrize("split", range(1, 6))
def test_end_marker_split_across_writes(servers: Any, split: int) -> None:
    """The CRLF "." CRLF cut after each of its bytes, the two writes read apart."""
    data = _head() + b"body\r\n.." + END
    writes = [COMMANDS + b"DATA\r\n", data[: len(data) - 5 + split], data[len(data) - 5 + split :] + b"NOOP\r\n"]
    results = _both(servers, writes, 6, pause=0.05)
    assert results["maildesk"] == results["stock"]
    assert results["maildesk"] == (["250", "250", "250", "354", "250", "250"], [_head() + b"body\r\n.\r\n"])


def test_pipelined_commands_after_the_end(servers: Any) -> None:
    """The next transaction sent right behind the end marker, in the same write (RFC 2920):
    the bytes after the dot are commands again, and the second message is read too."""
    first, second = _head("one") + b"first" + END, _head("two") + b"second" + END
    writes = [COMMANDS + b"DATA\r\n", first + b"MAIL FROM:<b@client.test>\r\nRCPT TO:<support@example.test>\r\nDATA\r\n",
              second + b"RSET\r\nNOOP\r\n"]
    results = _both(servers, writes, 10, pause=0.05)
    assert results["maildesk"] == results["stock"]
    assert results["maildesk"] == (["250", "250", "250", "354", "250", "250", "250", "354", "250", "250"],
                                   [_head("one") + b"first\r\n", _head("two") + b"second\r\n"])


def test_message_sent_before_the_354(servers: Any) -> None:
    """A client that does not wait for the 354 (the whole session in one write): stock
    aiosmtpd reads what follows DATA as the message, and so does maildesk; nothing of it is
    taken for a command."""
    data = _head() + b"MAIL FROM:<evil@x>\r\nRSET\r\nbody" + END
    results = _both(servers, [COMMANDS + b"DATA\r\n" + data + b"NOOP\r\n"], 6)
    assert results["maildesk"] == results["stock"]
    assert results["maildesk"] == (["250", "250", "250", "354", "250", "250"],
                                   [_head() + b"MAIL FROM:<evil@x>\r\nRSET\r\nbody\r\n"])


@pytest.mark.parametrize("cut", ["mid-line", "before the final dot", "after the final dot"])
def test_client_closing_mid_data_stores_nothing(servers: Any, cut: str) -> None:
    """The client goes away inside DATA: nothing is stored, and the listener goes on (the next
    session's message is the only one stored)."""
    body = _head() + b"some text\r\nmore"
    partial = {"mid-line": body, "before the final dot": body + b"\r\n", "after the final dot": body + b"\r\n."}[cut]
    for server, (port, keeper) in servers.items():
        before = len(keeper.stored)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            buffer = bytearray()
            assert _reply(sock, buffer).startswith("220")
            sock.sendall(COMMANDS + b"DATA\r\n")
            assert [_reply(sock, buffer)[:3] for _ in range(4)] == ["250", "250", "250", "354"]
            sock.sendall(partial)
            sock.shutdown(socket.SHUT_WR)
            assert sock.recv(100) == b""  # the server closes its side too: the session is over
        after = _head("after") + b"next" + END
        assert _session(port, [COMMANDS + b"DATA\r\n", after], 5, pause=0.05) == ["250", "250", "250", "354", "250"]
        assert keeper.stored[before:] == [_head("after") + b"next\r\n"], server


def test_megabytes_sent_before_the_354(servers: Any) -> None:
    """More than the listener holds ahead of the replies (it pauses reading there) sent before
    the 354: reading resumes once DATA takes the bytes, and the message is read to its end."""
    data = _head() + (b"m" * 98 + b"\r\n") * 15_000 + END  # 1.5 MB, over SIZE_LIMIT
    results = _both(servers, [COMMANDS + b"DATA\r\n" + data + b"NOOP\r\n"], 6)
    assert results["maildesk"] == results["stock"]
    assert results["maildesk"] == (["250", "250", "250", "354", "552", "250"], [])
