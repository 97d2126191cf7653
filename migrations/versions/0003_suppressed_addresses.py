"""suppressed addresses: hard-bounce counts and the addresses maildesk no longer mails

Revision ID: 0003_suppressed_addresses
Revises: 0002_fulltext_search
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_suppressed_addresses"
down_revision = "0002_fulltext_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "suppressed_addresses",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("bounce_count", sa.Integer(), nullable=False),
        sa.Column("first_bounce_at", sa.DateTime(), nullable=True),
        sa.Column("last_bounce_at", sa.DateTime(), nullable=True),
        sa.Column("suppressed_at", sa.DateTime(), nullable=True),
        sa.Column("cleared_at", sa.DateTime(), nullable=True),
        sa.Column("cleared_by", sa.String(length=320), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
    )


def downgrade() -> None:
    op.drop_table("suppressed_addresses")
