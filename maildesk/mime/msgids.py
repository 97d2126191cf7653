"""Message-IDs of Message-ID, In-Reply-To and References headers, normalised (RFC 5322 §3.6.4)."""

from __future__ import annotations

import re

from maildesk.mime.headertext import FOLD, SURROGATES, fix_8bit

_MAX_IDS = 200

_ANGLED = re.compile(r"<([^<>]*)>")


def normalise_msgid(value: str | None) -> str | None:
    """A Message-ID without <> and whitespace, case kept; None when absent or garbage
    (RFC 5322 §3.6.4 id-left "@" id-right is required, so ids are unique across senders)."""
    if not value:
        return None
    value = fix_8bit(value)
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
    return candidate.isprintable() and not SURROGATES.search(candidate)


def msgid_list(values: list[str]) -> tuple[str, ...]:
    """All ids of In-Reply-To/References headers, in order, duplicates removed."""
    ids: dict[str, None] = {}
    for value in values:
        value = FOLD.sub("", value)
        tokens = _ANGLED.findall(value) or re.split(r"[\s,]+", value)
        for token in tokens:
            normal = normalise_msgid(f"<{token}>")
            if normal:
                ids[normal] = None
    found = list(ids)
    if len(found) > _MAX_IDS:  # keep the thread root and the most recent ancestors
        found = found[:1] + found[-(_MAX_IDS - 1) :]
    return tuple(found)
