"""Query-string filters the admin routes share: comma-separated choices and the assignee filter."""

from __future__ import annotations

from maildesk.models import User
from maildesk.web.errors import FieldError
from maildesk.web.schemas import MAX_ID


def choices(field_name: str, value: str | None, allowed: tuple[str, ...] | list[str]) -> list[str]:
    """A comma-separated filter value, each item one of `allowed` (else 422 naming the field)."""
    if value is None or not value.strip():
        return []
    items = [v.strip() for v in value.split(",") if v.strip()]
    for item in items:
        if item not in allowed:
            raise FieldError(field_name, f"unknown value {item!r}; allowed: {', '.join(allowed)}")
    return items


def assignee(value: str | None, me: User) -> tuple[int | None, bool]:
    """assigned_to=<user id> | me | none -> (id, unassigned)."""
    if value is None or value == "":
        return None, False
    if value == "none":
        return None, True
    if value == "me":
        return me.id, False
    if value.isascii() and value.isdigit() and int(value) <= MAX_ID:
        return int(value), False
    raise FieldError("assigned_to", "expected a user id, 'me' or 'none'")
