"""Address header fields (From, To, Cc, Reply-To) as (name, address) pairs, bounded in size;
the addr-spec parsing itself is addresses.py."""

from __future__ import annotations

import functools
from email.message import Message

from maildesk.mime.addresses import parse_mailbox_list
from maildesk.mime.headers import header_values
from maildesk.mime.headertext import decode_header_text, fix_8bit

_MAX_ADDRESSES = 1000
# ~1,000 addresses; beyond that a header is not a real recipient list.
_MAX_ADDRESS_HEADER = 64 * 1024


def mailboxes(values: list[str], limit: int = _MAX_ADDRESSES) -> list[tuple[str, str]]:
    """(display name, lowercased address) pairs of address header values (addresses.py:
    the address is always the addr-spec, never display-name text)."""
    pairs: list[tuple[str, str]] = []
    for value in values:
        read = _cached_pairs if len(value) <= _CACHED_VALUE_CHARS else _pairs
        pairs.extend(read(value, limit - len(pairs)))
        if len(pairs) >= limit:
            break
    return pairs


def _pairs(value: str, limit: int) -> tuple[tuple[str, str], ...]:
    # Raw 8-bit bytes (RFC 6532) become text first; that never adds ASCII specials.
    value = fix_8bit(value[:_MAX_ADDRESS_HEADER])
    return tuple((box.name, box.address) for box in parse_mailbox_list(value, decode_header_text, limit=limit))


# The same short values come again and again (To: the support address; a requester's From):
# their reading, a pure function of the value, is remembered; short ones only, so the cache
# stays small whatever arrives.
_CACHED_VALUE_CHARS = 200
_cached_pairs = functools.lru_cache(maxsize=1024)(_pairs)


def address_list(message: Message, name: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(address for _, address in mailboxes(header_values(message, name))))
