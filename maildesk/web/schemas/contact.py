"""The API's shapes for the public contact form: the request body and the answer."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

from maildesk.web.schemas.fields import Email, Strict, Subject, Text


class ContactIn(Strict):
    email: Email
    category: str
    description: Text
    name: Annotated[str, Meta(max_length=200)] = ""
    subject: Subject = ""


class ContactOut(Struct):
    ticket_number: str
    id: int
    message: str
