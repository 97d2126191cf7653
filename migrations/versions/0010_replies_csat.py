"""saved replies and satisfaction ratings

- saved_replies: canned answers (title, restricted Jinja body) managed by admins.
- tickets.satisfaction_rating / satisfaction_comment / satisfaction_at: the requester's one
  rating (good | bad). Plain ADD COLUMN (nullable, no default): no table rebuild, so the
  full-text triggers of migration 0002 stay.

Revision ID: 0010_replies_csat
Revises: 0009_sla_clocks
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_replies_csat"
down_revision = "0009_sla_clocks"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("tickets", sa.Column("satisfaction_rating", sa.String(8), nullable=True))
    op.add_column("tickets", sa.Column("satisfaction_comment", sa.Text(), nullable=True))
    op.add_column("tickets", sa.Column("satisfaction_at", sa.DateTime(), nullable=True))
    op.create_table(
        "saved_replies",
        sa.Column("id", _ID, nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("saved_replies")
    # Native DROP COLUMN (SQLite 3.35+): a batch rebuild would drop the FTS triggers.
    for name in ("satisfaction_at", "satisfaction_comment", "satisfaction_rating"):
        op.drop_column("tickets", name)
