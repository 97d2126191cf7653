"""Hands aiosmtpd's command reader one command line at a time (pure: bytes in, bytes out).

The listener (intake/smtp.py) reads DATA itself from `data_received`, so whatever bytes sit
in aiosmtpd's stream buffer when the 354 goes out would be lost to the message and later read
as commands. That happens when a client sends the message before the 354 (against RFC 2920
§3.1, which says DATA ends a pipelined group, but stock aiosmtpd takes those bytes as the
message). So the buffer never holds more than the line being answered: a complete line is
passed on, the bytes after it wait here until that line has its final reply (the reply line
without a "-" after the code, RFC 5321 §4.2.1), and then the next line goes. Every command
line aiosmtpd reads gets a reply; so does the connection itself (the greeting), which is why
nothing is passed before it.
"""

from __future__ import annotations


def is_final_reply(status: str | bytes) -> bool:
    """Whether a reply ends its response: the last line has no "-" after the code."""
    text = status.encode("utf-8", "replace") if isinstance(status, str) else status
    last = text.rstrip(b"\r\n").rsplit(b"\n", 1)[-1]
    return not (len(last) > 3 and last[3:4] == b"-")


class CommandGate:
    """Bytes the client sent that aiosmtpd has not been given yet."""

    def __init__(self) -> None:
        self.held = bytearray()
        self.answered = False  # the greeting is still to come

    def received(self, data: bytes) -> bytes:
        """Take bytes from the client; what aiosmtpd may read now."""
        self.held += data
        return self.next()

    def reply_sent(self, status: str | bytes) -> bytes:
        """A reply went out; what aiosmtpd may read now."""
        if is_final_reply(status):
            self.answered = True
        return self.next()

    def next(self) -> bytes:
        """Up to the end of the next line while the last one is answered (a line's start,
        without its end yet, goes on at once: aiosmtpd waits for the rest)."""
        if not self.answered or not self.held:
            return b""
        end = self.held.find(b"\n")
        if end < 0:
            out = bytes(self.held)
            self.held.clear()
            return out
        out = bytes(self.held[: end + 1])
        del self.held[: end + 1]
        self.answered = False
        return out

    def take_all(self) -> bytes:
        """Everything held (the start of DATA sent before the 354)."""
        out = bytes(self.held)
        self.held.clear()
        return out

    def after_data(self, rest: bytes) -> None:
        """DATA ended; `rest` (the bytes after its end: the next commands) waits with
        anything held until the message has its reply."""
        self.held[:0] = rest
        self.answered = False

    def reset(self) -> None:
        """After STARTTLS: what came before the handshake is dropped (RFC 3207 §4.2), as
        aiosmtpd drops its buffer; the client speaks first on the new layer."""
        self.held.clear()
        self.answered = True
