"""A realistic, reproducible corpus of inbound support mail for the benchmarks.

Messages are what customers' clients send: new requests and replies to them. A reply names
its original by In-Reply-To/References and comes from the same person, so maildesk threads it
into that ticket; the senders (common.send_all) send a reply only after its original was
accepted. Bodies are mixed the way real mail is: UTF-8 8bit, ISO-8859-1 quoted-printable,
UTF-8 base64, and some multipart/alternative with an HTML part; 10% carry a 100 KB attachment.
Each customer writes at most a few new requests, so maildesk's per-address cap on automatic
mail (10 an hour) never suppresses a confirmation the benchmark waits for.

    messages = corpus.generate(1000, seed=1)
    raw = messages[0].raw            # bytes, CRLF line ends, ready for SMTP DATA
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

SUPPORT = "support@example.com"
REPLY_SHARE = 0.3
ATTACHMENT_SHARE = 0.10
ATTACHMENT_BYTES = 100 * 1024
# A reply follows its original by at least this many messages, so concurrent senders rarely
# have to wait for the original's 250 (they do wait when they must).
_MIN_REPLY_DISTANCE = 24
_REQUESTS_PER_CUSTOMER = 3

_FIRST = ["Ada", "Bruno", "Chloé", "Dmitri", "Eszter", "François", "Grete", "Hiroshi", "Inès", "Jürgen",
          "Kasia", "Lars", "Marta", "Núria", "Oskar", "Paulina", "Quentin", "Renée", "Søren", "Tomás"]
_LAST = ["Lovelace", "Müller", "Dubois", "Ivanov", "Kovács", "Martín", "Nowak", "García", "Østergaard",
         "Rossi", "Bianchi", "Schäfer", "Andersson", "Novák", "Leclerc", "Papadopoulos"]
_TOPICS = [
    ("Cannot log in", "the password reset link never arrives, I tried three times since this morning"),
    ("Refund for order {n}", "the parcel arrived damaged and I would like my money back — photos attached"),
    ("Invoice missing", "I need the invoice for order {n} for my accountant, with our VAT number"),
    ("Payment failed", "my card was charged twice (2 × 49,90 €) but the order shows as unpaid"),
    ("Listing removed", "my listing {n} disappeared without any explanation; what rule did it break?"),
    ("Änderung der Lieferadresse", "bitte ändern Sie die Lieferadresse für Bestellung {n} auf Straße 5"),
    ("Problème de connexion", "je n'arrive plus à me connecter depuis la mise à jour, ça affiche « erreur »"),
    ("Account locked", "after entering my code my account says locked; I travel next week and need access"),
    ("Bug in search", "searching for 'café crème' returns nothing although there are items with that name"),
    ("Seller does not answer", "I paid for order {n} ten days ago and the seller never replied to me"),
]
_FILLER = (
    "I have attached what I could find. The order page shows the same status as yesterday and the "
    "app says to contact support. Could you please have a look and tell me what to do next? "
    "My customer number is {n}; the phone number on the account is still the old one. "
)
_SIGNATURES = ["--\n{name}\nSent from my phone", "Best regards,\n{name}", "Mit freundlichen Grüßen\n{name}",
               "Cordialement,\n{name}", "Thanks,\n{name}\n\n-- \n{name} | Example Trading Ltd | +44 20 7946 0000"]
_STYLES = ("utf8-8bit", "latin1-qp", "utf8-base64", "html-alternative")


@dataclass
class Message:
    index: int
    raw: bytes
    message_id: str  # without <>
    sender: str
    reply_to_index: int | None  # the original this one answers, when it is a reply

    @property
    def is_reply(self) -> bool:
        return self.reply_to_index is not None


def _body(rng: random.Random, topic: str, name: str, n: int) -> str:
    paragraphs = [f"Hello,\n\n{topic.format(n=n)}."]
    for _ in range(rng.randint(1, 4)):
        paragraphs.append(_FILLER.format(n=n + rng.randint(1, 999)) * rng.randint(1, 3))
    paragraphs.append(rng.choice(_SIGNATURES).format(name=name))
    return "\n\n".join(paragraphs) + "\n"


def _html(text: str) -> str:
    paras = "".join(f"<p>{p.replace(chr(10), '<br>')}</p>" for p in text.split("\n\n"))
    return (f'<html><head><style>p {{ font-family: Arial; }}</style></head>'
            f'<body><div dir="ltr">{paras}</div></body></html>')


def _set_body(msg: EmailMessage, text: str, style: str) -> None:
    if style == "utf8-8bit":
        msg.set_content(text, charset="utf-8", cte="8bit")
    elif style == "latin1-qp":
        msg.set_content(text.encode("latin-1", "replace").decode("latin-1"), charset="iso-8859-1",
                        cte="quoted-printable")
    elif style == "utf8-base64":
        msg.set_content(text, charset="utf-8", cte="base64")
    else:
        msg.set_content(text, charset="utf-8", cte="quoted-printable")
        msg.add_alternative(_html(text), subtype="html", charset="utf-8", cte="quoted-printable")


def generate(count: int, seed: int = 1, *, run_tag: str = "") -> list[Message]:
    """`count` messages in sending order; Message-IDs are unique per (seed, run_tag)."""
    rng = random.Random(seed)
    tag = run_tag or f"s{seed}"
    out: list[Message] = []
    originals: list[int] = []
    subjects: dict[int, str] = {}
    bodies: dict[int, str] = {}
    names: dict[int, str] = {}
    start = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
    customer = 0
    requests_of_customer = _REQUESTS_PER_CUSTOMER
    for i in range(count):
        eligible = [o for o in originals if o <= i - _MIN_REPLY_DISTANCE]
        is_reply = bool(eligible) and rng.random() < REPLY_SHARE
        msg = EmailMessage()
        message_id = f"{tag}.{i}.{rng.getrandbits(48):012x}@mail.client{i % 7}.example.net"
        if is_reply:
            original = out[rng.choice(eligible[-200:])]
            sender = original.sender
            name = names[original.index]
            subject = "Re: " + subjects[original.index]
            quoted = "\n".join("> " + line for line in bodies[original.index].splitlines())
            text = (_body(rng, "Any news on this? {n} days have passed", name, rng.randint(2, 9))
                    + f"\nOn Mon, 23 Nov 2026 at 10:{i % 60:02d}, {name} wrote:\n" + quoted + "\n")
            msg["In-Reply-To"] = f"<{original.message_id}>"
            msg["References"] = f"<{original.message_id}>"
            reply_to_index = original.index
        else:
            if requests_of_customer >= rng.randint(1, _REQUESTS_PER_CUSTOMER):
                customer += 1
                requests_of_customer = 0
            requests_of_customer += 1
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            name = f"{first} {last}"
            sender = f"customer{customer}.{tag}@example.org"
            topic, sentence = rng.choice(_TOPICS)
            n = rng.randint(10000, 99999)
            subject = topic.format(n=n)
            text = _body(rng, sentence, name, n)
            reply_to_index = None
        msg["From"] = f"{name} <{sender}>"
        msg["To"] = f"Support <{SUPPORT}>"
        msg["Subject"] = subject
        msg["Date"] = format_datetime(start + timedelta(seconds=7 * i))
        msg["Message-ID"] = f"<{message_id}>"
        msg["User-Agent"] = rng.choice(["Mozilla Thunderbird", "Microsoft Outlook 16.0", "Apple Mail (2.3731)"])
        style = rng.choice(_STYLES)
        _set_body(msg, text, style)
        if rng.random() < ATTACHMENT_SHARE:
            data = rng.randbytes(ATTACHMENT_BYTES)
            kind = rng.choice([("application", "pdf", "invoice.pdf"), ("image", "jpeg", "Foto_Schaden.jpg"),
                               ("application", "zip", "logs.zip")])
            msg.add_attachment(data, maintype=kind[0], subtype=kind[1], filename=kind[2])
        raw = msg.as_bytes(policy=SMTP)
        if not is_reply:
            originals.append(i)
            subjects[i] = subject
            bodies[i] = text
            names[i] = name
        out.append(Message(i, raw, message_id, sender, reply_to_index))
    return out


def describe(messages: list[Message]) -> str:
    replies = sum(m.is_reply for m in messages)
    attachments = sum(b"Content-Disposition: attachment" in m.raw for m in messages)
    total = sum(len(m.raw) for m in messages)
    return (f"{len(messages)} messages: {len(messages) - replies} new requests, {replies} replies, "
            f"{attachments} with a 100 KB attachment; {total / len(messages) / 1024:.1f} KB average")


if __name__ == "__main__":
    sample = generate(200)
    print(describe(sample))
    print(sample[0].raw[:1500].decode("utf-8", "replace"))
