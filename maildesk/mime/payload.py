"""Decoded body bytes of MIME parts, including the big bodies limits.bound_structure lifted
out before the parse (kept as bytes until read, to avoid a 25 MB str copy)."""

from __future__ import annotations

import binascii
import weakref
from email import policy as _policy
from email.message import Message

from maildesk.mime.structure import Bounded


def restore_bodies(message: Message, bounded: Bounded) -> None:
    """Put back the big bodies bound_structure lifted out before the parse."""
    if not bounded.bodies:
        return
    for part in message.walk():
        ref = part.get(bounded.lifted_header)
        if ref is None:
            continue
        del part[bounded.lifted_header]
        try:
            body = bounded.bodies[int(ref)]
        except (ValueError, IndexError):
            continue
        if part.is_multipart():
            part.set_payload(str(body, "ascii", "surrogateescape"))
        else:
            # Kept as bytes (no 25 MB str copy); part_payload decodes it from there and
            # _materialise puts it in as the stdlib would have it where a tree is serialised.
            _LIFTED[part] = body


# Leaf Messages whose body was lifted out, mapped to that body (bytes) until it is read.
# A side map rather than an attribute in Message.__dict__ (issue 14: the stdlib's object
# stays untouched); weak keys, so an entry goes with its message tree.
_LIFTED: weakref.WeakKeyDictionary[Message, bytes] = weakref.WeakKeyDictionary()


def _materialise(part: Message) -> None:
    """Set a lifted body as the part's payload, exactly as set_payload would have it."""
    body = _LIFTED.pop(part, None)
    if body is not None:
        part.set_payload(str(body, "ascii", "surrogateescape"))


def part_payload(part: Message) -> bytes:
    """Decoded body bytes of a leaf (or the serialised body of a message/* part)."""
    if part in _LIFTED:
        data = _lifted_payload(part)
        if data is not None:
            return data
    try:
        if part.is_multipart():
            return b"".join(serialise(child) for child in part.get_payload() if isinstance(child, Message))
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    try:
        payload = part.get_payload()
        return payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else b""
    except Exception:
        return b""


def _lifted_payload(part: Message) -> bytes | None:
    """What ``part.get_payload(decode=True)`` returns for a lifted body, computed from the
    bytes (for which the stdlib's ``bpayload`` is exactly ``body``) without the str copy and,
    for base64, without the stdlib's split into lines; None where the stdlib path is used."""
    body = _LIFTED[part]
    try:
        cte = str(part.get("content-transfer-encoding", "")).lower()
    except Exception:
        cte = None
    if cte == "base64":
        return _decode_base64(body)
    if cte == "quoted-printable" or cte is None or cte in ("x-uuencode", "uuencode", "uue", "x-uue"):
        _materialise(part)  # rare for big bodies: the stdlib path on the str payload
        return None
    return bytes(body)


def _decode_base64(data: bytes | memoryview) -> bytes:
    """The stdlib's base64 body decoding for get_payload(decode=True) (a strict decode of
    ``b"".join(data.splitlines())`` with padding, then lenient ones), without the copies.
    bytes.splitlines breaks only at CR and LF, which the
    non-strict a2b_base64 skips like any other non-alphabet byte, so decoding ``data`` equals
    decoding the joined lines.  decode_b first tries a strict decode of the joined lines with
    padding added; whenever that succeeds, the lenient tries below give the same bytes (the
    strict input is the joined lines plus one or two "=", which "==" completes identically)."""
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        pass
    try:
        return binascii.a2b_base64(bytes(data) + b"==")
    except binascii.Error:
        return bytes(data).translate(None, b"\r\n")  # bpo-27397: the joined lines, undecoded


def serialise(message: Message) -> bytes:
    try:
        for part in message.walk():
            _materialise(part)
        return message.as_bytes(policy=_policy.compat32.clone(max_line_length=0))
    except Exception:
        return b""
