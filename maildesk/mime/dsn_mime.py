"""The MIME side of reading a bounce: its parts (bounded, never into the returned message),
their content types and parameters, and the human-readable text of the report."""

from __future__ import annotations

import html
import re
from email.message import Message

from maildesk.mime.classify import header_values

_TEXT_MAX = 256 * 1024  # characters of human-readable text scanned per bounce
_PARTS_MAX = 200
_TAGS = re.compile(r"<[^<>]*>")  # linear: stops at the next '<' on unclosed tags


def bounce_parts(msg: Message) -> list[Message]:
    out: list[Message] = []
    stack = [msg]
    while stack and len(out) < _PARTS_MAX:
        part = stack.pop()
        out.append(part)
        if content_type(part).startswith("message/"):
            continue  # the bounced original and report blocks are read separately
        try:
            payload = part.get_payload()
        except Exception:  # stdlib parsing of hostile input: not a closed set
            continue
        if isinstance(payload, list):
            stack.extend(reversed([p for p in payload if isinstance(p, Message)]))
    return out


def content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:  # stdlib parsing of hostile input: not a closed set
        raw = header_values(part, "Content-Type")
        return raw[0].split(";", 1)[0].strip().lower() if raw else "text/plain"


def param_of(part: Message, name: str) -> str:
    try:
        value = part.get_param(name)
    except Exception:  # stdlib parsing of hostile input: not a closed set
        raw = header_values(part, "Content-Type")
        found = re.search(rf'{name}\s*=\s*"?([\w.-]+)', raw[0], re.IGNORECASE) if raw else None
        value = found.group(1) if found else None
    if isinstance(value, tuple):  # RFC 2231
        value = value[2]
    return str(value or "").strip().strip('"').lower()


def decoded_text(part: Message) -> str:
    """Body text of a leaf part in its charset, undecodable bytes replaced."""
    try:
        data = part.get_payload(decode=True)
    except Exception:  # stdlib parsing of hostile input: not a closed set
        data = None
    if data is None:
        try:
            payload = part.get_payload()
        except Exception:  # stdlib parsing of hostile input: not a closed set
            return ""
        return payload[:_TEXT_MAX] if isinstance(payload, str) else ""
    try:
        charset = part.get_content_charset() or "utf-8"
    except Exception:  # stdlib parsing of hostile input: not a closed set
        charset = "utf-8"
    try:
        text = data.decode(charset, "replace")
    except (LookupError, ValueError):  # unknown or non-text codec; NUL or surrogate in the name
        text = data.decode("utf-8", "replace")
    return text[:_TEXT_MAX]


def human_text(parts: list[Message]) -> str:
    """The human-readable explanation: text/plain parts, else text/html as text."""
    plain = [p for p in parts if content_type(p) == "text/plain" and not _is_attachment(p)]
    if plain:
        return _joined(decoded_text(p) for p in plain)
    htmls = [p for p in parts if content_type(p) == "text/html"]
    # Only to find addresses and status codes in it; never shown to anyone.
    return _joined(
        html.unescape(_TAGS.sub("", re.sub(r"<br\s*/?>|</p>|</div>|</tr>", "\n", decoded_text(p), flags=re.IGNORECASE)))
        for p in htmls
    )


def _joined(texts) -> str:
    out, size = [], 0
    for text in texts:
        out.append(text[: _TEXT_MAX - size])
        size += len(out[-1]) + 2
        if size >= _TEXT_MAX:
            break
    return "\n\n".join(out)


def _is_attachment(part: Message) -> bool:
    try:
        return (part.get_content_disposition() or "") == "attachment"
    except Exception:  # stdlib parsing of hostile input: not a closed set
        return False
