"""Read mailboxes out of address header values (From, Reply-To, Cc) without trusting display names.

Pure functions, no I/O.  The address of a mailbox is the addr-spec in its angle-addr
(RFC 5322 §3.4: ``name-addr = [display-name] angle-addr``), never text of the display
name, whatever the display name holds: ``@``, ``<``, ``>``, quotes, commas, CR/LF, or
RFC 2047 encoded-words that decode to any of those (the CVE-2023-27043 class).  So the
structure is read *before* anything is decoded: encoded-words are decoded only inside
the display name once it is cut out, and can never add a mailbox or change the address.

The stdlib's ``parseaddr``/``getaddresses``/``policy.default`` are not used here: their
handling of exactly these inputs changed across Python patch releases.

Tokenising rules (RFC 5322 §3.2): quoted-strings (with backslash quoted-pairs) and
comments (nested, with quoted-pairs) are opaque; a top-level ``,`` or ``;`` ends a
mailbox, a top-level ``:`` before any angle-addr ends a group's display name
(§3.4 ``group``).  Within one mailbox the *last* ``<...>`` outside quotes and comments
is the angle-addr, and the ``<`` that opens it is the last one before its ``>`` — so an
unquoted (invalid) display name holding ``<someone@else>`` still cannot become the address.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Mailbox", "parse_mailbox_list", "parse_mailbox", "clean_address", "clean_display_name"]

# ~1,000 addresses fit in 64 KB; a longer header value is cut (it is not a real recipient list).
MAX_HEADER_CHARS = 64 * 1024
MAX_MAILBOXES = 1000
_MAX_NAME = 200
_BAD_ADDRESS_CHARS = re.compile(r"[\s<>(),;:\"\[\]\\]")
_FOLD = re.compile(r"\r\n|\r|\n")
_SPACES = re.compile(r"\s+")
_ENCODED_WORD = re.compile(r"=\?[^?\s]{1,64}\?[bBqQ]\?[^?\s]*\?=")


@dataclass(frozen=True)
class Mailbox:
    name: str  # display name, decoded, one line, no control characters ("" when none)
    address: str  # lowercased addr-spec; never empty


def parse_mailbox(value: str, decode: Callable[[str], str] | None = None) -> Mailbox | None:
    """The first mailbox of a From-like header value, or None when it names no address."""
    boxes = parse_mailbox_list(value, decode, limit=1)
    return boxes[0] if boxes else None


def parse_mailbox_list(
    value: str, decode: Callable[[str], str] | None = None, limit: int = MAX_MAILBOXES, *,
    bare_local: bool = False,
) -> list[Mailbox]:
    """Every mailbox of an address-list header value, in order, at most ``limit``.

    ``decode`` turns a raw display name (RFC 2047 words, raw 8-bit text) into text; the
    result is then cleaned of control characters.  Mailboxes without a usable address
    (group names, garbage) are skipped.  ``bare_local`` also accepts an address without a
    domain (``<MAILER-DAEMON>``, RFC 5321 §4.1.1.3 postmaster), for recognising mail systems."""
    if not value:
        return []
    # Unfolding (RFC 5322 §2.2.3); a bare CR or LF anywhere is treated as a space too.
    value = _FOLD.sub(" ", value[:MAX_HEADER_CHARS])
    out: list[Mailbox] = []
    for element in _split(value):
        box = _mailbox(element, decode, bare_local)
        if box is not None:
            out.append(box)
            if len(out) >= limit:
                break
    return out


@dataclass
class _Element:
    """One mailbox's text at top level, split into the parts we need."""

    text: list[str]  # what is outside angle-addrs and comments, quoted-strings included
    angle: str | None  # content of the last complete angle-addr
    angle_start: int  # length of ``text`` when that angle-addr began


def _split(value: str) -> list[_Element]:
    elements: list[_Element] = []
    current = _Element([], None, 0)
    i, n = 0, len(value)
    opened: int | None = None  # index into ``value`` of the innermost open "<"
    while i < n:
        c = value[i]
        if c == '"':
            end = _quoted_end(value, i)
            if opened is None:
                current.text.append(value[i:end])
            i = end
            continue
        word = _ENCODED_WORD.match(value, i) if c == "=" and opened is None else None
        if word:
            # An encoded-word is one opaque token of the display name (RFC 2047 §5): what it
            # decodes to (":", ",", "<", CR/LF...) never takes part in the header's structure.
            current.text.append(word.group(0))
            i = word.end()
            continue
        if c == "(":
            i = _comment_end(value, i)
            continue
        if c == "<":
            opened = i  # a later "<" restarts the angle-addr: the last one before ">" wins
        elif c == ">":
            if opened is not None:
                current.angle = value[opened + 1 : i]
                current.angle_start = len(current.text)
                opened = None
            # a stray ">" is display-name garbage; it never opens or closes anything
        elif opened is not None:
            pass  # inside an angle-addr
        elif c in ",;":
            elements.append(current)
            current = _Element([], None, 0)
        elif c == ":" and current.angle is None:
            current = _Element([], None, 0)  # "group-name:" — the name is not a mailbox
        else:
            current.text.append(c)
        i += 1
    if opened is not None and current.angle is None:
        # An angle-addr never closed: RFC 5322 gives no address; take what follows "<".
        current.angle = value[opened + 1 :]
        current.angle_start = len(current.text)
    elements.append(current)
    return elements


def _quoted_end(value: str, start: int) -> int:
    """Index after the quoted-string starting at ``start`` (end of value when unterminated)."""
    i = start + 1
    while i < len(value):
        if value[i] == "\\":
            i += 2
            continue
        if value[i] == '"':
            return i + 1
        i += 1
    return len(value)


def _comment_end(value: str, start: int) -> int:
    """Index after the (nested) comment starting at ``start``."""
    depth, i = 0, start
    while i < len(value):
        c = value[i]
        if c == "\\":
            i += 2
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(value)


def _mailbox(element: _Element, decode: Callable[[str], str] | None, bare_local: bool) -> Mailbox | None:
    if element.angle is not None:
        address = clean_address(_addr_spec(element.angle), bare_local)
        if not address:
            return None
        name = "".join(element.text[: element.angle_start])
        return Mailbox(clean_display_name(_unquote(name), decode), address)
    # addr-spec without angle brackets (comments, like "(Full Name)", are not a name: §3.2.2).
    # Quotes stay: a quoted local part ("a b"@x) is refused whole, never read as b@x.
    tokens = "".join(element.text).split()
    if not tokens:
        return None
    # The address is what comes last, as in a name-addr; earlier words are not the sender.
    if "@" not in tokens[-1] and len(tokens) > 1:
        return None  # words without an address: a name, not a mailbox
    address = clean_address(tokens[-1], bare_local)
    if not address:
        return None
    return Mailbox("", address)


def _addr_spec(angle: str) -> str:
    """The addr-spec of an angle-addr: obs-route (RFC 5322 §4.4 ``@a,@b:``) and CFWS removed."""
    text = re.sub(r"\([^()]*\)", "", angle)
    if ":" in text and text.lstrip().startswith("@"):
        text = text.split(":", 1)[1]
    return "".join(text.split())


def _unquote(text: str) -> str:
    """A display name with its quoted-strings unquoted (RFC 5322 §3.2.4 quoted-pair)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == '"':
            end = _quoted_end(text, i)
            closed = end - 1 > i and text[end - 1] == '"'
            inner = text[i + 1 : end - 1] if closed else text[i + 1 : end]
            out.append(re.sub(r"\\(.)", r"\1", inner))
            i = end
            continue
        out.append(c)
        i += 1
    return "".join(out)


def clean_address(address: str, bare_local: bool = False) -> str:
    """A lowercased addr-spec, or "" when it is not one we can use (empty, too long, spaces,
    control characters, brackets or quotes, no local part or domain — the domain may be
    missing with ``bare_local``)."""
    address = address.strip().lower()
    if not address or len(address) > 320 or _BAD_ADDRESS_CHARS.search(address) or not address.isprintable():
        return ""
    if "@" not in address:
        return address if bare_local else ""
    if address.count("@") > 1:
        return ""  # only a quoted local part may hold "@", and quotes are refused above
    local, _, domain = address.rpartition("@")
    return address if local and domain else ""


def clean_display_name(name: str, decode: Callable[[str], str] | None = None) -> str:
    """A display name fit to store and show: decoded, every control, format and line/paragraph
    separator character removed (CR/LF included, whatever encoded-word produced them), one
    line, at most 200 characters."""
    if decode is not None:
        name = decode(name)
    kept = []
    for c in name:
        if c in "\t\r\n\x85" or (c.isspace() and unicodedata.category(c) != "Cc"):
            kept.append(" ")  # CR, LF, tab, U+2028... become a space (one line)
        elif unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co"):
            kept.append(c)  # other controls, bidi overrides and surrogates are dropped
    return _SPACES.sub(" ", "".join(kept)).strip().strip("\"' ")[:_MAX_NAME].strip()
