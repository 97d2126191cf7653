"""What parse_bounce returns: a BounceReport and the FailedRecipients it names."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FailedRecipient:
    address: str
    action: str
    status: str
    diagnostic: str

    @property
    def permanent(self) -> bool:
        return self.action == "failed" and self.status.startswith("5")


@dataclass(frozen=True)
class BounceReport:
    original_message_id: str | None
    recipients: tuple[FailedRecipient, ...]
    verp_recipient: str | None
