"""Typed settings, read once from MAILDESK_* environment variables and an optional TOML file.

The environment wins over the file. Every value is validated at start-up (the parsers are in
config_values.py, the checks across values in load_settings), so a bad value stops the daemon
with a message naming the variable (exit code 2) instead of failing later in the middle of a
mail transaction.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import ssl
import tomllib
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, Callable, Mapping
from zoneinfo import ZoneInfo

from maildesk.config_values import (
    HostPort,
    ImapAfter,
    ImapConfig,
    RelayConfig,
    parse_address,
    parse_address_list,
    parse_authserv_ids,
    parse_base_url,
    parse_categories,
    parse_database_url,
    parse_delays,
    parse_flag,
    parse_host_port,
    parse_imap,
    parse_imap_after,
    parse_log_format,
    parse_log_level,
    parse_network_strings,
    parse_networks,
    parse_positive_float,
    parse_positive_int,
    parse_priority_hours,
    parse_readable_file,
    parse_relay,
    parse_secret_key,
)
from maildesk.private import private_dir
from maildesk.calendar import Calendar, Week, parse_business_hours, parse_holidays, parse_timezone

DEFAULT_CATEGORIES = (
    "getting_started",
    "buying",
    "selling",
    "payments",
    "account",
    "dispute",
    "bug",
    "other",
)

DEFAULT_SLA_HOURS = {"urgent": 2.0, "high": 4.0, "medium": 24.0, "low": 48.0}
DEFAULT_RESOLUTION_HOURS = {"urgent": 8.0, "high": 24.0, "medium": 72.0, "low": 120.0}


class ConfigError(Exception):
    """A configuration value is invalid; str() names the variable and what is wrong."""


LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///maildesk.db"
    smtp_listen: HostPort = HostPort("127.0.0.1", 2525)
    http_listen: HostPort = HostPort("127.0.0.1", 8000)
    support_address: str = "support@localhost"
    base_url: str = "http://127.0.0.1:8000"
    relay: RelayConfig | None = None
    data_dir: Path = Path("./var")
    secret_key: str = field(default="", repr=False)
    imap: ImapConfig | None = None
    imap_poll_seconds: float = 30.0
    max_message_bytes: int = 26_214_400
    sla_hours: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_SLA_HOURS))
    sla_check_seconds: float = 60.0
    resolution_hours: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_RESOLUTION_HOURS)
    )
    business_hours: Week | None = None  # None: every hour counts
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    holidays: frozenset[date] = frozenset()
    autoclose_days: float = 7.0
    categories: tuple[str, ...] = DEFAULT_CATEGORIES
    admin_notify: tuple[str, ...] | None = None
    # Beyond the contract: knobs an operator (or a test) may need.
    automail_per_hour: int = 10
    outbox_retry_seconds: float = 30.0
    outbox_max_age_hours: float = 72.0
    log_level: str = "INFO"
    log_format: str = "text"
    # ip_network objects; typed Any because the web framework inspects these annotations.
    metrics_allow: tuple[Any, ...] = LOOPBACK
    imap_after: ImapAfter = ImapAfter()
    # Peers whose X-Forwarded-For / X-Forwarded-Proto are believed (IP networks); none by default.
    trusted_proxies: tuple[str, ...] = ()
    # Hostile clients (issue 11): session caps, timeouts, inbound STARTTLS.
    smtp_max_sessions: int = 100
    smtp_max_sessions_per_ip: int = 10
    smtp_idle_seconds: float = 30.0
    smtp_tls_cert: Path | None = None
    smtp_tls_key: Path | None = None
    http_max_connections: int = 100
    http_read_seconds: float = 30.0
    # Authentication-Results (RFC 8601) from these authserv-ids are read (mail/senderauth.py).
    trusted_authserv_ids: frozenset[str] = frozenset()
    # Webhooks (maildesk/webhooks/): private targets only for local setups and tests.
    webhook_allow_private: bool = False
    # Delays before each retry, as the Standard Webhooks spec suggests (~27 hours in all).
    webhook_retry_seconds: tuple[float, ...] = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
    webhook_timeout_seconds: float = 15.0

    @property
    def calendar(self) -> Calendar:
        """Business time for both SLA clocks (MAILDESK_BUSINESS_HOURS, _TIMEZONE, _HOLIDAYS)."""
        return Calendar(self.business_hours, self.timezone, self.holidays)

    @property
    def support_local(self) -> str:
        return self.support_address.split("@", 1)[0].lower()

    @property
    def support_domain(self) -> str:
        return self.support_address.rsplit("@", 1)[1].lower()

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    @property
    def attachments_dir(self) -> Path:
        return self.data_dir / "attachments"


def server_tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context for inbound STARTTLS (RFC 3207), or None when no certificate is set.
    Raises ConfigError naming the variable when the pair cannot be loaded."""
    if settings.smtp_tls_cert is None or settings.smtp_tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(settings.smtp_tls_cert, settings.smtp_tls_key)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"MAILDESK_SMTP_TLS_CERT={settings.smtp_tls_cert}, MAILDESK_SMTP_TLS_KEY={settings.smtp_tls_key}: "
            f"not a certificate and its private key: {exc}"
        ) from None
    return context


_FIELDS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "MAILDESK_DATABASE_URL": ("database_url", parse_database_url),
    "MAILDESK_SMTP_LISTEN": ("smtp_listen", parse_host_port),
    "MAILDESK_HTTP_LISTEN": ("http_listen", parse_host_port),
    "MAILDESK_SUPPORT_ADDRESS": ("support_address", parse_address),
    "MAILDESK_BASE_URL": ("base_url", parse_base_url),
    "MAILDESK_RELAY_URL": ("relay", parse_relay),
    "MAILDESK_DATA_DIR": ("data_dir", lambda v: Path(v)),
    "MAILDESK_SECRET_KEY": ("secret_key", parse_secret_key),
    "MAILDESK_IMAP_URL": ("imap", parse_imap),
    "MAILDESK_IMAP_POLL_SECONDS": ("imap_poll_seconds", parse_positive_float),
    "MAILDESK_MAX_MESSAGE_BYTES": ("max_message_bytes", parse_positive_int),
    "MAILDESK_SLA_HOURS": ("sla_hours", parse_priority_hours(DEFAULT_SLA_HOURS)),
    "MAILDESK_RESOLUTION_HOURS": ("resolution_hours", parse_priority_hours(DEFAULT_RESOLUTION_HOURS)),
    "MAILDESK_BUSINESS_HOURS": ("business_hours", parse_business_hours),
    "MAILDESK_TIMEZONE": ("timezone", parse_timezone),
    "MAILDESK_HOLIDAYS": ("holidays", parse_holidays),
    "MAILDESK_SLA_CHECK_SECONDS": ("sla_check_seconds", parse_positive_float),
    "MAILDESK_AUTOCLOSE_DAYS": ("autoclose_days", parse_positive_float),
    "MAILDESK_CATEGORIES": ("categories", parse_categories),
    "MAILDESK_ADMIN_NOTIFY": ("admin_notify", parse_address_list),
    "MAILDESK_AUTOMAIL_PER_HOUR": ("automail_per_hour", parse_positive_int),
    "MAILDESK_OUTBOX_RETRY_SECONDS": ("outbox_retry_seconds", parse_positive_float),
    "MAILDESK_OUTBOX_MAX_AGE_HOURS": ("outbox_max_age_hours", parse_positive_float),
    "MAILDESK_LOG_LEVEL": ("log_level", parse_log_level),
    "MAILDESK_LOG_FORMAT": ("log_format", parse_log_format),
    "MAILDESK_METRICS_ALLOW": ("metrics_allow", parse_networks),
    "MAILDESK_IMAP_AFTER": ("imap_after", parse_imap_after),
    "MAILDESK_TRUSTED_PROXIES": ("trusted_proxies", parse_network_strings),
    "MAILDESK_SMTP_MAX_SESSIONS": ("smtp_max_sessions", parse_positive_int),
    "MAILDESK_SMTP_MAX_SESSIONS_PER_IP": ("smtp_max_sessions_per_ip", parse_positive_int),
    "MAILDESK_SMTP_IDLE_SECONDS": ("smtp_idle_seconds", parse_positive_float),
    "MAILDESK_SMTP_TLS_CERT": ("smtp_tls_cert", parse_readable_file),
    "MAILDESK_SMTP_TLS_KEY": ("smtp_tls_key", parse_readable_file),
    "MAILDESK_HTTP_MAX_CONNECTIONS": ("http_max_connections", parse_positive_int),
    "MAILDESK_HTTP_READ_SECONDS": ("http_read_seconds", parse_positive_float),
    "MAILDESK_TRUSTED_AUTHSERV_IDS": ("trusted_authserv_ids", parse_authserv_ids),
    "MAILDESK_WEBHOOK_ALLOW_PRIVATE": ("webhook_allow_private", parse_flag),
    "MAILDESK_WEBHOOK_RETRY_SECONDS": ("webhook_retry_seconds", parse_delays),
    "MAILDESK_WEBHOOK_TIMEOUT_SECONDS": ("webhook_timeout_seconds", parse_positive_float),
}


def _toml_values(path: Path) -> dict[str, str]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path}: not found") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    values: dict[str, str] = {}
    for key, value in data.items():
        env_name = f"MAILDESK_{key.upper()}"
        if env_name not in _FIELDS:
            raise ConfigError(f"config file {path}: unknown key {key!r}")
        if isinstance(value, dict):  # e.g. [sla_hours] table
            value = ",".join(f"{k}={v}" for k, v in value.items())
        elif isinstance(value, list):
            value = ",".join(str(v) for v in value)
        values[env_name] = str(value)
    return values


def load_settings(
    environ: Mapping[str, str] | None = None, config_file: str | Path | None = None
) -> Settings:
    """Build Settings from the environment (and a TOML file); raise ConfigError naming the variable."""
    env = dict(os.environ if environ is None else environ)
    config_file = config_file or env.get("MAILDESK_CONFIG")
    raw: dict[str, str] = _toml_values(Path(config_file)) if config_file else {}
    raw.update({k: v for k, v in env.items() if k in _FIELDS})

    values: dict[str, Any] = {}
    for name, text in raw.items():
        attr, parse = _FIELDS[name]
        try:
            values[attr] = parse(text.strip())
        except (ValueError, TypeError) as exc:
            shown = "<hidden>" if "URL" in name or "SECRET" in name else repr(text)
            raise ConfigError(f"{name}={shown}: {exc}") from None
    settings = Settings(**values)
    after, imap = settings.imap_after, settings.imap
    if after.mode == "move" and imap is not None and after.folder == imap.folder:
        # Moving into the polled folder would hand every message back to the poller forever.
        raise ConfigError(f"MAILDESK_IMAP_AFTER=move:{after.folder}: the folder is the one being polled")
    if (settings.smtp_tls_cert is None) != (settings.smtp_tls_key is None):
        missing = "MAILDESK_SMTP_TLS_KEY" if settings.smtp_tls_key is None else "MAILDESK_SMTP_TLS_CERT"
        raise ConfigError(f"{missing}: MAILDESK_SMTP_TLS_CERT and MAILDESK_SMTP_TLS_KEY are set together or not at all")
    server_tls_context(settings)  # a certificate that does not load stops the start, not the first client
    return settings


def ensure_secret(settings: Settings) -> Settings:
    """Return settings with a secret key: the configured one, or one generated once into the data dir."""
    if settings.secret_key:
        if settings.data_dir.is_dir():
            private_dir(settings.data_dir, tighten=True)  # one made by hand or an older maildesk
        return settings
    path = settings.data_dir / "secret_key"
    try:
        private_dir(settings.data_dir, tighten=True)
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
        key = path.read_text().strip()
    except FileExistsError:  # another process created it between exists() and open()
        key = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"MAILDESK_DATA_DIR={settings.data_dir}: cannot store the secret key: {exc}") from None
    return replace(settings, secret_key=key)
