"""The ticket vocabulary every layer shares: the statuses and priorities a ticket can have."""

from __future__ import annotations

STATUSES = ("open", "in_progress", "waiting_on_user", "resolved", "closed")
PRIORITIES = ("urgent", "high", "medium", "low")
