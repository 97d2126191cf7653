"""Which of our messages bounced (the returned message, its headers, or a quoted
Message-ID) and the VERP token of the address the bounce came back to."""

from __future__ import annotations

import re
from email.message import Message

from maildesk.mime.classify import header_values
from maildesk.mime.dsn_fields import ANGLE, one_line, safe_getaddresses
from maildesk.mime.dsn_mime import content_type, decoded_text
from maildesk.mime.dsn_text import COPY_MARKER

_QUOTED_MSGID = re.compile(
    r"^[ \t>]*Message-I[Dd][ \t]*:[ \t]*(?:\r?\n[ \t]+)?(<[^<>\r\n]+>|[^\s<>]+@[^\s<>]+)",
    re.IGNORECASE | re.MULTILINE,
)


def original_message_id(msg: Message, parts: list[Message], text: str) -> str | None:
    for part in parts:
        ctype = content_type(part)
        if ctype in ("message/rfc822", "message/global"):
            found = _message_id_of_returned(part)
        elif ctype in ("text/rfc822-headers", "message/global-headers"):
            found = _quoted_message_id(_returned_text(part))
        else:
            continue
        if found:
            return found
    for name in ("In-Reply-To", "References"):
        values = header_values(msg, name)
        ids = ANGLE.findall(" ".join(values)) if values else []
        if ids:
            return _normalise_id(ids[0] if name == "In-Reply-To" else ids[-1])
    # A plain-text bounce quotes the original below a marker line; look there
    # first so that nothing in the explanation above it is mistaken for it.
    cut = COPY_MARKER.search(text)
    return (_quoted_message_id(text[cut.end():]) if cut else None) or _quoted_message_id(text)


def _message_id_of_returned(part: Message) -> str | None:
    try:
        payload = part.get_payload()
    except Exception:  # stdlib parsing of hostile input: not a closed set
        return None
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        values = header_values(payload[0], "Message-ID")
        if values:
            return _normalise_id(values[0])
        return None
    return _quoted_message_id(_returned_text(part))


def _returned_text(part: Message) -> str:
    try:
        payload = part.get_payload()
    except Exception:  # stdlib parsing of hostile input: not a closed set
        return ""
    if isinstance(payload, list):
        chunks = []
        for sub in payload:
            if isinstance(sub, Message):
                try:
                    chunks.append("\n".join(f"{k}: {v}" for k, v in sub.raw_items()))
                except Exception:  # Message accessors on hostile input: not a closed set
                    continue
        return "\n\n".join(chunks)
    return decoded_text(part)


def _quoted_message_id(text: str) -> str | None:
    match = _QUOTED_MSGID.search(text) if text else None
    return _normalise_id(match.group(1)) if match else None


def _normalise_id(value: str) -> str | None:
    value = one_line(value)
    match = ANGLE.search(value)
    value = (match.group(1) if match else value).strip()
    if not value or " " in value or len(value) > 998:
        return None
    return value


def verp_token(msg: Message, bounce_prefix: str) -> str | None:
    prefix = (bounce_prefix or "").lower()
    if not prefix:
        return None
    for name in ("Delivered-To", "X-Original-To", "Envelope-To", "To"):
        for value in header_values(msg, name):
            for _, addr in safe_getaddresses(value):
                local = addr.rpartition("@")[0]
                tag = local.split("+", 1)[1] if "+" in local else ""
                if tag.lower().startswith(prefix) and len(tag) > len(prefix):
                    return tag[len(prefix):]
    return None
