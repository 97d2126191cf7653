"""The sender-authentication verdict over realistic Authentication-Results fields (senderauth.py)."""

from __future__ import annotations

from email import message_from_bytes

import pytest

from maildesk.config import ConfigError, load_settings
from maildesk.mime.senderauth import evaluate

TRUSTED = frozenset({"mx.example.com"})

GMAIL = (
    "mx.google.com;\r\n"
    "       dkim=pass header.i=@example.org header.s=s1 header.b=AbCdEf12;\r\n"
    "       spf=pass (google.com: domain of rita@example.org designates 203.0.113.5 as permitted sender)"
    " smtp.mailfrom=rita@example.org;\r\n"
    "       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=example.org"
)
OPENDMARC_PASS = "mx.example.com; dmarc=pass (p=reject dis=none) header.from=example.org"
OPENDMARC_FAIL = "mx.example.com; dmarc=fail (p=none dis=none) header.from=example.org"
OPENDKIM = "mx.example.com;\r\n\tdkim=pass (2048-bit key; unprotected) header.d=example.org header.i=@example.org header.b=\"xYz\""
POSTFIX_SPF = "mx.example.com; spf=pass (sender SPF authorized) smtp.mailfrom=bounces.example.org"
SPF_OTHER = "mx.example.com; spf=pass smtp.mailfrom=relay.other.example; dkim=none"


def _verdict(*values: str, sender: str = "rita@example.org", trusted: frozenset[str] = TRUSTED):
    return evaluate(list(values), trusted, sender)


def test_gmail_like_header_from_a_trusted_gmail() -> None:
    v = _verdict(GMAIL, trusted=frozenset({"mx.google.com"}))
    assert (v.verified, v.detail) == (True, "DMARC pass")


def test_postfix_opendmarc_pass_and_fail() -> None:
    assert _verdict(OPENDMARC_PASS).verified is True
    v = _verdict(OPENDMARC_FAIL)
    assert (v.verified, v.detail) == (False, "DMARC fail")


def test_dmarc_for_another_from_domain_does_not_verify_this_sender() -> None:
    v = _verdict(OPENDMARC_PASS, sender="victim@bank.example")
    assert v.verified is False and "bank.example" in v.detail


def test_without_dmarc_aligned_dkim_or_spf_verifies() -> None:
    assert _verdict(OPENDKIM).detail == "DKIM pass (aligned)"
    assert _verdict(POSTFIX_SPF).detail == "SPF pass (aligned)"  # bounces.example.org is under example.org
    v = _verdict(SPF_OTHER)
    assert (v.verified, v.detail) == (False, "no aligned DKIM or SPF pass")


def test_unknown_authserv_id_is_ignored() -> None:
    assert _verdict(OPENDMARC_FAIL.replace("mx.example.com", "attacker.example")).verified is None
    assert _verdict(GMAIL).verified is None  # mx.google.com is not trusted here


def test_only_the_topmost_trusted_field_counts() -> None:
    # The front server prepends its own field; a pass further down was added by the sender.
    assert _verdict(OPENDMARC_FAIL, OPENDMARC_PASS).verified is False
    assert _verdict("other.example; dmarc=pass header.from=example.org", OPENDMARC_FAIL).verified is False
    assert _verdict(OPENDMARC_PASS, OPENDMARC_FAIL).verified is True


@pytest.mark.parametrize("value", [
    "mx.example.com; dmarc",
    "mx.example.com; ;;; ((((",
    "mx.example.com; dkim=pass (unclosed header.d=example.org",
    "mx.example.com",
    "mx.example.com; none",
    "mx.example.com; dmarc=temperror header.from=example.org",
    "mx.example.com; \x00\x01 dmarc=pass",
])
def test_malformed_or_empty_results_are_unknown_not_an_exception(value: str) -> None:
    assert _verdict(value).verified is None


def test_nothing_trusted_or_no_sender_is_unknown() -> None:
    assert _verdict(OPENDMARC_PASS, trusted=frozenset()).verified is None
    assert evaluate([OPENDMARC_PASS], TRUSTED, "").verified is None


def test_real_message_headers_in_order() -> None:
    raw = (
        f"Authentication-Results: {OPENDMARC_FAIL}\r\n"
        f"Authentication-Results: {OPENDMARC_PASS}\r\n"
        "From: Rita <rita@example.org>\r\nSubject: hi\r\n\r\nbody\r\n"
    ).encode()
    values = message_from_bytes(raw).get_all("Authentication-Results")
    assert evaluate(values, TRUSTED, "rita@example.org").verified is False


def test_setting_is_parsed_and_validated() -> None:
    env = {"MAILDESK_TRUSTED_AUTHSERV_IDS": " MX.example.com, mx2.example.com ,"}
    assert load_settings(env).trusted_authserv_ids == {"mx.example.com", "mx2.example.com"}
    assert load_settings({}).trusted_authserv_ids == frozenset()
    with pytest.raises(ConfigError, match="MAILDESK_TRUSTED_AUTHSERV_IDS"):
        load_settings({"MAILDESK_TRUSTED_AUTHSERV_IDS": "mx.example.com; dmarc=pass"})
