"""Header fields of a parsed message: raw values by name, the subject, the date and the
displayed header list, each capped at the line limit."""

from __future__ import annotations

from datetime import datetime, timezone
from email.message import Message
from email.utils import parsedate_to_datetime

from maildesk.mime.headertext import CONTROL_CHARS, SURROGATES, decode_header_text
from maildesk.mime.limits import MimeLimits, truncation_marker

_CONTROL_HEADER_PREFIX = "x-maildesk-"


def header_values(message: Message, name: str) -> list[str]:
    try:
        return [value for key, value in message.raw_items() if key.lower() == name]
    except Exception:
        return []


def first_header(message: Message, name: str) -> str:
    values = header_values(message, name)
    return values[0] if values else ""


def one_line(text: str) -> str:
    return " ".join(text.split())


def _cap_line(text: str, limits: MimeLimits, what: str, notes: list[str]) -> str:
    if len(text) <= limits.max_line_bytes // 4 or len(text.encode("utf-8")) <= limits.max_line_bytes:
        return text
    notes.append(f"{what} longer than {limits.max_line_bytes} bytes truncated")
    cut = text.encode("utf-8")[: limits.max_line_bytes].decode("utf-8", "ignore")
    return cut + " " + truncation_marker(f"longer than {limits.max_line_bytes} bytes")


def read_subject(message: Message, limits: MimeLimits, notes: list[str]) -> str:
    subject = one_line(decode_header_text(first_header(message, "subject")))
    return _cap_line(subject, limits, "subject", notes)


def read_headers(message: Message, limits: MimeLimits, notes: list[str]) -> tuple[tuple[str, str], ...]:
    out = []
    for name, value in message.raw_items():
        name = CONTROL_CHARS.sub("", SURROGATES.sub("", name)).strip()
        if name.lower().startswith(_CONTROL_HEADER_PREFIX):
            continue  # inbound copies of our control headers are ignored
        text = decode_header_text(value).strip()
        out.append((name, _cap_line(text, limits, f"header {name[:60]}", notes)))
    return tuple(out)


def read_date(value: str) -> datetime | None:
    value = decode_header_text(value).strip()[:200]
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except Exception:
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:  # RFC 5322 §3.3: "-0000" means UTC with no local zone known
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed
