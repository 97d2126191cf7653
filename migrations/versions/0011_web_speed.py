"""one full-text index per database whose hits name their ticket (SQLite)

The admin search answers with the page and the exact number of matching tickets. With the
index of 0002 a common word (in a quarter of all messages) cost ~0.5 s on SQLite: every
message hit was mapped to its ticket by an index lookup, and the ticket hits and the message
hits were merged in a temporary b-tree.

SQLite: `search_fts`, one contentless FTS5 table (it stores the index only, no copy of the
text) over the tickets' subject and description (columns subject, body: a phrase does not
run from one into the other, as in 0002) and every message body (column body), whose rowid names
the ticket: `ticket_id * 2^32` for the ticket itself, `ticket_id * 2^32 + message id` for a
message. `rowid >> 32` is the ticket of any hit without a lookup, and one ticket's hits are
the rowid range [id * 2^32, id * 2^32 + 2^32), which FTS5 seeks directly. Bounds: ticket
ids below 2^31 and message ids below 2^32 (a message id beyond that is refused loudly by the
trigger rather than indexed under the wrong ticket). Triggers keep it in step; a contentless
table deletes a row by being given its old text, which the triggers have. It replaces the
two tables of 0002 (tickets_fts, ticket_messages_fts), their triggers and the
(id, ticket_id) index 0004 made for mapping message hits, so intake writes one index entry
per message as before. Same tokenizer, so the same words match.

PostgreSQL: unchanged (the GIN expression indexes of 0002).

Revision ID: 0011_web_speed
Revises: 0010_replies_csat
"""

from __future__ import annotations

from alembic import op

revision = "0011_web_speed"
down_revision = "0010_replies_csat"
branch_labels = None
depends_on = None

_TOKENIZE = "porter unicode61 remove_diacritics 2"
_T = "4294967296"  # 2^32: a ticket's rowid range in search_fts

_OLD_OBJECTS = [
    "DROP TRIGGER IF EXISTS ticket_messages_fts_au",
    "DROP TRIGGER IF EXISTS ticket_messages_fts_ad",
    "DROP TRIGGER IF EXISTS ticket_messages_fts_ai",
    "DROP TABLE IF EXISTS ticket_messages_fts",
    "DROP TRIGGER IF EXISTS tickets_fts_au",
    "DROP TRIGGER IF EXISTS tickets_fts_ad",
    "DROP TRIGGER IF EXISTS tickets_fts_ai",
    "DROP TABLE IF EXISTS tickets_fts",
    "DROP INDEX IF EXISTS ix_ticket_messages_fts_ticket",
]

_SQLITE_UP = [
    *_OLD_OBJECTS,
    f"""CREATE VIRTUAL TABLE search_fts USING fts5(subject, body, content='', tokenize='{_TOKENIZE}')""",
    f"""CREATE TRIGGER search_fts_ticket_ai AFTER INSERT ON tickets BEGIN
        INSERT INTO search_fts(rowid, subject, body) VALUES (new.id * {_T}, new.subject, new.description);
    END""",
    f"""CREATE TRIGGER search_fts_ticket_ad AFTER DELETE ON tickets BEGIN
        INSERT INTO search_fts(search_fts, rowid, subject, body)
        VALUES ('delete', old.id * {_T}, old.subject, old.description);
    END""",
    f"""CREATE TRIGGER search_fts_ticket_au AFTER UPDATE OF subject, description ON tickets BEGIN
        INSERT INTO search_fts(search_fts, rowid, subject, body)
        VALUES ('delete', old.id * {_T}, old.subject, old.description);
        INSERT INTO search_fts(rowid, subject, body) VALUES (new.id * {_T}, new.subject, new.description);
    END""",
    f"""CREATE TRIGGER search_fts_message_ai AFTER INSERT ON ticket_messages BEGIN
        SELECT RAISE(ABORT, 'search_fts: message id beyond 2^32') WHERE new.id >= {_T};
        INSERT INTO search_fts(rowid, subject, body) VALUES (new.ticket_id * {_T} + new.id, '', new.body);
    END""",
    f"""CREATE TRIGGER search_fts_message_ad AFTER DELETE ON ticket_messages BEGIN
        INSERT INTO search_fts(search_fts, rowid, subject, body) VALUES ('delete', old.ticket_id * {_T} + old.id, '', old.body);
    END""",
    f"""CREATE TRIGGER search_fts_message_au AFTER UPDATE OF body, ticket_id ON ticket_messages BEGIN
        INSERT INTO search_fts(search_fts, rowid, subject, body) VALUES ('delete', old.ticket_id * {_T} + old.id, '', old.body);
        INSERT INTO search_fts(rowid, subject, body) VALUES (new.ticket_id * {_T} + new.id, '', new.body);
    END""",
    # Index what is already there, then merge the segments the bulk insert left.
    f"INSERT INTO search_fts(rowid, subject, body) SELECT id * {_T}, subject, description FROM tickets",
    f"INSERT INTO search_fts(rowid, subject, body) SELECT ticket_id * {_T} + id, '', body FROM ticket_messages",
    "INSERT INTO search_fts(search_fts) VALUES ('optimize')",
]

# Back to the objects of 0002 and 0004 (same definitions), rebuilt from the rows.
_SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS search_fts_message_au",
    "DROP TRIGGER IF EXISTS search_fts_message_ad",
    "DROP TRIGGER IF EXISTS search_fts_message_ai",
    "DROP TRIGGER IF EXISTS search_fts_ticket_au",
    "DROP TRIGGER IF EXISTS search_fts_ticket_ad",
    "DROP TRIGGER IF EXISTS search_fts_ticket_ai",
    "DROP TABLE IF EXISTS search_fts",
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
    "INSERT INTO tickets_fts(tickets_fts) VALUES ('rebuild')",
    "INSERT INTO ticket_messages_fts(ticket_messages_fts) VALUES ('rebuild')",
    "CREATE INDEX ix_ticket_messages_fts_ticket ON ticket_messages (id, ticket_id)",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for sql in _SQLITE_UP:
            op.execute(sql)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for sql in _SQLITE_DOWN:
            op.execute(sql)
