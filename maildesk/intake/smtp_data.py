"""The SMTP DATA phase as an incremental parser: bytes in as they arrive, the message out.

Pure (no I/O): the listener (intake/smtp.py) feeds it whatever the connection delivers after
the 354 reply, in pieces of any size, and it finds the end of the message, undoes the dot-
stuffing and applies the size and line-length limits exactly as aiosmtpd's own DATA loop does
(tests/integration/test_smtp_differential.py compares the two on the same byte streams).

- The message ends at the first CRLF "." CRLF, where the CRLF before the dot may be the start
  of DATA itself (RFC 5321 §4.1.1.4). A bare LF or CR around a dot ends nothing (RFC 5321
  §4.5.2 / the "SMTP smuggling" of `\\n.\\n`): it is content, as in aiosmtpd.
- A line starting with a dot loses that dot (RFC 5321 §4.5.2 transparency).
- Over the size limit or with a line over the line limit, the rest is still read to the end
  and nothing is kept; the refusal is said once the message is over (RFC 5321 §4.2.5). The
  size counts the bytes as sent (stuffed dots and CRLFs included, the final "." CRLF not).

Each piece is scanned by C code (bytes.find/replace), and the message is kept as the pieces
that arrived (no per-line objects); the pieces are joined once at the end.
"""

from __future__ import annotations

TERMINATOR = b"\r\n.\r\n"
# Proper prefixes of the terminator, longest first: a piece ending in one of them may be
# the start of the end (or of a "\r\n." to unstuff), so those bytes wait for the next piece.
_PARTIAL = (b"\r\n.\r", b"\r\n.", b"\r\n", b"\r")

TOO_BIG = "552 5.3.4 Message too big: the limit is {limit} bytes"
LINE_TOO_LONG = "554 5.6.0 Message refused: a line is longer than {limit} bytes"


def line_lengths(chunk: bytes, carry: int, limit: int) -> tuple[int, int]:
    """(bytes after the chunk's last CRLF, longest line ending in it), given `carry` bytes
    of the current line before it. Lines inside the chunk are measured only when the chunk
    is longer than `limit` (otherwise none of them can be)."""
    first = chunk.find(b"\r\n")
    if first < 0:
        return carry + len(chunk), carry + len(chunk)
    last = chunk.rfind(b"\r\n")
    longest = carry + first + 2
    if len(chunk) > limit and last > first:
        longest = max(longest, max(len(line) + 2 for line in chunk[first + 2 : last].split(b"\r\n")))
    rest = len(chunk) - last - 2
    return rest, max(longest, rest)


def _partial_end(data: bytes) -> int:
    """How many bytes at the end of `data` may begin the terminator."""
    for partial in _PARTIAL:
        if data.endswith(partial):
            return len(partial)
    return 0


class DataReader:
    """One message's DATA. `feed` each piece as it arrives; once it returns a number (the
    bytes of that piece after the end: a pipelined next command), `result` is the message
    (bytes) or the refusal reply (str)."""

    def __init__(self, size_limit: int | None, line_limit: int) -> None:
        self.size_limit = size_limit
        self.line_limit = line_limit
        self.pieces: list[bytes] = []
        # DATA starts at a line start: a virtual CRLF in front lets one search find an end
        # or a stuffed dot on the first line too; `skip` drops it from what is counted/kept.
        self.pending = b"\r\n"
        self.skip = 2
        self.size = 0  # bytes so far, as sent
        self.carry = 0  # bytes of the current line so far
        self.refusal: str | None = None
        self.done = False

    def feed(self, chunk: bytes) -> int | None:
        """Take the next piece; None while the message goes on, else how many bytes at the
        end of `chunk` come after the terminator."""
        assert not self.done
        data = self.pending + chunk if self.pending else chunk
        end = data.find(TERMINATOR)
        if end >= 0:
            self.pending = b""
            self._take(data[: end + 2])  # the CRLF before the dot ends the last line
            self.done = True
            return len(data) - end - len(TERMINATOR)  # < len(chunk): pending is shorter than the terminator
        keep = _partial_end(data)
        self.pending = data[len(data) - keep :] if keep else b""
        self._take(data[: len(data) - keep] if keep else data)
        return None

    def _take(self, segment: bytes) -> None:
        """Count and keep `segment`, which never splits a CRLF "." (pending holds those)."""
        if not segment:
            return
        skip = min(self.skip, len(segment))
        self.skip -= skip
        sent = segment[skip:] if skip else segment
        if sent:
            self.size += len(sent)
            self.carry, longest = line_lengths(sent, self.carry, self.line_limit)
            if self.refusal is None and longest > self.line_limit:
                self.refusal = LINE_TOO_LONG.format(limit=self.line_limit)
            elif self.refusal is None and self.size_limit and self.size > self.size_limit:
                self.refusal = TOO_BIG.format(limit=self.size_limit)
        if self.refusal is not None:
            self.pieces.clear()  # keep reading to the end, keep nothing
            return
        # RFC 5321 §4.5.2: the dot starting a line goes (the virtual CRLF makes the first
        # line's dot a "\r\n." too). Occurrences never overlap and never cross a segment.
        if b"\r\n." in segment:
            segment = segment.replace(b"\r\n.", b"\r\n")
        if skip:
            segment = segment[skip:]
        if segment:
            self.pieces.append(segment)

    def result(self) -> bytes | str:
        """The message, dot-unstuffed, or the refusal reply."""
        assert self.done
        if self.refusal is not None:
            return self.refusal
        content = self.pieces[0] if len(self.pieces) == 1 else b"".join(self.pieces)
        self.pieces.clear()
        return content
