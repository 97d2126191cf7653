"""Turn the raw bytes of an inbound message into a ParsedMessage: decoded headers, readable
text, safe HTML and attachments.  Pure: no database, no I/O.

The MIME tree is parsed by the stdlib with ``compat32`` semantics, because the
``policy.default`` parser calls its structured header parser *during* the parse and
that raises RecursionError on ``Content-Type: ((((…`` and is quadratic on long
address lists.  Address headers are read by our own pure parser (addresses.py), which
takes the addr-spec and never display-name text.
Every decode is lenient: unknown charsets, broken RFC 2047 words, raw 8-bit
headers and garbage base64 degrade to best-effort text, never an exception.
"""

from __future__ import annotations

import binascii
import codecs
import html
import mimetypes
import re
import unicodedata
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email import policy as _policy
from email.message import Message
from email.parser import BytesParser
from email.utils import parsedate_to_datetime

from maildesk.mail.addresses import clean_display_name, parse_mailbox_list
from maildesk.mail.body import html_to_text, sanitise_html
from maildesk.mail.limits import (
    Bounded,
    MessageRefused,
    MimeLimits,
    bound_structure,
    precheck,
    left_out,
    truncation_marker,
)

__all__ = [
    "Attachment",
    "ParsedMessage",
    "parse_message",
    "normalise_msgid",
    "sanitise_filename",
    "decode_header_text",
    "decode_bytes",
]


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


FORWARD_SEPARATOR = "---------- Forwarded message ----------"
_CONTROL_HEADER_PREFIX = "x-maildesk-"
_MAX_FILENAME = 200
_MAX_IDS = 200
_MAX_ADDRESSES = 1000
# ~1,000 addresses; beyond that a header is not a real recipient list.
_MAX_ADDRESS_HEADER = 64 * 1024


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
    _restore_bodies(message, bounded)
    notes = list(bounded.notes)
    walker = _Walker(limits, notes)
    pieces = walker.render(message, 0)
    text = _assemble_text(pieces, limits, notes)
    body_html = _assemble_html(pieces, limits, notes)
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
    from_pairs = _addresses(_values(message, "from")[:1], limit=1)
    from_name, from_addr = from_pairs[0] if from_pairs else ("", "")
    if not from_name and not from_addr:
        from_name = clean_display_name(_first(message, "from"), decode_header_text)
    return ParsedMessage(
        message_id=normalise_msgid(_first(message, "message-id")),
        in_reply_to=_msgids(_values(message, "in-reply-to")),
        references=_msgids(_values(message, "references")),
        from_addr=from_addr,
        from_name=from_name,
        reply_to=_addr_list(message, "reply-to"),
        to=_addr_list(message, "to"),
        cc=_addr_list(message, "cc"),
        subject=_subject(message, limits, notes),
        date=_date(_first(message, "date")),
        text=text,
        html=body_html,
        attachments=tuple(walker.attachments),
        headers=_headers(message, limits, notes),
        notes=tuple(dict.fromkeys(notes)),
        left_out=missing,
    )


def _restore_bodies(message: Message, bounded: Bounded) -> None:
    """Put back the big bodies bound_structure lifted out before the parse."""
    if not bounded.bodies:
        return
    for part in message.walk():
        ref = part.get(bounded.lifted_header)
        if ref is None:
            continue
        del part[bounded.lifted_header]
        try:
            body = bounded.bodies[int(ref)]
        except (ValueError, IndexError):
            continue
        if part.is_multipart():
            part.set_payload(str(body, "ascii", "surrogateescape"))
        else:
            # Kept as bytes (no 25 MB str copy); _payload decodes it from there and
            # _materialise puts it in as the stdlib would have it where a tree is serialised.
            _LIFTED[part] = body


# Leaf Messages whose body was lifted out, mapped to that body (bytes) until it is read.
# A side map rather than an attribute in Message.__dict__ (issue 14: the stdlib's object
# stays untouched); weak keys, so an entry goes with its message tree.
_LIFTED: weakref.WeakKeyDictionary[Message, bytes] = weakref.WeakKeyDictionary()


def _materialise(part: Message) -> None:
    """Set a lifted body as the part's payload, exactly as set_payload would have it."""
    body = _LIFTED.pop(part, None)
    if body is not None:
        part.set_payload(str(body, "ascii", "surrogateescape"))


def _unparsed(raw: bytes, limits: MimeLimits, reason: str) -> ParsedMessage:
    """The whole message as text, for when parsing failed unexpectedly."""
    try:
        text = _clean_text(decode_bytes(raw[: limits.max_body_chars], None))
    except Exception:
        text = ""
    return ParsedMessage(
        message_id=None, in_reply_to=(), references=(), from_addr="", from_name="",
        reply_to=(), to=(), cc=(), subject="", date=None, text=text, html=None,
        attachments=(), headers=(),
        notes=(f"message could not be parsed ({reason}); shown as raw text",),
    )


# --- charsets ----------------------------------------------------------------------

# Labels seen in the wild that Python lacks, or whose superset decodes what clients send.
_CHARSET_ALIASES = {
    "x-sjis": "cp932",
    "windows-31j": "cp932",
    "x-unknown": "utf-8",
    "unknown-8bit": "utf-8",
    "x-user-defined": "cp1252",
    "utf8mb4": "utf-8",
}
_SUPERSETS = {
    "shift_jis": ("cp932", "shift_jis", "shift_jis_2004"),
    "iso2022_jp": ("iso2022_jp", "iso2022_jp_ext", "iso2022_jp_2", "iso2022_jp_3"),
    "euc_jp": ("euc_jp", "euc_jis_2004"),
    "gb2312": ("gb18030",),
    "gbk": ("gb18030",),
    "big5": ("big5hkscs", "cp950"),
    "euc_kr": ("cp949",),
    "iso8859-1": ("cp1252",),
    "ascii": (),
}
# Codecs that are not charsets of text (or are quadratic on hostile input, like punycode).
_REFUSED_CODECS = {"punycode", "idna", "unicode-escape", "raw-unicode-escape", "undefined", "mbcs", "oem"}


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode body or header bytes: the label (or a superset of it), then UTF-8, then
    cp1252, then Latin-1.  Never raises."""
    candidates = _codecs_for(charset)
    for name in candidates:
        try:
            return data.decode(name)
        except (UnicodeError, LookupError):
            continue
    if not data.isascii():
        try:
            return data.decode("utf-8")
        except UnicodeError:
            pass
    if candidates and candidates[0] not in ("utf-8", "ascii"):
        # A CJK body with a few bad bytes is better shown in its own charset.
        text = data.decode(candidates[0], "replace")
        if text.count("\ufffd") <= max(2, len(text) // 100):
            return text
    try:
        return data.decode("cp1252")
    except UnicodeError:
        return data.decode("latin-1")


def _codecs_for(charset: str | None) -> tuple[str, ...]:
    if not charset:
        return ()
    label = charset.strip().strip("\"'").lower()[:40]
    label = _CHARSET_ALIASES.get(label, label)
    try:
        name = codecs.lookup(label).name
    except (LookupError, ValueError, TypeError):
        return ()
    if name.replace("_", "-") in _REFUSED_CODECS:
        return ()
    return _SUPERSETS.get(name, (name,))


# --- headers -------------------------------------------------------------------------

# RFC 2047 encoded words, also the broken ones: unterminated, or with spaces inside.
_ENCODED_WORD = re.compile(
    r"=\?([^?\s]{1,64})\?([bBqQ])\?(?:([^?]*?)\?=|([^?\s]*)(?=\s|$))"
)
_FOLD = re.compile(r"\r?\n(?=[ \t])|\r(?=[ \t])")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_SPACES = re.compile(r"\s+")


def decode_header_text(value: str | None) -> str:
    """A raw header value as readable text: unfolded, raw 8-bit bytes decoded (UTF-8,
    else Latin-1/cp1252), RFC 2047 words decoded leniently, control characters removed."""
    if not value:
        return ""
    value = _FOLD.sub("", value).replace("\r", " ").replace("\n", " ")
    value = _fix_iso2022(_fix_8bit(value))
    value = _decode_words(value)
    value = _CONTROL.sub("", value.replace("\t", " "))
    return _SURROGATE.sub("\ufffd", value)


def _fix_8bit(value: str) -> str:
    """The parser keeps raw 8-bit header bytes as surrogate escapes (RFC 6532 allows UTF-8)."""
    if not _SURROGATE.search(value):
        return value
    data = value.encode("utf-8", "surrogateescape")
    return decode_bytes(data, None)


def _fix_iso2022(value: str) -> str:
    """Old Japanese clients put raw ISO-2022-JP (7-bit escapes, no RFC 2047) in headers."""
    if "\x1b" not in value or not value.isascii():
        return value
    return decode_bytes(value.encode("ascii"), "iso-2022-jp")


def _decode_words(value: str) -> str:
    """RFC 2047 §6: decode encoded words; whitespace between adjacent ones is dropped and
    adjacent words in one charset are decoded together (clients split multibyte chars)."""
    if "=?" not in value:
        return value
    out: list[str] = []
    chunk: list[bytes] = []
    chunk_charset: str | None = None
    pos = 0
    for match in _ENCODED_WORD.finditer(value):
        gap = value[pos : match.start()]
        charset = match.group(1).split("*", 1)[0]  # RFC 2231 §5: charset*language
        adjacent = chunk_charset is not None and not gap.strip()
        if chunk_charset is not None and (not adjacent or charset.lower() != chunk_charset.lower()):
            out.append(decode_bytes(b"".join(chunk), chunk_charset))
            chunk, chunk_charset = [], None
        if not adjacent:
            out.append(gap)
        encoded = match.group(3) if match.group(3) is not None else match.group(4)
        chunk.append(_word_bytes(match.group(2), encoded))
        chunk_charset = charset
        pos = match.end()
    if chunk_charset is not None:
        out.append(decode_bytes(b"".join(chunk), chunk_charset))
    out.append(value[pos:])
    return "".join(out)


def _word_bytes(encoding: str, text: str) -> bytes:
    data = text.encode("utf-8", "surrogateescape")
    if encoding in "qQ":
        return binascii.a2b_qp(data, header=True)
    data = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
    data = data[: len(data) - len(data) % 4] if len(data) % 4 == 1 else data
    try:
        return binascii.a2b_base64(data + b"=" * (-len(data) % 4))
    except binascii.Error:
        return b""


def _values(message: Message, name: str) -> list[str]:
    try:
        return [value for key, value in message.raw_items() if key.lower() == name]
    except Exception:
        return []


def _first(message: Message, name: str) -> str:
    values = _values(message, name)
    return values[0] if values else ""


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _cap_line(text: str, limits: MimeLimits, what: str, notes: list[str]) -> str:
    if len(text) <= limits.max_line_bytes // 4 or len(text.encode("utf-8")) <= limits.max_line_bytes:
        return text
    notes.append(f"{what} longer than {limits.max_line_bytes} bytes truncated")
    cut = text.encode("utf-8")[: limits.max_line_bytes].decode("utf-8", "ignore")
    return cut + " " + truncation_marker(f"longer than {limits.max_line_bytes} bytes")


def _subject(message: Message, limits: MimeLimits, notes: list[str]) -> str:
    subject = _one_line(decode_header_text(_first(message, "subject")))
    return _cap_line(subject, limits, "subject", notes)


def _headers(message: Message, limits: MimeLimits, notes: list[str]) -> tuple[tuple[str, str], ...]:
    out = []
    for name, value in message.raw_items():
        name = _CONTROL.sub("", _SURROGATE.sub("", name)).strip()
        if name.lower().startswith(_CONTROL_HEADER_PREFIX):
            continue  # inbound copies of our control headers are ignored
        text = decode_header_text(value).strip()
        out.append((name, _cap_line(text, limits, f"header {name[:60]}", notes)))
    return tuple(out)


def _date(value: str) -> datetime | None:
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


# --- message ids ---------------------------------------------------------------------

_ANGLED = re.compile(r"<([^<>]*)>")


def normalise_msgid(value: str | None) -> str | None:
    """A Message-ID without <> and whitespace, case kept; None when absent or garbage
    (RFC 5322 §3.6.4 id-left "@" id-right is required, so ids are unique across senders)."""
    if not value:
        return None
    value = _fix_8bit(value)
    match = _ANGLED.search(value)
    if match:
        candidate = "".join(match.group(1).split())
    else:
        tokens = value.split()
        candidate = tokens[0].strip("<>") if tokens else ""
    return candidate if _valid_msgid(candidate) else None


def _valid_msgid(candidate: str) -> bool:
    if not 3 <= len(candidate) <= 995 or "@" not in candidate:
        return False
    if candidate.startswith("@") or candidate.endswith("@") or "<" in candidate or ">" in candidate:
        return False
    return candidate.isprintable() and not _SURROGATE.search(candidate)


def _msgids(values: list[str]) -> tuple[str, ...]:
    """All ids of In-Reply-To/References headers, in order, duplicates removed."""
    ids: dict[str, None] = {}
    for value in values:
        value = _FOLD.sub("", value)
        tokens = _ANGLED.findall(value) or re.split(r"[\s,]+", value)
        for token in tokens:
            normal = normalise_msgid(f"<{token}>")
            if normal:
                ids[normal] = None
    found = list(ids)
    if len(found) > _MAX_IDS:  # keep the thread root and the most recent ancestors
        found = found[:1] + found[-(_MAX_IDS - 1) :]
    return tuple(found)


# --- addresses -----------------------------------------------------------------------

def _addresses(values: list[str], limit: int = _MAX_ADDRESSES) -> list[tuple[str, str]]:
    """(display name, lowercased address) pairs of address header values (addresses.py:
    the address is always the addr-spec, never display-name text)."""
    pairs: list[tuple[str, str]] = []
    for value in values:
        # Raw 8-bit bytes (RFC 6532) become text first; that never adds ASCII specials.
        value = _fix_8bit(value[:_MAX_ADDRESS_HEADER])
        for box in parse_mailbox_list(value, decode_header_text, limit=limit - len(pairs)):
            pairs.append((box.name, box.address))
        if len(pairs) >= limit:
            break
    return pairs


def _addr_list(message: Message, name: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(address for _, address in _addresses(_values(message, name))))


# --- filenames -----------------------------------------------------------------------

_EXTENSIONS = {
    "text/plain": ".txt",
    "text/html": ".html",
    "text/calendar": ".ics",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "application/pdf": ".pdf",
    "application/ms-tnef": ".dat",
    "message/rfc822": ".eml",
    "message/delivery-status": ".txt",
    "text/rfc822-headers": ".txt",
}
# Only Python's built-in table: /etc/mime.types differs between machines.
_MIME_TYPES = mimetypes.MimeTypes()
_WINDOWS_FORBIDDEN = re.compile(r'[<>:"|?*]')
_WINDOWS_RESERVED = re.compile(r"^(?:con|prn|aux|nul|com\d|lpt\d)(?:\.|$)", re.IGNORECASE)


def sanitise_filename(name: str | None, content_type: str) -> str:
    """A display name safe on any file system: no path parts, no control or bidi
    characters, no leading dots, at most 200 characters, never empty."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Zl", "Zp"))
    name = _WINDOWS_FORBIDDEN.sub("_", _one_line(name))
    name = name.lstrip(". ").rstrip(". ")
    if _WINDOWS_RESERVED.match(name):
        name = "_" + name
    if len(name) > _MAX_FILENAME:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 20:
            name = stem[: _MAX_FILENAME - len(extension) - 1].rstrip(". ") + "." + extension
        else:
            name = name[:_MAX_FILENAME].rstrip(". ")
    return name or "attachment" + _extension(content_type)


def _extension(content_type: str) -> str:
    ctype = (content_type or "").lower()
    return _EXTENSIONS.get(ctype) or _MIME_TYPES.guess_extension(ctype) or ".bin"


# --- the MIME walk ---------------------------------------------------------------------


@dataclass
class _Piece:
    """Body content in document order: text, or HTML (text derived later when None)."""

    text: str | None
    html: str | None = None


@dataclass
class _Walker:
    limits: MimeLimits
    notes: list[str]
    attachments: list[Attachment] = field(default_factory=list)
    parts: int = 0
    total_bytes: int = 0
    parts_dropped: int = 0
    parts_too_deep: int = 0
    attachments_dropped: int = 0

    def render(self, part: Message, depth: int) -> list[_Piece]:
        ctype = _content_type(part)
        if part.is_multipart() and ctype.startswith("multipart/"):
            return self._multipart(part, ctype, depth)
        if ctype.startswith("message/") and ctype != "message/delivery-status" and part.is_multipart():
            return self._forwarded(part, depth)
        return self._leaf(part, ctype, inline_default=False)

    def _children(self, part: Message, depth: int) -> list[Message]:
        children = [c for c in part.get_payload() if isinstance(c, Message)]
        if depth + 1 > self.limits.max_depth:
            self.notes.append(_deep_note(len(children), self.limits))
            self.parts_too_deep += len(children)
            return []
        kept = []
        for child in children:
            self.parts += 1
            if self.parts <= self.limits.max_parts:
                kept.append(child)
        if len(kept) < len(children):
            self.notes.append(_many_note(len(children) - len(kept), self.limits))
            self.parts_dropped += len(children) - len(kept)
        return kept

    def _multipart(self, part: Message, ctype: str, depth: int) -> list[_Piece]:
        children = self._children(part, depth)
        if ctype == "multipart/alternative":
            return self._alternative(children, depth)
        if ctype == "multipart/related" and children:
            root = _related_root(part, children)
            pieces = self.render(root, depth + 1)
            for child in children:
                if child is not root:
                    self._collect(child, depth + 1, inline_default=True)
            return pieces
        if ctype == "multipart/report" and children:
            pieces = self.render(children[0], depth + 1)
            for child in children[1:]:
                self._collect(child, depth + 1, inline_default=False)
            return pieces
        pieces: list[_Piece] = []
        for child in children:
            pieces.extend(self.render(child, depth + 1))
        return pieces

    def _alternative(self, children: list[Message], depth: int) -> list[_Piece]:
        """RFC 2046 §5.1.4: the same content in several forms; text/plain is our text,
        the last HTML form is our HTML."""
        rendered = [(child, self.render(child, depth + 1)) for child in children]
        plain = next(
            (pieces for child, pieces in rendered
             if _content_type(child) == "text/plain" and any((p.text or "").strip() for p in pieces)),
            None,
        )
        rich = next(
            (pieces for _, pieces in reversed(rendered) if any(p.html is not None for p in pieces)),
            None,
        )
        if plain and rich:
            html_text = "".join(p.html if p.html is not None else _text_as_html(p.text or "") for p in rich)
            return [_Piece(_join(p.text or "" for p in plain), html_text)]
        if rich or plain:
            return rich or plain or []
        return next((pieces for _, pieces in reversed(rendered) if pieces), [])

    def _forwarded(self, part: Message, depth: int) -> list[_Piece]:
        """A message/rfc822 part as a readable "Forwarded message" block."""
        if depth + 1 > self.limits.max_depth:
            self.notes.append(_deep_note(1, self.limits))
            self.parts_too_deep += 1
            return []
        inner = next((c for c in part.get_payload() if isinstance(c, Message)), None)
        if inner is None:
            return []
        lines = [FORWARD_SEPARATOR]
        for name in ("From", "Date", "Subject", "To"):
            value = _one_line(decode_header_text(_first(inner, name.lower())))
            if value:
                lines.append(f"{name}: {value[:1000]}")
        head = "\n".join(lines)
        pieces = self.render(inner, depth + 1)
        body = _join(p.text if p.text is not None else html_to_text(p.html or "") for p in pieces)
        text = head + "\n\n" + body if body else head
        rich = None
        if any(p.html is not None for p in pieces):
            inner_html = "".join(p.html if p.html is not None else _text_as_html(p.text or "") for p in pieces)
            rich = f"<div>{_text_as_html(head)}{inner_html}</div>"
        return [_Piece(text, rich)]

    def _leaf(self, part: Message, ctype: str, inline_default: bool) -> list[_Piece]:
        disposition = _disposition(part)
        filename = _filename(part)
        if ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename:
            content = _clean_text(decode_bytes(_payload(part), _charset(part)))
            return [_Piece(None, content)] if ctype == "text/html" else [_Piece(content)]
        if ctype.startswith("multipart/"):  # a multipart whose boundary never appeared
            return [_Piece(_clean_text(decode_bytes(_payload(part), _charset(part))))]
        self._attach(part, ctype, filename, disposition, inline_default)
        return []

    def _collect(self, part: Message, depth: int, inline_default: bool) -> None:
        """Everything below ``part`` as attachments (related resources, report parts)."""
        ctype = _content_type(part)
        if part.is_multipart() and ctype.startswith("multipart/"):
            for child in self._children(part, depth):
                self._collect(child, depth + 1, inline_default)
            return
        self._attach(part, ctype, _filename(part), _disposition(part), inline_default)

    def _attach(self, part: Message, ctype: str, filename: str | None, disposition: str | None,
                inline_default: bool) -> None:
        content_id = _content_id(part)
        if filename is None and ctype == "message/rfc822":
            subject = _one_line(decode_header_text(_first(_inner(part), "subject")))
            filename = f"{subject[:150]}.eml" if subject else None
        name = sanitise_filename(filename, ctype)
        data = _payload(part)
        if len(data) > self.limits.max_attachment_bytes:
            self.attachments_dropped += 1
            self.notes.append(
                f'attachment "{name}" dropped: {len(data)} bytes is over the limit of '
                f"{self.limits.max_attachment_bytes} bytes"
            )
            return
        if self.total_bytes + len(data) > self.limits.max_total_attachment_bytes:
            self.attachments_dropped += 1
            self.notes.append(
                f'attachment "{name}" dropped: attachments together are over the limit of '
                f"{self.limits.max_total_attachment_bytes} bytes"
            )
            return
        self.total_bytes += len(data)
        inline = disposition == "inline" or (disposition is None and (inline_default or content_id is not None))
        self.attachments.append(Attachment(name, ctype, data, content_id, inline))


def _deep_note(count: int, limits: MimeLimits) -> str:
    return f"{_parts(count)} nested deeper than {limits.max_depth} levels dropped"


def _many_note(count: int, limits: MimeLimits) -> str:
    return f"{_parts(count)} beyond the limit of {limits.max_parts} dropped"


def _parts(count: int) -> str:
    return f"{count} part" if count == 1 else f"{count} parts"


def _content_type(part: Message) -> str:
    try:
        ctype = part.get_content_type()
    except Exception:
        return "application/octet-stream"
    ctype = _CONTROL.sub("", _SURROGATE.sub("", ctype)).strip().lower()[:100]
    return ctype if re.fullmatch(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+", ctype) else "application/octet-stream"


def _disposition(part: Message) -> str | None:
    try:
        return part.get_content_disposition()
    except Exception:
        return None


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        return None
    if not name:
        return None
    return decode_header_text(str(name))


def _charset(part: Message) -> str | None:
    try:
        return part.get_content_charset()
    except Exception:
        return None


def _content_id(part: Message) -> str | None:
    value = "".join(decode_header_text(_first(part, "content-id")).split())
    value = value.strip("<>")[:998]
    return value or None


def _payload(part: Message) -> bytes:
    """Decoded body bytes of a leaf (or the serialised body of a message/* part)."""
    if part in _LIFTED:
        data = _lifted_payload(part)
        if data is not None:
            return data
    try:
        if part.is_multipart():
            return b"".join(_serialise(child) for child in part.get_payload() if isinstance(child, Message))
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    try:
        payload = part.get_payload()
        return payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else b""
    except Exception:
        return b""


def _lifted_payload(part: Message) -> bytes | None:
    """What ``part.get_payload(decode=True)`` returns for a lifted body, computed from the
    bytes (for which the stdlib's ``bpayload`` is exactly ``body``) without the str copy and,
    for base64, without the stdlib's split into lines; None where the stdlib path is used."""
    body = _LIFTED[part]
    try:
        cte = str(part.get("content-transfer-encoding", "")).lower()
    except Exception:
        cte = None
    if cte == "base64":
        return _decode_base64(body)
    if cte == "quoted-printable" or cte is None or cte in ("x-uuencode", "uuencode", "uue", "x-uue"):
        _materialise(part)  # rare for big bodies: the stdlib path on the str payload
        return None
    return bytes(body)


def _decode_base64(data: bytes | memoryview) -> bytes:
    """The stdlib's base64 body decoding for get_payload(decode=True) (a strict decode of
    ``b"".join(data.splitlines())`` with padding, then lenient ones), without the copies.
    bytes.splitlines breaks only at CR and LF, which the
    non-strict a2b_base64 skips like any other non-alphabet byte, so decoding ``data`` equals
    decoding the joined lines.  decode_b first tries a strict decode of the joined lines with
    padding added; whenever that succeeds, the lenient tries below give the same bytes (the
    strict input is the joined lines plus one or two "=", which "==" completes identically)."""
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        pass
    try:
        return binascii.a2b_base64(bytes(data) + b"==")
    except binascii.Error:
        return bytes(data).translate(None, b"\r\n")  # bpo-27397: the joined lines, undecoded


def _serialise(message: Message) -> bytes:
    try:
        for part in message.walk():
            _materialise(part)
        return message.as_bytes(policy=_policy.compat32.clone(max_line_length=0))
    except Exception:
        return b""


def _inner(part: Message) -> Message:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    return Message()


def _related_root(part: Message, children: list[Message]) -> Message:
    """RFC 2387 §3.2: the ``start`` parameter names the root by Content-ID, else the first part."""
    try:
        start = part.get_param("start")
    except Exception:
        start = None
    if isinstance(start, str):
        wanted = start.strip().strip("<>")
        for child in children:
            if _content_id(child) == wanted:
                return child
    return children[0]


# --- text assembly -----------------------------------------------------------------------

def _clean_text(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")
    return _SURROGATE.sub("\ufffd", _CONTROL.sub("", text))


def _join(texts) -> str:
    return "\n\n".join(t.strip("\n") for t in texts if t and t.strip())


def _text_as_html(text: str) -> str:
    return f"<pre>{html.escape(text)}</pre>" if text.strip() else ""


def _assemble_text(pieces: list[_Piece], limits: MimeLimits, notes: list[str]) -> str:
    budget = limits.max_body_chars
    # HTML converts at ~0.4 s/MB and may hold little text: bound the source converted in total.
    html_budget = limits.max_body_chars // 2
    texts = []
    for piece in pieces:
        if budget <= 0:
            break
        if piece.text is not None:
            text = piece.text
        else:
            source = (piece.html or "")[:html_budget]
            html_budget -= len(source)
            text = html_to_text(source)
        texts.append(text)
        budget -= len(text)
    text = _clean_text(_join(texts))
    if len(text) > limits.max_body_chars:
        notes.append(f"body truncated at {limits.max_body_chars} characters")
        text = text[: limits.max_body_chars] + "\n" + truncation_marker(
            f"body longer than {limits.max_body_chars} characters"
        )
    return _truncate_long_lines(text, limits, notes)


def _truncate_long_lines(text: str, limits: MimeLimits, notes: list[str]) -> str:
    """Cut lines over max_line_bytes, leaving a marker where each was cut."""
    limit = limits.max_line_bytes
    if len(text) <= limit // 4:
        return text
    count = 0

    def cut(match: re.Match[str]) -> str:
        nonlocal count
        encoded = match.group(0).encode("utf-8")
        if len(encoded) <= limit:
            return match.group(0)
        count += 1
        kept = encoded[:limit].decode("utf-8", "ignore")
        return kept + "\n" + truncation_marker(f"line longer than {limit} bytes")

    text = re.sub(r"[^\n]{%d,}" % max(1, limit // 4), cut, text)
    if count:
        notes.append(f"{count} line{'' if count == 1 else 's'} longer than {limit} bytes truncated")
    return text


def _assemble_html(pieces: list[_Piece], limits: MimeLimits, notes: list[str]) -> str | None:
    if not any(p.html is not None for p in pieces):
        return None
    source = "".join(p.html if p.html is not None else _text_as_html(p.text or "") for p in pieces)
    if len(source) <= limits.max_body_chars:
        return sanitise_html(source)
    notes.append(f"HTML body truncated at {limits.max_body_chars} characters")
    # Sanitise before adding the marker: the cut may fall inside an element we drop.
    marker = truncation_marker(f"HTML longer than {limits.max_body_chars} characters")
    return sanitise_html(source[: limits.max_body_chars]) + f"<p>{html.escape(marker)}</p>"
