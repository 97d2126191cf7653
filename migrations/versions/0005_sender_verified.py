"""sender_verified on inbound and ticket messages

Whether the From of an inbound message was authenticated by a trusted front server's
Authentication-Results (mail/senderauth.py): true, false, or NULL when nothing trusted said.
Kept on the inbound row and on the ticket message it created, so the admin ticket page and
API show it per message. Nullable, no default: existing rows are "unknown".

Revision ID: 0005_sender_verified
Revises: 0004_api_indexes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_sender_verified"
down_revision = "0004_api_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("inbound_messages", sa.Column("sender_verified", sa.Boolean(), nullable=True))
    op.add_column("ticket_messages", sa.Column("sender_verified", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ticket_messages") as batch:
        batch.drop_column("sender_verified")
    with op.batch_alter_table("inbound_messages") as batch:
        batch.drop_column("sender_verified")
