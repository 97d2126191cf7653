"""outbound/wire.py writes outbound mail byte for byte as EmailMessage + policy.SMTP did.

The reference below is how compose.py built every message before: header by header on an
EmailMessage, set_content, add_alternative, as_bytes(). With the random module seeded the
same way both choose the same multipart boundary, so the whole message must be identical.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import random
from email.message import EmailMessage
from email.utils import formataddr

import pytest

from maildesk.outbound import wire


def _stdlib(headers: list[tuple[str, str]], text: str, html: str | None) -> bytes:
    msg = EmailMessage(policy=email.policy.SMTP)
    for name, value in headers:
        msg[name] = value
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    return msg.as_bytes()


def _both(headers: list[tuple[str, str]], text: str, html: str | None, seed: int) -> tuple[bytes, bytes]:
    random.seed(seed)
    ours = wire.message(headers, text, html)
    random.seed(seed)
    return ours, _stdlib(headers, text, html)


_HEADERS = [
    ("From", formataddr(("Support", "support@example.com"))),
    ("To", formataddr(("Ada Lovelace", "ada@example.net"))),
    ("Subject", "[SUP-000005] Your support request SUP-000005 has been received"),
    ("Date", "Thu, 03 Dec 2026 17:49:26 +0000"),
    ("Message-ID", "<md.a5899e51d99539ff9897e384.uohqd6on4t72vuxj@example.com>"),
    ("Reply-To", "support@example.com"),
    ("In-Reply-To", "<abc@example.net>"),
    ("References", "<abc@example.net>"),
    ("X-Maildesk-Ticket", "SUP-000005"),
    ("Auto-Submitted", "auto-replied"),
    ("X-Auto-Response-Suppress", "All"),
    ("Precedence", "auto_reply"),
    ("X-Maildesk-Loop", "wccptzxw4k7s3rqhczh4"),
]

_TEXTS = [
    "Hello Ada,\n\nShort ASCII lines only.\n",
    "no trailing newline",
    "",
    "Your support request SUP-000005 has been received. We will answer as soon as we can, promise.\n",
    "Grüße aus Köln — “quoted” text, ok?\n",
    "日本語のテキストです。\n" * 12,
    "emoji 🎉 party\n" * 3,
    "trailing spaces   \nand tabs\t\n-- \nsignature\n",
    "=?utf-8?q?looks_encoded?= but is body text; = signs = everywhere ===\n",
    "x" * 300 + "\n" + "y" * 78 + "\n" + "z" * 79 + "\n",
    "lines\r\nwith\rmixed\nbreaks\r\n",
    "--===============0000000000000000001==\nlooks like a boundary\n",
    "\n".join(f"line {i}: " + "é" * (i % 50) for i in range(40)),
    "\n".join("a" * 100 for _ in range(15)),
]


@pytest.mark.parametrize("index", range(len(_TEXTS)))
def test_text_only_matches_the_stdlib(index: int) -> None:
    ours, theirs = _both(_HEADERS, _TEXTS[index], None, index)
    assert ours == theirs


@pytest.mark.parametrize("index", range(len(_TEXTS)))
def test_text_and_html_match_the_stdlib(index: int) -> None:
    html = "<p>" + _TEXTS[-index - 1].replace("\n", "</p>\n<p>") + "</p>\n"
    ours, theirs = _both(_HEADERS, _TEXTS[index], html, index)
    assert ours == theirs
    assert email.message_from_bytes(ours, policy=email.policy.default).get_body(("html",)) is not None


_VALUES = [
    "", " leading space", "trailing space ", "two  spaces inside", "tab\tinside",
    "Ünïcödé subject", "=?utf-8?q?encoded?=", "a" * 70, "a" * 64, "word " * 30,
    formataddr(("Lovelace, Ada", "ada@example.net")), formataddr(("José", "jose@example.net")),
    formataddr(("", "plain@example.net")), '"quoted" <q@example.net>', "(comment) x@example.net",
    "<a@b> <c@d>", "no-brackets@example.net", "semi;colon", "back\\slash", "SUP-000001",
    "[SUP-000123] New ticket: " + "long subject words " * 5,
]


@pytest.mark.parametrize("name", ["Subject", "To", "From", "Reply-To", "Message-ID", "In-Reply-To",
                                  "References", "X-Maildesk-Ticket", "Precedence"])
def test_headers_fold_as_the_policy_folds_them(name: str) -> None:
    checked = 0
    for value in _VALUES:
        msg = EmailMessage(policy=email.policy.SMTP)
        msg[name] = value
        try:
            expected = msg.as_bytes().split(b"\r\n\r\n", 1)[0] + b"\r\n"
        except UnicodeError:
            continue  # the stdlib cannot write it (a non-ASCII Message-ID); compose never asks
        checked += 1
        assert wire.header(name, value).encode("ascii") == expected, (name, value)
    assert checked >= len(_VALUES) - 3


def test_random_ascii_headers_match_the_policy() -> None:
    rng = random.Random(14)
    alphabet = "abcXYZ019 <>@.,;:\"()[]\\=?-_'!#$%&*+/^`{|}~\t"
    for _ in range(1500):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 90)))
        value = value.replace("\t", " ") if rng.random() < 0.8 else value
        for name in ("Subject", "To", "Message-ID", "X-Maildesk-Ticket"):
            msg = EmailMessage(policy=email.policy.SMTP)
            try:
                msg[name] = value
                expected = msg.as_bytes().split(b"\r\n\r\n", 1)[0] + b"\r\n"
            except Exception:
                continue  # the stdlib itself cannot write it; compose never hands it such a value
            assert wire.header(name, value).encode("ascii") == expected, (name, value)


def test_random_addresses_and_ids_match_the_policy() -> None:
    """The structured headers compose writes (formataddr, Message-IDs, dates) in many shapes."""
    rng = random.Random(3834)
    printable = "abcXYZ019 .,;:\"()<>@[]\\'-_!#$%&*+/=?^`{|}~"
    atext = "abcxyz019.-_+'"
    fast = 0
    for _ in range(1000):
        name = "".join(rng.choice(printable) for _ in range(rng.randint(0, 30)))
        local = "".join(rng.choice(atext) for _ in range(rng.randint(1, 20)))
        domain = "".join(rng.choice(atext) for _ in range(rng.randint(1, 20)))
        values = [
            ("To", formataddr((name, f"{local}@{domain}"))),
            ("From", formataddr((name.strip(), f"{local}@example.com"))),
            ("Message-ID", f"<{local}@{domain}>"),
            ("Date", email.utils.format_datetime(email.utils.localtime().replace(year=rng.randint(1990, 2090)))),
        ]
        for header, value in values:
            msg = EmailMessage(policy=email.policy.SMTP)
            try:
                msg[header] = value
                expected = msg.as_bytes().split(b"\r\n\r\n", 1)[0] + b"\r\n"
            except Exception:
                continue
            ours = wire.header(header, value)
            fast += ours == f"{header}: {value}\r\n"
            assert ours.encode("ascii") == expected, (header, value)
    assert fast > 1000  # most of them took the direct path


def test_the_subject_read_back_is_the_one_the_stdlib_reads_back() -> None:
    rng = random.Random(2047)
    samples = ["plain", "Grüße", "=?utf-8?q?Gr=C3=BC=C3=9Fe?= from a form", "=?broken", "a =?x?= b",
               "=?utf-8?b?8J+OiQ==?= party"]
    samples += ["".join(rng.choice("ab =?uq_=C3") for _ in range(rng.randint(1, 40))) for _ in range(300)]
    for value in samples:
        msg = EmailMessage(policy=email.policy.SMTP)
        msg["Subject"] = value
        assert wire.header_text("Subject", value) == msg["Subject"], value


def test_a_body_line_like_the_boundary_is_written_as_the_stdlib_writes_it() -> None:
    random.seed(99)
    token = random.randrange(2**63 - 1)
    boundary = "=" * 15 + f"{token:019d}" + "=="
    html = f"<p>x</p>\n--{boundary}"  # the last line of the part, with no line break after it
    ours, theirs = _both(_HEADERS[:3], "text\n", html.rstrip("\n"), 99)
    assert ours == theirs


def test_random_long_texts_match_the_stdlib() -> None:
    """Bodies of more than ten lines with long ones: quoted-printable (the first ten lines'
    encoding reused for the whole) or base64, as set_content writes them."""
    rng = random.Random(6)
    pieces = ["a", "b", " ", "\t", "=", "é", "ß", "\x85", "\x0c", "\u2028", "\r", "\n", "\r\n", ".", "x" * 40, "€", "😀"]
    quoted = 0
    for seed in range(400):
        text = "\n".join("".join(rng.choice(pieces) for _ in range(rng.randint(0, 30))) for _ in range(rng.randint(11, 25)))
        ours, theirs = _both(_HEADERS[:3], text, None, seed)
        assert ours == theirs, repr(text)
        quoted += wire.encode_text(text)[0] == "quoted-printable"
    assert quoted > 50
