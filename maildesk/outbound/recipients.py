"""Who receives the alerts meant for the support team (SLA breaches, disabled webhooks)."""

from __future__ import annotations

from typing import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.config import Settings
from maildesk.models import User


def admin_addresses(settings: Settings, active_admin_emails: Iterable[str]) -> list[str]:
    """MAILDESK_ADMIN_NOTIFY when set, else these addresses (the active admins, oldest account
    first): for a change that has read the admins already (tickets/notify.active_admins)."""
    if settings.admin_notify is not None:
        return list(settings.admin_notify)
    return list(active_admin_emails)


async def admin_recipients(session: AsyncSession, settings: Settings) -> list[str]:
    """MAILDESK_ADMIN_NOTIFY when set, else every active admin, oldest account first."""
    if settings.admin_notify is not None:
        return list(settings.admin_notify)
    rows = await session.scalars(
        select(User.email).where(User.role == "admin", User.is_active.is_(True)).order_by(User.id)
    )
    return admin_addresses(settings, rows)
