"""Decide whether the From of an inbound message was authenticated by the mail server in front.

Pure: header values in, a SenderAuth out; never raises.  Only ``Authentication-Results``
fields (RFC 8601) whose authserv-id the operator trusts are read, and of those only the
topmost: a receiving MTA prepends its field (RFC 5322 §3.6.7 trace order), so the
topmost trusted one is the front server's own, and a field further down carrying the
same authserv-id was either added by the sender or not removed (RFC 8601 §5 says it
should be) — either way not evidence.  Fields from any other authserv-id are ignored.

The decision, for the From domain we read (addresses.py):
  1. a ``dmarc`` result (RFC 7489 §11.2): ``pass`` for the From domain -> verified;
     ``fail`` (or a pass for another header.from domain) -> not verified;
  2. otherwise a ``dkim=pass`` whose ``header.d`` (or ``header.i`` domain) is aligned with
     the From domain, or an ``spf=pass`` whose ``smtp.mailfrom`` domain is aligned
     (RFC 7489 §3.1 relaxed alignment, approximated without the public suffix list as
     "one is the other or a parent of it") -> verified; DKIM/SPF results without an
     aligned pass -> not verified;
  3. no trusted field, no usable result, or a malformed field -> unknown (None).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import authres

__all__ = ["SenderAuth", "UNKNOWN", "evaluate"]


@dataclass(frozen=True)
class SenderAuth:
    verified: bool | None  # True / False / None when nothing trusted says
    detail: str  # short, for people: "DMARC pass", "no aligned DKIM or SPF pass", ...


UNKNOWN = SenderAuth(None, "")
_DMARC_TERMINAL = {"pass", "fail"}


def evaluate(header_values: Iterable[str], trusted: frozenset[str], from_addr: str) -> SenderAuth:
    """The verdict for ``from_addr`` from the ``Authentication-Results`` values, topmost first."""
    if not trusted or "@" not in from_addr:
        return UNKNOWN
    from_domain = from_addr.rsplit("@", 1)[1].lower().rstrip(".")
    for value in header_values:
        if _authserv_id(value) not in trusted:
            continue
        try:
            parsed = authres.AuthenticationResultsHeader.parse_value(" ".join(value.split()))
            return _decide(parsed.results, from_domain)
        except Exception:  # authres raises its own SyntaxError, and may raise others on odd input
            return UNKNOWN
    return UNKNOWN


def _authserv_id(value: str) -> str:
    """The authserv-id of a field value (RFC 8601 §2.2: the first token before ";" or a version)."""
    head = value.split(";", 1)[0].strip()
    token = head.split(None, 1)[0] if head else ""
    return token.strip('"').lower()


def _decide(results: list, from_domain: str) -> SenderAuth:
    dmarc = [r for r in results if _lower(r.method) == "dmarc" and _lower(r.result) in _DMARC_TERMINAL]
    if dmarc:
        result = dmarc[0]
        header_from = _prop(result, "header", "from")
        if header_from and header_from.rstrip(".") != from_domain:
            return SenderAuth(False, f"DMARC result is for {header_from[:100]}, not {from_domain}")
        if _lower(result.result) == "pass":
            return SenderAuth(True, "DMARC pass")
        return SenderAuth(False, "DMARC fail")
    checked = False
    for result in results:
        method, outcome = _lower(result.method), _lower(result.result)
        if method == "dkim":
            checked = True
            domain = _prop(result, "header", "d") or _domain_of(_prop(result, "header", "i"))
            if outcome == "pass" and domain and _aligned(domain, from_domain):
                return SenderAuth(True, "DKIM pass (aligned)")
        elif method == "spf":
            checked = True
            domain = _domain_of(_prop(result, "smtp", "mailfrom"))
            if outcome == "pass" and domain and _aligned(domain, from_domain):
                return SenderAuth(True, "SPF pass (aligned)")
    if checked:
        return SenderAuth(False, "no aligned DKIM or SPF pass")
    return UNKNOWN


def _lower(value: object) -> str:
    return str(value or "").strip().lower()


def _prop(result: object, ptype: str, name: str) -> str:
    for prop in getattr(result, "properties", None) or ():
        if _lower(prop.type) == ptype and _lower(prop.name) == name:
            return _lower(prop.value).strip('"')
    return ""


def _domain_of(value: str) -> str:
    """The domain of "user@domain", "@domain" or "domain"."""
    return value.rsplit("@", 1)[-1].strip().rstrip(".") if value else ""


def _aligned(domain: str, from_domain: str) -> bool:
    """Relaxed alignment (RFC 7489 §3.1.1), approximated: same domain, or one a parent of the other
    (a bare top-level label never counts as a parent)."""
    domain = domain.rstrip(".")
    if domain == from_domain:
        return True
    if "." not in domain or "." not in from_domain:
        return False
    return from_domain.endswith("." + domain) or domain.endswith("." + from_domain)
