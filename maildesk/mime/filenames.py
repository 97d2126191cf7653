"""Attachment file names made safe to show and save on any file system."""

from __future__ import annotations

import mimetypes
import re
import unicodedata

from maildesk.mime.headers import one_line

_MAX_FILENAME = 200

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
    name = _WINDOWS_FORBIDDEN.sub("_", one_line(name))
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
