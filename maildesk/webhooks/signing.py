"""Standard Webhooks secrets and headers (https://www.standardwebhooks.com/), via `standardwebhooks`.

Each endpoint has its own secret, `whsec_` + base64 of 32 random bytes. Every attempt is
signed anew: the signature covers `webhook-id.webhook-timestamp.body`, and receivers refuse
timestamps more than a few minutes old, so a retry hours later carries a fresh timestamp
with the same `webhook-id` (the receiver's duplicate key).
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime, timezone

from standardwebhooks import Webhook

_SECRET_BYTES = 32


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode("ascii")


def new_event_id() -> str:
    return "msg_" + secrets.token_urlsafe(18)


def headers(secret: str, event_id: str, body: str, now: datetime | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt at sending `body`."""
    when = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": Webhook(secret).sign(event_id, when, body),
    }
