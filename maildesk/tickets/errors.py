"""What the ticket rules refuse, as exceptions whose words are fit for the caller."""

from __future__ import annotations


class ServiceError(Exception):
    """A request the rules refuse; str() says why in words fit for the caller."""


class UnknownValue(ServiceError):
    """A value outside its field's list (status, priority, category, assignee), naming the field."""

    def __init__(self, field_name: str, message: str) -> None:
        self.field = field_name
        super().__init__(message)
