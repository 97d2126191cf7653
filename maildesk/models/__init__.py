"""The ORM models: every table maildesk stores, matching the migrations, one module per area.

`from maildesk.models import X` names any of them; Alembic (migrations/env.py) reads
`Base.metadata`, which every table below joins when this package is imported.
"""

from maildesk.models.base import Base, Id, UTCDateTime, utcnow
from maildesk.models.mail import ImapSeen, InboundMessage, OutboundMessage, SuppressedAddress
from maildesk.models.tickets import Attachment, Ticket, TicketEvent, TicketMessage, TicketParticipant
from maildesk.models.users import AuthToken, Notification, SavedReply, User
from maildesk.models.webhooks import WebhookAttempt, WebhookDelivery, WebhookEndpoint

__all__ = [
    "Attachment", "AuthToken", "Base", "Id", "ImapSeen", "InboundMessage", "Notification", "OutboundMessage",
    "SavedReply", "SuppressedAddress", "Ticket", "TicketEvent", "TicketMessage", "TicketParticipant",
    "UTCDateTime", "User", "WebhookAttempt", "WebhookDelivery", "WebhookEndpoint", "utcnow",
]
