"""In-app notifications for admins: who is told of what, written with the change that causes it.

TicketService calls these inside its write transaction, so a notification exists exactly when
its change was committed. Who is told:

- a new ticket: every active admin;
- a requester's reply: the assignee, or every active admin when nobody is assigned;
- an escalation: every active admin;
- an assignment: the new assignee, unless they assigned it to themselves;
- an internal note: each admin it mentions (`mentioned`).

The admin who caused a change is never notified of it.
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

from sqlalchemy import func, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.models import Notification, Ticket, User, utcnow

# "@name": not preceded by a word character, a dot or another @, so the domain of an address
# (ada@example.com) is not read as a mention of "example.com".
_MENTION = re.compile(r"(?<![\w.@])@([\w][\w.+-]*)", re.UNICODE)
_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
_TEXT_MAX = 500


def handles(user: User) -> set[str]:
    """What `@handle` names this admin: the local part of their address and their name
    without spaces, both compared case-insensitively."""
    names = {user.email.rpartition("@")[0].lower()}
    squashed = "".join((user.name or "").split()).lower()
    if squashed:
        names.add(squashed)
    return names


def mentioned(text: str, admins: Sequence[User]) -> list[User]:
    """The admins a note mentions, by `@handle` (see `handles`) or by their whole address."""
    words = {m.group(1).rstrip(".-").lower() for m in _MENTION.finditer(text or "")}
    addresses = {a.lower() for a in _ADDRESS.findall(text or "")}
    return [a for a in admins if a.email.lower() in addresses or handles(a) & words]


# Built once: it runs for every new ticket and reply, and building it cost more than running it.
_ACTIVE_ADMINS = select(User).where(User.role == "admin", User.is_active.is_(True)).order_by(User.id)


_ADMINS_ONCE = "notify:admins-once"  # session.info: the admins read once in this transaction


def read_admins_once(session: AsyncSession) -> None:
    """Let this transaction read the active admins once instead of on every change (the
    pipeline's batches: nothing in them changes who is an admin, and a batch is short)."""
    session.info[_ADMINS_ONCE] = None


async def active_admins(session: AsyncSession) -> list[User]:
    if _ADMINS_ONCE not in session.info:
        return list(await session.scalars(_ACTIVE_ADMINS))
    admins = session.info[_ADMINS_ONCE]
    # A savepoint rolled back expires the rows it touched: read them again then.
    if admins is None or any(inspect(admin).expired_attributes for admin in admins):
        admins = session.info[_ADMINS_ONCE] = list(await session.scalars(_ACTIVE_ADMINS))
    return list(admins)


def _label(ticket: Ticket) -> str:
    return f"{ticket.ticket_number or ticket.id} “{ticket.subject}”"


def _add(session: AsyncSession, users: Iterable[User], kind: str, ticket: Ticket, text: str,
         actor: User | None) -> None:
    for values in _values(users, kind, ticket, text, actor):
        session.add(Notification(**values))


def _values(users: Iterable[User], kind: str, ticket: Ticket, text: str, actor: User | None) -> list[dict]:
    """The notification rows' columns: one per user told, never the actor."""
    now = utcnow()
    seen: set[int] = set()
    rows = []
    for user in users:
        if user.id in seen or (actor is not None and user.id == actor.id):
            continue
        seen.add(user.id)
        rows.append(dict(user_id=user.id, kind=kind, ticket_id=ticket.id, text=text[:_TEXT_MAX], created_at=now))
    return rows


def new_ticket_values(ticket: Ticket, actor: User | None, admins: Sequence[User]) -> list[dict]:
    """A new ticket's notifications as row columns (creating.py writes them with Core INSERTs).
    `admins`: the active admins, read once by the change (active_admins)."""
    return _values(admins, "new_ticket", ticket, f"New ticket {_label(ticket)} from {ticket.user_email}", actor)


def requester_reply_values(ticket: Ticket, author: User, admins: Sequence[User]) -> list[dict]:
    """A requester's reply's notifications as row columns (replies.py writes them with Core
    INSERTs): the assignee, else every admin. `admins`: the active admins, read once by the
    change (active_admins)."""
    assignee = [a for a in admins if a.id == ticket.assigned_to]
    return _values(assignee or admins, "reply", ticket, f"{author.email} replied on {_label(ticket)}", author)


def escalation(session: AsyncSession, ticket: Ticket, actor: User | None, reason: str,
               admins: Sequence[User]) -> None:
    """`admins`: the active admins, read once by the change (active_admins)."""
    _add(session, admins, "escalation", ticket, f"{_label(ticket)} was escalated: {reason}", actor)


def assigned(session: AsyncSession, ticket: Ticket, assignee: User, actor: User | None) -> None:
    who = (actor.name or actor.email) if actor else "maildesk"
    _add(session, [assignee], "assigned", ticket, f"{who} assigned {_label(ticket)} to you", actor)


async def note_mentions(session: AsyncSession, ticket: Ticket, author: User, body: str) -> None:
    people = mentioned(body, await active_admins(session))
    _add(session, people, "mention", ticket,
         f"{author.name or author.email} mentioned you in a note on {_label(ticket)}", author)


# --- reading and marking (the admin's list) ----------------------------------------------------


async def unread_count(session: AsyncSession, user_id: int) -> int:
    return int(await session.scalar(
        select(func.count()).select_from(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
    ) or 0)


async def page_of(
    session: AsyncSession, user_id: int, *, unread_only: bool, page: int, page_size: int
) -> tuple[list[Notification], int]:
    """One user's notifications, newest first, and how many there are in all."""
    where = [Notification.user_id == user_id]
    if unread_only:
        where.append(Notification.read_at.is_(None))
    total = await session.scalar(select(func.count()).select_from(Notification).where(*where))
    rows = await session.scalars(
        select(Notification).where(*where).order_by(Notification.id.desc())
        .limit(page_size).offset((page - 1) * page_size)
    )
    return list(rows), int(total or 0)


async def mark_read(session: AsyncSession, user_id: int, ids: Sequence[int] | None) -> int:
    """Mark this user's notifications read (the given ids, or all when None); others' ids are
    never touched. Returns how many changed."""
    stmt = update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
    if ids is not None:
        stmt = stmt.where(Notification.id.in_(list(ids)))
    result = await session.execute(stmt.values(read_at=utcnow()))
    return int(getattr(result, "rowcount", 0) or 0)
