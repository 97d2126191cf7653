"""Fields of one MIME part read leniently: content type, disposition, file name, charset,
Content-ID, the inner message of a message/* part, and the root of a multipart/related."""

from __future__ import annotations

import re
from email.message import Message

from maildesk.mime.headers import first_header
from maildesk.mime.headertext import CONTROL_CHARS, SURROGATES, decode_header_text


def part_type(part: Message) -> str:
    try:
        ctype = part.get_content_type()
    except Exception:
        return "application/octet-stream"
    ctype = CONTROL_CHARS.sub("", SURROGATES.sub("", ctype)).strip().lower()[:100]
    return ctype if re.fullmatch(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+", ctype) else "application/octet-stream"


def part_disposition(part: Message) -> str | None:
    try:
        return part.get_content_disposition()
    except Exception:
        return None


def part_filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        return None
    if not name:
        return None
    return decode_header_text(str(name))


def part_charset(part: Message) -> str | None:
    try:
        return part.get_content_charset()
    except Exception:
        return None


def part_content_id(part: Message) -> str | None:
    """The part's Content-ID without its angle brackets (RFC 2045 §7: a msg-id, `<left@right>`).

    What a `cid:` URL names is the text between the brackets (RFC 2392 §2); anything a broken
    client wrote around them (`Content-Id: -- <x@y>`) is not part of it.
    """
    value = "".join(decode_header_text(first_header(part, "content-id")).split())
    opened = value.find("<")
    if opened >= 0:
        closed = value.find(">", opened + 1)
        value = value[opened + 1 : closed if closed >= 0 else len(value)]
    value = value.replace("<", "").replace(">", "")[:998]
    return value or None


def inner_message(part: Message) -> Message:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    return Message()


def related_root(part: Message, children: list[Message]) -> Message:
    """RFC 2387 §3.2: the ``start`` parameter names the root by Content-ID, else the first part."""
    try:
        start = part.get_param("start")
    except Exception:
        start = None
    if isinstance(start, str):
        wanted = start.strip().strip("<>")
        for child in children:
            if part_content_id(child) == wanted:
                return child
    return children[0]
