"""What parse_message returns: the ParsedMessage of an inbound message and its Attachments."""

from __future__ import annotations

from dataclasses import dataclass
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
