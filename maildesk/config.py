"""Typed settings, read once from MAILDESK_* environment variables and an optional TOML file.

The environment wins over the file. Every value is validated here, at start-up, so a bad
value stops the daemon with a message naming the variable (exit code 2) instead of failing
later in the middle of a mail transaction.
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
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo

from maildesk.tickets.calendar import Calendar, Week, parse_business_hours, parse_holidays, parse_timezone

from maildesk.private import private_dir

PRIORITIES = ("urgent", "high", "medium", "low")
DEFAULT_SLA_HOURS = {"urgent": 2.0, "high": 4.0, "medium": 24.0, "low": 48.0}

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


@dataclass(frozen=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class RelayConfig:
    """Where outbound mail goes: smtp[s]://[user:pass@]host:port[?starttls=1]."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    use_tls: bool = False  # implicit TLS (smtps://)
    starttls: bool = False


@dataclass(frozen=True)
class ImapConfig:
    """The mailbox the poller reads: imap[s]://user:pass@host:port/FOLDER."""

    host: str
    port: int
    username: str
    password: str = field(repr=False)
    folder: str = "INBOX"
    ssl: bool = False


@dataclass(frozen=True)
class ImapAfter:
    """What the poller does with a message once it is stored: delete | move:FOLDER | keep."""

    mode: str = "delete"
    folder: str | None = None  # for move

    def __str__(self) -> str:
        return f"move:{self.folder}" if self.mode == "move" else self.mode


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


# --- parsers: each takes the raw string and returns the typed value or raises ValueError ---


def _host_port(value: str) -> HostPort:
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        raise ValueError("expected host:port")
    host = host.strip("[]")
    p = int(port)
    if not 0 <= p <= 65535:
        raise ValueError("port must be 0-65535")
    return HostPort(host, p)


def _address(value: str) -> str:
    value = value.strip().lower()
    local, sep, domain = value.partition("@")
    if not sep or not local or not domain or any(c in value for c in " <>,\r\n"):
        raise ValueError("expected an address like support@example.com")
    return value


def _database_url(value: str) -> str:
    if value.startswith("sqlite:///") or value.startswith("sqlite+aiosqlite:///"):
        return value
    if value.startswith(("postgresql://", "postgres://", "postgresql+asyncpg://")):
        if not urlsplit(value).hostname and "host=" not in value:
            raise ValueError("PostgreSQL URL needs a host")
        return value
    raise ValueError("expected sqlite:///PATH or postgresql://user:pass@host:port/db")


def _base_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("expected an http(s):// URL")
    return value.rstrip("/")


def _relay(value: str) -> RelayConfig | None:
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("expected smtp://[user:pass@]host:port, smtps://... or ?starttls=1")
    query = parse_qs(parts.query)
    starttls = query.get("starttls", ["0"])[0].lower() in ("1", "true", "yes")
    use_tls = parts.scheme == "smtps"
    return RelayConfig(
        host=parts.hostname,
        port=parts.port or (465 if use_tls else 25),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        use_tls=use_tls,
        starttls=starttls,
    )


def _imap(value: str) -> ImapConfig | None:
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("imap", "imaps") or not parts.hostname:
        raise ValueError("expected imap[s]://user:pass@host:port/FOLDER")
    if not parts.username or parts.password is None:
        raise ValueError("the IMAP URL needs user:pass@")
    ssl = parts.scheme == "imaps"
    return ImapConfig(
        host=parts.hostname,
        port=parts.port or (993 if ssl else 143),
        username=unquote(parts.username),
        password=unquote(parts.password),
        folder=unquote(parts.path.lstrip("/")) or "INBOX",
        ssl=ssl,
    )


def _positive_int(value: str) -> int:
    n = int(value)
    if n <= 0:
        raise ValueError("must be a positive whole number")
    return n


def _positive_float(value: str) -> float:
    n = float(value)
    if not n > 0:
        raise ValueError("must be a positive number")
    return n


def _priority_hours(defaults: Mapping[str, float]) -> Callable[[str], dict[str, float]]:
    """priority=hours,... naming only the priorities that differ from the defaults."""

    def parse(value: str) -> dict[str, float]:
        hours = dict(defaults)
        for item in value.split(","):
            name, sep, number = item.partition("=")
            name = name.strip().lower()
            if not sep or name not in PRIORITIES:
                raise ValueError(f"expected priority=hours, priorities {', '.join(PRIORITIES)}")
            hours[name] = _positive_float(number.strip())
        return hours

    return parse


# Values that come from sample files and must never sign real sessions or links.
_PLACEHOLDER_WORDS = ("change-me", "changeme", "change_me", "placeholder", "replace-me", "replaceme")
MIN_SECRET_CHARS = 32


def _secret_key(value: str) -> str:
    """A configured secret must be long and not a sample value; empty means generate one."""
    if not value:
        return value
    if len(value) < MIN_SECRET_CHARS:
        raise ValueError(f"too short ({len(value)} characters, needs at least {MIN_SECRET_CHARS}); "
                         "try: openssl rand -hex 32")
    lowered = value.lower()
    if any(word in lowered for word in _PLACEHOLDER_WORDS):
        raise ValueError("is a placeholder from a sample file; try: openssl rand -hex 32")
    return value


def _categories(value: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(c.strip().lower() for c in value.split(",") if c.strip()))
    if not names:
        raise ValueError("needs at least one category")
    for name in names:
        if not name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"category {name!r} may only hold letters, digits, - and _")
    if "other" not in names:
        names = names + ("other",)
    return names


def _address_list(value: str) -> tuple[str, ...] | None:
    if not value.strip():
        return None
    return tuple(_address(a) for a in value.split(",") if a.strip())


def _network_strings(value: str) -> tuple[str, ...]:
    """Comma-separated IP addresses or CIDR networks as text, normalised (10.0.0.1 -> 10.0.0.1/32)."""
    networks = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or CIDR network") from None
    return tuple(dict.fromkeys(networks))
def _flag(value: str) -> bool:
    text = value.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off"):
        return False
    raise ValueError("expected 1 or 0")


def _delays(value: str) -> tuple[float, ...]:
    delays = tuple(_positive_float(v.strip()) for v in value.split(",") if v.strip())
    if not delays:
        raise ValueError("expected comma-separated seconds, e.g. 5,300,1800")
    return delays


def _log_level(value: str) -> str:
    level = value.strip().upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError("expected DEBUG, INFO, WARNING or ERROR")
    return level


def _log_format(value: str) -> str:
    fmt = value.strip().lower()
    if fmt not in ("text", "json"):
        raise ValueError("expected text or json")
    return fmt


def _networks(value: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    networks = []
    for item in value.split(","):
        if item.strip():
            try:
                networks.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError:
                raise ValueError(f"{item.strip()!r} is not an address or CIDR range like 10.0.0.0/8") from None
    return tuple(networks)


def _imap_after(value: str) -> ImapAfter:
    mode, sep, folder = value.strip().partition(":")
    mode = mode.lower()
    if mode in ("delete", "keep") and not sep:
        return ImapAfter(mode)
    if mode == "move" and folder.strip():
        return ImapAfter("move", folder.strip())
    raise ValueError("expected delete, keep or move:FOLDER")


def _readable_file(value: str) -> Path | None:
    if not value:
        return None
    path = Path(value)
    try:
        with path.open("rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    return path


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
def _authserv_ids(value: str) -> frozenset[str]:
    """Comma-separated authserv-ids (RFC 8601 §2.5, usually the front MTA's host name)."""
    ids = frozenset(i.strip().lower() for i in value.split(",") if i.strip())
    for authserv_id in ids:
        if not authserv_id.isprintable() or any(c in authserv_id for c in ' \t;"()'):
            raise ValueError(f"authserv-id {authserv_id!r} may not hold spaces, quotes, ';' or parentheses")
    return ids


_FIELDS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "MAILDESK_DATABASE_URL": ("database_url", _database_url),
    "MAILDESK_SMTP_LISTEN": ("smtp_listen", _host_port),
    "MAILDESK_HTTP_LISTEN": ("http_listen", _host_port),
    "MAILDESK_SUPPORT_ADDRESS": ("support_address", _address),
    "MAILDESK_BASE_URL": ("base_url", _base_url),
    "MAILDESK_RELAY_URL": ("relay", _relay),
    "MAILDESK_DATA_DIR": ("data_dir", lambda v: Path(v)),
    "MAILDESK_SECRET_KEY": ("secret_key", _secret_key),
    "MAILDESK_IMAP_URL": ("imap", _imap),
    "MAILDESK_IMAP_POLL_SECONDS": ("imap_poll_seconds", _positive_float),
    "MAILDESK_MAX_MESSAGE_BYTES": ("max_message_bytes", _positive_int),
    "MAILDESK_SLA_HOURS": ("sla_hours", _priority_hours(DEFAULT_SLA_HOURS)),
    "MAILDESK_RESOLUTION_HOURS": ("resolution_hours", _priority_hours(DEFAULT_RESOLUTION_HOURS)),
    "MAILDESK_BUSINESS_HOURS": ("business_hours", parse_business_hours),
    "MAILDESK_TIMEZONE": ("timezone", parse_timezone),
    "MAILDESK_HOLIDAYS": ("holidays", parse_holidays),
    "MAILDESK_SLA_CHECK_SECONDS": ("sla_check_seconds", _positive_float),
    "MAILDESK_AUTOCLOSE_DAYS": ("autoclose_days", _positive_float),
    "MAILDESK_CATEGORIES": ("categories", _categories),
    "MAILDESK_ADMIN_NOTIFY": ("admin_notify", _address_list),
    "MAILDESK_AUTOMAIL_PER_HOUR": ("automail_per_hour", _positive_int),
    "MAILDESK_OUTBOX_RETRY_SECONDS": ("outbox_retry_seconds", _positive_float),
    "MAILDESK_OUTBOX_MAX_AGE_HOURS": ("outbox_max_age_hours", _positive_float),
    "MAILDESK_LOG_LEVEL": ("log_level", _log_level),
    "MAILDESK_LOG_FORMAT": ("log_format", _log_format),
    "MAILDESK_METRICS_ALLOW": ("metrics_allow", _networks),
    "MAILDESK_IMAP_AFTER": ("imap_after", _imap_after),
    "MAILDESK_TRUSTED_PROXIES": ("trusted_proxies", _network_strings),
    "MAILDESK_SMTP_MAX_SESSIONS": ("smtp_max_sessions", _positive_int),
    "MAILDESK_SMTP_MAX_SESSIONS_PER_IP": ("smtp_max_sessions_per_ip", _positive_int),
    "MAILDESK_SMTP_IDLE_SECONDS": ("smtp_idle_seconds", _positive_float),
    "MAILDESK_SMTP_TLS_CERT": ("smtp_tls_cert", _readable_file),
    "MAILDESK_SMTP_TLS_KEY": ("smtp_tls_key", _readable_file),
    "MAILDESK_HTTP_MAX_CONNECTIONS": ("http_max_connections", _positive_int),
    "MAILDESK_HTTP_READ_SECONDS": ("http_read_seconds", _positive_float),
    "MAILDESK_TRUSTED_AUTHSERV_IDS": ("trusted_authserv_ids", _authserv_ids),
    "MAILDESK_WEBHOOK_ALLOW_PRIVATE": ("webhook_allow_private", _flag),
    "MAILDESK_WEBHOOK_RETRY_SECONDS": ("webhook_retry_seconds", _delays),
    "MAILDESK_WEBHOOK_TIMEOUT_SECONDS": ("webhook_timeout_seconds", _positive_float),
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
