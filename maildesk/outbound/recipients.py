"""Who receives the alerts meant for the support team (SLA breaches, disabled webhooks)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from maildesk.config import Settings
from maildesk.models import User


async def admin_recipients(session: AsyncSession, settings: Settings) -> list[str]:
    """MAILDESK_ADMIN_NOTIFY when set, else every active admin, oldest account first."""
    if settings.admin_notify is not None:
        return list(settings.admin_notify)
    rows = await session.scalars(
        select(User.email).where(User.role == "admin", User.is_active.is_(True)).order_by(User.id)
    )
    return list(rows)
