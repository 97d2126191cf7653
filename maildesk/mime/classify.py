"""Tell human mail from automatic mail, so maildesk never answers a machine.

RFC 3834 section 2 asks responders not to answer automatic mail; RFC 5230
(Sieve vacation) section 4.6 lists the signals seen in practice. The checks
run in a fixed order -- loop, bounce, auto-reply, bulk -- and the first signal
found decides. Each check reads headers through :func:`header_values`, which
never raises, so hostile or malformed headers cannot break classification.
A subject such as "Automatic reply:" or "Out of office" is deliberately *not*
a signal: humans write those words too.
"""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, Message
from typing import Callable, Iterable

from maildesk.mime.addresses import parse_mailbox_list

__all__ = [
    "Kind",
    "Classification",
    "classify",
    "header_values",
    "header_message",
    "LOOP_HEADER",
]

LOOP_HEADER = "X-Maildesk-Loop"

_REASON_MAX = 120
_CTRL = re.compile(r"[\x00-\x1f\x7f]+")
_FOLD = re.compile(r"\r?\n[ \t]*|\r")
_COMMENT = re.compile(r"\([^()]*\)")

# Headers whose mere presence marks an automatic responder (RFC 5230 4.6 and
# vendor practice). Microsoft sets X-Auto-Response-Suppress on its own OOF and
# system mail; it is not set by ordinary clients on person-written mail.
_AUTO_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Response-Suppress")
_NEGATIVE = frozenset({"no", "false", "0", "off"})
# RFC 2369 / RFC 2919 list headers, and ezmlm's Mailing-List.
_LIST_HEADERS = ("List-Id", "List-Unsubscribe", "List-Post", "Mailing-List", "X-Mailing-List")
_BOUNCE_SENDERS = frozenset({"mailer-daemon", "postmaster"})
# A From value that is one plain mailbox: atoms for a display name (RFC 5322 3.2.3; RFC 2047
# encoded words are atoms too), then a dot-atom addr-spec in angle brackets, or the addr-spec
# alone; ASCII, one line, no quotes, comments or specials. For these the addr-spec read from
# the raw text is the one policy.default's parser finds (the display name, decoded or not,
# cannot move it), so the costly structured parse is skipped.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_DOT_ATOM = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
_PLAIN_MAILBOX = re.compile(rf"[ \t]*(?:(?:{_ATEXT}+[ \t]+)*<{_DOT_ATOM}@{_DOT_ATOM}>|{_DOT_ATOM}@{_DOT_ATOM})[ \t]*")


class Kind(str, enum.Enum):
    HUMAN = "human"  # may be answered
    AUTO_REPLY = "auto_reply"  # responders, read receipts, other helpdesks, other reports
    BULK = "bulk"  # mailing lists and newsletters
    BOUNCE = "bounce"  # delivery-status reports and other mail-system notices
    LOOP = "loop"  # our own mail coming back


@dataclass(frozen=True)
class Classification:
    kind: Kind
    reason: str

    @property
    def automatic(self) -> bool:
        return self.kind is not Kind.HUMAN


def classify(
    msg: Message,
    *,
    envelope_from: str | None,
    own_addresses: frozenset[str],
    loop_token: str,
) -> Classification:
    """Classify the top-level message; the first matching check wins.

    Never raises: should a check fail unexpectedly the message is treated as
    automatic (fail closed -- an unanswered human can be answered later, a
    mail loop cannot be taken back).
    """
    own = frozenset(a.strip().lower() for a in own_addresses if a and a.strip())
    # Two checks read From; under policy.default each read parses the field again.
    from_addresses = functools.cache(lambda: _addresses(msg, "From"))
    try:
        return (
            _check_loop(msg, envelope_from, own, loop_token, from_addresses)
            or _check_bounce(msg, envelope_from, from_addresses)
            or _check_auto_reply(msg, loop_token)
            or _check_bulk(msg)
            or Classification(Kind.HUMAN, "no automatic-mail signal")
        )
    except Exception as exc:  # pragma: no cover - safety net, see docstring
        return Classification(Kind.AUTO_REPLY, f"unclassifiable message ({type(exc).__name__})")


# -- checks -------------------------------------------------------------------


def _check_loop(
    msg: Message, envelope_from: str | None, own: frozenset[str], loop_token: str,
    from_addresses: Callable[[], list[str]],
) -> Classification | None:
    token = (loop_token or "").strip()
    if token:
        for value in header_values(msg, LOOP_HEADER):
            if value.strip() == token:
                return Classification(Kind.LOOP, f"{LOOP_HEADER} carries our instance token")
    for value in header_values(msg, "X-Loop"):
        # X-Loop (de-facto, procmail/Sieve/listservers) names the address a message already
        # passed through; naming ours means this is our mail, or mail made from it, coming back.
        for addr in _loop_addresses(value):
            if _is_own(addr, own):
                return Classification(Kind.LOOP, _reason("X-Loop names our own address", addr))
    for addr in from_addresses():
        if _is_own(addr, own):
            return Classification(Kind.LOOP, _reason("From is our own address", addr))
    if envelope_from and _is_own(_bare(envelope_from), own):
        return Classification(Kind.LOOP, _reason("envelope sender is our own address", _bare(envelope_from)))
    return None


def _check_bounce(msg: Message, envelope_from: str | None,
                  from_addresses: Callable[[], list[str]]) -> Classification | None:
    report = _report_type(msg)
    # RFC 8098 3.1: an MDN is sent with a null return path, yet a read receipt
    # is not a delivery failure, so it is decided before the empty sender.
    if report == "disposition-notification":
        return Classification(Kind.AUTO_REPLY, "read receipt: multipart/report; report-type=disposition-notification")
    if report == "delivery-status":
        return Classification(Kind.BOUNCE, "delivery-status report: multipart/report; report-type=delivery-status")
    if envelope_from is not None:
        label, path = "envelope sender", _bare(envelope_from)
    else:
        # The topmost Return-Path is the one the final delivery added.
        paths = header_values(msg, "Return-Path")
        label, path = "Return-Path", (_bare(paths[0]) if paths else None)
    if path == "":
        empty = "envelope sender is empty" if envelope_from is not None else "Return-Path is empty (<>)"
        return Classification(Kind.BOUNCE, empty)
    if path and path.split("@", 1)[0] in _BOUNCE_SENDERS:
        # Some MTAs hand the null sender on as MAILER-DAEMON (Sendmail's mbox "From ").
        return Classification(Kind.BOUNCE, _reason(f"{label} is a mail system", path))
    for addr in from_addresses():
        local = addr.rpartition("@")[0] if "@" in addr else addr
        if local in _BOUNCE_SENDERS:
            return Classification(Kind.BOUNCE, _reason("From is a mail system", addr))
    failed = header_values(msg, "X-Failed-Recipients")
    if failed:
        return Classification(Kind.BOUNCE, _reason("X-Failed-Recipients", failed[0]))
    if report:
        # Other reports (feedback-report, tlsrpt, ...) are machine-made too.
        return Classification(Kind.AUTO_REPLY, f"multipart/report; report-type={report}")
    return None


def _check_auto_reply(msg: Message, loop_token: str) -> Classification | None:
    for value in header_values(msg, "Auto-Submitted"):
        keyword = _keyword(value)
        if keyword and keyword != "no":  # RFC 3834 section 5
            return Classification(Kind.AUTO_REPLY, _reason("Auto-Submitted", value))
    for name in _AUTO_HEADERS:
        for value in header_values(msg, name):
            if _keyword(value) not in _NEGATIVE:
                return Classification(Kind.AUTO_REPLY, _reason(name, value))
    for value in header_values(msg, "Precedence"):
        if _keyword(value) == "auto_reply":
            return Classification(Kind.AUTO_REPLY, _reason("Precedence", value))
    token = (loop_token or "").strip()
    for value in header_values(msg, LOOP_HEADER):
        if value.strip() != token:
            return Classification(Kind.AUTO_REPLY, f"{LOOP_HEADER} of another maildesk instance")
    return None


def _check_bulk(msg: Message) -> Classification | None:
    for name in _LIST_HEADERS:
        values = header_values(msg, name)
        if values:
            return Classification(Kind.BULK, _reason(name, values[0]))
    for value in header_values(msg, "Precedence"):
        if _keyword(value) in ("bulk", "junk", "list"):
            return Classification(Kind.BULK, _reason("Precedence", value))
    return None


# -- robust header access -----------------------------------------------------


def header_message(fields: Iterable[tuple[str, str]]) -> Message:
    """A header-only message under ``policy.default`` from fields as the stdlib parser stores
    them (``raw_items()`` of a parse under any policy: the same raw values), for ``classify``
    without parsing the header block a second time."""
    msg = EmailMessage(policy=policy.default)
    for name, value in fields:
        msg.set_raw(name, value)
    return msg


def header_values(msg: Message, name: str) -> list[str]:
    """All values of header `name`, unfolded, single-line, as text. Never raises.

    Under ``policy.default`` reading a header parses it, and some malformed
    values raise; then the raw value is used. Undecodable bytes become U+FFFD.
    """
    try:
        values = msg.get_all(name) or []
        return [_clean(str(v)) for v in values]
    except Exception:
        pass
    out: list[str] = []
    try:
        wanted = name.lower()
        for key, value in msg.raw_items():
            if str(key).lower() == wanted:
                out.append(_clean(str(value)))
    except Exception:
        return out
    return out


def _clean(value: str) -> str:
    value = _FOLD.sub(" ", value)
    value = _CTRL.sub(" ", value).strip()
    try:
        # message_from_bytes keeps non-ASCII header bytes as surrogate escapes.
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeError:
        return value.encode("utf-8", "replace").decode("utf-8")


def _addresses(msg: Message, name: str) -> list[str]:
    """Lower-cased addr-specs of an address header, from its raw text."""
    out: list[str] = []
    try:
        wanted = name.lower()
        values = [str(v) for k, v in msg.raw_items() if str(k).lower() == wanted]
        plain = all(_PLAIN_MAILBOX.fullmatch(v) for v in values)
    except Exception:
        plain = False
    if not plain:  # anything else is read as policy.default reads it (header_values)
        values = header_values(msg, name)
    for value in values:
        # The addr-specs only, never display-name text (addresses.py).
        found = [box.address for box in parse_mailbox_list(value, bare_local=True)]
        if not found:
            # "MAILER-DAEMON (Mail Delivery System)" and similar bare forms.
            bare = _COMMENT.sub(" ", value).strip().strip("<>").strip().lower()
            if bare and " " not in bare:
                found = [bare]
        out.extend(found)
    return out


def _loop_addresses(value: str) -> list[str]:
    """Addresses in an X-Loop value: comma-separated, each bare or in angle brackets, with
    optional comments or display names ("Support <support@example.com>")."""
    found: list[str] = []
    for item in _COMMENT.sub(" ", value).split(","):
        item = item.strip()
        if "<" in item:
            item = item.split("<", 1)[1].split(">", 1)[0]
        item = item.strip().strip("<>").strip().lower()
        if item:
            found.append(item)
    return found


def _bare(path: str) -> str:
    """Address inside an SMTP path / Return-Path value: '<>' and '' give ''."""
    text = _COMMENT.sub(" ", _clean(str(path))).strip()
    if text.startswith("<"):
        text = text[1:].split(">", 1)[0]
    return text.strip().lower()


def _is_own(addr: str, own: frozenset[str]) -> bool:
    if not addr or not own:
        return False
    if addr in own:
        return True
    local, at, domain = addr.rpartition("@")
    if not at or "+" not in local:
        return False
    return f"{local.split('+', 1)[0]}@{domain}" in own


def _keyword(value: str) -> str:
    """First token of a header like 'auto-replied; owner-email=...' or 'bulk (comment)'."""
    text = _COMMENT.sub(" ", value).split(";", 1)[0].strip().lower()
    return text.split()[0] if text else ""


def _report_type(msg: Message) -> str | None:
    """report-type of a top-level multipart/report, or None for other messages."""
    try:
        # Reading Content-Type under policy.default parses it (twice below); a message whose
        # Content-Type fields do not even contain the word cannot be multipart/report.
        if not any(str(key).lower() == "content-type" and "report" in str(value).lower()
                   for key, value in msg.raw_items()):
            return None
    except Exception:
        pass
    ctype, report = "", None
    try:
        ctype = msg.get_content_type()
        report = msg.get_param("report-type")
    except Exception:
        raw = header_values(msg, "Content-Type")
        if raw:
            ctype = raw[0].split(";", 1)[0].strip().lower()
            found = re.search(r'report-type\s*=\s*"?([\w.-]+)', raw[0], re.IGNORECASE)
            report = found.group(1) if found else None
    if ctype != "multipart/report":
        return None
    if isinstance(report, tuple):  # RFC 2231 encoded parameter
        report = report[2]
    report = str(report or "").strip().strip('"').lower()
    if report:
        return report
    # A report without report-type: infer it from the machine-readable part.
    try:
        parts = msg.get_payload()
        for part in parts if isinstance(parts, list) else []:
            sub = part.get_content_type()
            if sub in ("message/delivery-status", "message/global-delivery-status"):
                return "delivery-status"
            if sub in ("message/disposition-notification", "message/global-disposition-notification"):
                return "disposition-notification"
    except Exception:
        pass
    return "unknown"


def _reason(label: str, value: str) -> str:
    text = f"{label}: {value}"
    return text if len(text) <= _REASON_MAX else text[: _REASON_MAX - 1] + "\u2026"
