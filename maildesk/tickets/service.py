"""The ticket service: the one place that changes tickets.

The mail pipeline, the web API and the SLA pass all call this, so every rule (status
transitions, first response, who is told what) lives here once. Each method works inside
the caller's write transaction: it changes rows, records a TicketEvent for the audit trail,
and queues the emails the change causes in the same transaction (outbox.py).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterator, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.attachments import AttachmentStore

from maildesk.config import Settings
from maildesk.outbound import tokens
from maildesk.outbound.outbox import Outbox
from maildesk.outbound.recipients import admin_recipients
from maildesk.models import Attachment, Ticket, TicketEvent, TicketMessage, TicketParticipant, User, utcnow
from maildesk.tickets import clocks, due, notify, rules, users
from maildesk.tickets import merge as merging
from maildesk.tickets.change import CLEAR, TicketChange
from maildesk.tickets.clocks import duration_words
from maildesk.webhooks import events as webhooks


class ServiceError(Exception):
    """A request the rules refuse; str() says why in words fit for the caller."""


class UnknownValue(ServiceError):
    def __init__(self, field_name: str, message: str) -> None:
        self.field = field_name
        super().__init__(message)


SYSTEM = "system"


@dataclass
class NewMessage:
    """What a message carries into a ticket, whichever way it arrived."""

    body: str
    full_body: str | None = None
    body_html: str | None = None
    source: str = "web"  # email | web | api | system
    email_message_id: str | None = None
    inbound_id: int | None = None
    attachments: Sequence[Any] = field(default_factory=tuple)
    sender_verified: bool | None = None  # mail only: see mail/senderauth.py


_SUBJECT_CHARS = 80


def subject_from(description: str) -> str:
    """No subject given: the first line of the description, shortened on a word boundary."""
    first = next((line.strip() for line in description.splitlines() if line.strip()), "")
    if len(first) <= _SUBJECT_CHARS:
        return first or "Contact form"
    return first[:_SUBJECT_CHARS].rsplit(" ", 1)[0].rstrip(" ,.;:") + "…"


class TicketService:
    def __init__(
        self, session: AsyncSession, settings: Settings, outbox: Outbox, attachments: AttachmentStore
    ) -> None:
        self.session = session
        self.settings = settings
        self.outbox = outbox
        self.attachments = attachments
        # Tickets inside one change (`_change`), and whether that change has raised the version yet.
        self._changing: dict[int, bool] = {}

    # --- users ---------------------------------------------------------------------------

    async def user_by_email(self, email: str) -> User | None:
        return await users.user_by_email(self.session, email)

    async def get_or_create_user(self, email: str, name: str = "") -> User:
        """The user record of an address, created on first contact (tickets/users.py)."""
        return (await users.get_or_create_user(self.session, email, name))[0]

    async def admin_recipients(self) -> list[str]:
        return await admin_recipients(self.session, self.settings)

    # --- creating --------------------------------------------------------------------------

    def _check_category(self, category: str) -> str:
        if category not in self.settings.categories:
            raise UnknownValue(
                "category", f"unknown category {category!r}; allowed: {', '.join(self.settings.categories)}"
            )
        return category

    async def open_contact_ticket(
        self, *, email: str, name: str, subject: str, description: str, category: str
    ) -> tuple[Ticket, User]:
        """The website's contact form (API and page alike): a ticket with source "contact" for the
        address given, titled by the subject or else the description's first line."""
        requester = await self.get_or_create_user(email, name.strip())
        ticket = await self.create_ticket(
            requester,
            subject=subject.strip() or subject_from(description),
            message=NewMessage(body=description, source="web"),
            category=category,
            source="contact",
        )
        return ticket, requester

    async def create_ticket(
        self,
        requester: User,
        *,
        subject: str,
        message: NewMessage,
        category: str = "other",
        priority: str = "medium",
        source: str = "email",
        context: dict[str, Any] | None = None,
        cc: Sequence[str] = (),
        linked_ticket: Ticket | None = None,
        send_confirmation: bool = True,
    ) -> Ticket:
        self._check_category(category)
        if priority not in rules.PRIORITIES:
            raise UnknownValue("priority", f"unknown priority {priority!r}")
        now = utcnow()
        ticket = Ticket(
            user_id=requester.id,
            user_email=requester.email,
            category=category,
            priority=priority,
            status="open",
            subject=(subject.strip() or "(no subject)")[:500],
            description=message.body,
            created_at=now,
            updated_at=now,
            context=context or {},
            source=source,
            root_message_id=message.email_message_id
            or tokens.new_message_id(self.settings.secret_key, self.settings.support_domain),
            linked_ticket_id=linked_ticket.id if linked_ticket else None,
        )
        self.session.add(ticket)
        await self.session.flush()  # the row id is the ticket number, inside this transaction
        ticket.ticket_number = rules.format_number(ticket.id)
        ticket.version = 1
        await self._add_message(ticket, requester, "user", message, created_at=now)
        for address in dict.fromkeys(a.lower() for a in cc):
            if address and address != requester.email:
                self.session.add(TicketParticipant(ticket_id=ticket.id, email=address))
        with self._change(ticket, new=True):
            self._event(ticket, requester, "created", new_value="open", detail={"source": source})
            if linked_ticket is not None:
                self._event(ticket, None, "linked", new_value=linked_ticket.ticket_number,
                            detail={"reason": "reply to a closed ticket"})
        await notify.new_ticket(self.session, ticket, requester)
        if send_confirmation:
            await self.outbox.enqueue(self.session, "confirmation", requester.email, ticket, to_name=requester.name)
        for admin in await self.admin_recipients():
            await self.outbox.enqueue(self.session, "new_ticket", admin, ticket, context={"body": message.body})
        await self._refresh_clocks(ticket)
        await webhooks.publish(self.session, ticket, created=True)
        return ticket

    async def _add_message(
        self,
        ticket: Ticket,
        author: User | None,
        role: str,
        message: NewMessage,
        *,
        is_internal: bool = False,
        created_at: datetime | None = None,
        sender_email: str | None = None,
    ) -> TicketMessage:
        row = TicketMessage(
            ticket_id=ticket.id,
            sender_user_id=author.id if author else None,
            sender_email=sender_email or (author.email if author else SYSTEM),
            sender_role=role,
            body=message.body,
            full_body=message.full_body,
            body_html=message.body_html,
            is_internal=is_internal,
            source=message.source,
            email_message_id=message.email_message_id,
            inbound_id=message.inbound_id,
            sender_verified=message.sender_verified,
            created_at=created_at or utcnow(),
        )
        self.session.add(row)
        await self.session.flush()
        for part in message.attachments:
            self.session.add(
                Attachment(
                    message_id=row.id,
                    filename=part.filename,
                    content_type=part.content_type,
                    size=len(part.data),
                    storage_key=self.attachments.save(part.data),
                    content_id=part.content_id,
                    inline=part.inline,
                    created_at=row.created_at,
                )
            )
        return row

    @contextmanager
    def _change(self, ticket: Ticket, *, new: bool = False) -> Iterator[None]:
        """One change of a ticket, however many events it records: the version goes up once
        (on its first event). `new`: a ticket being created keeps version 1."""
        if ticket.id in self._changing:
            yield
            return
        self._changing[ticket.id] = new
        try:
            yield
        finally:
            self._changing.pop(ticket.id, None)

    def _event(
        self,
        ticket: Ticket,
        actor: User | None,
        kind: str,
        *,
        old_value: Any = None,
        new_value: Any = None,
        detail: dict[str, Any] | None = None,
        bump: bool = True,
    ) -> None:
        """Record a change in the timeline; it raises the ticket's version (once per `_change`),
        and the event carries the version it made, so a collision can say what changed since."""
        webhooks.track(self.session, ticket, kind, old_value)
        if bump and not self._changing.get(ticket.id, False):
            ticket.version = (ticket.version or 1) + 1
            if ticket.id in self._changing:
                self._changing[ticket.id] = True
        detail = {**(detail or {}), "version": ticket.version}
        self.session.add(
            TicketEvent(
                ticket_id=ticket.id,
                actor_user_id=actor.id if actor else None,
                actor=actor.email if actor else SYSTEM,
                kind=kind,
                old_value=None if old_value is None else str(old_value),
                new_value=None if new_value is None else str(new_value),
                detail=detail,
                created_at=utcnow(),
            )
        )

    async def _refresh_clocks(self, ticket: Ticket) -> None:
        """Recompute the SLA due times after a change (status, priority, first response)."""
        await due.refresh(self.session, ticket, self.settings, utcnow())

    def _set_status(self, ticket: Ticket, actor: User | None, status: str, *, check: bool = True) -> None:
        if ticket.status == status:
            return
        if check:
            rules.check_transition(ticket.status, status)
        old, now = ticket.status, utcnow()
        ticket.status = status
        ticket.updated_at = now
        if status == "resolved":
            ticket.resolved_at = now
        elif status == "closed":
            ticket.closed_at = now
        elif old == "resolved":
            ticket.resolved_at = None
        self._event(ticket, actor, "status", old_value=old, new_value=status)

    # --- messages --------------------------------------------------------------------------

    async def requester_reply(self, ticket: Ticket, author: User, message: NewMessage) -> TicketMessage:
        """The requester (or a participant) adds to their ticket; the ball is back with support."""
        if ticket.status == "closed":
            raise ServiceError("this ticket is closed; write a new request instead")
        row = await self._add_message(ticket, author, "user", message)
        with self._change(ticket):
            self._event(ticket, author, "reply", detail={"message_id": row.id, "source": message.source})
            if ticket.status in rules.REOPENED_BY_REPLY:
                self._set_status(ticket, author, "in_progress")
        ticket.updated_at = utcnow()
        await notify.requester_reply(self.session, ticket, author)
        if ticket.assigned_to is not None:
            assignee = await self.session.get(User, ticket.assigned_to)
            if assignee is not None and assignee.is_active:
                await self.outbox.enqueue(
                    self.session, "requester_reply", assignee.email, ticket, context={"body": message.body}
                )
        await self._refresh_clocks(ticket)
        await webhooks.publish(self.session, ticket, message=row)
        return row

    async def admin_reply(
        self, ticket: Ticket, admin: User, message: NewMessage, *, is_internal: bool = False
    ) -> TicketMessage:
        """An admin answers (emailed to the requester) or leaves an internal note (emailed to nobody)."""
        if not admin.is_admin:
            raise ServiceError("only admins may answer as support")
        if ticket.status == "closed" and not is_internal:
            raise ServiceError("this ticket is closed; it cannot be answered")
        row = await self._add_message(ticket, admin, "admin", message, is_internal=is_internal)
        with self._change(ticket):
            self._event(ticket, admin, "note" if is_internal else "reply", detail={"message_id": row.id})
            ticket.updated_at = utcnow()
            if is_internal:
                await notify.note_mentions(self.session, ticket, admin, message.body)
                await webhooks.publish(self.session, ticket, message=row)
                return row
            if ticket.first_response_at is None:
                ticket.first_response_at = row.created_at
            if ticket.status == "open":
                self._set_status(ticket, admin, "in_progress")
            await self._refresh_clocks(ticket)
        requester = await self.session.get(User, ticket.user_id)
        await self.outbox.enqueue(
            self.session,
            "update",
            ticket.user_email,
            ticket,
            to_name=requester.name if requester else "",
            context={"body": message.body, "author": admin.name or "Support"},
        )
        participants = await self.session.scalars(
            select(TicketParticipant.email).where(TicketParticipant.ticket_id == ticket.id)
        )
        for address in participants:  # people CC'd on the request follow its public answers
            await self.outbox.enqueue(
                self.session, "update", address, ticket,
                context={"body": message.body, "author": admin.name or "Support"},
            )
        await webhooks.publish(self.session, ticket, message=row)
        return row

    async def _mail_resolved(self, ticket: Ticket) -> None:
        """Tell the requester their ticket is resolved, asking "How did we do?" (signed links)."""
        requester = await self.session.get(User, ticket.user_id)
        links = {r: f"{self.settings.base_url}/help/satisfaction/{tokens.satisfaction_token(self.settings.secret_key, ticket.id, r)}"
                 for r in ("good", "bad")}
        await self.outbox.enqueue(
            self.session, "resolved", ticket.user_email, ticket,
            to_name=requester.name if requester else "",
            context={"good_url": links["good"], "bad_url": links["bad"]},
        )

    async def record_automatic(self, ticket: Ticket, sender_email: str, message: NewMessage, kind: str) -> None:
        """Automatic mail (auto-reply, bounce) about a ticket: kept for the record, changes nothing."""
        row = await self._add_message(
            ticket, None, "system", message, is_internal=True, sender_email=sender_email
        )
        # Kept for the record only: not a change an agent could collide with (no version bump).
        self._event(ticket, None, "automatic_mail", new_value=kind, detail={"message_id": row.id, "from": sender_email},
                    bump=False)

    # --- changes ---------------------------------------------------------------------------

    async def update(self, ticket: Ticket, actor: User, change: TicketChange) -> Ticket:
        """Apply an admin's change: status, priority, assigned_to, escalated, resolution_notes.
        All of them are one change (the version goes up once)."""
        with self._change(ticket):
            return await self._update(ticket, actor, change)

    async def _update(self, ticket: Ticket, actor: User, change: TicketChange) -> Ticket:
        if change.priority is not None and change.priority != ticket.priority:
            if change.priority not in rules.PRIORITIES:
                raise UnknownValue("priority", f"unknown priority {change.priority!r}")
            self._event(ticket, actor, "priority", old_value=ticket.priority, new_value=change.priority)
            ticket.priority = change.priority
        assignee_id = None if change.assigned_to is CLEAR else change.assigned_to
        if change.assigned_to is not None and assignee_id != ticket.assigned_to:
            assignee = None
            if assignee_id is not None:
                assignee = await self.session.get(User, assignee_id)
                if assignee is None or not assignee.is_admin or not assignee.is_active:
                    raise UnknownValue("assigned_to", f"no admin with id {assignee_id}")
            self._event(
                ticket, actor, "assigned",
                old_value=ticket.assigned_to, new_value=assignee.email if assignee else None,
            )
            ticket.assigned_to = assignee_id
            if assignee is not None:
                notify.assigned(self.session, ticket, assignee, actor)
        notes = None if change.resolution_notes is CLEAR else change.resolution_notes
        if change.resolution_notes is not None and notes != ticket.resolution_notes:
            self._event(ticket, actor, "resolution_notes", new_value=notes)
            ticket.resolution_notes = notes
        if change.status is not None and change.status != ticket.status:
            if change.status not in rules.STATUSES:
                raise UnknownValue("status", f"unknown status {change.status!r}")
            self._set_status(ticket, actor, change.status)
            if ticket.status == "resolved":
                await self._mail_resolved(ticket)
        if change.escalated is not None and change.escalated != ticket.escalated:
            if change.escalated:
                await self.escalate(ticket, actor, reason=f"Escalated by {actor.email}.")
            else:
                ticket.escalated = False
                self._event(ticket, actor, "escalated", old_value=True, new_value=False)
        ticket.updated_at = utcnow()
        await self._refresh_clocks(ticket)
        await webhooks.publish(self.session, ticket)
        return ticket

    async def rate(self, ticket: Ticket, requester: User, rating: str, comment: str | None) -> Ticket:
        """The requester's satisfaction rating (tickets/csat.py): one per ticket, replaced by a
        new one until the ticket is closed. One event in the timeline."""
        if ticket.status == "closed":
            raise ServiceError("this ticket is closed; its rating can no longer change")
        with self._change(ticket):
            self._event(ticket, requester, "satisfaction", old_value=ticket.satisfaction_rating, new_value=rating,
                        detail={"comment": comment} if comment else None)
        ticket.satisfaction_rating = rating
        ticket.satisfaction_comment = comment
        ticket.satisfaction_at = ticket.updated_at = utcnow()
        return ticket

    async def confirm_closed(self, ticket: Ticket, requester: User) -> Ticket:
        """The requester confirms a resolved ticket is done."""
        if ticket.status != "resolved":
            raise rules.IllegalTransition(ticket.status, "closed")
        self._set_status(ticket, requester, "closed")
        await self._refresh_clocks(ticket)
        await webhooks.publish(self.session, ticket)
        return ticket

    async def escalate(
        self, ticket: Ticket, actor: User | None, *, reason: str,
        missed: Sequence[tuple[str, float]] = (),
    ) -> bool:
        """Set the escalation flag and tell the admins; False when nothing was done.

        By hand (nothing `missed`): once, while the flag is not set. By the SLA pass (`missed`:
        the targets first_response / resolution it escalates now, each with seconds overdue;
        it escalates each target once): the admins are told even when the flag is already up."""
        if ticket.escalated and not missed:
            return False
        now, was = utcnow(), ticket.escalated
        if not ticket.escalated:
            ticket.escalated = True
            ticket.escalated_at = now
        ticket.updated_at = now
        detail: dict[str, Any] = {"reason": reason}
        if missed:
            detail.update(targets=[t for t, _ in missed], overdue_seconds={t: round(s) for t, s in missed})
        self._event(ticket, actor, "escalated", old_value=was, new_value=True, detail=detail)
        context = {
            "reason": reason,
            "missed": [{"target": clocks.TARGET_WORDS[t], "overdue": duration_words(s)} for t, s in missed],
        }
        for admin in await self.admin_recipients():
            await self.outbox.enqueue(self.session, "escalation", admin, ticket, context=context)
        await webhooks.publish(self.session, ticket)
        await notify.escalation(self.session, ticket, actor, reason)
        return True

    async def close_resolved(self, ticket: Ticket) -> None:
        """Auto-close: a resolved ticket nobody reopened within the configured days."""
        self._set_status(ticket, None, "closed")
        await self._refresh_clocks(ticket)
        await webhooks.publish(self.session, ticket)

    # --- merging ---------------------------------------------------------------------------

    async def merge(self, source: Ticket, target: Ticket, actor: User) -> Ticket:
        """Close `source` into `target` (tickets/merge.py): its requester and CCs become
        participants of the target, its thread shows in the target's, both timelines say so."""
        why = merging.refusal(source, target, await merging.chain(self.session, target))
        if why is not None:
            raise ServiceError(why)
        existing = set(await self.session.scalars(
            select(TicketParticipant.email).where(TicketParticipant.ticket_id == target.id)
        ))
        incoming = [source.user_email, *await self.session.scalars(
            select(TicketParticipant.email).where(TicketParticipant.ticket_id == source.id)
        )]
        for address in dict.fromkeys(a.lower() for a in incoming):
            if address != target.user_email and address not in existing:
                self.session.add(TicketParticipant(ticket_id=target.id, email=address))
        now = utcnow()
        with self._change(source):
            source.merged_into = target.id
            self._event(source, actor, "merged", new_value=target.ticket_number)
            self._set_status(source, actor, "closed", check=False)
            source.updated_at = now
        with self._change(target):
            self._event(target, actor, "merged_in", new_value=source.ticket_number,
                        detail={"participants": [a for a in dict.fromkeys(incoming) if a != target.user_email]})
            target.updated_at = now
        await self._refresh_clocks(source)
        await self._refresh_clocks(target)
        await webhooks.publish(self.session, source)
        await webhooks.publish(self.session, target)
        return target
