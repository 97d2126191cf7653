"""Settings: defaults, parsing, TOML, and errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from maildesk.config import ConfigError, ensure_secret, load_settings


def test_defaults_match_the_contract() -> None:
    s = load_settings({})
    assert s.database_url == "sqlite:///maildesk.db"
    assert (s.smtp_listen.host, s.smtp_listen.port) == ("127.0.0.1", 2525)
    assert str(s.http_listen) == "127.0.0.1:8000"
    assert s.support_address == "support@localhost"
    assert s.relay is None and s.imap is None
    assert s.max_message_bytes == 26214400
    assert dict(s.sla_hours) == {"urgent": 2, "high": 4, "medium": 24, "low": 48}
    assert s.categories == ("getting_started", "buying", "selling", "payments", "account", "dispute", "bug", "other")
    assert s.admin_notify is None and s.autoclose_days == 7


def test_values_are_parsed() -> None:
    s = load_settings({
        "MAILDESK_RELAY_URL": "smtps://user%40x:p%3Ass@relay.example:465",
        "MAILDESK_IMAP_URL": "imaps://bot:secret@imap.example/Support%20Inbox",
        "MAILDESK_SLA_HOURS": "urgent=1,high=2,medium=3,low=4.5",
        "MAILDESK_CATEGORIES": "billing, bug",
        "MAILDESK_ADMIN_NOTIFY": "a@example.com, B@Example.com",
        "MAILDESK_SUPPORT_ADDRESS": "Help@Example.COM",
    })
    assert s.relay and (s.relay.host, s.relay.port, s.relay.use_tls, s.relay.username, s.relay.password) == (
        "relay.example", 465, True, "user@x", "p:ss")
    assert s.imap and (s.imap.folder, s.imap.port, s.imap.ssl, s.imap.password) == ("Support Inbox", 993, True, "secret")
    assert s.sla_hours["low"] == 4.5
    assert s.categories == ("billing", "bug", "other")
    assert s.admin_notify == ("a@example.com", "b@example.com")
    assert s.support_address == "help@example.com" and s.support_local == "help" and s.support_domain == "example.com"
    assert load_settings({"MAILDESK_RELAY_URL": "smtp://relay:2525?starttls=1"}).relay.starttls


@pytest.mark.parametrize(
    "name, value",
    [
        ("MAILDESK_SMTP_LISTEN", "nope"),
        ("MAILDESK_HTTP_LISTEN", "127.0.0.1:99999"),
        ("MAILDESK_DATABASE_URL", "mysql://x/y"),
        ("MAILDESK_SUPPORT_ADDRESS", "not-an-address"),
        ("MAILDESK_BASE_URL", "ftp://x"),
        ("MAILDESK_RELAY_URL", "http://relay"),
        ("MAILDESK_IMAP_URL", "imap://host-without-user/INBOX"),
        ("MAILDESK_MAX_MESSAGE_BYTES", "-5"),
        ("MAILDESK_SLA_HOURS", "urgent=2,critical=4"),
        ("MAILDESK_SLA_HOURS", "urgent=0"),
        ("MAILDESK_SLA_HOURS", "urgent=2,hihg=4"),
        ("MAILDESK_RESOLUTION_HOURS", "urgent=0"),
        ("MAILDESK_BUSINESS_HOURS", "Mon-Fri 09:00-17:61"),
        ("MAILDESK_BUSINESS_HOURS", "Mon-Fri 09:00-12:00,11:00-14:00"),
        ("MAILDESK_BUSINESS_HOURS", "Someday 09:00-17:00"),
        ("MAILDESK_TIMEZONE", "Europe/Nowhere"),
        ("MAILDESK_HOLIDAYS", "2026-12-25,christmas"),
        ("MAILDESK_SLA_CHECK_SECONDS", "soon"),
        ("MAILDESK_CATEGORIES", "a b"),
        ("MAILDESK_ADMIN_NOTIFY", "ok@example.com,broken"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({name: value})
    assert str(err.value).startswith(name)


def test_priority_hours_name_only_what_changes() -> None:
    s = load_settings({"MAILDESK_SLA_HOURS": "urgent=1", "MAILDESK_RESOLUTION_HOURS": "low=200"})
    assert dict(s.sla_hours) == {"urgent": 1, "high": 4, "medium": 24, "low": 48}
    assert dict(s.resolution_hours) == {"urgent": 8, "high": 24, "medium": 72, "low": 200}
    s = load_settings({"MAILDESK_BUSINESS_HOURS": "Mon-Fri 09:00-17:30", "MAILDESK_TIMEZONE": "Europe/Berlin",
                       "MAILDESK_HOLIDAYS": "2026-12-24, 2026-12-25"})
    assert s.calendar.zone.key == "Europe/Berlin" and len(s.calendar.holidays) == 2
    assert s.calendar.week is not None and s.calendar.week[0] == ((540, 1050),) and s.calendar.week[5] == ()


def test_secrets_in_urls_are_not_echoed() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({"MAILDESK_RELAY_URL": "http://user:hunter2@relay"})
    assert "hunter2" not in str(err.value)


def test_toml_file_and_environment_wins(tmp_path: Path) -> None:
    cfg = tmp_path / "maildesk.toml"
    cfg.write_text('support_address = "help@example.org"\nmax_message_bytes = 1000\n[sla_hours]\nurgent = 1\nhigh = 2\nmedium = 3\nlow = 4\n')
    s = load_settings({"MAILDESK_MAX_MESSAGE_BYTES": "2000"}, config_file=cfg)
    assert s.support_address == "help@example.org" and s.max_message_bytes == 2000 and s.sla_hours["urgent"] == 1
    cfg.write_text('no_such_key = 1\n')
    with pytest.raises(ConfigError, match="no_such_key"):
        load_settings({}, config_file=cfg)


def test_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    s = load_settings({"MAILDESK_DATA_DIR": str(tmp_path)})
    first = ensure_secret(s).secret_key
    assert len(first) > 40 and ensure_secret(s).secret_key == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_log_format_metrics_allow_and_imap_after() -> None:
    import ipaddress

    s = load_settings({})
    assert s.log_format == "text" and str(s.imap_after) == "delete"
    assert ipaddress.ip_address("127.0.0.1") in s.metrics_allow[0] and ipaddress.ip_address("::1") in s.metrics_allow[1]
    s = load_settings({"MAILDESK_LOG_FORMAT": "JSON", "MAILDESK_METRICS_ALLOW": "10.0.0.0/8, 192.168.1.7",
                       "MAILDESK_IMAP_AFTER": "move:Archive/Done"})
    assert s.log_format == "json" and (s.imap_after.mode, s.imap_after.folder) == ("move", "Archive/Done")
    assert [str(n) for n in s.metrics_allow] == ["10.0.0.0/8", "192.168.1.7/32"]
    assert load_settings({"MAILDESK_IMAP_AFTER": "keep"}).imap_after.mode == "keep"
    for name, bad, says in (
        ("MAILDESK_LOG_FORMAT", "xml", "text or json"),
        ("MAILDESK_METRICS_ALLOW", "10.0.0.0/33", "CIDR"),
        ("MAILDESK_IMAP_AFTER", "move:", "move:FOLDER"),
        ("MAILDESK_IMAP_AFTER", "archive", "move:FOLDER"),
    ):
        with pytest.raises(ConfigError) as err:
            load_settings({name: bad})
        assert str(err.value).startswith(name) and says in str(err.value)


def test_metrics_allow_matches_client_addresses() -> None:
    from maildesk.web.api.metrics import client_allowed

    allow = load_settings({"MAILDESK_METRICS_ALLOW": "10.0.0.0/8,::1"}).metrics_allow
    assert client_allowed("10.2.3.4", allow) and client_allowed("::ffff:10.2.3.4", allow) and client_allowed("::1", allow)
    assert not client_allowed("127.0.0.1", allow) and not client_allowed("", allow) and not client_allowed("bogus", allow)


def test_sla_hours_may_name_only_the_priorities_it_changes() -> None:
    s = load_settings({"MAILDESK_SLA_HOURS": "urgent=1"})
    assert dict(s.sla_hours) == {"urgent": 1, "high": 4, "medium": 24, "low": 48}
    toml_like = load_settings({"MAILDESK_SLA_HOURS": "LOW=100, medium=12"})
    assert dict(toml_like.sla_hours) == {"urgent": 2, "high": 4, "medium": 12, "low": 100}


@pytest.mark.parametrize(
    "secret",
    [
        "short-secret",  # under 32 characters
        "CHANGE-ME-insecure-placeholder-secret-key",  # the old compose default
        "changeme-changeme-changeme-changeme-0123",
        "please-replace-this-placeholder-value-0123456789",
    ],
)
def test_weak_or_placeholder_secret_key_is_refused(secret: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({"MAILDESK_SECRET_KEY": secret})
    message = str(err.value)
    assert message.startswith("MAILDESK_SECRET_KEY=<hidden>:") and secret not in message


def test_strong_secret_key_is_accepted() -> None:
    secret = "0f" * 32
    assert load_settings({"MAILDESK_SECRET_KEY": secret}).secret_key == secret


def test_serve_refuses_a_placeholder_secret_with_one_line_and_exit_2(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILDESK_")}
    env.update(MAILDESK_SECRET_KEY="CHANGE-ME-insecure-placeholder-secret-key", MAILDESK_DATA_DIR=str(tmp_path / "d"),
               MAILDESK_DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}")
    result = subprocess.run([sys.executable, "-m", "maildesk", "serve"], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "MAILDESK_SECRET_KEY" in result.stderr
    assert "placeholder" in result.stderr and "CHANGE-ME" not in result.stderr
    assert not (tmp_path / "d").exists() and not (tmp_path / "x.db").exists()  # refused before touching anything
