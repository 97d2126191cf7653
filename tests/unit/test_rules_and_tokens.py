"""Pure rules: status transitions, ticket numbers, thread signals, signed Message-IDs."""

from __future__ import annotations

import pytest

from maildesk.mime import correlate
from maildesk.outbound import tokens
from maildesk.intake.smtp import is_support_address
from maildesk.config import load_settings
from maildesk.tickets import rules


@pytest.mark.parametrize("current, wanted", [
    ("open", "in_progress"), ("open", "waiting_on_user"), ("open", "resolved"),
    ("in_progress", "waiting_on_user"), ("in_progress", "resolved"),
    ("waiting_on_user", "in_progress"), ("waiting_on_user", "resolved"),
    ("resolved", "closed"), ("resolved", "in_progress"),
])
def test_legal_transitions(current: str, wanted: str) -> None:
    rules.check_transition(current, wanted)


@pytest.mark.parametrize("current, wanted", [
    ("open", "closed"), ("in_progress", "open"), ("closed", "open"), ("closed", "in_progress"), ("resolved", "open"),
])
def test_illegal_transitions_name_the_allowed_ones(current: str, wanted: str) -> None:
    with pytest.raises(rules.IllegalTransition) as err:
        rules.check_transition(current, wanted)
    for allowed in rules.TRANSITIONS[current]:
        assert allowed in str(err.value)
    if current == "closed":
        assert "final" in str(err.value)


def test_ticket_numbers() -> None:
    assert rules.format_number(42) == "SUP-00042"
    assert rules.format_number(123456) == "SUP-123456"
    assert rules.parse_number("Re: [sup-00042] help") == 42
    assert rules.parse_number("SUP-123456 and SUP-1") == 123456
    assert rules.parse_number("SUPPORT-42") is None
    assert rules.parse_ticket_ref("SUP-00042") == 42 and rules.parse_ticket_ref("42") == 42
    assert rules.parse_ticket_ref("x42") is None


def test_thread_signals() -> None:
    sig = correlate.signals(
        in_reply_to=["a@x"], references=["root@x", "mid@x", "a@x"],
        recipients=["Support+SUP-00007@example.com", "support+billing@example.com"],
        subject="Re: [SUP-00009] hi", support_local="support",
    )
    assert sig.referenced_ids == ("a@x", "mid@x", "root@x")
    assert (sig.plus_number, sig.plus_tag, sig.subject_number) == (7, "billing", 9)


def test_support_addresses() -> None:
    s = load_settings({"MAILDESK_SUPPORT_ADDRESS": "support@example.com"})
    assert is_support_address("support@example.com", s)
    assert is_support_address("<SUPPORT+anything@EXAMPLE.com>", s)
    assert not is_support_address("support@example.com.evil", s)
    assert not is_support_address("supportx@example.com", s)
    assert not is_support_address("support@other.example", s)


def test_message_ids_are_signed() -> None:
    mid = tokens.new_message_id("k1", "example.com")
    assert mid.endswith("@example.com") and tokens.is_our_message_id("k1", mid)
    assert not tokens.is_our_message_id("k2", mid)
    nonce_part = mid.split(".")[1]
    assert not tokens.is_our_message_id("k1", f"md.{nonce_part}.aaaaaaaaaaaaaaaa@example.com")
    assert not tokens.is_our_message_id("k1", "CAF=abc@mail.gmail.com")
    assert tokens.new_message_id("k1", "example.com") != mid
