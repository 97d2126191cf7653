"""Find line and header-block ends in raw message bytes, linearly and by the stdlib
feedparser's own rules (any of CRLF, LF, CR ends a line; ``headerRE`` for header lines)."""

from __future__ import annotations

import functools
import re

# CRLF, LF and lone CR all end lines, as the feedparser splits them.  Patterns start with
# the line break (not a lookbehind) so the regex engine can skip ahead quickly.
_BREAK = rb"(?:\r\n|\r(?!\n)|\n)"
# A line that is not a header line (the feedparser's headerRE, negated): the blank
# separator, or a body line when the separator is missing.
_NOT_HEADER = rb"(?![ \t]|From |[\x21-\x39\x3b-\x7e]*:)"
_HEADER_END = re.compile(_BREAK + _NOT_HEADER)
_NOT_HEADER_HERE = re.compile(_NOT_HEADER)
_NEWLINE = re.compile(rb"\r\n|\r|\n")


def header_end(raw: bytes, pos: int) -> int:
    """Start of the first non-header line at or after line start ``pos``."""
    if _NOT_HEADER_HERE.match(raw, pos):
        return pos
    match = _HEADER_END.search(raw, pos)
    return match.end() if match else len(raw)


def newline_at_end(chunk: bytes | memoryview) -> bytes:
    """The line break ``chunk`` ends with (CRLF, LF or a lone CR), or b"" when none.
    Only the last two bytes are looked at: a regex anchored at the end (``\\Z``) would
    still be tried from every position of a multi-megabyte body."""
    last = bytes(chunk[-2:])
    if last == b"\r\n":
        return last
    return last[-1:] if last[-1:] in (b"\r", b"\n") else b""


def line_end(raw: bytes, pos: int) -> int:
    match = _NEWLINE.search(raw, pos)
    return match.end() if match else len(raw)


@functools.lru_cache(maxsize=256)
def line_regex(lines: tuple[bytes, ...]) -> re.Pattern[bytes]:
    """A line break followed by a line that is exactly one of ``lines`` plus optional
    blanks (RFC 2046 §5.1.1).  Starting with the line break lets the regex engine skip
    ahead quickly; search from the break before the line start (see _find_line)."""
    alternatives = b"|".join(re.escape(line) for line in sorted(set(lines), key=len, reverse=True))
    return re.compile(_BREAK + b"(" + alternatives + rb")[ \t]*(?=\r|\n|\Z)")


def find_line(raw: bytes, pos: int, lines: tuple[bytes, ...]) -> tuple[int, int, bytes] | None:
    """What ``line_regex(lines).search(raw, search_from(pos))`` finds, as (line start, end of
    the match, the line), without compiling a pattern: the lines are a message's own MIME
    delimiters, different in every message, so a compiled pattern is rarely used twice.
    Each line is looked for with ``bytes.find``; the first whose whole line is one of
    ``lines`` (plus blanks, RFC 2046 §5.1.1), after a line break, wins."""
    ordered = sorted(set(lines), key=len, reverse=True)  # the pattern's alternative order
    # A line that starts with another one ("--b--" and "--b") is found where that one is.
    needles = [line for line in ordered if not any(o != line and line.startswith(o) for o in ordered)]
    best: tuple[int, int, bytes] | None = None
    for needle in needles:
        at = raw.find(needle, max(pos, 1))
        while at != -1 and (best is None or at < best[0]):
            found = _line_at(raw, at, ordered)
            if found is not None:
                best = found
                break
            at = raw.find(needle, at + 1)
    return best


def _line_at(raw: bytes, at: int, ordered: list[bytes]) -> tuple[int, int, bytes] | None:
    if raw[at - 1 : at] not in (b"\n", b"\r"):  # a line start: after LF, CRLF or a lone CR
        return None
    for line in ordered:
        if raw.startswith(line, at):
            end = at + len(line)
            while raw[end : end + 1] in (b" ", b"\t"):
                end += 1
            if end == len(raw) or raw[end : end + 1] in (b"\r", b"\n"):
                return at, end, line
    return None


def search_from(pos: int) -> int:
    """Where to search for a line starting at or after line start ``pos``: the break before it."""
    return pos - 1 if pos > 0 else 0


def last_line_start(raw: bytes, start: int, end: int) -> int:
    """Start of the last line of ``raw[start:end]`` (which ends with a line break)."""
    if end <= start:
        return start
    stop = end - 2 if raw[end - 2 : end] == b"\r\n" else end - 1
    return max(raw.rfind(b"\n", start, stop), raw.rfind(b"\r", start, stop)) + 1 or start
