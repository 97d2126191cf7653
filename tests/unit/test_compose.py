"""Composed mail is byte for byte what the EmailMessage-based compose wrote (issue 14).

The reference builds each message as compose.py did before wire.py: the same headers set on
an EmailMessage with the SMTP policy (the recipient as `formataddr((name, address))`),
set_content, add_alternative, as_bytes(). The clock, the Message-ID and the boundary's random
numbers are fixed, so the two must be identical for every recipient name, including the
non-ASCII names wire.mailbox_header writes itself.
"""

from __future__ import annotations

import email.policy
import random
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

import pytest

from maildesk.config import Settings
from maildesk.models import Ticket
from maildesk.outbound import compose as compose_module
from maildesk.outbound import tokens, wire
from maildesk.outbound.compose import Composer, header_safe

_NOW = datetime(2026, 12, 3, 17, 49, 26, tzinfo=timezone.utc)
_MESSAGE_ID = "md.a5899e51d99539ff9897e384.uohqd6on4t72vuxj@example.com"

_NAMES = ["", "Ada Lovelace", "Chloé Müller", "Ada Müller", "Søren Papadopoulos", "Jürgen O'Brien",
          "Dr. Jürgen Müller-Lüdenscheidt von und zu Guttenberg the third of his name", "王小明",
          "Zoë \"Zee\" Ångström", "Renée, Núria", "Ωμέγα 😀", "  Inès\tLeclerc\r\nX-Injected: 1 ",
          "ÀÉÎÕÜ" * 8, "Marta Novák-Østergaard de la Cruz", "José =?utf-8?q?x?= Ruiz"]
_ADDRESSES = ["ada@example.net", "customer123.abcdef@example.org", "a.very.long.local.part.here@mail.example.co.uk"]


def _reference(composer: Composer, kind: str, to_addr: str, ticket: Ticket | None, to_name: str,
               context: dict[str, object]) -> bytes:
    s = composer.settings
    subject_template, auto_submitted = compose_module._KINDS[kind]
    values = {"ticket": ticket, "base_url": s.base_url, "support_address": s.support_address,
              "name": header_safe(to_name, 100), **context}
    text = composer._env.get_template(f"{kind}.txt").render(**values)
    try:
        html = composer._env.get_template(f"{kind}.html").render(**values)
    except Exception:
        html = None
    subject = subject_template.format(number=ticket.ticket_number if ticket else "",
                                      subject=header_safe(ticket.subject if ticket else "", 150))
    if ticket is not None:
        subject = f"[{ticket.ticket_number}] {subject}"
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = formataddr(("Support", s.support_address))
    msg["To"] = formataddr((header_safe(to_name, 100), to_addr))
    msg["Subject"] = header_safe(subject, 300)
    msg["Date"] = format_datetime(_NOW)
    msg["Message-ID"] = f"<{_MESSAGE_ID}>"
    msg["Reply-To"] = s.support_address
    if ticket is not None and ticket.root_message_id:
        msg["In-Reply-To"] = f"<{ticket.root_message_id}>"
        msg["References"] = f"<{ticket.root_message_id}>"
    if ticket is not None:
        msg["X-Maildesk-Ticket"] = ticket.ticket_number or ""
    msg["Auto-Submitted"] = auto_submitted
    msg["X-Auto-Response-Suppress"] = "All"
    if kind != "update":
        msg["Precedence"] = "auto_reply" if auto_submitted == "auto-replied" else "bulk"
    msg["X-Maildesk-Loop"] = composer.loop_token
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    return msg.as_bytes()


@pytest.fixture
def composer(tmp_path, monkeypatch: pytest.MonkeyPatch) -> Composer:
    monkeypatch.setattr(compose_module, "utcnow", lambda: _NOW)
    monkeypatch.setattr(tokens, "new_message_id", lambda secret, domain: _MESSAGE_ID)
    settings = Settings(database_url=f"sqlite:///{tmp_path}/x.db", secret_key="unit-secret", data_dir=tmp_path,
                        support_address="support@example.com", base_url="https://help.example.com")
    return Composer(settings)


@pytest.mark.parametrize("kind", ["confirmation", "new_ticket", "magic_link"])
def test_composed_mail_is_byte_identical_to_the_email_message_build(composer: Composer, kind: str) -> None:
    ticket = Ticket(id=5, ticket_number="SUP-000005", subject="Änderung der Lieferadresse für Bestellung 12345",
                    root_message_id="abc@example.net")
    context = {"body": "Hello,\nmy order is late.\n"} if kind == "new_ticket" else {}
    if kind == "magic_link":
        ticket, context = None, {"link": "https://help.example.com/login/xyz"}
    for seed, (name, address) in enumerate((n, a) for n in _NAMES for a in _ADDRESSES):
        random.seed(seed)
        ours = composer.compose(kind, address, ticket, to_name=name, context=context)
        random.seed(seed)
        assert ours.raw == _reference(composer, kind, address, ticket, name, context), (name, address)
        assert ours.message_id == _MESSAGE_ID

def test_non_ascii_names_match_the_policy_in_many_shapes(monkeypatch: pytest.MonkeyPatch) -> None:
    fallbacks = []
    monkeypatch.setattr(wire, "formataddr", lambda pair: fallbacks.append(pair) or formataddr(pair))
    rng = random.Random(2047)
    ascii_words = ["Ada", "von", "O'Brien", "Jean-Luc", "de", "la", "123", "Papadopoulos", "a" * 30]
    wide = ["Chloé", "Müller", "Søren", "Łukasz", "Ñ", "李", "王小明", "Zoë-Ann", "ÀÉÎÕÜ" * 4, "Ωμέγα", "ß", "İ"]
    odd = ["Dr.", "a,b", "(x)", "😀", 'a"b', "=?x?=", "é.", "x@y"]
    wide_names = 0
    for _ in range(4000):
        words = [rng.choice(ascii_words + wide + (odd if rng.random() < 0.1 else [])) for _ in range(rng.randint(1, 7))]
        name = " ".join(words)
        address = rng.choice(_ADDRESSES + ["x@y", "a.b.c@d.e.f"])
        msg = EmailMessage(policy=email.policy.SMTP)
        msg["To"] = formataddr((name, address))
        expected = msg.as_bytes().split(b"\r\n\r\n", 1)[0] + b"\r\n"
        assert wire.mailbox_header("To", name, address).encode("ascii") == expected, (name, address)
        wide_names += not name.isascii()
    assert wide_names - len([p for p in fallbacks if not p[0].isascii()]) > 1000  # written directly


def test_a_name_written_directly() -> None:
    assert wire.mailbox_header("To", "Ada von Müller", "ada@example.net") == (
        "To: Ada von =?utf-8?q?M=C3=BCller?= <ada@example.net>\r\n")
    assert wire.mailbox_header("To", "Chloé de la Müller", "c@example.org") == (
        "To: =?utf-8?q?Chlo=C3=A9_de_la_M=C3=BCller?= <c@example.org>\r\n")
