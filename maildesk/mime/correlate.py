"""Which ticket a message may belong to: the signals, extracted as plain values.

Pure functions. The pipeline looks the signals up in the database in this order of trust:
a Message-ID of the ticket's thread in In-Reply-To/References, the plus address
support+SUP-00042@, then SUP-00042 in the subject. A signal only routes a message; whether
the sender may post to that ticket is decided separately (authorisation in pipeline.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from maildesk.mime.numbers import parse_number

_PLUS_NUMBER = re.compile(r"^sup-(\d{1,12})$", re.IGNORECASE)


@dataclass(frozen=True)
class ThreadSignals:
    referenced_ids: tuple[str, ...]  # In-Reply-To first, then References newest first
    plus_number: int | None
    plus_tag: str | None  # the +tag of the support address, when it is not a ticket number
    subject_number: int | None


def plus_tag(address: str, support_local: str) -> str | None:
    local = address.strip().strip("<>").rpartition("@")[0].lower()
    prefix = support_local + "+"
    return local[len(prefix) :] if local.startswith(prefix) and len(local) > len(prefix) else None


def signals(
    *,
    in_reply_to: Iterable[str],
    references: Iterable[str],
    recipients: Iterable[str],
    subject: str,
    support_local: str,
) -> ThreadSignals:
    ids = list(dict.fromkeys([*in_reply_to, *reversed(list(references))]))
    number: int | None = None
    tag: str | None = None
    for address in recipients:
        found = plus_tag(address, support_local)
        if found is None:
            continue
        match = _PLUS_NUMBER.match(found)
        if match and number is None:
            number = int(match.group(1))
        elif not match and tag is None:
            tag = found
    return ThreadSignals(
        referenced_ids=tuple(i for i in ids if i)[:50],
        plus_number=number,
        plus_tag=tag,
        subject_number=parse_number(subject),
    )
