"""Limits on the work one inbound message may cause, and how what they cut is reported.

Two passes run over the raw bytes, both linear and without a MIME parse:

* ``precheck`` (here) runs at SMTP DATA time and refuses what we will not store at all
  (today: a top-level header block beyond ``max_header_bytes``).
* ``structure.bound_structure`` runs before the stdlib parser sees the message and cuts
  the MIME tree down to ``max_parts`` parts and ``max_depth`` levels.
"""

from __future__ import annotations

from dataclasses import dataclass

from maildesk.mime.rawlines import header_end

__all__ = ["MimeLimits", "MessageRefused", "precheck", "truncation_marker", "left_out"]


@dataclass(frozen=True)
class MimeLimits:
    max_header_bytes: int = 256 * 1024  # whole header block of the top message
    max_parts: int = 200
    max_depth: int = 20
    max_line_bytes: int = 64 * 1024  # longer lines are truncated with a visible marker
    max_attachment_bytes: int = 20 * 1024 * 1024
    max_total_attachment_bytes: int = 25 * 1024 * 1024
    max_body_chars: int = 1_000_000  # shown text beyond this is truncated with a marker


class MessageRefused(Exception):
    """Raised when a message is beyond a limit we refuse rather than truncate. str(e) is a short
    reason fit for an SMTP 5xx reply (no CR/LF, ASCII)."""

    def __init__(self, reason: str) -> None:
        clean = "".join(c if " " <= c <= "~" else " " for c in reason)
        super().__init__(" ".join(clean.split())[:200] or "message refused")


def truncation_marker(reason: str) -> str:
    """The visible line put where content was cut."""
    return f"[… truncated by maildesk: {reason}]"


def left_out(*, parts_dropped: int = 0, parts_too_deep: int = 0, headers_cut: int = 0,
             attachments_dropped: int = 0, max_parts: int, max_depth: int) -> tuple[str, ...]:
    """Short phrases saying what of a message is not shown, for the marker at the end of the
    ticket text and the inbound record's reason ("9,800 more parts not shown")."""
    out = []
    if parts_dropped:
        out.append(f"{_count(parts_dropped, 'more part')} not shown (limit {max_parts:,})")
    if parts_too_deep:
        out.append(f"{_count(parts_too_deep, 'part')} nested deeper than {max_depth} levels not shown")
    if headers_cut:
        out.append(f"{_count(headers_cut, 'oversized part header')} cut")
    if attachments_dropped:
        out.append(f"{_count(attachments_dropped, 'attachment')} over the size limit not kept")
    return tuple(out)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def precheck(raw: bytes, limits: MimeLimits) -> None:
    """Cheap O(n) checks run at SMTP DATA time before the message is stored: raises MessageRefused
    e.g. when the header block exceeds max_header_bytes or there is no header/body separator in a
    huge header. Must be fast (it runs on every message on the intake hot path: no full MIME parse;
    scanning for the end of headers and counting is fine)."""
    size = header_end(raw, 0)
    if size > limits.max_header_bytes:
        raise MessageRefused(
            f"header block too large ({size} bytes, limit {limits.max_header_bytes})"
        )
