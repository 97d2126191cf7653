"""Ticket numbers as people write them: SUP- and at least five digits (SUP-00042)."""

from __future__ import annotations

import re

_NUMBER_RE = re.compile(r"\bSUP-(\d{1,12})\b", re.IGNORECASE)
_REF_RE = re.compile(r"SUP-(\d{1,12})", re.IGNORECASE)


def format_number(ticket_id: int) -> str:
    """SUP- and at least five digits; grows past 99999 (SUP-100000)."""
    return f"SUP-{ticket_id:05d}"


def parse_number(text: str) -> int | None:
    """The ticket id named by the first SUP-<digits> in text, or None."""
    match = _NUMBER_RE.search(text or "")
    return int(match.group(1)) if match else None


def parse_ticket_ref(ref: str) -> int | None:
    """A path parameter that is either an id (42) or a number (SUP-00042)."""
    ref = ref.strip()
    if ref.isascii() and ref.isdigit():
        # Longer ids than 18 digits cannot exist (64-bit keys): no ticket, not an OverflowError.
        return int(ref) if len(ref) <= 18 else None
    match = _REF_RE.fullmatch(ref)
    return int(match.group(1)) if match else None
