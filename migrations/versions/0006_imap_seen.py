"""imap_seen: UIDs the IMAP poller took from a mailbox it keeps (MAILDESK_IMAP_AFTER=keep)

Revision ID: 0006_imap_seen
Revises: 0005_sender_verified
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_imap_seen"
down_revision = "0005_sender_verified"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "imap_seen",
        sa.Column("mailbox", sa.String(length=600), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("uid", sa.BigInteger(), nullable=False),
        sa.Column("taken_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("mailbox", "uidvalidity", "uid"),
    )


def downgrade() -> None:
    op.drop_table("imap_seen")
