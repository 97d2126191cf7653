"""Decode bytes in a declared charset leniently: aliases, supersets, then UTF-8, cp1252, Latin-1."""

from __future__ import annotations

import codecs

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
