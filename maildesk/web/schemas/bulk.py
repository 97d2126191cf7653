"""The API's shapes for bulk ticket changes: the request body and each ticket's outcome."""

from __future__ import annotations

from typing import Annotated

from msgspec import UNSET, Meta, Struct, UnsetType

from maildesk.tickets.change import TicketChange
from maildesk.web.schemas.fields import Priority, Status, Strict, TicketRef, change_value


class BulkChanges(Strict):
    status: Status | UnsetType = UNSET
    priority: Priority | UnsetType = UNSET
    assigned_to: int | None | UnsetType = UNSET

    def changes(self) -> TicketChange:
        return TicketChange(**{f: change_value(getattr(self, f)) for f in self.__struct_fields__})


class BulkIn(Strict):
    tickets: Annotated[list[int | TicketRef], Meta(min_length=1, max_length=500)]
    changes: BulkChanges


class BulkResult(Struct, omit_defaults=True):
    """One ticket's outcome in a bulk change: ok, or the error it would have had on its own."""

    ticket: str
    ok: bool
    status_code: int | None = None
    detail: str | None = None


class BulkOut(Struct):
    results: list[BulkResult]
