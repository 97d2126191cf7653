"""an index for the ticket detail: which tickets were merged into this one

Every ticket view (API and pages) asks which tickets were merged into it
(tickets/merge.py thread_ids: `WHERE merged_into IN (...)`). Without an index that was a scan
of every ticket: ~20 ms of the ~25 ms an admin's ticket detail took at 100,000 tickets
(issue 14). Partial (`merged_into IS NOT NULL`): merged tickets are few, so the index stays
tiny and costs unmerged tickets nothing on insert; both SQLite and PostgreSQL use it for
`merged_into = ?` and `merged_into IN (...)`, which imply the column is not null.

Revision ID: 0013_web_indexes
Revises: 0011_web_speed
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_web_indexes"
down_revision = "0012_sla_outcomes"
branch_labels = None
depends_on = None

_NOT_NULL = sa.text("merged_into IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "ix_tickets_merged_into", "tickets", ["merged_into"],
        sqlite_where=_NOT_NULL, postgresql_where=_NOT_NULL,
    )


def downgrade() -> None:
    op.drop_index("ix_tickets_merged_into", table_name="tickets")
