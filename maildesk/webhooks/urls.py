"""Which webhook URLs may be fetched: http(s) only, and never a loopback, private or link-local host.

A webhook makes the daemon send requests wherever an admin says; without this check a URL
could reach services behind the firewall (server-side request forgery). Names are resolved
and every address checked, at registration and again before each delivery, because DNS can
change in between; the delivery then connects to the address that was checked, so a second
lookup cannot swap in another one. MAILDESK_WEBHOOK_ALLOW_PRIVATE=1 lifts the address rule
for local setups and tests.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2000


class UnsafeUrl(ValueError):
    """The URL may not be fetched; str() says why."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written in the URL (for Host, SNI and certificate checks)
    port: int
    address: str  # the checked IP address to connect to


def check_syntax(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an absolute http(s) URL; UnsafeUrl otherwise."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrl(f"longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise UnsafeUrl("contains spaces or control characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeUrl("only http:// and https:// URLs are allowed")
    try:
        host, port = parts.hostname, parts.port
    except ValueError as exc:  # a port that is not a number or out of range
        raise UnsafeUrl(f"bad port: {exc}") from None
    if not host:
        raise UnsafeUrl("the URL needs a host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("credentials in the URL are not allowed; put a token in the path instead")
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80)


def blocked_reason(address: str) -> str | None:
    """Why an IP address is not a public one (None when it is)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return f"{ip} is a loopback address"
    if ip.is_unspecified:  # connecting to 0.0.0.0 or :: reaches this host
        return f"{ip} is not a public address (unspecified)"
    if ip.is_link_local:
        return f"{ip} is a link-local address"
    if ip.is_private:
        return f"{ip} is a private address"
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved or not ip.is_global:
        return f"{ip} is not a public address"
    return None


async def resolve(url: str, *, allow_private: bool) -> Target:
    """Check the URL and its host's addresses; the Target to connect to, or UnsafeUrl."""
    scheme, host, port = check_syntax(url)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeUrl(f"cannot resolve {host}: {exc}") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise UnsafeUrl(f"cannot resolve {host}")
    if not allow_private:
        # Every address, not just the first: a name with one public and one private
        # address would otherwise reach the private one on some attempts.
        for address in addresses:
            reason = blocked_reason(address)
            if reason is not None:
                raise UnsafeUrl(f"{host} resolves to {reason} (set MAILDESK_WEBHOOK_ALLOW_PRIVATE=1 "
                                "only for local setups)")
    return Target(scheme, host, port, addresses[0])
