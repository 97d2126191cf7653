"""Merging tickets: which merges are refused, and following a merged ticket to where it lives.

merge_into.py makes the change (source closed with merged_into, its people become
participants of the target, events on both). What is here is shared with the readers:

- `refusal`: why a merge may not happen (pure): into itself, into a closed ticket, a loop;
- `follow`: the ticket that mail addressed to a merged ticket belongs to (the pipeline);
- `thread_ids`: the tickets whose messages make up a ticket's thread (itself and every ticket
  merged into it, at any depth), so nothing is moved and the source keeps its own history.
"""

from __future__ import annotations

from typing import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.models import Ticket

# Merges chain (A into B, later B into C); a bound keeps a damaged chain from looping forever.
MAX_DEPTH = 32


def refusal(source: Ticket, target: Ticket, target_chain: Sequence[int]) -> str | None:
    """Why `source` may not be merged into `target` (None when it may).

    `target_chain` is the ids `target` was itself merged into, in order (empty for an open one).
    """
    if source.id == target.id:
        return f"cannot merge {source.ticket_number} into itself"
    if source.id in target_chain or target.merged_into == source.id:
        return f"cannot merge {source.ticket_number} into {target.ticket_number}: " \
               f"{target.ticket_number} was already merged into {source.ticket_number} (a loop)"
    if source.merged_into is not None:
        return f"{source.ticket_number} was already merged into ticket {source.merged_into}"
    if target.status == "closed":
        return f"cannot merge into {target.ticket_number}: it is closed"
    return None


async def chain(session: AsyncSession, ticket: Ticket) -> list[int]:
    """The ids `ticket` was merged into, first to last."""
    ids: list[int] = []
    current = ticket.merged_into
    while current is not None and current not in ids and len(ids) < MAX_DEPTH:
        ids.append(current)
        current = await session.scalar(select(Ticket.merged_into).where(Ticket.id == current))
    return ids


async def follow(session: AsyncSession, ticket: Ticket) -> Ticket:
    """The ticket a merged one now lives in (itself when it was never merged)."""
    ids = await chain(session, ticket)
    if not ids:
        return ticket
    return await session.get(Ticket, ids[-1]) or ticket


async def thread_ids(session: AsyncSession, ticket_id: int) -> list[int]:
    """`ticket_id` and every ticket merged into it, directly or through another merged one."""
    ids = [ticket_id]
    frontier = [ticket_id]
    for _ in range(MAX_DEPTH):
        found = [i for i in await session.scalars(select(Ticket.id).where(Ticket.merged_into.in_(frontier)))
                 if i not in ids]
        if not found:
            break
        ids.extend(found)
        frontier = found
    return ids
