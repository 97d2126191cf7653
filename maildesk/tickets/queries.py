"""Read-only ticket queries for the API: the admin queue (filters, full-text search, sort,
paging), a requester's list, one ticket by reference (one ticket's conversation:
tickets/conversation.py; the users and received-mail lists: tickets/admin_lists.py).

Nothing here changes a row; writes go through tickets/service.py.

Full-text search uses on SQLite the FTS5 table `search_fts` of migration 0011 (subject and
description, and every message body, each row's rowid naming its ticket: `rowid >> 32`); on
PostgreSQL GIN indexes over the `to_tsvector('english', ...)` expressions below (migration
0002), which must stay identical to the migration's for the planner to use them. Both sides
take the words of the query, ignore punctuation and operators, and match tickets containing
all of them (stemmed), in the subject with the description, or in one message (internal
notes included: the queue is admin-only). The total is exact on both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Sequence

from sqlalchemy import Integer, Select, bindparam, case, column, func, literal, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.models import Ticket
from maildesk.tickets import rules

# Keep identical to migrations/versions/0002_fulltext_search.py.
TICKET_TSV = "to_tsvector('english', tickets.subject || ' ' || tickets.description)"
MESSAGE_TSV = "to_tsvector('english', ticket_messages.body)"

_WORD = re.compile(r"\w+", re.UNICODE)
_MAX_WORDS = 16

_PRIORITY_RANK = case({p: i for i, p in enumerate(rules.PRIORITIES)}, value=Ticket.priority, else_=99)
_STATUS_RANK = case({s: i for i, s in enumerate(rules.STATUSES)}, value=Ticket.status, else_=99)
# The nearest of the two SLA due times (tickets/clocks.py), null when neither clock runs.
_NEAREST_DUE = case(
    (Ticket.first_response_due_at.is_(None), Ticket.resolution_due_at),
    (Ticket.resolution_due_at.is_(None), Ticket.first_response_due_at),
    (Ticket.first_response_due_at < Ticket.resolution_due_at, Ticket.first_response_due_at),
    else_=Ticket.resolution_due_at,
)
SORTS: dict[str, Any] = {
    "created_at": Ticket.created_at,
    "updated_at": Ticket.updated_at,
    "priority": _PRIORITY_RANK,  # urgent first
    "status": _STATUS_RANK,  # open first
    "id": Ticket.id,
    "due": _NEAREST_DUE,  # nearest due first, so overdue first; tickets without a due time last
}
SORT_CHOICES = tuple(k for name in SORTS for k in (name, f"-{name}"))


class BadQuery(ValueError):
    """A query parameter that cannot be used; names the parameter."""

    def __init__(self, field_name: str, message: str) -> None:
        self.field = field_name
        super().__init__(message)


@dataclass
class QueueFilter:
    status: Sequence[str] = ()
    priority: Sequence[str] = ()
    category: Sequence[str] = ()
    assigned_to: int | None = None
    unassigned: bool = False
    escalated: bool | None = None
    q: str | None = None
    sort: str = "-created_at"
    user_id: int | None = None


def search_words(q: str | None) -> list[str]:
    """The words of a search query; punctuation and search operators are dropped."""
    return _WORD.findall(q or "")[:_MAX_WORDS]


# search_fts rowids: ticket id * 2^32 (+ message id for a message), migration 0011.
_TICKET_SHIFT = 32


def _fts_match(words: list[str]) -> str:
    # Each word quoted: FTS5 syntax in user input is taken literally; juxtaposition = AND.
    return " ".join('"' + w.replace('"', '""') + '"' for w in words)


def _matching_ticket_ids(dialect: str, words: list[str]) -> Any:
    """A SELECT of the ids of tickets whose subject, description or a message has all the words
    (on SQLite one id per matching row: a ticket can come more than once)."""
    if dialect == "sqlite":
        return text(
            f"SELECT search_fts.rowid >> {_TICKET_SHIFT} AS id FROM search_fts WHERE search_fts MATCH :fts_q"
        ).bindparams(fts_q=_fts_match(words))
    query = " ".join(words)
    return text(
        f"SELECT tickets.id AS id FROM tickets WHERE {TICKET_TSV} @@ plainto_tsquery('english', :fts_q) "
        f"UNION SELECT ticket_messages.ticket_id FROM ticket_messages "
        f"WHERE {MESSAGE_TSV} @@ plainto_tsquery('english', :fts_q)"
    ).bindparams(fts_q=query)


def _search_hits(dialect: str, words: list[str]) -> Any:
    """The matching ticket ids as a MATERIALIZED CTE: the page and its count share one search."""
    ids = _matching_ticket_ids(dialect, words).columns(column("id", Integer))
    return ids.cte("search_hits").prefix_with("MATERIALIZED")


def _ticket_has_hit(words: list[str]) -> Any:
    """SQLite: true when this ticket row has a search hit, found by seeking the ticket's rowid
    range in search_fts (a few microseconds), without collecting every hit first."""
    return text(
        f"EXISTS (SELECT 1 FROM search_fts WHERE search_fts MATCH :fts_probe "
        f"AND search_fts.rowid >= tickets.id << {_TICKET_SHIFT} "
        f"AND search_fts.rowid < (tickets.id + 1) << {_TICKET_SHIFT})"
    ).bindparams(fts_probe=_fts_match(words))


def _filtered(
    stmt: Select[Any], f: QueueFilter, dialect: str, hit: Any = None, *, walk: bool = False
) -> Select[Any]:
    """stmt narrowed by the filter; `hit`, when given, is the search condition to use.

    walk (SQLite): mark each filter condition as likely true, so the planner reads the tickets
    through the index of the sort order instead of narrowing by a filter's index and sorting
    everything that passes (its guess without statistics is that an equality keeps ~10 rows)."""
    conditions: list[Any] = []
    if f.user_id is not None:
        conditions.append(Ticket.user_id == f.user_id)
    if f.status:
        conditions.append(Ticket.status.in_(list(f.status)) if len(f.status) > 1 else Ticket.status == f.status[0])
    if f.priority:
        conditions.append(Ticket.priority.in_(list(f.priority)))
    if f.category:
        conditions.append(Ticket.category.in_(list(f.category)))
    if f.unassigned:
        conditions.append(Ticket.assigned_to.is_(None))
    elif f.assigned_to is not None:
        conditions.append(Ticket.assigned_to == f.assigned_to)
    if f.escalated is not None:
        conditions.append(Ticket.escalated.is_(f.escalated))
    if walk:
        # The probability as a literal: SQLite's likelihood() takes a constant, not a parameter.
        conditions = [func.likelihood(c, literal_column("0.9")) for c in conditions]
    if hit is not None:
        conditions.append(hit)
    elif words := search_words(f.q):
        conditions.append(Ticket.id.in_(_matching_ticket_ids(dialect, words)))
    return stmt.where(*conditions) if conditions else stmt


def _order(sort: str) -> list[Any]:
    descending = sort.startswith("-")
    column = SORTS.get(sort.lstrip("-"))
    if column is None:
        raise BadQuery("sort", f"unknown sort {sort!r}; use one of: {', '.join(SORT_CHOICES)}")
    # Rows without a value (no running SLA clock) go last either way, on both databases.
    last = [case((column.is_(None), literal(1)), else_=literal(0))] if sort.lstrip("-") == "due" else []
    if descending:
        return [*last, column.desc(), Ticket.id.desc()]
    return [*last, column.asc(), Ticket.id.asc()]


# What a list shows of a ticket, in the order of web.schemas.TicketSummary's fields (which
# is built from these rows positionally): no long texts, no JSON context.
SUMMARY_COLUMNS = (
    Ticket.id, Ticket.ticket_number, Ticket.subject, Ticket.status, Ticket.priority, Ticket.category,
    Ticket.user_email, Ticket.assigned_to, Ticket.escalated, Ticket.source,
    Ticket.created_at, Ticket.updated_at, Ticket.first_response_at,
    Ticket.first_response_due_at, Ticket.resolution_due_at, Ticket.sla_breached,
)


async def ticket_page(
    session: AsyncSession, f: QueueFilter, *, page: int, page_size: int
) -> tuple[list[Any], int]:
    """One page of tickets matching the filter, and how many match in all.

    The items are rows of SUMMARY_COLUMNS (attribute access, like a Ticket without its
    description), read without the ORM: a list page is the hottest query there is. One round
    trip: the count rides along as an uncorrelated scalar subquery, which the database
    evaluates once; only a page past the end (no rows to carry it) asks again. Without a
    search the statement is built once per shape of filter (_list_page). A search on SQLite
    sorted by an indexed column takes two (_sqlite_search_page).
    """
    dialect = session.bind.dialect.name
    words = search_words(f.q)
    if not words:
        return await _list_page(session, f, page=page, page_size=page_size)
    order = _order(f.sort)
    if dialect == "sqlite" and f.sort.lstrip("-") in _INDEXED_SORTS:
        return await _sqlite_search_page(session, f, words, order, page=page, page_size=page_size)
    hit = Ticket.id.in_(select(_search_hits(dialect, words).c.id))
    count = _filtered(select(func.count()).select_from(Ticket), f, dialect, hit)
    conn = await session.connection()  # Core: these are plain rows, the ORM adds nothing
    rows = (
        await conn.execute(
            _filtered(select(*SUMMARY_COLUMNS, count.scalar_subquery().label("total")), f, dialect, hit)
            .order_by(*order)
            .limit(page_size)
            .offset((page - 1) * page_size)
        )
    ).all()
    if rows:
        return list(rows), int(rows[0].total)
    total = await conn.scalar(count) if page > 1 else 0
    return [], int(total or 0)


@dataclass(frozen=True)
class _Shape:
    """What decides the SQL of a list page without search; the values are bound parameters."""

    sort: str
    user: bool
    statuses: int  # 0, 1 (status = ?) or 2 for several (status IN (...))
    priority: bool
    category: bool
    unassigned: bool
    assigned: bool
    escalated: bool | None  # compared as a literal, as _filtered does


def _shape(f: QueueFilter) -> _Shape:
    return _Shape(
        sort=f.sort, user=f.user_id is not None, statuses=min(len(f.status), 2), priority=bool(f.priority),
        category=bool(f.category), unassigned=f.unassigned, assigned=f.assigned_to is not None and not f.unassigned,
        escalated=f.escalated,
    )


def _bound_conditions(shape: _Shape) -> list[Any]:
    """_filtered's conditions, on bound parameters named as _bound_values names them."""
    conditions: list[Any] = []
    if shape.user:
        conditions.append(Ticket.user_id == bindparam("f_user"))
    if shape.statuses == 1:
        conditions.append(Ticket.status == bindparam("f_status"))
    elif shape.statuses > 1:
        conditions.append(Ticket.status.in_(bindparam("f_statuses", expanding=True)))
    if shape.priority:
        conditions.append(Ticket.priority.in_(bindparam("f_priorities", expanding=True)))
    if shape.category:
        conditions.append(Ticket.category.in_(bindparam("f_categories", expanding=True)))
    if shape.unassigned:
        conditions.append(Ticket.assigned_to.is_(None))
    elif shape.assigned:
        conditions.append(Ticket.assigned_to == bindparam("f_assignee"))
    if shape.escalated is not None:
        conditions.append(Ticket.escalated.is_(shape.escalated))
    return conditions


def _bound_values(f: QueueFilter) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if f.user_id is not None:
        values["f_user"] = f.user_id
    if len(f.status) == 1:
        values["f_status"] = f.status[0]
    elif f.status:
        values["f_statuses"] = list(f.status)
    if f.priority:
        values["f_priorities"] = list(f.priority)
    if f.category:
        values["f_categories"] = list(f.category)
    if f.assigned_to is not None and not f.unassigned:
        values["f_assignee"] = f.assigned_to
    return values


@lru_cache(maxsize=256)
def _list_statements(shape: _Shape) -> tuple[Select[Any], Select[Any]]:
    """(page with its total, total alone) for one shape of filter, built once.

    Building a statement (coercing 16 columns and every condition) and working out its
    cache key cost more than the page's SQL itself on SQLite; the same statement object is
    found in SQLAlchemy's compiled cache at once (issue 14). A few dozen shapes exist: the
    cache never fills in practice, and is bounded anyway."""
    conditions = _bound_conditions(shape)
    count = select(func.count()).select_from(Ticket).where(*conditions)
    page = (
        select(*SUMMARY_COLUMNS, count.scalar_subquery().label("total"))
        .where(*conditions)
        .order_by(*_order(shape.sort))
        .limit(bindparam("page_limit"))
        .offset(bindparam("page_offset"))
    )
    return page, count


async def _list_page(
    session: AsyncSession, f: QueueFilter, *, page: int, page_size: int
) -> tuple[list[Any], int]:
    """ticket_page without a search: the cached statement of the filter's shape, its values bound."""
    page_stmt, count = _list_statements(_shape(f))
    values = _bound_values(f)
    conn = await session.connection()
    rows = (
        await conn.execute(page_stmt, {**values, "page_limit": page_size, "page_offset": (page - 1) * page_size})
    ).all()
    if rows:
        return list(rows), int(rows[0].total)
    total = await conn.scalar(count, values) if page > 1 else 0
    return [], int(total or 0)


# Sorts an index serves in order (ix_tickets_created_at, ix_tickets_updated_at, the key; with
# one status ix_tickets_status_created, with a requester ix_tickets_user_created).
_INDEXED_SORTS = frozenset({"created_at", "updated_at", "id"})
# Cost of checking one ticket for a hit by seeking search_fts (_ticket_has_hit), in units of
# what collecting one hit into SQLite's IN-list, looking its ticket up and sorting it costs
# (measured on 100,000 tickets / 500,000 messages: ~20 us against ~1.5 us).
_PROBE_VS_COLLECT = 12


async def _sqlite_search_page(
    session: AsyncSession, f: QueueFilter, words: list[str], order: list[Any], *, page: int, page_size: int
) -> tuple[list[Any], int]:
    """A search page on SQLite in an order an index serves: first the exact total, then the
    page by the cheaper of two plans.

    Total: without other filters, the distinct tickets among the hits, counted on search_fts
    alone (every indexed row belongs to a ticket: the triggers of migration 0011); with
    filters, the filtered tickets among the hits.

    Page: when hits are dense, walk the index of the sort order and seek
    each ticket's rowid range in search_fts until the page is full, which reads about
    (offset + page_size) * tickets / total rows whatever the number of hits. Otherwise (few
    hits) collect the hits, look their tickets up and sort them, which costs in proportion to
    the number of hits. Both plans give the same rows.
    """
    has_filter = bool(
        f.status or f.priority or f.category or f.unassigned or f.assigned_to is not None
        or f.escalated is not None or f.user_id is not None
    )
    match = _fts_match(words)
    if has_filter:
        total_q: Any = _filtered(select(func.count()).select_from(Ticket), f, "sqlite")
    else:
        total_q = text(
            f"SELECT count(DISTINCT search_fts.rowid >> {_TICKET_SHIFT}) AS n FROM search_fts "
            "WHERE search_fts MATCH :fts_q"
        ).bindparams(fts_q=match).columns(column("n", Integer))
    conn = await session.connection()
    counted = (
        await conn.execute(select(total_q.scalar_subquery(), select(func.max(Ticket.id)).scalar_subquery()))
    ).one()
    total, last_id = int(counted[0] or 0), int(counted[1] or 0)
    offset = (page - 1) * page_size
    if offset >= total:
        return [], total
    probes = (offset + page_size) * last_id / total  # at most; fewer when filters narrow the walk
    stmt = select(*SUMMARY_COLUMNS)
    if probes * _PROBE_VS_COLLECT <= total:
        stmt = _filtered(stmt, f, "sqlite", _ticket_has_hit(words), walk=True)
    else:
        stmt = _filtered(stmt, f, "sqlite", Ticket.id.in_(_matching_ticket_ids("sqlite", words)))
    rows = (await conn.execute(stmt.order_by(*order).limit(page_size).offset(offset))).all()
    return list(rows), total


async def ticket_by_ref(session: AsyncSession, ref: str, *, for_update: bool = False) -> Ticket | None:
    """The ticket a path names by id (42) or number (SUP-00042)."""
    ticket_id = rules.parse_ticket_ref(ref)
    if ticket_id is None:
        return None
    if for_update:
        return await session.scalar(select(Ticket).where(Ticket.id == ticket_id).with_for_update())
    return await session.get(Ticket, ticket_id)
