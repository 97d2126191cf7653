"""Address header fields (From, To, Cc, Reply-To) as (name, address) pairs, bounded in size;
the addr-spec parsing itself is addresses.py."""

from __future__ import annotations

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
        # Raw 8-bit bytes (RFC 6532) become text first; that never adds ASCII specials.
        value = fix_8bit(value[:_MAX_ADDRESS_HEADER])
        for box in parse_mailbox_list(value, decode_header_text, limit=limit - len(pairs)):
            pairs.append((box.name, box.address))
        if len(pairs) >= limit:
            break
    return pairs


def address_list(message: Message, name: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(address for _, address in mailboxes(header_values(message, name))))
