"""Pure ticket rules: statuses, legal transitions, priorities, ticket numbers."""

from __future__ import annotations

from maildesk.mime.numbers import format_number, parse_number, parse_ticket_ref
from maildesk.vocabulary import PRIORITIES, STATUSES

__all__ = ["STATUSES", "PRIORITIES", "TRANSITIONS", "REOPENED_BY_REPLY", "IllegalTransition", "check_transition",
           "format_number", "parse_number", "parse_ticket_ref"]

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "open": ("in_progress", "waiting_on_user", "resolved"),
    "in_progress": ("waiting_on_user", "resolved"),
    "waiting_on_user": ("in_progress", "resolved"),
    "resolved": ("closed", "in_progress"),
    "closed": (),
}

# A requester's reply puts the ball back in the support team's court.
REOPENED_BY_REPLY = frozenset({"waiting_on_user", "resolved"})


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
