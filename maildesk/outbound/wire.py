"""Outbound mail written straight to bytes, exactly as `email.policy.SMTP` writes it.

Building an `EmailMessage` parses every header into a structured object and refolds it on
output, and `set_content`/`add_alternative` do the same for each MIME header: most of the
Python time composing a confirmation took. The mail maildesk writes is simple — one-line
headers and one text part, or text and HTML as multipart/alternative — so this module writes
it directly, making the same choices the stdlib makes (content-transfer-encoding heuristics,
part and header order, boundary form). Whatever is outside the simple case — a header that is
not short printable ASCII — is folded by the policy itself. tests/unit/test_wire.py checks
the bytes against the stdlib's for many inputs.
"""

from __future__ import annotations

import binascii
import email.policy
import functools
import random
import re
import sys
from email import headerregistry, quoprimime
from email.utils import formataddr
from typing import Sequence

POLICY = email.policy.SMTP
_MAX_LINE = POLICY.max_line_length  # 78: RFC 5322 section 2.1.1's SHOULD
_NL = "\r\n"
_LINE_BREAKS = re.compile(r"\r\n|\r|\n")
_BOUNDARY_DIGITS = len(repr(sys.maxsize - 1))


# RFC 5322 section 3.2.3 atext; the shapes below are the ones compose writes, checked
# strictly so that the policy's parser would give back exactly the text it was given.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_DOT_ATOM = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
_ADDR_SPEC = rf"{_DOT_ATOM}@{_DOT_ATOM}"
_PLAIN = {
    # formataddr's output: a bare address, or a phrase of atoms / a simple quoted string
    # before an angle address (RFC 5322 section 3.4).
    "address": re.compile(rf'(?:(?:{_ATEXT}+(?: {_ATEXT}+)*|"[^"\\]*") <{_ADDR_SPEC}>|{_ADDR_SPEC})'),
    "message-id": re.compile(rf"<{_DOT_ATOM}@{_DOT_ATOM}>"),  # RFC 5322 section 3.6.4
    "date": re.compile(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}"),
}
_KIND = {"from": "address", "to": "address", "cc": "address", "reply-to": "address", "sender": "address",
         "message-id": "message-id", "date": "date"}


@functools.lru_cache(maxsize=64)
def _unstructured(name: str) -> bool:
    return issubclass(POLICY.header_factory[name], headerregistry.UnstructuredHeader)


@functools.lru_cache(maxsize=1024)
def _fold(name: str, value: str) -> str:
    return POLICY.fold(name, POLICY.header_store_parse(name, value)[1])


def header(name: str, value: str) -> str:
    """One header field, folded and ended with CRLF, as the policy writes it."""
    line = f"{name}: {value}"
    if (len(line) <= _MAX_LINE and value and value.isascii() and value.isprintable()
            and value[0] != " " and value[-1] != " " and "=?" not in value):
        # Short printable ASCII without RFC 2047 encoded words needs no folding: the policy
        # writes it as given when its parser reads it back unchanged (any unstructured
        # value; the usual shapes of the structured ones).
        kind = _KIND.get(name.lower())
        if (_unstructured(name) if kind is None else _PLAIN[kind].fullmatch(value) is not None):
            return line + _NL
    return _fold(name, value)


# A display name of plain words: ASCII ones of letters, digits, apostrophes and hyphens, and
# non-ASCII ones of letters and digits (with apostrophes, hyphens) — what people's names are.
_ASCII_WORD = re.compile(r"[A-Za-z0-9'-]+")
_ADDR_SPEC_RE = re.compile(_ADDR_SPEC)
# RFC 2047 section 4.2: octets written as themselves in a Q-encoded word (the stdlib's set).
_Q_SAFE = frozenset(b"-!*+/" + bytes(range(ord("a"), ord("z") + 1)) + bytes(range(ord("A"), ord("Z") + 1))
                    + b"0123456789")
_EW_CHROME = len("=?utf-8?q??=")


def _encoded_word(text: str) -> tuple[str, int]:
    """(`text` as one RFC 2047 encoded word, its Q-encoded length), encoded as the policy
    encodes it: Q (space as "_", section 4.2) unless that is 5 or more longer than B."""
    data = text.encode("utf-8")
    qlen = sum(1 if byte in _Q_SAFE or byte == 0x20 else 3 for byte in data)
    blen = (len(data) + 2) // 3 * 4
    if qlen - blen < 5:
        encoded = "".join(chr(b) if b in _Q_SAFE else "_" if b == 0x20 else f"={b:02X}" for b in data)
        return f"=?utf-8?q?{encoded}?=", qlen
    return f"=?utf-8?b?{binascii.b2a_base64(data, newline=False).decode('ascii')}?=", qlen


def _plain_words(words: list[str]) -> bool:
    for word in words:
        if word.isascii():
            if _ASCII_WORD.fullmatch(word) is None:
                return False
        elif not all(ch.isalnum() or ch in "'-" for ch in word):
            return False
    return True


def mailbox_header(name: str, display_name: str, address: str) -> str:
    """`name: formataddr((display_name, address))`, folded and ended with CRLF, as the policy
    writes it. A non-ASCII name of plain words that fits on the line is written directly:
    the policy writes its ASCII words as they are and the words from the first non-ASCII one
    to the last as one encoded word (RFC 2047 section 5(3)); it decodes, reparses and re-encodes
    the name for that, a fifth of a millisecond. Anything else goes through `header`."""
    if display_name and not display_name.isascii() and _ADDR_SPEC_RE.fullmatch(address):
        words = display_name.split(" ")
        if all(words) and _plain_words(words):
            wide = [i for i, word in enumerate(words) if not word.isascii()]
            before, run, after = words[:wide[0]], words[wide[0]:wide[-1] + 1], words[wide[-1] + 1:]
            encoded, qlen = _encoded_word(" ".join(run))
            head = f"{name}: " + "".join(word + " " for word in before)
            tail = "".join(" " + word for word in after) + f" <{address}>"
            # The policy builds the encoded word a word at a time; each step is at most its
            # Q length long. When even that fits, nothing is split or moved to a new line.
            if len(head) + _EW_CHROME + qlen + len(tail) <= _MAX_LINE:
                return head + encoded + tail + _NL
    return header(name, formataddr((display_name, address)))


def header_text(name: str, value: str) -> str:
    """What `msg[name]` reads back after `msg[name] = value`: the value itself, unless it
    holds RFC 2047 encoded words, which the policy's parser decodes."""
    if "=?" not in value:
        return value
    return str(POLICY.header_store_parse(name, value)[1])


def encode_text(text: str) -> tuple[str, str]:
    """(Content-Transfer-Encoding, payload) for a UTF-8 text part, chosen as the stdlib's
    content manager chooses under the SMTP policy: when no line is longer than 78 octets,
    7bit for ASCII and 8bit (RFC 6152) otherwise; else quoted-printable or base64, whichever
    the first ten lines say is shorter. An 8bit payload carries its bytes as surrogate escapes."""
    lines = text.encode("utf-8").splitlines()
    if max((len(x) for x in lines), default=0) <= _MAX_LINE:
        body = b"\n".join(lines) + b"\n"
        if body.isascii():
            return "7bit", body.decode("ascii")
        if POLICY.cte_type == "8bit":
            return "8bit", body.decode("ascii", "surrogateescape")
    sniff = b"\r\n".join(lines[:10]) + b"\r\n"
    sniff_qp = quoprimime.body_encode(sniff.decode("latin-1"), _MAX_LINE)
    if len(sniff_qp) <= len(binascii.b2a_base64(sniff)):
        if len(lines) <= 10:
            return "quoted-printable", sniff_qp
        # Quoted-printable encodes line by line (RFC 2045 section 6.7), so the whole body's
        # encoding is the first ten lines' (already done) followed by the rest's.
        rest = b"\n".join(lines[10:]) + b"\n"
        return "quoted-printable", sniff_qp + quoprimime.body_encode(rest.decode("latin-1"), _MAX_LINE)
    data = b"\r\n".join(lines) + b"\r\n"
    step = _MAX_LINE // 4 * 3  # 57 octets: 76 characters a line (RFC 2045 section 6.8)
    return "base64", "".join(binascii.b2a_base64(data[i:i + step]).decode("ascii")
                             for i in range(0, len(data), step))


def _lines(payload: str) -> str:
    """The payload with every line break as CRLF (RFC 5322 section 2.3)."""
    pieces = _LINE_BREAKS.split(payload)
    return _NL.join(pieces)


def _text_part(text: str, subtype: str, mime_version: bool) -> str:
    cte, payload = encode_text(text)
    head = header("Content-Type", f'text/{subtype}; charset="utf-8"') + header("Content-Transfer-Encoding", cte)
    if mime_version:
        head += header("MIME-Version", "1.0")
    return head + _NL + _lines(payload)


def _boundary(body: bytes) -> str:
    """A boundary of the stdlib generator's form that no line of `body` matches."""
    token = random.randrange(sys.maxsize)
    boundary = "=" * 15 + f"{token:0{_BOUNDARY_DIGITS}d}" + "=="
    candidate, counter = boundary, 0
    # The substring test first: the pattern (a new one per message) is compiled only then.
    while (b"--" + candidate.encode("ascii")) in body and re.search(
            b"^--" + re.escape(candidate.encode("ascii")) + b"(--)?$", body, re.MULTILINE):
        candidate = f"{boundary}.{counter}"
        counter += 1
    return candidate


_PLACEHOLDER = "=" * 15 + "0" * _BOUNDARY_DIGITS + "=="


def _multipart_header(boundary: str) -> str:
    """Content-Type: multipart/alternative with this boundary, folded by the policy. Every
    boundary of the usual form has the same length and kinds of characters, so the folding
    of one stands for all of them."""
    value = 'multipart/alternative; boundary="{}"'
    if len(boundary) == len(_PLACEHOLDER):
        folded = _fold("Content-Type", value.format(_PLACEHOLDER))
        if folded.count(_PLACEHOLDER) == 1:
            return folded.replace(_PLACEHOLDER, boundary)
    return _fold("Content-Type", value.format(boundary))


def message(headers: Sequence[tuple[str, str] | str], text: str, html: str | None = None) -> bytes:
    """The whole message: `headers` in order (a (name, value) pair, or a field already
    written, e.g. by `mailbox_header`), then the text part, or text and HTML as
    multipart/alternative (RFC 2046 section 5.1.4) — the layout of `EmailMessage.set_content`
    followed by `add_alternative`, serialised by `as_bytes()` with the SMTP policy."""
    head = "".join(item if isinstance(item, str) else header(*item) for item in headers)
    if html is None:
        return (head + _text_part(text, "plain", mime_version=True)).encode("ascii", "surrogateescape")
    first = _text_part(text, "plain", mime_version=False).encode("ascii", "surrogateescape")
    second = _text_part(html, "html", mime_version=True).encode("ascii", "surrogateescape")
    boundary = _boundary(first + b"\r\n" + second)
    head += header("MIME-Version", "1.0") + _multipart_header(boundary)
    dash = f"--{boundary}".encode("ascii")
    return b"".join((head.encode("ascii"), b"\r\n", dash, b"\r\n", first, b"\r\n", dash, b"\r\n", second,
                     b"\r\n", dash, b"--\r\n"))
