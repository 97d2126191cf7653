"""agent tools: ticket version and merged_into, in-app notifications

- tickets.version: raised by every change; PATCH and replies may send the version they saw
  (If-Match) and are refused with 409 when it is stale (tickets/collisions.py).
- tickets.merged_into: the ticket a merged ticket now lives in (tickets/merge.py). Added as a
  plain column with an inline REFERENCES clause: SQLite allows that in ADD COLUMN, and a batch
  rebuild of `tickets` would drop the full-text triggers of migration 0002.
- notifications: one row per admin per event (tickets/notify.py), newest first per user.

Revision ID: 0008_agent_tools
Revises: 0007_webhooks
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_agent_tools"
down_revision = "0007_webhooks"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("tickets", sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE tickets ADD COLUMN merged_into INTEGER REFERENCES tickets (id)")
    else:
        op.add_column("tickets", sa.Column("merged_into", _ID, nullable=True))
        op.create_foreign_key("fk_tickets_merged_into", "tickets", "tickets", ["merged_into"], ["id"])
    op.create_table(
        "notifications",
        sa.Column("id", _ID, nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("ticket_id", _ID, nullable=True),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("read_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    # A user's list (newest first) and their unread count, both from this index.
    op.create_index("ix_notifications_user_read", "notifications", ["user_id", "read_at", "id"])
    op.create_index("ix_notifications_ticket_id", "notifications", ["ticket_id"])


def downgrade() -> None:
    op.drop_index("ix_notifications_ticket_id", table_name="notifications")
    op.drop_index("ix_notifications_user_read", table_name="notifications")
    op.drop_table("notifications")
    if op.get_bind().dialect.name == "sqlite":
        # Native DROP COLUMN (SQLite 3.35+): a batch rebuild would drop the FTS triggers.
        op.execute("ALTER TABLE tickets DROP COLUMN merged_into")
        op.execute("ALTER TABLE tickets DROP COLUMN version")
    else:
        op.drop_constraint("fk_tickets_merged_into", "tickets", type_="foreignkey")
        op.drop_column("tickets", "merged_into")
        op.drop_column("tickets", "version")
