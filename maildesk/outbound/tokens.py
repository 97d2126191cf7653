"""Unguessable, verifiable tokens in the Message-IDs and addresses maildesk sends.

Every outbound Message-ID is `<md.NONCE.TAG@support-domain>`: NONCE is random, TAG an HMAC
of it keyed by the secret. A reply naming such an id in In-Reply-To/References proves the
sender saw that mail (threading cannot be forged by guessing), and lets us look up which
ticket and which recipient it was sent to.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

_PREFIX = "md."


def _tag(secret: str, purpose: str, value: str, length: int = 16) -> str:
    digest = hmac.new(secret.encode(), f"{purpose}:{value}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode().lower().rstrip("=")[:length]


def new_message_id(secret: str, domain: str) -> str:
    """A fresh Message-ID value without angle brackets."""
    nonce = secrets.token_hex(12)
    return f"{_PREFIX}{nonce}.{_tag(secret, 'msgid', nonce)}@{domain}"


def is_our_message_id(secret: str, message_id: str) -> bool:
    """True when message_id (without <>) was minted by new_message_id with this secret."""
    local, _, _domain = message_id.partition("@")
    if not local.startswith(_PREFIX):
        return False
    nonce, _, tag = local[len(_PREFIX) :].partition(".")
    return bool(nonce and tag) and hmac.compare_digest(tag, _tag(secret, "msgid", nonce))


def loop_token(secret: str) -> str:
    """The value of X-Maildesk-Loop on this instance's mail: stable, reveals nothing of the secret."""
    return _tag(secret, "loop", "instance", 20)


def hash_token(token: str) -> str:
    """How bearer and sign-in tokens are stored: only their SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


def satisfaction_token(secret: str, ticket_id: int, rating: str) -> str:
    """The token in a resolved email's "How did we do?" link: names the ticket and the rating,
    signed with the secret so it cannot be made for another ticket or rating. No expiry: a
    rating stays changeable until the ticket is closed."""
    value = f"{ticket_id}.{rating}"
    return f"{value}.{_tag(secret, 'csat', value, 26)}"


def read_satisfaction_token(secret: str, token: str) -> tuple[int, str] | None:
    """(ticket id, rating) from a satisfaction_token, or None when it is not one of ours."""
    ticket, _, rest = token.partition(".")
    rating, _, tag = rest.partition(".")
    if not (ticket.isascii() and ticket.isdigit() and len(ticket) <= 19 and rating and tag):
        return None
    if not hmac.compare_digest(tag.encode(), _tag(secret, "csat", f"{ticket}.{rating}", 26).encode()):
        return None
    return int(ticket), rating
