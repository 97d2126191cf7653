"""Pure ticket rules: statuses, legal transitions, priorities, ticket numbers."""

from __future__ import annotations

import re

STATUSES = ("open", "in_progress", "waiting_on_user", "resolved", "closed")
PRIORITIES = ("urgent", "high", "medium", "low")

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "open": ("in_progress", "waiting_on_user", "resolved"),
    "in_progress": ("waiting_on_user", "resolved"),
    "waiting_on_user": ("in_progress", "resolved"),
    "resolved": ("closed", "in_progress"),
    "closed": (),
}

# A requester's reply puts the ball back in the support team's court.
REOPENED_BY_REPLY = frozenset({"waiting_on_user", "resolved"})

_NUMBER_RE = re.compile(r"\bSUP-(\d{1,12})\b", re.IGNORECASE)


class IllegalTransition(Exception):
    def __init__(self, current: str, wanted: str) -> None:
        self.current = current
        self.wanted = wanted
        self.allowed = TRANSITIONS.get(current, ())
        allowed = ", ".join(self.allowed) or "none (closed is final)"
        super().__init__(f"cannot change status from {current} to {wanted}; allowed next statuses: {allowed}")


def check_transition(current: str, wanted: str) -> None:
    if wanted not in TRANSITIONS.get(current, ()):
        raise IllegalTransition(current, wanted)


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
    match = re.fullmatch(r"SUP-(\d{1,12})", ref, re.IGNORECASE)
    return int(match.group(1)) if match else None
