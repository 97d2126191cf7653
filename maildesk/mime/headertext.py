"""Raw header values as readable text: unfolding, raw 8-bit and ISO-2022-JP bytes, and
RFC 2047 encoded words (also the broken ones), leniently, never raising."""

from __future__ import annotations

import binascii
import re

from maildesk.mime.charsets import decode_bytes

# RFC 2047 encoded words, also the broken ones: unterminated, or with spaces inside.
# RFC 2047 encoded words, also the broken ones: unterminated, or with spaces inside.
_ENCODED_WORD = re.compile(
    r"=\?([^?\s]{1,64})\?([bBqQ])\?(?:([^?]*?)\?=|([^?\s]*)(?=\s|$))"
)
FOLD = re.compile(r"\r?\n(?=[ \t])|\r(?=[ \t])")
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
SURROGATES = re.compile(r"[\ud800-\udfff]")


def decode_header_text(value: str | None) -> str:
    """A raw header value as readable text: unfolded, raw 8-bit bytes decoded (UTF-8,
    else Latin-1/cp1252), RFC 2047 words decoded leniently, control characters removed."""
    if not value:
        return ""
    value = FOLD.sub("", value).replace("\r", " ").replace("\n", " ")
    value = _fix_iso2022(fix_8bit(value))
    value = _decode_words(value)
    value = CONTROL_CHARS.sub("", value.replace("\t", " "))
    return SURROGATES.sub("\ufffd", value)


def fix_8bit(value: str) -> str:
    """The parser keeps raw 8-bit header bytes as surrogate escapes (RFC 6532 allows UTF-8)."""
    if not SURROGATES.search(value):
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
