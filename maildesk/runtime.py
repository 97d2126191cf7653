"""The runtime: everything a process builds once from its settings and hands down.

No module keeps global state; the daemon, the CLI commands and the tests each build one
Runtime and pass it (or the parts they need) to the code that works.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.attachments import AttachmentStore
from maildesk.config import Settings
from maildesk.db import Database
from maildesk.mime.limits import MimeLimits
from maildesk.outbound.compose import Composer
from maildesk.outbound.outbox import Outbox
from maildesk.metrics import Metrics
from maildesk.tickets.service import TicketService


@dataclass
class Runtime:
    settings: Settings
    db: Database
    composer: Composer
    outbox: Outbox
    attachments: AttachmentStore
    limits: MimeLimits
    metrics: Metrics = field(default_factory=Metrics)  # this process's counters (maildesk/metrics.py)

    @classmethod
    def build(cls, settings: Settings) -> "Runtime":
        composer = Composer(settings)
        return cls(
            settings=settings,
            db=Database(settings.database_url),
            composer=composer,
            outbox=Outbox(settings, composer),
            attachments=AttachmentStore(settings.attachments_dir),
            limits=MimeLimits(),
        )

    def service(self, session: AsyncSession) -> TicketService:
        return TicketService(session, self.settings, self.outbox, self.attachments)
