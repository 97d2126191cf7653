"""The sender is the addr-spec in angle brackets, never display-name text (addresses.py)."""

from __future__ import annotations

import base64
import unicodedata
from email import policy
from email.parser import BytesHeaderParser

from hypothesis import given, settings
from hypothesis import strategies as st

from maildesk.mime.addresses import clean_display_name, parse_mailbox, parse_mailbox_list
from maildesk.mime.classify import Kind, classify
from maildesk.mime.parse import decode_header_text, parse_message

_ATOM = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-_+", min_size=1, max_size=12).filter(
    lambda s: s.strip(".") == s and ".." not in s
)
ADDRESSES = st.builds(lambda local, host: f"{local}@{host}.example", _ATOM, _ATOM.filter(lambda s: "+" not in s))
# Arbitrary text with the characters that confused parsers over-represented.
NAMES = st.text(
    alphabet=st.one_of(st.sampled_from('@<>",;:()\\\r\n\t =?_'), st.characters(blacklist_categories=("Cs",))), max_size=60
)


def _sender(value: str) -> str:
    box = parse_mailbox(value, decode_header_text)
    assert box is not None, value
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Cs") for c in box.name), box.name
    return box.address


def _quoted(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _encoded_b(name: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(name.encode("utf-8")).decode() + "?="


def _encoded_q(name: str) -> str:
    return "=?utf-8?q?" + "".join(f"={b:02X}" for b in name.encode("utf-8")) + "?="


@settings(max_examples=300, deadline=None)
@given(NAMES, ADDRESSES)
def test_quoted_display_name_never_becomes_the_sender(name: str, address: str) -> None:
    assert _sender(f"{_quoted(name)} <{address}>") == address


@settings(max_examples=300, deadline=None)
@given(NAMES, ADDRESSES, st.sampled_from([_encoded_b, _encoded_q]))
def test_encoded_word_display_name_never_becomes_the_sender(name: str, address: str, encode) -> None:
    box = parse_mailbox(f"{encode(name)} <{address}>", decode_header_text)
    assert box is not None and box.address == address
    # The decoded name is kept, cleaned of control characters and on one line.
    assert box.name == clean_display_name(name)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.one_of(st.sampled_from("@<>\r\n\t ="), st.characters(
    blacklist_characters='"(),:;\\', blacklist_categories=("Cs",))), max_size=60), ADDRESSES)
def test_unquoted_display_name_with_brackets_never_becomes_the_sender(name: str, address: str) -> None:
    """Invalid but seen in the wild: a bare display name holding "<other@address>"."""
    assert _sender(f"{name} <{address}>") == address


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(NAMES, ADDRESSES), min_size=1, max_size=5))
def test_mailbox_list_gives_each_angle_address(pairs: list[tuple[str, str]]) -> None:
    value = ", ".join(f"{_quoted(name)} <{address}>" for name, address in pairs)
    assert [b.address for b in parse_mailbox_list(value, decode_header_text)] == [a for _, a in pairs]


def test_known_forgeries() -> None:
    cases = {
        "victim@example.org <mallory@evil.example>": "mallory@evil.example",
        '"victim@example.org" <mallory@evil.example>': "mallory@evil.example",
        "alice@example.org)<bob@example.org>": "bob@example.org",
        '"alice@example.org\\"<victim@example.org>" <mallory@evil.example>': "mallory@evil.example",
        "victim@example.org <victim@example.org> <mallory@evil.example>": "mallory@evil.example",
        "=?utf-8?q?Eve=0D=0ABcc:_injected1@evil.example?= <eve@example.org>": "eve@example.org",
        "=?utf-8?q?x=0D=0Avictim@example.org?= <eve@example.org>": "eve@example.org",
        "=?utf-8?b?dmljdGltQGV4YW1wbGUub3JnLCA8dkB4Lnk+?= <m@evil.example>": "m@evil.example",
        "Re: help <mallory@evil.example>": "mallory@evil.example",
        "Bob <@relay.example,@r2.example:Bob@Example.ORG>": "bob@example.org",
        "plain@example.org (Plain Person)": "plain@example.org",
    }
    for value, expected in cases.items():
        assert _sender(value) == expected, value


def test_display_names_are_decoded_and_cleaned() -> None:
    box = parse_mailbox("=?utf-8?q?Eve=0D=0ABcc:_injected1@evil.example?= <eve@example.org>", decode_header_text)
    assert box is not None and box.name == "Eve Bcc: injected1@evil.example"
    box = parse_mailbox('"Ren\\"e\\" \u202eevil" <r@example.org>', decode_header_text)
    assert box is not None and box.name == 'Ren"e" evil'


def test_no_address_gives_nothing() -> None:
    for value in ("", "undisclosed-recipients:;", "Just A Name", "<>", "<not an address>", "a <b@>",
                  '"mallory victim"@example.org', '<"mallory victim"@example.org>',
                  "<victim@example.org mallory@evil.example>"):
        assert parse_mailbox(value, decode_header_text) is None, value


def test_groups_and_commas_in_lists() -> None:
    value = 'Team: a@example.org, "Doe, Jane" <jane@example.org>; Bob <bob@example.org>'
    assert [(b.name, b.address) for b in parse_mailbox_list(value, decode_header_text)] == [
        ("", "a@example.org"), ("Doe, Jane", "jane@example.org"), ("Bob", "bob@example.org"),
    ]


def test_parse_message_uses_angle_address_for_from_and_cc() -> None:
    raw = (
        b"From: victim@example.org <mallory@evil.example>\r\n"
        b"Cc: =?utf-8?q?x=0D=0Avictim@example.org,?= <friend@example.net>\r\n"
        b"Reply-To: \"victim@example.org\" <mallory@evil.example>\r\n"
        b"Subject: hi\r\n\r\nbody\r\n"
    )
    parsed = parse_message(raw)
    assert parsed.from_addr == "mallory@evil.example"
    assert parsed.from_name == "victim@example.org"
    assert parsed.cc == ("friend@example.net",)
    assert parsed.reply_to == ("mallory@evil.example",)


def test_long_hostile_header_is_bounded() -> None:
    value = ('"' + "a\\" * 20000 + '" <x@example.org>, ') + "(" * 30000 + "<" * 30000
    boxes = parse_mailbox_list(value, decode_header_text)
    assert len(boxes) <= 1000


def test_mail_system_senders_without_a_domain_are_read_for_classify() -> None:
    boxes = parse_mailbox_list("Mail Delivery System <MAILER-DAEMON>", bare_local=True)
    assert [b.address for b in boxes] == ["mailer-daemon"]
    assert [b.address for b in parse_mailbox_list("MAILER-DAEMON (Mail Delivery System)", bare_local=True)] == [
        "mailer-daemon"]
    assert parse_mailbox_list("Mail Delivery System", bare_local=True) == []
    assert parse_mailbox_list("Mail Delivery System <MAILER-DAEMON>") == []  # not a sender address
    headers = BytesHeaderParser(policy=policy.default).parsebytes(
        b"From: Mail Delivery System <MAILER-DAEMON>\r\nSubject: Undelivered\r\n\r\nbody\r\n")
    result = classify(headers, envelope_from="x@example.net", own_addresses=frozenset(), loop_token="t")
    assert result.kind is Kind.BOUNCE
    headers = BytesHeaderParser(policy=policy.default).parsebytes(
        b'From: "postmaster@example.net" <rita@example.org>\r\nSubject: hi\r\n\r\nbody\r\n')
    assert classify(headers, envelope_from="rita@example.org", own_addresses=frozenset(),
                    loop_token="t").kind is Kind.HUMAN
