"""/help/contact: the website's contact form, open to anyone; the requester gets the confirmation mail."""

from __future__ import annotations

from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.runtime import Runtime
from maildesk.web.api.support import nonblank
from maildesk.web.schemas import ContactIn, ContactOut, errors

class ContactController(Controller):
    path = "/help/contact"
    tags = ["contact"]

    @post("/", status_code=201, summary="Send the contact form", responses=errors(400, 422))
    async def contact(
        self, rt: NamedDependency[Runtime], db_write: NamedDependency[AsyncSession], data: JSONBody[ContactIn]
    ) -> ContactOut:
        """Opens a ticket (source "contact") for the address given and emails it the confirmation."""
        nonblank("description", data.description)
        ticket, requester = await rt.service(db_write).open_contact_ticket(
            email=data.email, name=data.name, subject=data.subject, description=data.description,
            category=data.category,
        )
        number = ticket.ticket_number or str(ticket.id)
        return ContactOut(
            ticket_number=number,
            id=ticket.id,
            message=f"Thank you. Your request {number} has been received; a confirmation is on its way to {requester.email}.",
        )
