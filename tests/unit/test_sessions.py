"""The SMTP session limits' pure parts: the cap arithmetic, the gate, and the throttled logs."""

from __future__ import annotations

import asyncio
import errno
import logging
from typing import Any

import pytest

from maildesk.intake.sessions import AcceptErrorLog, SessionGate, session_cap


def test_session_cap_keeps_a_reserve_below_the_open_file_limit() -> None:
    assert session_cap(100, 1024, 164) == 100
    assert session_cap(1000, 256, 96) == 160
    assert session_cap(100, 50, 164) == 1  # never zero: one session still gets through


def test_gate_caps_per_ip_then_in_total_and_gives_places_back() -> None:
    gate = SessionGate(max_total=3, max_per_ip=2)
    assert [gate.admit("192.0.2.1") for _ in range(3)] == [None, None, "ip"]
    assert gate.admit("192.0.2.2") is None
    assert gate.admit("192.0.2.3") == "total"
    gate.release("192.0.2.1")
    assert gate.total == 2 and gate.admit("192.0.2.3") is None
    for ip in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        gate.release(ip)
    assert gate.total == 0 and not gate.by_ip


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_accept_errors_are_logged_once_per_interval_without_traceback(caplog: pytest.LogCaptureFixture) -> None:
    clock = _Clock()
    handler = AcceptErrorLog(interval=5.0, clock=clock)
    loop = asyncio.new_event_loop()
    try:
        context: dict[str, Any] = {"message": "socket.accept() out of system resource",
                                   "exception": OSError(errno.EMFILE, "Too many open files")}
        with caplog.at_level(logging.WARNING, logger="maildesk.smtp"):
            for _ in range(1000):
                handler(loop, context)
            clock.now += 5.0
            handler(loop, context)
        lines = [r for r in caplog.records if r.name == "maildesk.smtp"]
        assert [r.getMessage() for r in lines] == [
            "cannot accept connections: Too many open files; retrying",
            "cannot accept connections: Too many open files; retrying (999 more since the last report)",
        ]
        assert all(r.exc_info is None for r in lines)
    finally:
        loop.close()


def test_other_loop_errors_still_reach_the_default_handler(caplog: pytest.LogCaptureFixture) -> None:
    handler = AcceptErrorLog()
    loop = asyncio.new_event_loop()
    try:
        with caplog.at_level(logging.ERROR, logger="asyncio"):
            handler(loop, {"message": "Task exception was never retrieved", "exception": ValueError("boom")})
        assert any("never retrieved" in r.getMessage() for r in caplog.records if r.name == "asyncio")
    finally:
        loop.close()
