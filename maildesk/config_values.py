"""Value parsers for the settings: each turns one raw string into its typed value or raises ValueError.

Pure functions, no environment and no files: config.py maps every MAILDESK_* variable to one
of these and turns a ValueError into a ConfigError naming the variable. The small value types
the parsers return (listen addresses, relay and IMAP URLs, the IMAP after-import action) live
here too.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping
from urllib.parse import parse_qs, unquote, urlsplit

from maildesk.vocabulary import PRIORITIES


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


def parse_host_port(value: str) -> HostPort:
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        raise ValueError("expected host:port")
    host = host.strip("[]")
    p = int(port)
    if not 0 <= p <= 65535:
        raise ValueError("port must be 0-65535")
    return HostPort(host, p)


def parse_address(value: str) -> str:
    value = value.strip().lower()
    local, sep, domain = value.partition("@")
    if not sep or not local or not domain or any(c in value for c in " <>,\r\n"):
        raise ValueError("expected an address like support@example.com")
    return value


def parse_database_url(value: str) -> str:
    if value.startswith("sqlite:///") or value.startswith("sqlite+aiosqlite:///"):
        return value
    if value.startswith(("postgresql://", "postgres://", "postgresql+asyncpg://")):
        if not urlsplit(value).hostname and "host=" not in value:
            raise ValueError("PostgreSQL URL needs a host")
        return value
    raise ValueError("expected sqlite:///PATH or postgresql://user:pass@host:port/db")


def parse_base_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("expected an http(s):// URL")
    return value.rstrip("/")


def parse_relay(value: str) -> RelayConfig | None:
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


def parse_imap(value: str) -> ImapConfig | None:
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


def parse_positive_int(value: str) -> int:
    n = int(value)
    if n <= 0:
        raise ValueError("must be a positive whole number")
    return n


def parse_positive_float(value: str) -> float:
    n = float(value)
    if not n > 0:
        raise ValueError("must be a positive number")
    return n


def parse_priority_hours(defaults: Mapping[str, float]) -> Callable[[str], dict[str, float]]:
    """priority=hours,... naming only the priorities that differ from the defaults."""

    def parse(value: str) -> dict[str, float]:
        hours = dict(defaults)
        for item in value.split(","):
            name, sep, number = item.partition("=")
            name = name.strip().lower()
            if not sep or name not in PRIORITIES:
                raise ValueError(f"expected priority=hours, priorities {', '.join(PRIORITIES)}")
            hours[name] = parse_positive_float(number.strip())
        return hours

    return parse


# Values that come from sample files and must never sign real sessions or links.
_PLACEHOLDER_WORDS = ("change-me", "changeme", "change_me", "placeholder", "replace-me", "replaceme")
MIN_SECRET_CHARS = 32


def parse_secret_key(value: str) -> str:
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


def parse_categories(value: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(c.strip().lower() for c in value.split(",") if c.strip()))
    if not names:
        raise ValueError("needs at least one category")
    for name in names:
        if not name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"category {name!r} may only hold letters, digits, - and _")
    if "other" not in names:
        names = names + ("other",)
    return names


def parse_address_list(value: str) -> tuple[str, ...] | None:
    if not value.strip():
        return None
    return tuple(parse_address(a) for a in value.split(",") if a.strip())


def parse_network_strings(value: str) -> tuple[str, ...]:
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


def parse_flag(value: str) -> bool:
    text = value.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off"):
        return False
    raise ValueError("expected 1 or 0")


def parse_delays(value: str) -> tuple[float, ...]:
    delays = tuple(parse_positive_float(v.strip()) for v in value.split(",") if v.strip())
    if not delays:
        raise ValueError("expected comma-separated seconds, e.g. 5,300,1800")
    return delays


def parse_log_level(value: str) -> str:
    level = value.strip().upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError("expected DEBUG, INFO, WARNING or ERROR")
    return level


def parse_log_format(value: str) -> str:
    fmt = value.strip().lower()
    if fmt not in ("text", "json"):
        raise ValueError("expected text or json")
    return fmt


def parse_networks(value: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    networks = []
    for item in value.split(","):
        if item.strip():
            try:
                networks.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError:
                raise ValueError(f"{item.strip()!r} is not an address or CIDR range like 10.0.0.0/8") from None
    return tuple(networks)


def parse_imap_after(value: str) -> ImapAfter:
    mode, sep, folder = value.strip().partition(":")
    mode = mode.lower()
    if mode in ("delete", "keep") and not sep:
        return ImapAfter(mode)
    if mode == "move" and folder.strip():
        return ImapAfter("move", folder.strip())
    raise ValueError("expected delete, keep or move:FOLDER")


def parse_readable_file(value: str) -> Path | None:
    if not value:
        return None
    path = Path(value)
    try:
        with path.open("rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    return path


def parse_authserv_ids(value: str) -> frozenset[str]:
    """Comma-separated authserv-ids (RFC 8601 §2.5, usually the front MTA's host name)."""
    ids = frozenset(i.strip().lower() for i in value.split(",") if i.strip())
    for authserv_id in ids:
        if not authserv_id.isprintable() or any(c in authserv_id for c in ' \t;"()'):
            raise ValueError(f"authserv-id {authserv_id!r} may not hold spaces, quotes, ';' or parentheses")
    return ids

