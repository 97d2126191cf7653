"""What an admin asks to change on a ticket, as one typed value: the JSON API (PATCH and bulk)
and the pages build a `TicketChange`, the service applies it (TicketService.update)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields


class Clear(enum.Enum):
    """Set a field that may be empty to empty: unassign, or remove the resolution notes."""

    CLEAR = "clear"


CLEAR = Clear.CLEAR


@dataclass(frozen=True)
class TicketChange:
    """`None` leaves a field as it is; `CLEAR` empties `assigned_to` or `resolution_notes`."""

    status: str | None = None
    priority: str | None = None
    assigned_to: int | Clear | None = None  # a user id (an active admin)
    escalated: bool | None = None
    resolution_notes: str | Clear | None = None

    def __bool__(self) -> bool:
        """False when it changes nothing."""
        return any(getattr(self, f.name) is not None for f in fields(self))
