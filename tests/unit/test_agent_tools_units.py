"""Pure parts of the agent tools: who a note mentions, If-Match parsing, collision wording,
which merges are refused, and the queue's age column."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from maildesk.models import Ticket, User
from maildesk.tickets import collisions, merge, notify
from maildesk.web.pages.render import age


def _admins() -> list[User]:
    return [User(id=1, email="ada@example.com", name="Ada Lovelace"), User(id=2, email="bob.b@example.com", name="")]


@pytest.mark.parametrize("text, ids", [
    ("@ada please", [1]),
    ("ask @AdaLovelace.", [1]),
    ("@bob.b, and @ADA", [1, 2]),
    ("write to bob.b@example.com", [2]),
    ("kim@example.com wrote; see example.com", []),  # a domain is not a mention
    ("email@ada", []),  # preceded by a word character
    ("@nobody", []),
    ("", []),
])
def test_mentions(text: str, ids: list[int]) -> None:
    assert [u.id for u in notify.mentioned(text, _admins())] == ids


@pytest.mark.parametrize("value, expected", [(None, None), ("", None), ("*", None), ("3", 3), ('"3"', 3),
                                             ('W/"12"', 12), (" 7 ", 7)])
def test_if_match(value: str | None, expected: int | None) -> None:
    assert collisions.parse_if_match(value) == expected


@pytest.mark.parametrize("value", ["abc", '"3a"', "-1", "1" * 13])
def test_if_match_refuses_what_is_not_a_version(value: str) -> None:
    with pytest.raises(collisions.BadVersion):
        collisions.parse_if_match(value)


def test_header_and_body_version_must_agree() -> None:
    assert collisions.expected_version("4", None) == 4 and collisions.expected_version(None, 4) == 4
    assert collisions.expected_version("4", 4) == 4
    with pytest.raises(collisions.BadVersion):
        collisions.expected_version("4", 5)


def test_describe_names_people_and_changes() -> None:
    events = [
        SimpleNamespace(actor_user_id=1, actor="ada@example.com", kind="status", new_value="resolved"),
        SimpleNamespace(actor_user_id=None, actor="kim@example.org", kind="reply", new_value=None),
        SimpleNamespace(actor_user_id=1, actor="ada@example.com", kind="assigned", new_value=None),
    ]
    assert collisions.describe(events, {1: "Ada Admin"}) == (
        "Ada Admin set status to resolved; kim@example.org replied; Ada Admin unassigned it"
    )


def _ticket(i: int, status: str = "open", merged_into: int | None = None) -> Ticket:
    return Ticket(id=i, ticket_number=f"SUP-{i:05d}", status=status, merged_into=merged_into)


def test_merge_refusals() -> None:
    assert merge.refusal(_ticket(1), _ticket(2), []) is None
    assert "itself" in (merge.refusal(_ticket(1), _ticket(1), []) or "")
    assert "closed" in (merge.refusal(_ticket(1), _ticket(2, "closed"), []) or "")
    assert "loop" in (merge.refusal(_ticket(1), _ticket(2, "closed", merged_into=1), [1]) or "")
    assert "loop" in (merge.refusal(_ticket(1), _ticket(3, "closed", merged_into=2), [2, 1]) or "")
    assert "already merged" in (merge.refusal(_ticket(1, "closed", merged_into=5), _ticket(2), []) or "")


def test_age_words() -> None:
    now = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)
    assert [age(now - d, now) for d in (timedelta(seconds=30), timedelta(minutes=59), timedelta(hours=3),
                                        timedelta(hours=47, minutes=59), timedelta(days=2), timedelta(days=40))] \
        == ["0 min", "59 min", "3 h", "47 h", "2 d", "40 d"]
    assert age(None, now) == ""
