"""full-text search over tickets and messages

SQLite: two external-content FTS5 tables (tickets_fts over subject + description,
ticket_messages_fts over message bodies) kept in sync by triggers; they store only the
index, not a second copy of the text. PostgreSQL: GIN indexes on to_tsvector('english', ...)
expressions; maildesk.tickets.queries uses exactly the same expressions so the planner can
use them. Both sides stem English words (porter / 'english').

Revision ID: 0002_fulltext_search
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002_fulltext_search"
down_revision = "0001"
branch_labels = None
depends_on = None

_TOKENIZE = "porter unicode61 remove_diacritics 2"

_SQLITE_UP = [
    f"""CREATE VIRTUAL TABLE tickets_fts USING fts5(
        subject, description, content='tickets', content_rowid='id', tokenize='{_TOKENIZE}')""",
    """CREATE TRIGGER tickets_fts_ai AFTER INSERT ON tickets BEGIN
        INSERT INTO tickets_fts(rowid, subject, description) VALUES (new.id, new.subject, new.description);
    END""",
    """CREATE TRIGGER tickets_fts_ad AFTER DELETE ON tickets BEGIN
        INSERT INTO tickets_fts(tickets_fts, rowid, subject, description)
        VALUES ('delete', old.id, old.subject, old.description);
    END""",
    """CREATE TRIGGER tickets_fts_au AFTER UPDATE OF subject, description ON tickets BEGIN
        INSERT INTO tickets_fts(tickets_fts, rowid, subject, description)
        VALUES ('delete', old.id, old.subject, old.description);
        INSERT INTO tickets_fts(rowid, subject, description) VALUES (new.id, new.subject, new.description);
    END""",
    f"""CREATE VIRTUAL TABLE ticket_messages_fts USING fts5(
        body, content='ticket_messages', content_rowid='id', tokenize='{_TOKENIZE}')""",
    """CREATE TRIGGER ticket_messages_fts_ai AFTER INSERT ON ticket_messages BEGIN
        INSERT INTO ticket_messages_fts(rowid, body) VALUES (new.id, new.body);
    END""",
    """CREATE TRIGGER ticket_messages_fts_ad AFTER DELETE ON ticket_messages BEGIN
        INSERT INTO ticket_messages_fts(ticket_messages_fts, rowid, body) VALUES ('delete', old.id, old.body);
    END""",
    """CREATE TRIGGER ticket_messages_fts_au AFTER UPDATE OF body ON ticket_messages BEGIN
        INSERT INTO ticket_messages_fts(ticket_messages_fts, rowid, body) VALUES ('delete', old.id, old.body);
        INSERT INTO ticket_messages_fts(rowid, body) VALUES (new.id, new.body);
    END""",
    # Index what is already there.
    "INSERT INTO tickets_fts(tickets_fts) VALUES ('rebuild')",
    "INSERT INTO ticket_messages_fts(ticket_messages_fts) VALUES ('rebuild')",
]

_SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS ticket_messages_fts_au",
    "DROP TRIGGER IF EXISTS ticket_messages_fts_ad",
    "DROP TRIGGER IF EXISTS ticket_messages_fts_ai",
    "DROP TABLE IF EXISTS ticket_messages_fts",
    "DROP TRIGGER IF EXISTS tickets_fts_au",
    "DROP TRIGGER IF EXISTS tickets_fts_ad",
    "DROP TRIGGER IF EXISTS tickets_fts_ai",
    "DROP TABLE IF EXISTS tickets_fts",
]

# Keep these expressions identical to maildesk.tickets.queries (TICKET_TSV / MESSAGE_TSV).
_POSTGRES_UP = [
    "CREATE INDEX ix_tickets_fts ON tickets USING gin "
    "(to_tsvector('english', subject || ' ' || description))",
    "CREATE INDEX ix_ticket_messages_fts ON ticket_messages USING gin (to_tsvector('english', body))",
]

_POSTGRES_DOWN = [
    "DROP INDEX IF EXISTS ix_ticket_messages_fts",
    "DROP INDEX IF EXISTS ix_tickets_fts",
]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    statements = _SQLITE_UP if dialect == "sqlite" else _POSTGRES_UP if dialect == "postgresql" else []
    for sql in statements:
        op.execute(sql)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    statements = _SQLITE_DOWN if dialect == "sqlite" else _POSTGRES_DOWN if dialect == "postgresql" else []
    for sql in statements:
        op.execute(sql)
