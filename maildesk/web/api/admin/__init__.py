"""/admin: the support team's queue, ticket changes and replies, stats, SLA pass, users, inbound mail.

Every route is admin-only (401 anonymous, 403 signed-in non-admins). Ticket changes go
through TicketService, which records each one as a ticket event. One module per controller
(tickets, support, users), plus the shared filters, the stats answer and its cache.
"""

from maildesk.web.api.admin.stats import MAX_RANGE_DAYS, stats_range
from maildesk.web.api.admin.stats_cache import STATS_CACHE_SECONDS, STATS_STALE_SECONDS, StatsCache
from maildesk.web.api.admin.support import AdminSupportController
from maildesk.web.api.admin.tickets import AdminTicketController
from maildesk.web.api.admin.users import AdminUserController

__all__ = [
    "MAX_RANGE_DAYS", "STATS_CACHE_SECONDS", "STATS_STALE_SECONDS", "AdminSupportController",
    "AdminTicketController", "AdminUserController", "StatsCache", "stats_range",
]
