"""The JSON API's shapes: request bodies (strict: unknown fields are refused) and responses.

Kept apart from the ORM models so the API says only what callers may see. One module per
resource (fields, users, tickets, contact, bulk, inbound, stats, notifications, common);
this package re-exports every name, so `from maildesk.web.schemas import X` keeps working.
"""

from maildesk.web.schemas.bulk import BulkChanges, BulkIn, BulkOut, BulkResult
from maildesk.web.schemas.common import Detail, ErrorOut, errors
from maildesk.web.schemas.contact import ContactIn, ContactOut, contact_field_errors
from maildesk.web.schemas.fields import (
    MAX_ID,
    Email,
    Password,
    Priority,
    RowId,
    Status,
    Strict,
    Subject,
    Text,
    TicketRef,
    Version,
)
from maildesk.web.schemas.inbound import InboundOut, InboundPage, SuppressedOut
from maildesk.web.schemas.notifications import (
    NotificationOut,
    NotificationPage,
    NotificationsReadIn,
    NotificationsReadOut,
)
from maildesk.web.schemas.stats import (
    ComplianceOut,
    DailyOut,
    DayCount,
    EscalatedOut,
    RangeOut,
    SatisfactionStatsOut,
    SlaOut,
    StatsOut,
    TargetOut,
)
from maildesk.web.schemas.tickets import (
    AdminPatchIn,
    AdminReplyIn,
    AdminTicketOut,
    AttachmentOut,
    EventOut,
    MergeIn,
    MessageOut,
    ReplyIn,
    RequesterPatchIn,
    SlaTarget,
    TicketIn,
    TicketOut,
    TicketPage,
    TicketSummary,
    sla_fields,
)
from maildesk.web.schemas.users import AdminUserOut, LoginIn, LoginOut, MagicLinkIn, UserOut, UserPage

__all__ = [
    "MAX_ID", "AdminPatchIn", "AdminReplyIn", "AdminTicketOut", "AdminUserOut", "AttachmentOut",
    "BulkChanges", "BulkIn", "BulkOut", "BulkResult", "ComplianceOut", "ContactIn", "ContactOut",
    "DailyOut", "DayCount", "Detail", "Email", "ErrorOut", "EscalatedOut", "EventOut", "InboundOut",
    "InboundPage", "LoginIn", "LoginOut", "MagicLinkIn", "MergeIn", "MessageOut", "NotificationOut",
    "NotificationPage", "NotificationsReadIn", "NotificationsReadOut", "Password", "Priority",
    "RangeOut", "ReplyIn", "RequesterPatchIn", "RowId", "SatisfactionStatsOut", "SlaOut", "SlaTarget",
    "StatsOut", "Status", "Strict", "Subject", "SuppressedOut", "TargetOut", "Text", "TicketIn",
    "TicketOut", "TicketPage", "TicketRef", "TicketSummary", "UserOut", "UserPage", "Version",
    "errors", "sla_fields",
]
