"""maildesk never answers automatic mail: classification of real-world messages."""

from __future__ import annotations

import email
import email.policy
from email.message import Message
from email.parser import BytesHeaderParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maildesk.mime.classify import Classification, Kind, classify

DATA = Path(__file__).resolve().parent.parent / "data" / "auto"
OWN = frozenset({"support@example.com"})
TOKEN = "7f3c9a1e5b2d4c6f8a0b1c2d3e4f5a6b"
UNKNOWN = None  # envelope sender not known (IMAP): the Return-Path header decides


def load(name: str) -> Message:
    return email.message_from_bytes((DATA / name).read_bytes(), policy=email.policy.default)


def parse(text: str) -> Message:
    return email.message_from_bytes(text.replace("\n", "\r\n").encode("utf-8"), policy=email.policy.default)


def run(msg: Message, envelope_from: str | None = UNKNOWN, **kw) -> Classification:
    kw.setdefault("own_addresses", OWN)
    kw.setdefault("loop_token", TOKEN)
    return classify(msg, envelope_from=envelope_from, **kw)


# file, envelope sender, expected kind, fragment the reason must contain
CASES = [
    ("outlook_ooo.eml", UNKNOWN, Kind.AUTO_REPLY, "X-Auto-Response-Suppress: All"),
    ("gmail_vacation.eml", UNKNOWN, Kind.AUTO_REPLY, "Auto-Submitted: auto-replied"),
    ("exchange_ooo_xautoreply.eml", UNKNOWN, Kind.AUTO_REPLY, "X-Autoreply: yes"),
    ("cpanel_autoresponder.eml", UNKNOWN, Kind.AUTO_REPLY, "X-Autorespond"),
    ("vacation_precedence_auto_reply.eml", UNKNOWN, Kind.AUTO_REPLY, "Precedence: auto_reply"),
    ("helpdesk_autoack.eml", UNKNOWN, Kind.AUTO_REPLY, "Auto-Submitted: auto-generated"),
    ("read_receipt.eml", UNKNOWN, Kind.AUTO_REPLY, "disposition-notification"),
    ("read_receipt.eml", "", Kind.AUTO_REPLY, "disposition-notification"),
    ("loop_header_other.eml", UNKNOWN, Kind.AUTO_REPLY, "X-Maildesk-Loop of another maildesk instance"),
    ("mailing_list_post.eml", UNKNOWN, Kind.BULK, "List-Id: Developers <dev.example.org>"),
    ("newsletter.eml", UNKNOWN, Kind.BULK, "List-Unsubscribe: <https://news.shopexample.com/u/2741953"),
    ("postfix_dsn_511.eml", UNKNOWN, Kind.BOUNCE, "report-type=delivery-status"),
    ("postfix_dsn_delayed.eml", "", Kind.BOUNCE, "report-type=delivery-status"),
    ("gmail_bounce.eml", UNKNOWN, Kind.BOUNCE, "report-type=delivery-status"),
    ("exchange_ndr.eml", UNKNOWN, Kind.BOUNCE, "report-type=delivery-status"),
    ("exchange_ndr_text.eml", UNKNOWN, Kind.BOUNCE, "From is a mail system: postmaster@fabrikam.example"),
    ("exim_bounce.eml", UNKNOWN, Kind.BOUNCE, "Return-Path is empty"),
    ("exim_bounce.eml", "relay@example.org", Kind.BOUNCE, "From is a mail system: mailer-daemon@mail.example.org"),
    ("qmail_bounce.eml", "", Kind.BOUNCE, "envelope sender is empty"),
    ("qmail_bounce.eml", "<>", Kind.BOUNCE, "envelope sender is empty"),
    ("postfix_nodsn_text.eml", UNKNOWN, Kind.BOUNCE, "Return-Path is empty"),
    ("mailer_daemon_from.eml", UNKNOWN, Kind.BOUNCE, "From is a mail system: mailer-daemon@relay.example.net"),
    ("postmaster_from.eml", UNKNOWN, Kind.BOUNCE, "From is a mail system: postmaster@example.net"),
    ("own_support_from.eml", UNKNOWN, Kind.LOOP, "From is our own address: support@example.com"),
    ("own_plus_tag_from.eml", UNKNOWN, Kind.LOOP, "From is our own address: support+sup-00042@example.com"),
    ("loop_header_ours.eml", UNKNOWN, Kind.LOOP, "X-Maildesk-Loop carries our instance token"),
    ("human_gmail.eml", "lena.fischer87@gmail.com", Kind.HUMAN, "no automatic-mail signal"),
    ("human_gmail.eml", UNKNOWN, Kind.HUMAN, "no automatic-mail signal"),
    ("human_re_out_of_office.eml", UNKNOWN, Kind.HUMAN, "no automatic-mail signal"),
    ("human_apple_mail_ooo_subject.eml", UNKNOWN, Kind.HUMAN, "no automatic-mail signal"),
    ("human_outlook_reply.eml", "jana.novak@contoso.com", Kind.HUMAN, "no automatic-mail signal"),
    ("human_auto_submitted_no.eml", UNKNOWN, Kind.HUMAN, "no automatic-mail signal"),
    ("human_precedence_first_class.eml", UNKNOWN, Kind.HUMAN, "no automatic-mail signal"),
    ("human_malformed_headers.eml", UNKNOWN, Kind.HUMAN, "no automatic-mail signal"),
]


@pytest.mark.parametrize(
    ("name", "envelope_from", "kind", "reason"),
    CASES,
    ids=[f"{c[0]}-{'imap' if c[1] is None else repr(c[1])}" for c in CASES],
)
def test_sample_messages(name, envelope_from, kind, reason):
    result = run(load(name), envelope_from)
    assert result.kind is kind, result.reason
    assert reason in result.reason
    assert result.automatic is (kind is not Kind.HUMAN)


def test_every_sample_file_is_covered():
    assert {c[0] for c in CASES} == {p.name for p in DATA.glob("*.eml")}
    assert len(list(DATA.glob("*.eml"))) >= 20


def test_sample_files_use_crlf_line_ends():
    for path in DATA.glob("*.eml"):
        data = path.read_bytes()
        assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b""), path.name


def test_malformed_sample_really_raises_under_policy_default():
    # Guards the premise of human_malformed_headers.eml: reading these headers raises.
    msg = load("human_malformed_headers.eml")
    with pytest.raises(Exception):
        str(msg["From"])
    with pytest.raises(Exception):
        str(msg["Message-ID"])


# -- the envelope sender ------------------------------------------------------


def test_known_envelope_sender_wins_over_a_stale_return_path_header():
    msg = parse("Return-Path: <>\nFrom: ann@example.net\nSubject: hi\n\nhello\n")
    assert run(msg, "ann@example.net").kind is Kind.HUMAN
    assert run(msg, UNKNOWN).kind is Kind.BOUNCE


def test_empty_envelope_sender_makes_any_message_a_bounce():
    result = run(load("human_gmail.eml"), "")
    assert result.kind is Kind.BOUNCE
    assert result.reason == "envelope sender is empty"


def test_topmost_return_path_decides():
    msg = parse("Return-Path: <ann@example.net>\nReturn-Path: <>\nFrom: ann@example.net\n\nhi\n")
    assert run(msg).kind is Kind.HUMAN
    msg = parse("Return-Path: <>\nReturn-Path: <ann@example.net>\nFrom: ann@example.net\n\nhi\n")
    assert run(msg).kind is Kind.BOUNCE


@pytest.mark.parametrize(
    ("envelope_from", "return_path", "reason"),
    [("MAILER-DAEMON", "", "envelope sender is a mail system: mailer-daemon"),
     (UNKNOWN, "Return-Path: <MAILER-DAEMON@mx.example.net>\n", "Return-Path is a mail system"),
     ("<postmaster@mx.example.net>", "", "envelope sender is a mail system: postmaster@mx.example.net")],
)
def test_mail_system_as_return_path_is_a_bounce(envelope_from, return_path, reason):
    msg = parse(f"{return_path}From: Delivery Notice <notice@mx.example.net>\nSubject: note\n\nx\n")
    result = run(msg, envelope_from)
    assert result.kind is Kind.BOUNCE
    assert reason in result.reason


def test_envelope_sender_that_is_our_own_address_is_a_loop():
    result = run(load("human_gmail.eml"), "support+bounce-abc@example.com")
    assert result.kind is Kind.LOOP
    assert "envelope sender is our own address" in result.reason


# -- loop protection ----------------------------------------------------------


@pytest.mark.parametrize(
    "sender",
    ["support@example.com", "SUPPORT@EXAMPLE.COM", "support+billing@example.com", "Support+SUP-00001@Example.com"],
)
def test_own_addresses_and_their_plus_tags_are_loops(sender):
    msg = parse(f"From: Someone <{sender}>\nSubject: hi\n\nhello\n")
    assert run(msg).kind is Kind.LOOP


@pytest.mark.parametrize(
    "sender", ["support@other.example", "support+x@other.example", "support-team@example.com", "xsupport@example.com"]
)
def test_look_alike_addresses_are_not_loops(sender):
    msg = parse(f"From: Someone <{sender}>\nSubject: hi\n\nhello\n")
    assert run(msg).kind is Kind.HUMAN


@pytest.mark.parametrize(
    "value",
    ["support@example.com", "SUPPORT@Example.COM", "<support@example.com>", " < Support@example.com > ",
     "support+billing@example.com", "<Support+SUP-00001@Example.com>", "Acme Support <support@example.com>",
     "lists@other.example, <support@example.com>", "support@example.com (our own)"],
)
def test_x_loop_naming_our_own_address_is_a_loop(value):
    msg = parse(f"From: ann@example.net\nX-Loop: {value}\nSubject: hi\n\nhello\n")
    result = run(msg, "ann@example.net")
    assert result.kind is Kind.LOOP and result.automatic
    assert "X-Loop names our own address" in result.reason


@pytest.mark.parametrize("value", ["lists@other.example", "support@other.example", "xsupport@example.com",
                                   "support-team@example.com", ""])
def test_x_loop_naming_another_address_is_not_a_signal(value):
    msg = parse(f"From: ann@example.net\nX-Loop: {value}\nSubject: hi\n\nhello\n")
    assert run(msg, "ann@example.net").kind is Kind.HUMAN


def test_own_addresses_are_compared_case_insensitively_even_if_given_mixed_case():
    msg = parse("From: support@example.com\n\nhi\n")
    assert run(msg, own_addresses=frozenset({"Support@Example.COM"})).kind is Kind.LOOP


def test_loop_is_checked_before_everything_else():
    msg = load("own_support_from.eml")
    msg["Auto-Submitted"] = "auto-replied"
    msg["List-Id"] = "<x.example.org>"
    assert run(msg, "").kind is Kind.LOOP


def test_loop_header_needs_a_token_to_match():
    msg = load("loop_header_other.eml")
    # With an empty configured token nothing is "ours", but the header still marks a machine.
    assert run(msg, loop_token="").kind is Kind.AUTO_REPLY
    assert run(msg, loop_token="0123456789abcdef0123456789abcdef").kind is Kind.LOOP


# -- auto-replies -------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["auto-replied", "auto-generated", "AUTO-REPLIED", "auto-replied; owner-email=\"a@b.example\"", "auto-notified"],
)
def test_auto_submitted_other_than_no_is_automatic(value):
    msg = parse(f"From: a@example.net\nAuto-Submitted: {value}\n\nhi\n")
    result = run(msg)
    assert result.kind is Kind.AUTO_REPLY
    assert result.reason.startswith("Auto-Submitted:")


@pytest.mark.parametrize("value", ["no", "No", "no (sent by a person)", ""])
def test_auto_submitted_no_is_human(value):
    msg = parse(f"From: a@example.net\nAuto-Submitted: {value}\n\nhi\n")
    assert run(msg).kind is Kind.HUMAN


@pytest.mark.parametrize("header", ["X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress"])
def test_vendor_auto_reply_headers(header):
    msg = parse(f"From: a@example.net\n{header}: yes\n\nhi\n")
    result = run(msg)
    assert result.kind is Kind.AUTO_REPLY
    assert header in result.reason


def test_explicit_negative_vendor_header_is_not_a_signal():
    assert run(parse("From: a@example.net\nX-Autoreply: no\n\nhi\n")).kind is Kind.HUMAN


@pytest.mark.parametrize("subject", ["Automatic reply: holiday", "Out of Office: back Monday", "Autoreply", "Abwesend"])
def test_subject_alone_is_never_enough(subject):
    assert run(parse(f"From: a@example.net\nSubject: {subject}\n\nhi\n")).kind is Kind.HUMAN


def test_auto_reply_wins_over_bulk():
    msg = parse("From: a@example.net\nPrecedence: bulk\nAuto-Submitted: auto-replied\nList-Id: <l.example>\n\nhi\n")
    assert run(msg).kind is Kind.AUTO_REPLY


def test_other_reports_are_automatic_but_not_bounces():
    msg = parse(
        "From: abuse@isp.example\nContent-Type: multipart/report; report-type=feedback-report; boundary=b\n\n"
        "--b\nContent-Type: text/plain\n\ncomplaint\n--b--\n"
    )
    result = run(msg)
    assert result.kind is Kind.AUTO_REPLY
    assert "feedback-report" in result.reason


# -- bounces ------------------------------------------------------------------


@pytest.mark.parametrize(
    "sender",
    ["MAILER-DAEMON@mx.example.net", "Mailer-Daemon@example.net", "postmaster@example.net",
     "MAILER-DAEMON (Mail Delivery System)", "Mail Delivery System <POSTMASTER@example.net>"],
)
def test_mail_system_senders_are_bounces(sender):
    msg = parse(f"From: {sender}\nSubject: Undelivered Mail\n\nsorry\n")
    result = run(msg, "relay@example.net")
    assert result.kind is Kind.BOUNCE
    assert "From is a mail system" in result.reason


def test_x_failed_recipients_is_a_bounce():
    msg = parse("From: Mail Delivery <noreply@example.net>\nX-Failed-Recipients: a@example.org\n\nx\n")
    result = run(msg, "relay@example.net")
    assert result.kind is Kind.BOUNCE
    assert "X-Failed-Recipients: a@example.org" in result.reason


def test_report_without_report_type_is_recognised_by_its_status_part():
    msg = parse(
        "From: relay@example.net\nContent-Type: multipart/report; boundary=b\n\n"
        "--b\nContent-Type: text/plain\n\nfailed\n--b\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; x\n\nFinal-Recipient: rfc822; a@b.example\nAction: failed\nStatus: 5.0.0\n--b--\n"
    )
    assert run(msg, "relay@example.net").kind is Kind.BOUNCE


def test_bounce_wins_over_auto_reply_and_bulk():
    msg = load("postfix_dsn_511.eml")  # Postfix also sets Auto-Submitted: auto-replied
    assert msg["Auto-Submitted"] == "auto-replied"
    assert run(msg).kind is Kind.BOUNCE


# -- bulk ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "value"),
    [("Precedence", "bulk"), ("Precedence", "junk"), ("Precedence", "list"), ("Precedence", "Bulk"),
     ("List-Post", "<mailto:l@example.org>"), ("List-Unsubscribe", "<mailto:u@example.org>"),
     ("List-Id", "<l.example.org>"), ("Mailing-List", "contact l-help@example.org; run by ezmlm")],
)
def test_bulk_signals(header, value):
    result = run(parse(f"From: a@example.net\n{header}: {value}\n\nhi\n"))
    assert result.kind is Kind.BULK
    assert result.reason.startswith(header)


# -- robustness ---------------------------------------------------------------


def test_reason_is_short_and_single_line_even_for_hostile_headers():
    long_value = "x" * 5000
    msg = parse(f"From: a@example.net\nList-Id: <{long_value}>\n\thidden\n\nhi\n")
    reason = run(msg).reason
    assert len(reason) <= 120
    assert "\n" not in reason and "\r" not in reason


def test_undecodable_header_bytes_do_not_leak_surrogates():
    raw = b"From: a@example.net\r\nList-Id: Caf\xe9 list <cafe.example.org>\r\n\r\nhi\r\n"
    reason = run(email.message_from_bytes(raw, policy=email.policy.default)).reason
    reason.encode("utf-8")  # must be storable as UTF-8
    assert "cafe.example.org" in reason


def test_messages_parsed_with_the_compat32_policy_work_too():
    msg = email.message_from_bytes((DATA / "gmail_vacation.eml").read_bytes())
    assert run(msg).kind is Kind.AUTO_REPLY


def test_kind_is_a_string_enum():
    assert Kind.HUMAN == "human" and Kind("auto_reply") is Kind.AUTO_REPLY
    assert not Classification(Kind.HUMAN, "x").automatic
    assert Classification(Kind.LOOP, "x").automatic


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    raw=st.binary(max_size=2000),
    envelope_from=st.one_of(st.none(), st.just(""), st.text(max_size=40)),
    token=st.text(max_size=40),
)
def test_classify_never_raises_on_arbitrary_bytes(raw, envelope_from, token):
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    result = classify(msg, envelope_from=envelope_from, own_addresses=OWN, loop_token=token)
    assert isinstance(result.kind, Kind)
    # The fail-closed safety net must not be what kept us from raising.
    assert not result.reason.startswith("unclassifiable")


_HEADER_LINES = st.sampled_from([
    b"From: ", b"Return-Path: ", b"Auto-Submitted: ", b"Precedence: ", b"List-Id: ", b"X-Maildesk-Loop: ",
    b"Content-Type: multipart/report; report-type=", b"Content-Type: ", b"X-Autoreply: ", b"Message-ID: ",
])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_HEADER_LINES, st.binary(max_size=60)), max_size=12), st.binary(max_size=300))
def test_classify_never_raises_on_hostile_known_headers(headers, body):
    raw = b"".join(name + value + b"\r\n" for name, value in headers) + b"\r\n" + body
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    result = classify(msg, envelope_from=None, own_addresses=OWN, loop_token=TOKEN)
    assert not result.reason.startswith("unclassifiable")
    result.reason.encode("utf-8")


_SAMPLES = sorted(p.name for p in DATA.glob("*.eml"))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_SAMPLES), st.data())
def test_classify_never_raises_on_mutated_real_messages(name, data):
    raw = bytearray((DATA / name).read_bytes())
    for _ in range(data.draw(st.integers(1, 5))):
        start = data.draw(st.integers(0, len(raw)))
        end = data.draw(st.integers(start, min(len(raw), start + 40)))
        raw[start:end] = data.draw(st.binary(max_size=40))
    msg = email.message_from_bytes(bytes(raw), policy=email.policy.default)
    result = classify(msg, envelope_from=data.draw(st.sampled_from([None, "", "a@example.net"])),
                      own_addresses=OWN, loop_token=TOKEN)
    assert not result.reason.startswith("unclassifiable")
    assert "\n" not in result.reason and len(result.reason) <= 120


@pytest.mark.parametrize(("name", "envelope_from", "kind", "reason"), CASES)
def test_headers_only_parse_gives_the_same_answer(name, envelope_from, kind, reason):
    # The pipeline classifies a header-only parse (email.parser.BytesHeaderParser).
    headers = BytesHeaderParser(policy=email.policy.default).parsebytes((DATA / name).read_bytes())
    result = run(headers, envelope_from)
    assert result.kind is kind and reason in result.reason


# --- the pipeline's shortcut: the header fields the parse step already read --------------------

_ALL_SAMPLES = sorted((DATA.parent).glob("**/*.eml"))
_FROM_VALUES = [
    "Ada Lovelace <ada@example.org>", "ada@example.org", "Support <SUPPORT@example.com>",
    "support+SUP-00042@example.com", "MAILER-DAEMON@relay.example.net", "Mail Delivery <postmaster@x.example>",
    "=?utf-8?q?Chlo=C3=A9_Dubois?= <chloe@example.org>", "=?utf-8?q?evil=40x.com=3E?= <ada@example.org>",
    "=?utf-8?q?support=40example.com?= <ada@example.org>", "MAILER-DAEMON (Mail Delivery System)",
    '"Support, Team" <support@example.com>', "ada@example.org, support@example.com", "Ada <ada@example.org",
    "<>", "", "Post Master<postmaster@x.example>", "a.b.@example.org", "x <support@example.com> y",
]


def _both_ways(raw: bytes, envelope_from: str | None) -> tuple[Classification, Classification] | None:
    """(a fresh header-only parse, the parse step's fields) classified; None when the parse
    saw a changed header block (the pipeline then parses the header block itself)."""
    from maildesk.mime.classify import header_message
    from maildesk.mime.parse import parse_message
    from maildesk.mime.rawlines import header_end

    parsed = parse_message(raw)
    if parsed.raw_headers is None:
        return None
    reread = BytesHeaderParser(policy=email.policy.default).parsebytes(raw[: header_end(raw, 0)])
    return run(reread, envelope_from), run(header_message(parsed.raw_headers), envelope_from)


def test_the_parse_steps_header_fields_classify_like_a_fresh_header_parse():
    compared = 0
    for path in _ALL_SAMPLES:
        for envelope_from in (UNKNOWN, "", "someone@example.net"):
            both = _both_ways(path.read_bytes(), envelope_from)
            if both is not None:
                assert both[1] == both[0], path.name
                compared += 1
    assert compared >= 3 * (len(_ALL_SAMPLES) - 2)


@pytest.mark.parametrize("value", _FROM_VALUES)
def test_plain_from_values_read_without_the_structured_parser_classify_the_same(value):
    raw = f"From: {value}\r\nSubject: hello\r\n\r\nbody\r\n".encode()
    both = _both_ways(raw, "someone@example.net")
    assert both is not None and both[1] == both[0]


def test_our_own_address_in_a_plain_from_is_still_a_loop():
    both = _both_ways(b"From: Support <SUPPORT@example.com>\r\n\r\nhi\r\n", "x@example.net")
    assert both is not None
    shortcut = both[1]
    assert shortcut.kind is Kind.LOOP and "From is our own address" in shortcut.reason
