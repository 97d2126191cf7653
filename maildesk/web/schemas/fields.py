"""The field types the API's shapes share, and the strict base every request body uses.

Request Structs use forbid_unknown_fields, so a misspelt field is a 422 naming it rather
than a silently ignored value.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import UNSET, Meta, Struct

from maildesk.tickets.change import CLEAR

Status = Literal["open", "in_progress", "waiting_on_user", "resolved", "closed"]
Priority = Literal["urgent", "high", "medium", "low"]

Email = Annotated[str, Meta(min_length=3, max_length=320, pattern=r"^[^@\s<>,]+@[^@\s<>,]+$")]
Subject = Annotated[str, Meta(max_length=500)]
Text = Annotated[str, Meta(min_length=1, max_length=200_000)]
Password = Annotated[str, Meta(max_length=1024)]
# A row id: what fits a 64-bit SQL integer (a larger one is 422 naming the field, not an
# OverflowError in the database driver).
MAX_ID = 2**63 - 1
RowId = Annotated[int, Meta(ge=1, le=MAX_ID)]
# The ticket version a change was made from (collision check); If-Match carries the same.
Version = Annotated[int, Meta(ge=1)]
TicketRef = Annotated[str, Meta(min_length=1, max_length=32)]


class Strict(Struct, forbid_unknown_fields=True):
    """A request body: unknown fields are refused (422 naming the field)."""


def change_value(value: Any) -> Any:
    """A PATCH field as a TicketChange field: absent is unchanged (None), `null` is CLEAR."""
    if value is UNSET:
        return None
    return CLEAR if value is None else value
