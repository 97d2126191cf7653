"""Non-standard (plain-text) bounces: Exim, qmail, Postfix without DSN, Sendmail, old
Exchange, read from their well-known wording."""

from __future__ import annotations

import re
from email.message import Message

from maildesk.mime.classify import header_values
from maildesk.mime.dsn_fields import (
    RECIPIENTS_MAX,
    has_code,
    read_diagnostic,
    read_status,
    safe_getaddresses,
    text_diagnostic,
)
from maildesk.mime.dsn_result import FailedRecipient

_ADDR = r"[^\s<>()\[\]\"',;:@]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?"
# A paragraph naming a failed recipient opens with the address, alone or
# followed by ':' (qmail, Postfix), ' on <date>' (Exchange 2003), '<mailto:>'
# (Exchange), or a parenthesised note.
_ADDR_LINE = re.compile(
    rf"^[ \t]*['\"]?<?(?P<addr>{_ADDR})>?['\"]?"
    r"(?P<rest>[ \t]*$|[ \t]*:.*$|[ \t]+on[ \t].*$|[ \t]*<mailto:[^>]*>.*$|[ \t]+\(.*$)"
)
COPY_MARKER = re.compile(
    r"^[ \t]*(?:-{2,}[ \t]*(?:This is a copy of (?:the|your) message|Below this line is a copy of the message"
    r"|Original message|Returned message)|Original message headers:)",
    re.IGNORECASE | re.MULTILINE,
)
_FLAVOURS = re.compile(
    r"This is the qmail-send program"
    r"|This message was created automatically by mail delivery software"
    r"|This is the (?:mail system|Postfix program) at host"
    r"|Delivery has failed to these recipients or groups"
    r"|did not reach some or all of the intended recipients"
    r"|Your message couldn't be delivered"
    r"|The following addresses had permanent fatal errors"
    r"|Delivery to the following recipients? failed"
    r"|could not be delivered to one or more (?:of its )?recipients",
    re.IGNORECASE,
)
_DELAYED_TEXT = re.compile(
    r"has not yet been delivered|have not yet been delivered|delivery (?:has been|is) delayed"
    r"|Delivery (?:attempts )?will continue|still trying|will (?:be )?retr(?:y|ied)|This is a temporary error",
    re.IGNORECASE,
)


def looks_like_text_bounce(msg: Message, text: str) -> bool:
    if _FLAVOURS.search(text) or header_values(msg, "X-Failed-Recipients"):
        return True
    for value in header_values(msg, "From"):
        for _, addr in safe_getaddresses(value):
            local = addr.rpartition("@")[0] if "@" in addr else addr
            if local.lower() in ("mailer-daemon", "postmaster"):
                return True
        if re.match(r"^\s*mailer-daemon\b", value, re.IGNORECASE):
            return True
    return False


def text_recipients(msg: Message, text: str) -> tuple[FailedRecipient, ...]:
    body = text.replace("\r\n", "\n").replace("\r", "\n")
    cut = COPY_MARKER.search(body)
    region = body[: cut.start()] if cut else body
    delayed = bool(_DELAYED_TEXT.search(region)) and not re.search(
        r"permanent (?:fatal )?error|given up|failed permanently", region, re.IGNORECASE
    )
    found: dict[str, str] = {}
    for address, diagnostic in _listed_addresses(region):
        # Exchange names each address twice: first a friendly sentence, then
        # the server's answer; keep the one that carries a status code.
        if address not in found or (has_code(diagnostic) and not has_code(found[address])):
            found[address] = diagnostic
        if len(found) >= RECIPIENTS_MAX:
            break
    if not found:
        for value in header_values(msg, "X-Failed-Recipients"):
            for _, addr in safe_getaddresses(value):
                if "@" in addr:
                    found.setdefault(addr.lower(), "")
    fallback = text_diagnostic(region)
    out = []
    for address, diagnostic in found.items():
        if not diagnostic and len(found) == 1:
            diagnostic = fallback
        action = "delayed" if delayed else "failed"
        out.append(FailedRecipient(address, action, read_status(diagnostic, action), diagnostic))
    return tuple(out)


def _listed_addresses(region: str) -> list[tuple[str, str]]:
    """(address, diagnostic) for each line that opens with a failed address.

    The lines after it, up to a blank line, explain the failure. A more deeply
    indented line naming the address again (Postfix wraps the server's reply
    that way) continues the explanation rather than starting a new entry.
    """
    entries: list[tuple[str, list[str]]] = []
    indent = -1  # indentation of the open entry's address line; -1: none open
    for line in region.split("\n"):
        if not line.strip():
            indent = -1
            continue
        depth = len(line) - len(line.lstrip(" \t"))
        match = _ADDR_LINE.match(line)
        if match and (indent < 0 or depth <= indent):
            rest = match.group("rest").strip()
            entries.append((match.group("addr").lower(), [rest[1:] if rest.startswith(":") else ""]))
            indent = depth
        elif indent >= 0:
            entries[-1][1].append(line)
    return [(address, read_diagnostic(" ".join(lines))) for address, lines in entries]
