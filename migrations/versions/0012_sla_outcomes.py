"""each ticket's SLA clock outcomes on its row, so the stats read numbers instead of clocks

tickets/due.py stores, whenever it recomputes a ticket's clocks (every change, the SLA pass):

- first_response_seconds / resolution_seconds: the business seconds each clock used, once it
  is not running (stopped, or for resolution also paused); null while it runs (its due time
  is stored then, as since 0007).
- first_response_wall_seconds / resolution_wall_seconds: plain seconds from creation to the
  first public reply and to resolved_at (else closed_at); what the dashboard averages.
- sla_basis: a fingerprint of what the clocks were computed with (business hours, time zone,
  holidays, both targets). Null: nothing stored yet (every row before this revision). The
  stats compute a ticket whose basis is null or differs from the current settings from its
  event log as before, and the SLA pass fills those rows in bounded batches.

ix_tickets_stats is rebuilt to cover the wall-clock columns and the basis instead of the
timestamps (the dashboard's whole-table pass stays a scan of a narrower index);
ix_tickets_unstored, partial (sla_basis null), covers the same pass over the rows without
stored outcomes, computed from their timestamps (empty once the SLA pass filled them);
ix_tickets_sla_report covers what the ranged SLA
report reads, so its thousands of rows come from the index, not the wide ticket rows;
ix_tickets_resolved_at and ix_tickets_satisfaction let the report's per-day resolved counts
and its satisfaction counts read a range instead of scanning every ticket.

Revision ID: 0012_sla_outcomes
Revises: 0011_web_speed
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_sla_outcomes"
down_revision = "0011_web_speed"
branch_labels = None
depends_on = None

_OLD_STATS_COLUMNS = [
    "status", "priority", "category", "escalated", "created_at", "first_response_at", "resolved_at", "closed_at",
]
# What ticket_stats' whole-table pass reads, nothing more: each column in an index entry costs
# in every one of the rows it visits.
_STATS_COLUMNS = [
    "status", "priority", "category", "first_response_wall_seconds", "resolution_wall_seconds", "escalated",
    "sla_basis",
]
_UNSTORED_COLUMNS = [
    "status", "priority", "category", "escalated", "created_at", "first_response_at", "resolved_at", "closed_at",
    "sla_basis",  # always null here, but SQLite reads it from the entry instead of the row
]
_REPORT_COLUMNS = [
    "created_at", "sla_basis", "priority", "category", "status", "first_response_at",
    "first_response_due_at", "resolution_due_at", "first_response_seconds", "resolution_seconds",
]
_NEW_COLUMNS = [
    ("first_response_seconds", sa.Float()),
    ("resolution_seconds", sa.Float()),
    ("first_response_wall_seconds", sa.Float()),
    ("resolution_wall_seconds", sa.Float()),
    ("sla_basis", sa.String(length=32)),
]


def upgrade() -> None:
    # Plain ADD COLUMN (no batch mode): a SQLite table rebuild would drop the full-text triggers.
    for name, type_ in _NEW_COLUMNS:
        op.add_column("tickets", sa.Column(name, type_, nullable=True))
    op.drop_index("ix_tickets_stats", table_name="tickets")
    op.create_index("ix_tickets_stats", "tickets", _STATS_COLUMNS)
    op.create_index("ix_tickets_unstored", "tickets", _UNSTORED_COLUMNS,
                    sqlite_where=sa.text("sla_basis IS NULL"), postgresql_where=sa.text("sla_basis IS NULL"))
    op.create_index("ix_tickets_sla_report", "tickets", _REPORT_COLUMNS)
    op.create_index("ix_tickets_resolved_at", "tickets", ["resolved_at"])
    op.create_index("ix_tickets_satisfaction", "tickets", ["satisfaction_at", "satisfaction_rating"])


def downgrade() -> None:
    op.drop_index("ix_tickets_satisfaction", table_name="tickets")
    op.drop_index("ix_tickets_resolved_at", table_name="tickets")
    op.drop_index("ix_tickets_sla_report", table_name="tickets")
    op.drop_index("ix_tickets_unstored", table_name="tickets")
    op.drop_index("ix_tickets_stats", table_name="tickets")
    op.create_index("ix_tickets_stats", "tickets", _OLD_STATS_COLUMNS)
    for name, _type in reversed(_NEW_COLUMNS):
        op.drop_column("tickets", name)
