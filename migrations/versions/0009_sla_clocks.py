"""SLA clocks: due times, the missed target and per-target escalation on tickets

- first_response_due_at / resolution_due_at: when each clock's target falls due, null while
  the clock is not running (answered, paused on waiting_on_user, resolved, closed). Stored
  so the queue can sort by the nearest due time in SQL (`sort=due`).
- sla_breached: the first target missed (`first_response` or `resolution`), or null.
- first_response_escalated_at / resolution_escalated_at: the SLA pass escalates each target
  once per ticket.

Existing tickets start with nulls; the first SLA pass computes their clocks from the event log.

Revision ID: 0009_sla_clocks
Revises: 0008_agent_tools
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_sla_clocks"
down_revision = "0008_agent_tools"
branch_labels = None
depends_on = None

_TIMES = ("first_response_due_at", "resolution_due_at", "first_response_escalated_at", "resolution_escalated_at")


def upgrade() -> None:
    # Plain ADD COLUMN (nullable, no default): no table rebuild, the FTS triggers stay.
    for name in _TIMES:
        op.add_column("tickets", sa.Column(name, sa.DateTime(), nullable=True))
    op.add_column("tickets", sa.Column("sla_breached", sa.String(16), nullable=True))


def downgrade() -> None:
    op.drop_column("tickets", "sla_breached")
    for name in reversed(_TIMES):
        op.drop_column("tickets", name)
