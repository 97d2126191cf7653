"""Webhooks' pure parts: which addresses are refused, URL syntax, retry schedule, signatures, settings."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from maildesk.config import ConfigError, load_settings
from maildesk.webhooks import signing, urls
from maildesk.leases import next_delay


@pytest.mark.parametrize("address, words", [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"),
    ("10.0.0.5", "private"), ("192.168.1.1", "private"), ("172.16.3.4", "private"), ("fd12::1", "private"),
    ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
    ("0.0.0.0", "not a public"), ("100.64.0.1", "not a public"), ("224.0.0.1", "not a public"),
])
def test_non_public_addresses_are_refused(address: str, words: str) -> None:
    reason = urls.blocked_reason(address)
    assert reason is not None and words in reason


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert urls.blocked_reason(address) is None


def test_url_syntax() -> None:
    assert urls.check_syntax("https://hooks.example.com/x?y=1") == ("https", "hooks.example.com", 443)
    assert urls.check_syntax("http://hooks.example.com:8080/") == ("http", "hooks.example.com", 8080)
    for bad, words in [("ftp://example.com/", "http"), ("https:///path", "host"), ("example.com/x", "http"),
                       ("https://a:b@example.com/", "credentials"), ("https://example.com:99999/", "port"),
                       ("https://example.com/a b", "spaces"), ("https://example.com/" + "a" * 2000, "longer")]:
        with pytest.raises(urls.UnsafeUrl, match=words):
            urls.check_syntax(bad)


def test_resolution_checks_every_address_unless_private_is_allowed() -> None:
    with pytest.raises(urls.UnsafeUrl, match="loopback"):
        asyncio.run(urls.resolve("http://127.0.0.1:8080/hook", allow_private=False))
    target = asyncio.run(urls.resolve("http://127.0.0.1:8080/hook", allow_private=True))
    assert (target.scheme, target.host, target.port, target.address) == ("http", "127.0.0.1", 8080, "127.0.0.1")


def test_retry_schedule_then_give_up() -> None:
    schedule = (5.0, 300.0, 1800.0)
    assert [next_delay(schedule, n) for n in (1, 2, 3, 4)] == [5.0, 300.0, 1800.0, None]


def test_signature_verifies_with_the_library_and_fails_when_tampered() -> None:
    secret = signing.new_secret()
    assert secret.startswith("whsec_") and secret != signing.new_secret()
    body = json.dumps({"type": "ticket.created", "data": {"ticket": {"id": 1}}})
    headers = signing.headers(secret, "msg_1", body)
    assert Webhook(secret).verify(body, headers) == json.loads(body)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace("1", "2"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(body, headers)
    stale = signing.headers(secret, "msg_1", body, now=datetime.now(timezone.utc) - timedelta(hours=1))
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, stale)


def test_webhook_settings() -> None:
    s = load_settings({})
    assert s.webhook_allow_private is False and s.webhook_retry_seconds == (5, 300, 1800, 7200, 18000, 36000, 36000)
    s = load_settings({"MAILDESK_WEBHOOK_ALLOW_PRIVATE": "1", "MAILDESK_WEBHOOK_RETRY_SECONDS": "1, 2.5",
                       "MAILDESK_WEBHOOK_TIMEOUT_SECONDS": "3"})
    assert s.webhook_allow_private is True and s.webhook_retry_seconds == (1.0, 2.5) and s.webhook_timeout_seconds == 3
    for name, value in [("MAILDESK_WEBHOOK_ALLOW_PRIVATE", "maybe"), ("MAILDESK_WEBHOOK_RETRY_SECONDS", "5,-1"),
                        ("MAILDESK_WEBHOOK_TIMEOUT_SECONDS", "0")]:
        with pytest.raises(ConfigError, match=name):
            load_settings({name: value})
