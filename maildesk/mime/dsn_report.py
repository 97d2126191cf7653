"""Failed recipients of a standard delivery status notification (RFC 3464, with RFC 6533's
message/global-delivery-status)."""

from __future__ import annotations

import re
from email.message import Message

from maildesk.mime.dsn_fields import (
    ANGLE,
    RECIPIENTS_MAX,
    STATUS,
    one_line,
    read_action,
    read_diagnostic,
    read_status,
    text_diagnostic,
)
from maildesk.mime.dsn_mime import content_type, decoded_text
from maildesk.mime.dsn_result import FailedRecipient


def dsn_recipients(status_parts: list[Message], text: str) -> tuple[FailedRecipient, ...]:
    found: dict[str, FailedRecipient] = {}
    for part in status_parts:
        for block in _status_blocks(part):
            fields = {}
            for key, value in block:
                fields.setdefault(key.lower(), value)  # first occurrence wins
            address = _recipient_address(fields.get("original-recipient")) or _recipient_address(
                fields.get("final-recipient")
            )
            if not address or address in found:
                continue
            diagnostic = read_diagnostic(fields.get("diagnostic-code", ""))
            action = read_action(fields.get("action", ""), fields.get("status", "") + " " + diagnostic)
            status_field = fields.get("status", "")
            status = read_status(status_field if STATUS.search(status_field) else diagnostic, action)
            found[address] = FailedRecipient(address, action, status, diagnostic)
            if len(found) >= RECIPIENTS_MAX:
                break
    recipients = tuple(found.values())
    if len(recipients) == 1 and not recipients[0].diagnostic:
        # Some MTAs leave Diagnostic-Code out; the human part usually has the answer.
        line = text_diagnostic(text)
        if line:
            only = recipients[0]
            recipients = (FailedRecipient(only.address, only.action, only.status, line),)
    return recipients


def _status_blocks(part: Message) -> list[list[tuple[str, str]]]:
    """The header blocks of a delivery-status part (RFC 3464 section 2.1)."""
    try:
        payload = part.get_payload()
    except Exception:  # stdlib parsing of hostile input: not a closed set
        return []
    if isinstance(payload, list) and content_type(part) == "message/delivery-status":
        # The stdlib parser already split the blocks into header-only messages.
        blocks = []
        for sub in payload[:RECIPIENTS_MAX + 1]:
            if isinstance(sub, Message):
                try:
                    blocks.append([(str(k), one_line(str(v))) for k, v in sub.raw_items()])
                except UnicodeError:  # a lone surrogate one_line cannot re-encode
                    continue
        return blocks
    if isinstance(payload, list):
        # message/global-delivery-status is parsed like a message: headers + body.
        chunks = []
        for sub in payload:
            if isinstance(sub, Message):
                try:
                    head = "\n".join(f"{k}: {v}" for k, v in sub.raw_items())
                    body = sub.get_payload()
                    chunks.append(head + "\n\n" + (body if isinstance(body, str) else ""))
                except Exception:  # Message accessors on hostile input: not a closed set
                    continue
        text = "\n\n".join(chunks)
    else:
        text = decoded_text(part)
    return _parse_blocks(text)


def _parse_blocks(text: str) -> list[list[tuple[str, str]]]:
    blocks: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")[:20000]:
        if not line.strip():
            if current:
                blocks.append(current)
                current = []
        elif line[:1] in (" ", "\t") and current:
            name, value = current[-1]
            current[-1] = (name, value + " " + line.strip())
        elif ":" in line:
            name, _, value = line.partition(":")
            current.append((name.strip(), value.strip()))
    if current:
        blocks.append(current)
    return [[(k, one_line(v)) for k, v in block] for block in blocks]


def _recipient_address(value: str | None) -> str:
    """'rfc822; User@Example.net' -> 'user@example.net' (RFC 3464 2.3.1-2.3.2)."""
    if not value:
        return ""
    kind, sep, address = value.partition(";")
    if not sep:
        kind, address = "rfc822", value
    address = address.strip()
    if kind.strip().lower() == "utf-8":  # RFC 6533 embedded \x{HEX} escapes
        address = re.sub(r"\\x\{([0-9A-Fa-f]{1,6})\}", lambda m: _chr(m.group(1)), address)
    match = ANGLE.search(address)
    if match:
        address = match.group(1)
    address = address.strip().strip("<>").strip().lower()
    return address if "@" in address and " " not in address else ""


def _chr(hexdigits: str) -> str:
    try:
        return chr(int(hexdigits, 16))
    except (ValueError, OverflowError):
        return "\ufffd"
