"""/help/contact: the website's contact form, open to anyone; the requester gets the confirmation mail."""

from __future__ import annotations

from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from maildesk.runtime import Runtime
from maildesk.tickets.service import NewMessage
from maildesk.web.api.support import nonblank
from maildesk.web.schemas import ContactIn, ContactOut, errors

_SUBJECT_CHARS = 80


def subject_from(description: str) -> str:
    """No subject given: the first line of the description, shortened on a word boundary."""
    first = next((line.strip() for line in description.splitlines() if line.strip()), "")
    if len(first) <= _SUBJECT_CHARS:
        return first or "Contact form"
    return first[:_SUBJECT_CHARS].rsplit(" ", 1)[0].rstrip(" ,.;:") + "…"


class ContactController(Controller):
    path = "/help/contact"
    tags = ["contact"]

    @post("/", status_code=201, summary="Send the contact form", responses=errors(400, 422))
    async def contact(self, rt: NamedDependency[Runtime], data: JSONBody[ContactIn]) -> ContactOut:
        """Opens a ticket (source "contact") for the address given and emails it the confirmation."""
        nonblank("description", data.description)
        async with rt.db.write() as session:
            service = rt.service(session)
            requester = await service.get_or_create_user(data.email, data.name.strip())
            ticket = await service.create_ticket(
                requester,
                subject=data.subject.strip() or subject_from(data.description),
                message=NewMessage(body=data.description, source="web"),
                category=data.category,
                source="contact",
            )
        number = ticket.ticket_number or str(ticket.id)
        return ContactOut(
            ticket_number=number,
            id=ticket.id,
            message=f"Thank you. Your request {number} has been received; a confirmation is on its way to {requester.email}.",
        )
