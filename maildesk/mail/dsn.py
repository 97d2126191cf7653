"""Read bounces: which recipients failed, why, and which of our messages bounced.

Standard reports follow RFC 3464 (multipart/report; report-type=delivery-status,
with RFC 6533's message/global-* variants). Many mail systems still send plain
text instead -- Exim, qmail, Postfix without DSN, Sendmail, old Exchange -- so
those are read from their well-known wording: a paragraph that opens with the
failed address, followed by the remote server's answer. :func:`parse_bounce`
never raises; input size and part count are bounded.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses

from maildesk.mail.classify import header_values

__all__ = ["FailedRecipient", "BounceReport", "parse_bounce"]

_DIAG_MAX = 500
_TEXT_MAX = 256 * 1024  # characters of human-readable text scanned per bounce
_PARTS_MAX = 200
_RECIPIENTS_MAX = 500
_ACTIONS = ("failed", "delayed", "delivered", "relayed", "expanded")

_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?!\.?\d)")
_SMTP_CODE = re.compile(r"(?<![\w.])([245])\d\d(?=[\s-]|$)")
_ADDR = r"[^\s<>()\[\]\"',;:@]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?"
# A paragraph naming a failed recipient opens with the address, alone or
# followed by ':' (qmail, Postfix), ' on <date>' (Exchange 2003), '<mailto:>'
# (Exchange), or a parenthesised note.
_ADDR_LINE = re.compile(
    rf"^[ \t]*['\"]?<?(?P<addr>{_ADDR})>?['\"]?"
    r"(?P<rest>[ \t]*$|[ \t]*:.*$|[ \t]+on[ \t].*$|[ \t]*<mailto:[^>]*>.*$|[ \t]+\(.*$)"
)
_COPY_MARKER = re.compile(
    r"^[ \t]*(?:-{2,}[ \t]*(?:This is a copy of (?:the|your) message|Below this line is a copy of the message"
    r"|Original message|Returned message)|Original message headers:)",
    re.IGNORECASE | re.MULTILINE,
)
_QUOTED_MSGID = re.compile(
    r"^[ \t>]*Message-I[Dd][ \t]*:[ \t]*(?:\r?\n[ \t]+)?(<[^<>\r\n]+>|[^\s<>]+@[^\s<>]+)",
    re.IGNORECASE | re.MULTILINE,
)
_ANGLE = re.compile(r"<([^<>]+)>")
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
_TAGS = re.compile(r"<[^<>]*>")  # linear: stops at the next '<' on unclosed tags
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class FailedRecipient:
    address: str
    action: str
    status: str
    diagnostic: str

    @property
    def permanent(self) -> bool:
        return self.action == "failed" and self.status.startswith("5")


@dataclass(frozen=True)
class BounceReport:
    original_message_id: str | None
    recipients: tuple[FailedRecipient, ...]
    verp_recipient: str | None


def parse_bounce(msg: Message, *, bounce_prefix: str = "bounce-") -> BounceReport | None:
    """Read a bounce; None when `msg` is not one (read receipts are not bounces).

    `verp_recipient` is the text after ``+<bounce_prefix>`` in the local part
    of the address the bounce was delivered to (Delivered-To, X-Original-To,
    Envelope-To, To), case preserved, e.g. ``abc123`` for
    ``support+bounce-abc123@example.com``; an empty prefix turns this off.
    """
    try:
        return _parse(msg, bounce_prefix)
    except Exception:  # pragma: no cover - defensive: hostile MIME must not escape
        return None


def _parse(msg: Message, bounce_prefix: str) -> BounceReport | None:
    parts = _parts(msg)
    status_parts = [p for p in parts if _ctype(p) in ("message/delivery-status", "message/global-delivery-status")]
    top = _ctype(msg)
    is_report = top == "multipart/report" and _param(msg, "report-type") in ("delivery-status", "")
    text = _human_text(parts)
    if status_parts and (is_report or top != "multipart/report"):
        recipients = _dsn_recipients(status_parts, text)
    else:
        if top == "multipart/report" and not is_report:
            return None  # read receipts, feedback reports: automatic, not bounces
        if not is_report and not _looks_like_text_bounce(msg, text):
            return None
        recipients = _text_recipients(msg, text)
    return BounceReport(
        original_message_id=_original_message_id(msg, parts, text),
        recipients=recipients,
        verp_recipient=_verp(msg, bounce_prefix),
    )


# -- MIME walking (bounded, never into the returned message) ------------------


def _parts(msg: Message) -> list[Message]:
    out: list[Message] = []
    stack = [msg]
    while stack and len(out) < _PARTS_MAX:
        part = stack.pop()
        out.append(part)
        if _ctype(part).startswith("message/"):
            continue  # the bounced original and report blocks are read separately
        try:
            payload = part.get_payload()
        except Exception:
            continue
        if isinstance(payload, list):
            stack.extend(reversed([p for p in payload if isinstance(p, Message)]))
    return out


def _ctype(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:
        raw = header_values(part, "Content-Type")
        return raw[0].split(";", 1)[0].strip().lower() if raw else "text/plain"


def _param(part: Message, name: str) -> str:
    try:
        value = part.get_param(name)
    except Exception:
        raw = header_values(part, "Content-Type")
        found = re.search(rf'{name}\s*=\s*"?([\w.-]+)', raw[0], re.IGNORECASE) if raw else None
        value = found.group(1) if found else None
    if isinstance(value, tuple):  # RFC 2231
        value = value[2]
    return str(value or "").strip().strip('"').lower()


def _decoded(part: Message) -> str:
    """Body text of a leaf part in its charset, undecodable bytes replaced."""
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if data is None:
        try:
            payload = part.get_payload()
        except Exception:
            return ""
        return payload[:_TEXT_MAX] if isinstance(payload, str) else ""
    try:
        charset = part.get_content_charset() or "utf-8"
        text = data.decode(charset, "replace")
    except Exception:
        text = data.decode("utf-8", "replace")
    return text[:_TEXT_MAX]


def _human_text(parts: list[Message]) -> str:
    """The human-readable explanation: text/plain parts, else text/html as text."""
    plain = [p for p in parts if _ctype(p) == "text/plain" and not _is_attachment(p)]
    if plain:
        return _joined(_decoded(p) for p in plain)
    htmls = [p for p in parts if _ctype(p) == "text/html"]
    # Only to find addresses and status codes in it; never shown to anyone.
    return _joined(
        html.unescape(_TAGS.sub("", re.sub(r"<br\s*/?>|</p>|</div>|</tr>", "\n", _decoded(p), flags=re.IGNORECASE)))
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
    except Exception:
        return False


# -- RFC 3464 -----------------------------------------------------------------


def _dsn_recipients(status_parts: list[Message], text: str) -> tuple[FailedRecipient, ...]:
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
            diagnostic = _diagnostic(fields.get("diagnostic-code", ""))
            action = _action(fields.get("action", ""), fields.get("status", "") + " " + diagnostic)
            status_field = fields.get("status", "")
            status = _status(status_field if _STATUS.search(status_field) else diagnostic, action)
            found[address] = FailedRecipient(address, action, status, diagnostic)
            if len(found) >= _RECIPIENTS_MAX:
                break
    recipients = tuple(found.values())
    if len(recipients) == 1 and not recipients[0].diagnostic:
        # Some MTAs leave Diagnostic-Code out; the human part usually has the answer.
        line = _text_diagnostic(text)
        if line:
            only = recipients[0]
            recipients = (FailedRecipient(only.address, only.action, only.status, line),)
    return recipients


def _status_blocks(part: Message) -> list[list[tuple[str, str]]]:
    """The header blocks of a delivery-status part (RFC 3464 section 2.1)."""
    try:
        payload = part.get_payload()
    except Exception:
        return []
    if isinstance(payload, list) and _ctype(part) == "message/delivery-status":
        # The stdlib parser already split the blocks into header-only messages.
        blocks = []
        for sub in payload[:_RECIPIENTS_MAX + 1]:
            if isinstance(sub, Message):
                try:
                    blocks.append([(str(k), _one_line(str(v))) for k, v in sub.raw_items()])
                except Exception:
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
                except Exception:
                    continue
        text = "\n\n".join(chunks)
    else:
        text = _decoded(part)
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
    return [[(k, _one_line(v)) for k, v in block] for block in blocks]


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
    match = _ANGLE.search(address)
    if match:
        address = match.group(1)
    address = address.strip().strip("<>").strip().lower()
    return address if "@" in address and " " not in address else ""


def _chr(hexdigits: str) -> str:
    try:
        return chr(int(hexdigits, 16))
    except (ValueError, OverflowError):
        return "\ufffd"


# -- non-standard (plain-text) bounces ----------------------------------------


def _looks_like_text_bounce(msg: Message, text: str) -> bool:
    if _FLAVOURS.search(text) or header_values(msg, "X-Failed-Recipients"):
        return True
    for value in header_values(msg, "From"):
        for _, addr in _safe_getaddresses(value):
            local = addr.rpartition("@")[0] if "@" in addr else addr
            if local.lower() in ("mailer-daemon", "postmaster"):
                return True
        if re.match(r"^\s*mailer-daemon\b", value, re.IGNORECASE):
            return True
    return False


def _text_recipients(msg: Message, text: str) -> tuple[FailedRecipient, ...]:
    body = text.replace("\r\n", "\n").replace("\r", "\n")
    cut = _COPY_MARKER.search(body)
    region = body[: cut.start()] if cut else body
    delayed = bool(_DELAYED_TEXT.search(region)) and not re.search(
        r"permanent (?:fatal )?error|given up|failed permanently", region, re.IGNORECASE
    )
    found: dict[str, str] = {}
    for address, diagnostic in _listed_addresses(region):
        # Exchange names each address twice: first a friendly sentence, then
        # the server's answer; keep the one that carries a status code.
        if address not in found or (_has_code(diagnostic) and not _has_code(found[address])):
            found[address] = diagnostic
        if len(found) >= _RECIPIENTS_MAX:
            break
    if not found:
        for value in header_values(msg, "X-Failed-Recipients"):
            for _, addr in _safe_getaddresses(value):
                if "@" in addr:
                    found.setdefault(addr.lower(), "")
    fallback = _text_diagnostic(region)
    out = []
    for address, diagnostic in found.items():
        if not diagnostic and len(found) == 1:
            diagnostic = fallback
        action = "delayed" if delayed else "failed"
        out.append(FailedRecipient(address, action, _status(diagnostic, action), diagnostic))
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
    return [(address, _diagnostic(" ".join(lines))) for address, lines in entries]


def _text_diagnostic(text: str) -> str:
    """The first line of free text that quotes a server's reply code."""
    for line in text.replace("\r", "\n").split("\n"):
        if _STATUS.search(line) or _SMTP_CODE.search(line):
            return _diagnostic(line)
    return ""


def _has_code(text: str) -> bool:
    return bool(_STATUS.search(text) or _SMTP_CODE.search(text))


# -- shared field handling ----------------------------------------------------


def _action(value: str, status_text: str) -> str:
    word = value.strip().split(";", 1)[0].strip().lower()
    word = word.split()[0] if word else ""
    if word in _ACTIONS:
        return word
    status = _STATUS.search(status_text)
    return {"2": "delivered", "4": "delayed"}.get(status.group(1) if status else "5", "failed")


def _status(text: str, action: str) -> str:
    match = _STATUS.search(text)
    if match:
        return ".".join(match.groups())
    code = _SMTP_CODE.search(text)
    if code:
        return f"{code.group(1)}.0.0"
    return {"failed": "5.0.0", "delayed": "4.0.0"}.get(action, "2.0.0")


def _diagnostic(value: str) -> str:
    text = _one_line(value)
    if "=?" in text:
        try:
            text = _one_line(str(make_header(decode_header(text))))
        except Exception:
            pass
    return text if len(text) <= _DIAG_MAX else text[: _DIAG_MAX - 1] + "\u2026"


def _one_line(value: str) -> str:
    text = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace") if _has_surrogates(value) else value
    return _SPACES.sub(" ", re.sub(r"[\x00-\x1f\x7f]", " ", text)).strip()


def _has_surrogates(value: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in value)


def _safe_getaddresses(value: str) -> list[tuple[str, str]]:
    try:
        return getaddresses([value])
    except Exception:
        return []


# -- which message bounced, and to which VERP address -------------------------


def _original_message_id(msg: Message, parts: list[Message], text: str) -> str | None:
    for part in parts:
        ctype = _ctype(part)
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
        ids = _ANGLE.findall(" ".join(values)) if values else []
        if ids:
            return _normalise_id(ids[0] if name == "In-Reply-To" else ids[-1])
    # A plain-text bounce quotes the original below a marker line; look there
    # first so that nothing in the explanation above it is mistaken for it.
    cut = _COPY_MARKER.search(text)
    return (_quoted_message_id(text[cut.end():]) if cut else None) or _quoted_message_id(text)


def _message_id_of_returned(part: Message) -> str | None:
    try:
        payload = part.get_payload()
    except Exception:
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
    except Exception:
        return ""
    if isinstance(payload, list):
        chunks = []
        for sub in payload:
            if isinstance(sub, Message):
                try:
                    chunks.append("\n".join(f"{k}: {v}" for k, v in sub.raw_items()))
                except Exception:
                    continue
        return "\n\n".join(chunks)
    return _decoded(part)


def _quoted_message_id(text: str) -> str | None:
    match = _QUOTED_MSGID.search(text) if text else None
    return _normalise_id(match.group(1)) if match else None


def _normalise_id(value: str) -> str | None:
    value = _one_line(value)
    match = _ANGLE.search(value)
    value = (match.group(1) if match else value).strip()
    if not value or " " in value or len(value) > 998:
        return None
    return value


def _verp(msg: Message, bounce_prefix: str) -> str | None:
    prefix = (bounce_prefix or "").lower()
    if not prefix:
        return None
    for name in ("Delivered-To", "X-Original-To", "Envelope-To", "To"):
        for value in header_values(msg, name):
            for _, addr in _safe_getaddresses(value):
                local = addr.rpartition("@")[0]
                tag = local.split("+", 1)[1] if "+" in local else ""
                if tag.lower().startswith(prefix) and len(tag) > len(prefix):
                    return tag[len(prefix):]
    return None
