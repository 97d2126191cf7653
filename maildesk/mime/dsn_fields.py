"""Field values shared by standard and plain-text bounces: action, status code (RFC 3463),
diagnostic text, addresses, each made one bounded line."""

from __future__ import annotations

import re
from email.errors import MessageError
from email.header import decode_header, make_header
from email.utils import getaddresses

_DIAG_MAX = 500
RECIPIENTS_MAX = 500
_ACTIONS = ("failed", "delayed", "delivered", "relayed", "expanded")
STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?!\.?\d)")
SMTP_CODE = re.compile(r"(?<![\w.])([245])\d\d(?=[\s-]|$)")
ANGLE = re.compile(r"<([^<>]+)>")
_SPACES = re.compile(r"\s+")


def read_action(value: str, status_text: str) -> str:
    word = value.strip().split(";", 1)[0].strip().lower()
    word = word.split()[0] if word else ""
    if word in _ACTIONS:
        return word
    status = STATUS.search(status_text)
    return {"2": "delivered", "4": "delayed"}.get(status.group(1) if status else "5", "failed")


def read_status(text: str, action: str) -> str:
    match = STATUS.search(text)
    if match:
        return ".".join(match.groups())
    code = SMTP_CODE.search(text)
    if code:
        return f"{code.group(1)}.0.0"
    return {"failed": "5.0.0", "delayed": "4.0.0"}.get(action, "2.0.0")


def read_diagnostic(value: str) -> str:
    text = one_line(value)
    if "=?" in text:
        try:
            text = one_line(str(make_header(decode_header(text))))
        # Unknown charset (LookupError), bytes not in it (UnicodeDecodeError), broken
        # base64 (HeaderParseError) or a non-ASCII charset name (CharsetError).
        except (LookupError, ValueError, MessageError):
            pass
    return text if len(text) <= _DIAG_MAX else text[: _DIAG_MAX - 1] + "\u2026"


def one_line(value: str) -> str:
    text = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace") if _has_surrogates(value) else value
    return _SPACES.sub(" ", re.sub(r"[\x00-\x1f\x7f]", " ", text)).strip()


def _has_surrogates(value: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in value)


def safe_getaddresses(value: str) -> list[tuple[str, str]]:
    try:
        return getaddresses([value])
    except Exception:  # email.utils on a malformed list: not a closed set
        return []


def text_diagnostic(text: str) -> str:
    """The first line of free text that quotes a server's reply code."""
    for line in text.replace("\r", "\n").split("\n"):
        if STATUS.search(line) or SMTP_CODE.search(line):
            return read_diagnostic(line)
    return ""


def has_code(text: str) -> bool:
    return bool(STATUS.search(text) or SMTP_CODE.search(text))
