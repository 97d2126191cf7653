"""Collision checks: refuse a change made from a stale view of a ticket, saying what changed.

Every change raises `tickets.version` and tags its timeline events with the version it made
(Desk.event, tickets/desk.py). A caller that sends the version it saw (If-Match or "version") and
is behind gets `StaleVersion`, whose text names who changed what since, from those events.
Pure functions except `check`, which reads the ticket's events.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.models import Ticket, TicketEvent, User
from maildesk.tickets.service import ServiceError


class StaleVersion(ServiceError):
    """The caller's version is behind the ticket's; str() names the changes since (409)."""

    def __init__(self, seen: int, current: int, changes: str) -> None:
        self.seen, self.current = seen, current
        super().__init__(f"ticket changed since version {seen} (now {current}): {changes}")


class BadVersion(ValueError):
    """An If-Match or version value that is not a version number."""


def parse_if_match(value: str | None) -> int | None:
    """If-Match: 3, "3" or W/"3" -> 3; absent or * -> None (no check). RFC 9110 §13.1.1
    lists entity-tags; maildesk's tag is the version number, quoted or not."""
    if value is None or not value.strip() or value.strip() == "*":
        return None
    tag = value.strip()
    if tag.startswith("W/"):
        tag = tag[2:]
    tag = tag.strip().strip('"')
    if not tag.isdigit() or len(tag) > 12:
        raise BadVersion("If-Match: expected the ticket's version number, e.g. If-Match: 3")
    return int(tag)


def expected_version(header: str | None, body_version: int | None) -> int | None:
    """The version a request says it saw: the If-Match header or the body's "version"."""
    from_header = parse_if_match(header)
    if from_header is not None and body_version is not None and from_header != body_version:
        raise BadVersion("If-Match and version disagree; send one of them")
    return from_header if from_header is not None else body_version


_WORDS = {
    "status": lambda e: f"set status to {e.new_value}",
    "priority": lambda e: f"set priority to {e.new_value}",
    "assigned": lambda e: f"assigned it to {e.new_value}" if e.new_value else "unassigned it",
    "resolution_notes": lambda e: "changed the resolution notes",
    "escalated": lambda e: "escalated it" if e.new_value == "True" else "removed the escalation",
    "reply": lambda e: "replied",
    "note": lambda e: "added an internal note",
    "merged": lambda e: f"merged it into {e.new_value}",
    "merged_in": lambda e: f"merged {e.new_value} into it",
}


def describe(events: Iterable[Any], names: Mapping[int, str]) -> str:
    """'Ada Admin set status to resolved; kim@example.org replied' from timeline events."""
    parts = []
    for e in events:
        who = names.get(e.actor_user_id or -1) or e.actor
        words = _WORDS.get(e.kind)
        parts.append(f"{who} {words(e) if words else e.kind.replace('_', ' ')}")
    return "; ".join(parts) or "changed by another request"


async def check(session: AsyncSession, ticket: Ticket, seen: int | None) -> None:
    """Raise StaleVersion when `seen` is given and is not the ticket's current version."""
    if seen is None or seen == ticket.version:
        return
    events = list(await session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
    ))
    since = [e for e in events if int((e.detail or {}).get("version") or 0) > seen]
    actor_ids = {e.actor_user_id for e in since if e.actor_user_id}
    names: dict[int, str] = {}
    if actor_ids:
        for user in await session.scalars(select(User).where(User.id.in_(actor_ids))):
            names[user.id] = user.name or user.email
    raise StaleVersion(seen, ticket.version, describe(since, names))
