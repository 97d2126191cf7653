"""What parse_message returns: the ParsedMessage of an inbound message and its Attachments."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Attachment:
    filename: str  # sanitised display name, never empty
    content_type: str  # lowercased maintype/subtype
    data: bytes
    content_id: str | None  # without <> for inline cid: parts
    inline: bool


@dataclass(frozen=True)
class ParsedMessage:
    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    from_addr: str
    from_name: str
    reply_to: tuple[str, ...]
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    date: datetime | None
    text: str
    html: str | None
    attachments: tuple[Attachment, ...]
    headers: tuple[tuple[str, str], ...]
    notes: tuple[str, ...]
    # What was left out past the limits, short ("9,800 more parts not shown (limit 200)");
    # the text and HTML end with a marker saying it (limits.left_out).
    left_out: tuple[str, ...] = ()
    # The top-level header fields exactly as received (name, raw value: what the stdlib
    # parser's raw_items() gives under any policy), so later steps need not parse the header
    # block again; None when the parse saw a changed header block (structure.py cut or
    # lifted something in it) and they must be read from the raw bytes. A shortcut, not part
    # of what the message says: left out of comparisons.
    raw_headers: tuple[tuple[str, str], ...] | None = field(default=None, compare=False, repr=False)
