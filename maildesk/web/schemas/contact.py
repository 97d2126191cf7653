"""The API's shapes for the public contact form: the request body and the answer."""

from __future__ import annotations

from typing import Annotated, Any, Mapping

import msgspec
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


def contact_field_errors(values: Mapping[str, Any]) -> dict[str, str]:
    """Each field of a contact form that ContactIn refuses, with msgspec's reason; {} when none.

    Checked field by field through ContactIn's own field types, so the page (which shows every
    bad field at once) and the API (which converts the whole body) apply one definition;
    converting the whole struct would stop at the first bad field. The rules a type cannot
    say are the service's: the category is one of the configured ones, the description is
    not blank."""
    errors = {}
    for f in msgspec.structs.fields(ContactIn):
        if f.name not in values:
            if f.required:
                errors[f.name] = "required"
            continue
        try:
            msgspec.convert(values[f.name], f.type)
        except msgspec.ValidationError as exc:
            errors[f.name] = str(exc)
    return errors
