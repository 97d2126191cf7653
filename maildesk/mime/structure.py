"""Cut a raw message's MIME tree down to the limits before the stdlib parser sees it.

``bound_structure`` cuts the tree down to ``max_parts`` parts and ``max_depth`` levels,
and caps the size of part headers.  The stdlib parser builds one object per part and
recurses once per level (it hits RecursionError near 1,000 levels and slows
quadratically well before), so it must never see an unbounded tree.  Dropped content is
reported as notes.

The scanner follows the stdlib feedparser's own rules (RFC 2046 §5.1.1 delimiters,
``headerRE`` for header lines, any enclosing boundary ending a part) so that both
agree on where parts begin and end.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32

from maildesk.mime.limits import MimeLimits
from maildesk.mime.rawlines import (
    find_line,
    header_end,
    last_line_start,
    line_end,
    line_regex,
    newline_at_end,
    search_from,
)

__all__ = ["Bounded", "bound_structure"]

# Content-Type/-Disposition values are parsed by stdlib code that is quadratic in the
# number of parameters; real ones (RFC 2231 long names included) stay far below this.
_MAX_MIME_FIELD_BYTES = 8 * 1024
# Leaf bodies bigger than this bypass the feedparser's per-line loop (see Bounded).
_LIFT_BYTES = 64 * 1024


@dataclass(frozen=True)
class Bounded:
    """A message cut down to the limits, as the stdlib parser should see it.

    Leaf bodies over ``_LIFT_BYTES`` are lifted out: the feedparser handles every body
    line in Python (~1 s per 4 MB of short lines), so big bodies are replaced by an empty
    one and a ``lifted_header: <index>`` header, to be put back after the parse."""

    raw: bytes
    notes: tuple[str, ...]
    lifted_header: str
    bodies: tuple[memoryview, ...]  # read-only views of the raw message
    # What was cut, counted, for the visible marker (see left_out):
    parts_dropped: int = 0  # beyond max_parts
    parts_too_deep: int = 0  # beyond max_depth
    headers_cut: int = 0  # part headers capped at _MAX_MIME_FIELD_BYTES


def bound_structure(raw: bytes, limits: MimeLimits) -> Bounded:
    """``raw`` with parts beyond ``max_parts``, nesting beyond ``max_depth`` and oversized
    part headers cut out, big leaf bodies lifted out, and notes saying what was cut."""
    return _Scanner(raw, limits).run()


@dataclass
class _Frame:
    delimiter: bytes  # b"--" + boundary
    depth: int  # depth of the multipart entity itself
    digest: bool  # RFC 2046 §5.1.5: parts default to message/rfc822


class _Scanner:
    """One forward pass over the raw message, keeping the parts within limits."""

    def __init__(self, raw: bytes, limits: MimeLimits) -> None:
        self.raw = raw
        self.limits = limits
        self.out: list[bytes] = []
        self.stack: list[_Frame] = []
        self.leaf: tuple[bytes, bytes, bytes] | None = None  # delimiter line, header, separator
        self.liftable = True
        self.strips_break = True
        self.bodies: list[memoryview] = []
        self.lifted = f"X-Maildesk-Lifted-{secrets.token_hex(8)}"
        self.changed = False
        self.parts = 0
        self.too_many = 0
        self.too_deep = 0
        self.headers_cut = 0

    def run(self) -> Bounded:
        pos, emitting = self._entity(0, 0, "text/plain", b""), True
        while True:
            if pos < 0:  # the entity was dropped: skip to the next delimiter
                pos, emitting = -pos - 1, False
            found = self._next_delimiter(pos)
            if found is None:
                self._emit(pos, len(self.raw), emitting)
                break
            start, end, index, closing = found
            self._emit(pos, start, emitting)
            del self.stack[index + 1 :]
            emitting = True
            if closing:
                self.stack.pop()
                self.out.append(self.raw[start:end])
                pos = end
                continue
            pos = self._child(index, start, end)
        return self._result()

    def _child(self, index: int, start: int, end: int) -> int:
        frame = self.stack[index]
        self.parts += 1
        if self.parts > self.limits.max_parts:
            return -self._skip_siblings(index, end) - 1
        if frame.depth + 1 > self.limits.max_depth:
            self.too_deep += 1
            return -end - 1
        default = "message/rfc822" if frame.digest else "text/plain"
        return self._entity(end, frame.depth + 1, default, self.raw[start:end])

    def _skip_siblings(self, index: int, pos: int) -> int:
        """Drop this part and every later one of the same multipart in one search; return
        where its closing delimiter (or an outer delimiter) starts."""
        outer = tuple(f.delimiter + suffix for f in self.stack[:index] for suffix in (b"", b"--"))
        closing = self.stack[index].delimiter + b"--"
        found = line_regex(outer + (closing,)).search(self.raw, search_from(pos))
        stop = found.start(1) if found else len(self.raw)
        siblings = len(line_regex((self.stack[index].delimiter,)).findall(self.raw, search_from(pos), stop))
        self.parts += siblings
        self.too_many += 1 + siblings
        self.changed = True
        return stop

    def _entity(self, pos: int, depth: int, default: str, delimiter_line: bytes) -> int:
        """Read the header block at ``pos``; emit it and return where the body starts, or
        return ``-(position) - 1`` when the entity is dropped."""
        while True:
            end = header_end(self.raw, pos)
            body = end
            if end < len(self.raw) and self.raw[end : end + 1] in (b"\r", b"\n"):
                body = line_end(self.raw, end)
            envelope = last_line_start(self.raw, pos, end)
            if envelope > pos and self.raw.startswith(b"From ", envelope):
                end = body = envelope  # the feedparser reads a last "From " line as the body
            header = self._bounded_header(self.raw[pos:end])
            ctype, boundary = _content_info(header, default)
            nests = ctype.startswith("message/") and ctype != "message/delivery-status"
            if (boundary is not None or nests) and depth + 1 > self.limits.max_depth and depth:
                self.too_deep += 1
                self.changed = True
                return -body - 1
            if boundary is None and not nests:
                self.leaf = (delimiter_line, header, self.raw[end:body])
                # The feedparser reads a delivery-status body as header blocks: leave it to it.
                self.liftable = ctype != "message/delivery-status"
                # ...and keeps the last line break of a multipart it found no boundary for.
                self.strips_break = not ctype.startswith("multipart/")
                return body
            separator = self.raw[end:body]
            if nests and not separator and end < len(self.raw):
                # The inner message starts with a non-header line, so its header block is
                # empty; a blank line keeps a lifted-body marker from joining ours.
                separator, self.changed = b"\r\n", True
            self.out.extend((delimiter_line, header, separator))
            if boundary is not None:
                self.stack.append(_Frame(b"--" + boundary, depth, ctype == "multipart/digest"))
                return body
            # RFC 2046 §5.2.1: the body of a message/* part is itself a message.
            pos, depth, default, delimiter_line = body, depth + 1, "text/plain", b""

    def _bounded_header(self, header: bytes) -> bytes:
        if len(header) <= _MAX_MIME_FIELD_BYTES:
            return header
        cut = _cap_header_fields(header[: self.limits.max_header_bytes])
        if cut != header:
            self.headers_cut += 1
            self.changed = True
        return cut

    def _next_delimiter(self, pos: int) -> tuple[int, int, int, bool] | None:
        if not self.stack:
            return None
        delimiters = tuple(f.delimiter + suffix for f in self.stack for suffix in (b"", b"--"))
        found = find_line(self.raw, pos, delimiters)
        if found is None:
            return None
        start, match_end, line = found
        # Outermost first: the feedparser checks the enclosing boundaries (its "EOF
        # matchers") before a multipart's own, so a reused boundary belongs to the ancestor.
        for index in range(len(self.stack)):
            delimiter = self.stack[index].delimiter
            if line == delimiter or line == delimiter + b"--":
                return start, line_end(self.raw, match_end), index, line != delimiter
        return None  # unreachable: the pattern only matches the stack's delimiters

    def _emit(self, pos: int, end: int, emitting: bool) -> None:
        """Emit ``raw[pos:end]``."""
        if not emitting:
            self.changed = self.changed or end > pos
            self.leaf = None
            return
        if self.leaf is None:  # preamble, epilogue
            self.out.append(self.raw[pos:end])
            return
        delimiter_line, header, separator = self.leaf
        self.leaf = None
        if end - pos <= _LIFT_BYTES or not self.liftable:
            self.out.extend((delimiter_line, header, separator, self.raw[pos:end]))
            return
        # A lifted body is a view of raw, not a copy (25 MB on a 25 MB message).
        chunk = memoryview(self.raw)[pos:end]
        tail = b""
        if self.stack and self.strips_break:
            # RFC 2046 §5.1.1: the line break before a delimiter belongs to it; the
            # feedparser strips it from any part inside a multipart, even at EOF.
            tail = newline_at_end(chunk)
            chunk = chunk[: len(chunk) - len(tail)]
        marker = f"{self.lifted}: {len(self.bodies)}\r\n".encode("ascii")
        self.bodies.append(chunk)
        self.out.extend((delimiter_line, _with_marker(header, marker), separator or b"\r\n", tail))
        self.changed = True

    def _result(self) -> Bounded:
        notes = []
        if self.too_many:
            notes.append(
                f"{_parts(self.too_many)} beyond the limit of {self.limits.max_parts} dropped"
            )
        if self.too_deep:
            notes.append(
                f"{_parts(self.too_deep)} nested deeper than {self.limits.max_depth} levels dropped"
            )
        if self.headers_cut:
            notes.append(f"{self.headers_cut} oversized part header(s) truncated")
        raw = b"".join(self.out) if self.changed else self.raw
        return Bounded(raw, tuple(notes), self.lifted, tuple(self.bodies),
                       self.too_many, self.too_deep, self.headers_cut)


def _with_marker(header: bytes, marker: bytes) -> bytes:
    """``header`` with ``marker`` after its first field, where it changes nothing else: the
    feedparser reads a first "From " line as the envelope and a last one as the body."""
    lines = header.splitlines(keepends=True)
    after = 1
    while after < len(lines) and lines[after][:1] in (b" ", b"\t"):
        after += 1
    return b"".join(lines[:after]) + marker + b"".join(lines[after:])


def _parts(count: int) -> str:
    return f"{count} part" if count == 1 else f"{count} parts"


def _content_info(header: bytes, default: str) -> tuple[str, bytes | None]:
    """Content type and boundary (for multiparts) the way the feedparser reads them."""
    if b"content-type" not in header.lower():
        return default, None
    field = _content_type_field(header)
    return (_cached_field_info if len(field) <= _CACHED_FIELD_BYTES else _field_info)(field, default)


# Most parts' Content-Type fields are the same few lines (text/plain; charset="utf-8"):
# their reading is remembered (a pure function of the field), short ones only, so the cache
# stays small whatever arrives.
_CACHED_FIELD_BYTES = 200


def _field_info(field: bytes, default: str) -> tuple[str, bytes | None]:
    message = BytesHeaderParser(policy=compat32).parsebytes(field)
    message.set_default_type(default)
    ctype = message.get_content_type()
    if message.get_content_maintype() != "multipart":
        return ctype, None
    boundary = message.get_boundary()
    if boundary is None:
        return ctype, None
    return ctype, boundary.encode("ascii", "surrogateescape")


_cached_field_info = functools.lru_cache(maxsize=512)(_field_info)


def _content_type_field(header: bytes) -> bytes:
    """The lines of the first Content-Type field of a header block (b"" when there is none):
    all the feedparser's get_content_type() and get_boundary() read (Message.get takes the
    first field of a name), without parsing every other field of the block. The block holds
    header lines only (rawlines.header_end); a field is its line plus the continuation lines
    after it (RFC 5322 2.2.3), lines ending as the feedparser splits them (CRLF, LF, CR). A
    name with blanks before its colon is not Content-Type to the parser either."""
    lines = header.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if line[:13].lower() == b"content-type:":
            end = index + 1
            while end < len(lines) and lines[end][:1] in (b" ", b"\t"):
                end += 1
            return b"".join(lines[index:end])
    return b""


def _cap_header_fields(header: bytes) -> bytes:
    """Cut each Content-Type/Content-Disposition field to _MAX_MIME_FIELD_BYTES."""
    fields: list[list[bytes]] = []
    for line in header.splitlines(keepends=True):
        if fields and line[:1] in (b" ", b"\t"):
            fields[-1].append(line)
        else:
            fields.append([line])
    capped = []
    for lines in fields:
        field = b"".join(lines)
        name = field.split(b":", 1)[0].strip().lower()
        if name in (b"content-type", b"content-disposition") and len(field) > _MAX_MIME_FIELD_BYTES:
            field = field[:_MAX_MIME_FIELD_BYTES].rstrip(b"\r\n") + b"\r\n"
        capped.append(field)
    return b"".join(capped)
