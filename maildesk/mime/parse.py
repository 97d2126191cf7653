"""Turn the raw bytes of an inbound message into a ParsedMessage: decoded headers, readable
text, safe HTML and attachments.  Pure: no database, no I/O.

The MIME tree is parsed by the stdlib with ``compat32`` semantics, because the
``policy.default`` parser calls its structured header parser *during* the parse and
that raises RecursionError on ``Content-Type: ((((…`` and is quadratic on long
address lists.  Address headers are read by our own pure parser (addresses.py), which
takes the addr-spec and never display-name text.
Every decode is lenient: unknown charsets, broken RFC 2047 words, raw 8-bit
headers and garbage base64 degrade to best-effort text, never an exception.

This module composes the steps; each has its own module: charsets, headertext (RFC 2047),
headers, msgids, address_fields, filenames, parts, payload, walker (the MIME walk) and
assemble (text and HTML).  The helpers other modules use are re-exported here.
"""

from __future__ import annotations

import html
from email import policy as _policy
from email.parser import BytesParser

from maildesk.mime.address_fields import address_list, mailboxes
from maildesk.mime.addresses import clean_display_name
from maildesk.mime.assemble import assemble_html, assemble_text, clean_text
from maildesk.mime.charsets import decode_bytes
from maildesk.mime.filenames import sanitise_filename
from maildesk.mime.headers import first_header, header_values, read_date, read_headers, read_subject
from maildesk.mime.headertext import decode_header_text
from maildesk.mime.limits import (
    MessageRefused,
    MimeLimits,
    left_out,
    precheck,
    truncation_marker,
)
from maildesk.mime.msgids import msgid_list, normalise_msgid
from maildesk.mime.parsed import Attachment, ParsedMessage
from maildesk.mime.payload import restore_bodies
from maildesk.mime.rawlines import header_end
from maildesk.mime.structure import bound_structure
from maildesk.mime.walker import FORWARD_SEPARATOR, Walker

__all__ = [
    "Attachment",
    "FORWARD_SEPARATOR",
    "ParsedMessage",
    "parse_message",
    "normalise_msgid",
    "sanitise_filename",
    "decode_header_text",
    "decode_bytes",
]


def parse_message(raw: bytes, limits: MimeLimits = MimeLimits()) -> ParsedMessage:
    """Never raises on any input except MessageRefused for limits we refuse. Bounded CPU/memory."""
    precheck(raw, limits)
    try:
        return _parse(raw, limits)
    except MessageRefused:
        raise
    except Exception as exc:  # a bug of ours or the stdlib must not lose the message
        return _unparsed(raw, limits, type(exc).__name__)


def _parse(raw: bytes, limits: MimeLimits) -> ParsedMessage:
    bounded = bound_structure(raw, limits)
    message = BytesParser(policy=_policy.compat32).parsebytes(bounded.raw)
    restore_bodies(message, bounded)
    notes = list(bounded.notes)
    walker = Walker(limits, notes)
    pieces = walker.render(message, 0)
    text = assemble_text(pieces, limits, notes)
    body_html = assemble_html(pieces, limits, notes)
    missing = left_out(
        parts_dropped=bounded.parts_dropped + walker.parts_dropped,
        parts_too_deep=bounded.parts_too_deep + walker.parts_too_deep,
        headers_cut=bounded.headers_cut,
        attachments_dropped=walker.attachments_dropped,
        max_parts=limits.max_parts,
        max_depth=limits.max_depth,
    )
    if missing:
        # Content cut past the limits must not vanish silently: say so where people read.
        marker = truncation_marker("; ".join(missing) + "; the original message is kept")
        text = f"{text}\n\n{marker}" if text else marker
        if body_html is not None:
            body_html += f"<p>{html.escape(marker)}</p>"
    # RFC 5322 §3.6.2: the first From field; its first mailbox is the sender.
    from_pairs = mailboxes(header_values(message, "from")[:1], limit=1)
    from_name, from_addr = from_pairs[0] if from_pairs else ("", "")
    if not from_name and not from_addr:
        from_name = clean_display_name(first_header(message, "from"), decode_header_text)
    return ParsedMessage(
        message_id=normalise_msgid(first_header(message, "message-id")),
        in_reply_to=msgid_list(header_values(message, "in-reply-to")),
        references=msgid_list(header_values(message, "references")),
        from_addr=from_addr,
        from_name=from_name,
        reply_to=address_list(message, "reply-to"),
        to=address_list(message, "to"),
        cc=address_list(message, "cc"),
        subject=read_subject(message, limits, notes),
        date=read_date(first_header(message, "date")),
        text=text,
        html=body_html,
        attachments=tuple(walker.attachments),
        headers=read_headers(message, limits, notes),
        notes=tuple(dict.fromkeys(notes)),
        left_out=missing,
        raw_headers=tuple(message.raw_items()) if _same_header_block(raw, bounded.raw) else None,
    )


def _same_header_block(raw: bytes, bounded: bytes) -> bool:
    """Whether the parser saw the top-level header block as received (structure.py returns
    the same bytes unless it cut something; a cut or lifted body may leave the header as is)."""
    if bounded is raw:
        return True
    end = header_end(raw, 0)
    return header_end(bounded, 0) == end and bounded[:end] == raw[:end]


def _unparsed(raw: bytes, limits: MimeLimits, reason: str) -> ParsedMessage:
    """The whole message as text, for when parsing failed unexpectedly."""
    try:
        text = clean_text(decode_bytes(raw[: limits.max_body_chars], None))
    except Exception:
        text = ""
    return ParsedMessage(
        message_id=None, in_reply_to=(), references=(), from_addr="", from_name="",
        reply_to=(), to=(), cc=(), subject="", date=None, text=text, html=None,
        attachments=(), headers=(),
        notes=(f"message could not be parsed ({reason}); shown as raw text",),
    )
