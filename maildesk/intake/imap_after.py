"""What the IMAP poller does with a message once its intake transaction has committed.

MAILDESK_IMAP_AFTER:
- `delete` (default): flag \\Seen and \\Deleted and expunge by UID (UID EXPUNGE, RFC 4315, so
  somebody else's \\Deleted message is left alone; without UIDPLUS a plain EXPUNGE).
- `move:FOLDER`: move into FOLDER (created when missing), flagged \\Seen: with UID MOVE when
  the server has MOVE (RFC 6851), else UID COPY, then \\Deleted and expunge as above.
- `keep`: flag \\Seen and leave it. The UIDs taken are remembered per mailbox and UIDVALIDITY
  (table imap_seen), and only the table decides what was taken: a message someone marks
  unread again is not taken twice, also after a restart. When the server changes the
  folder's UIDVALIDITY every message looks new; intake's Message-ID dedupe stores none twice.

The blocking functions take a logged-in imapclient connection and run in the poller's thread;
the async ones read and write imap_seen.
"""

from __future__ import annotations

from typing import Iterable

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from maildesk.config import ImapAfter
from maildesk.db import Database
from maildesk.models import ImapSeen, utcnow

_IN_CHUNK = 500  # UIDs per IN (...) list


# --- blocking: on the IMAP connection --------------------------------------------------------


def prepare(client: IMAPClient, after: ImapAfter) -> None:
    """Create the move target when it is missing (once per connection)."""
    if after.mode != "move" or after.folder is None:
        return
    if not client.folder_exists(after.folder):
        try:
            client.create_folder(after.folder)
        except IMAPClientError:
            if not client.folder_exists(after.folder):  # not a race with another creator: a real refusal
                raise


def apply(client: IMAPClient, after: ImapAfter, uids: list[int], *, uidplus: bool) -> None:
    """Do with `uids` (all committed) what the policy says."""
    if not uids:
        return
    client.add_flags(uids, [b"\\Seen"], silent=True)
    if after.mode == "keep":
        return
    if after.mode == "move":
        assert after.folder is not None
        if client.has_capability("MOVE"):
            client.move(uids, after.folder)
            return
        client.copy(uids, after.folder)
    client.add_flags(uids, [b"\\Deleted"], silent=True)
    if uidplus:
        client.uid_expunge(uids)
    else:
        client.expunge()


# --- async: what `keep` remembers -------------------------------------------------------------


def _chunks(uids: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(uids), _IN_CHUNK):
        yield uids[start : start + _IN_CHUNK]


async def not_taken(db: Database, mailbox: str, uidvalidity: int, uids: list[int]) -> list[int]:
    """The UIDs among `uids` that were never taken from this mailbox under this UIDVALIDITY."""
    taken: set[int] = set()
    async with db.read() as session:
        for chunk in _chunks(uids):
            taken.update(
                await session.scalars(
                    select(ImapSeen.uid).where(
                        ImapSeen.mailbox == mailbox, ImapSeen.uidvalidity == uidvalidity, ImapSeen.uid.in_(chunk)
                    )
                )
            )
    return [uid for uid in uids if uid not in taken]


async def remember(db: Database, mailbox: str, uidvalidity: int, uids: list[int]) -> None:
    """Record `uids` as taken (idempotent: a UID remembered already stays as it was)."""
    if not uids:
        return
    insert = sqlite_insert if db.is_sqlite else pg_insert
    now = utcnow()
    async with db.write() as session:
        for chunk in _chunks(uids):
            await session.execute(
                insert(ImapSeen.__table__).on_conflict_do_nothing(),
                [dict(mailbox=mailbox, uidvalidity=uidvalidity, uid=uid, taken_at=now) for uid in chunk],
            )
