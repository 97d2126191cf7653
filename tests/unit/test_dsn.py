"""Bounces tell maildesk which recipient failed, why, and which of its messages bounced."""

from __future__ import annotations

import email
import email.policy
from email.message import Message
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maildesk.mime import dsn
from maildesk.mime.dsn import BounceReport, FailedRecipient, parse_bounce

DATA = Path(__file__).resolve().parent.parent / "data" / "auto"


def load(name: str) -> Message:
    return email.message_from_bytes((DATA / name).read_bytes(), policy=email.policy.default)


def parse(text: str) -> Message:
    return email.message_from_bytes(text.replace("\n", "\r\n").encode("utf-8"), policy=email.policy.default)


# file, original Message-ID, recipient, action, status, permanent, diagnostic fragment, VERP token
BOUNCES = [
    ("postfix_dsn_511.eml", "20240312101500.4f9a2c1e7b3d@support.example.com", "nobody@example.net",
     "failed", "5.1.1", True,
     "smtp; 550 5.1.1 <nobody@example.net>: Recipient address rejected: User unknown in virtual mailbox table",
     "q7Zp3kLm9X"),
    ("postfix_dsn_delayed.eml", "20240312102000.5b4a3c2d1e0f@support.example.com", "alice@slow.example.net",
     "delayed", "4.4.1", False,
     "X-Postfix; connect to mx.slow.example.net[198.51.100.7]:25: Connection timed out", "Lw2Vb8Nn0K"),
    ("gmail_bounce.eml", "20240313090000.9c8d7e6f5a4b@support.example.com", "no.such.user.4711@gmail.com",
     "failed", "5.1.1", True,
     "smtp; 550-5.1.1 The email account that you tried to reach does not exist. Please try 550-5.1.1", None),
    ("exchange_ndr.eml", "20240314083000.1f2e3d4c5b6a@support.example.com", "former.employee@contoso.com",
     "failed", "5.1.10", True, "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient Former.Employee@contoso.com",
     "Hh7Gg6Ff5E"),
    ("exchange_ndr_text.eml", "20240314091200.2a3b4c5d6e7f@support.example.com", "old.account@fabrikam.example",
     "failed", "5.1.1", True, "#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found", None),
    ("exim_bounce.eml", "20240315120000.aa11bb22cc33@support.example.com", "gone@example.org",
     "failed", "5.1.1", True,
     "host mx.example.org [203.0.113.10]: 550 5.1.1 <gone@example.org>: Recipient address rejected: User unknown",
     "Zx81QwErTy"),
    ("qmail_bounce.eml", "20240315130500.dd44ee55ff66@support.example.com", "ghost@example.info",
     "failed", "5.1.1", True, "Remote host said: 550 5.1.1 <ghost@example.info>... User unknown", "Qm42rTy7Ui"),
    ("postfix_nodsn_text.eml", "20240315144000.0a1b2c3d4e5f@support.example.com", "mailbox.full@oldhost.example",
     "failed", "5.2.2", True,
     "552 5.2.2 <mailbox.full@oldhost.example>: Mailbox full: quota exceeded (in reply to RCPT",
     "Pp9Oo8Ii7U"),
    ("mailer_daemon_from.eml", "20240316080100.6f5e4d3c2b1a@support.example.com", "left.company@example.net",
     "failed", "5.1.1", True, "(reason: 550 5.1.1 <left.company@example.net>... User unknown)", None),
]


@pytest.mark.parametrize(
    ("name", "message_id", "address", "action", "status", "permanent", "diagnostic", "verp"),
    BOUNCES,
    ids=[b[0] for b in BOUNCES],
)
def test_sample_bounces(name, message_id, address, action, status, permanent, diagnostic, verp):
    report = parse_bounce(load(name))
    assert isinstance(report, BounceReport)
    assert report.original_message_id == message_id
    assert len(report.recipients) == 1
    recipient = report.recipients[0]
    assert recipient.address == address
    assert recipient.action == action
    assert recipient.status == status
    assert recipient.permanent is permanent
    assert diagnostic in recipient.diagnostic
    assert "\n" not in recipient.diagnostic and len(recipient.diagnostic) <= 500
    assert report.verp_recipient == verp


@pytest.mark.parametrize(
    "name",
    [
        "outlook_ooo.eml", "gmail_vacation.eml", "exchange_ooo_xautoreply.eml", "cpanel_autoresponder.eml",
        "helpdesk_autoack.eml", "read_receipt.eml", "mailing_list_post.eml", "newsletter.eml",
        "own_support_from.eml", "loop_header_ours.eml", "loop_header_other.eml", "human_gmail.eml",
        "human_re_out_of_office.eml", "human_outlook_reply.eml", "human_apple_mail_ooo_subject.eml",
        "human_malformed_headers.eml", "vacation_precedence_auto_reply.eml",
    ],
)
def test_messages_that_are_not_bounces_give_none(name):
    assert parse_bounce(load(name)) is None


def test_notice_from_postmaster_without_details_is_a_bounce_with_no_recipients():
    report = parse_bounce(load("postmaster_from.eml"))
    assert report == BounceReport(original_message_id=None, recipients=(), verp_recipient=None)


def test_permanence_needs_a_failure_with_a_5xx_status():
    assert FailedRecipient("a@b.example", "failed", "5.1.1", "").permanent
    assert not FailedRecipient("a@b.example", "failed", "4.4.7", "").permanent
    assert not FailedRecipient("a@b.example", "delayed", "4.4.1", "").permanent
    assert not FailedRecipient("a@b.example", "delivered", "2.0.0", "").permanent


# -- RFC 3464 details ---------------------------------------------------------

DSN = """From: MAILER-DAEMON@mx.example.com
To: support+bounce-Tok3n@example.com
Subject: Delivery report
Content-Type: multipart/report; report-type=delivery-status; boundary=b

--b
Content-Type: text/plain

Delivery report.
--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.com

{blocks}
--b--
"""


def dsn_with(blocks: str, extra_headers: str = "") -> Message:
    text = DSN.replace("{blocks}", blocks)
    return parse(extra_headers + text)


def test_several_recipients_in_one_report():
    report = parse_bounce(dsn_with(
        "Final-Recipient: rfc822; one@example.net\nAction: failed\nStatus: 5.2.1\n"
        "Diagnostic-Code: smtp; 550 5.2.1 mailbox disabled\n\n"
        "Final-Recipient: rfc822; two@example.net\nAction: delivered\nStatus: 2.0.0\n\n"
        "Final-Recipient: rfc822; three@example.net\nAction: relayed\nStatus: 2.0.0\n"
    ))
    assert [(r.address, r.action, r.status, r.permanent) for r in report.recipients] == [
        ("one@example.net", "failed", "5.2.1", True),
        ("two@example.net", "delivered", "2.0.0", False),
        ("three@example.net", "relayed", "2.0.0", False),
    ]


def test_missing_status_and_action_are_inferred_from_the_diagnostic():
    report = parse_bounce(dsn_with(
        "Final-Recipient: rfc822; a@example.net\nDiagnostic-Code: smtp; 552 5.2.2 over quota\n"
    ))
    assert report.recipients[0].status == "5.2.2"
    assert report.recipients[0].action == "failed"
    report = parse_bounce(dsn_with("Final-Recipient: rfc822; a@example.net\nAction: failed\n"
                                   "Diagnostic-Code: smtp; 550 no such user\n"))
    assert report.recipients[0].status == "5.0.0"


def test_original_recipient_is_preferred_and_lowercased():
    report = parse_bounce(dsn_with(
        "Original-Recipient: rfc822;Info@Shop.Example\nFinal-Recipient: rfc822; owner@mail.shop.example\n"
        "Action: failed\nStatus: 5.1.1\n"
    ))
    assert report.recipients[0].address == "info@shop.example"


def test_diagnostic_is_decoded_single_line_and_bounded():
    long_text = " ".join(["word"] * 400)
    report = parse_bounce(dsn_with(
        "Final-Recipient: rfc822; a@example.net\nAction: failed\nStatus: 5.7.1\n"
        f"Diagnostic-Code: smtp; 550 5.7.1 =?utf-8?q?Nachricht_abgelehnt=3A_Spam?=\n  {long_text}\n"
    ))
    diagnostic = report.recipients[0].diagnostic
    assert diagnostic.startswith("smtp; 550 5.7.1 Nachricht abgelehnt: Spam word word")
    assert len(diagnostic) <= 500
    assert "\n" not in diagnostic and "\r" not in diagnostic


def test_message_id_falls_back_to_in_reply_to_then_references():
    blocks = "Final-Recipient: rfc822; a@example.net\nAction: failed\nStatus: 5.1.1\n"
    report = parse_bounce(dsn_with(blocks, "In-Reply-To: <orig-1@support.example.com>\n"))
    assert report.original_message_id == "orig-1@support.example.com"
    report = parse_bounce(dsn_with(blocks, "References: <first@x.example> <orig-2@support.example.com>\n"))
    assert report.original_message_id == "orig-2@support.example.com"
    assert parse_bounce(dsn_with(blocks)).original_message_id is None


def test_message_id_of_returned_message_that_breaks_policy_default():
    msg = parse(
        "From: MAILER-DAEMON@mx.example.com\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n"
        "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx\n\n"
        "Final-Recipient: rfc822; a@example.net\nAction: failed\nStatus: 5.1.1\n\n"
        "--b\nContent-Type: message/rfc822\n\nMessage-ID: <[20240318]@support.example.com>\nSubject: x\n\nbody\n--b--\n"
    )
    assert parse_bounce(msg).original_message_id == "[20240318]@support.example.com"


def test_global_delivery_status_with_utf8_address():
    msg = parse(
        "From: MAILER-DAEMON@mx.example.com\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n"
        "--b\nContent-Type: message/global-delivery-status\n\nReporting-MTA: dns; mx.example.com\n\n"
        "Final-Recipient: utf-8; J\\x{00FC}rgen@b\\x{00FC}cher.example\nAction: failed\nStatus: 5.1.1\n\n"
        "--b\nContent-Type: message/global-headers\n\nMessage-ID: <g-1@support.example.com>\n\n--b--\n"
    )
    report = parse_bounce(msg)
    assert report.recipients[0].address == "jürgen@bücher.example"
    assert report.original_message_id == "g-1@support.example.com"


def test_read_receipts_are_not_bounces():
    assert parse_bounce(load("read_receipt.eml")) is None


# -- VERP ---------------------------------------------------------------------


def test_verp_token_keeps_its_case_and_honours_the_prefix():
    blocks = "Final-Recipient: rfc822; a@example.net\nAction: failed\nStatus: 5.1.1\n"
    assert parse_bounce(dsn_with(blocks)).verp_recipient == "Tok3n"
    assert parse_bounce(dsn_with(blocks), bounce_prefix="BOUNCE-").verp_recipient == "Tok3n"
    assert parse_bounce(dsn_with(blocks), bounce_prefix="vrp-").verp_recipient is None
    assert parse_bounce(dsn_with(blocks), bounce_prefix="").verp_recipient is None


def test_delivered_to_is_preferred_over_to_for_verp():
    blocks = "Final-Recipient: rfc822; a@example.net\nAction: failed\nStatus: 5.1.1\n"
    msg = dsn_with(blocks, "Delivered-To: support+bounce-FromDeliveredTo@example.com\n")
    assert parse_bounce(msg).verp_recipient == "FromDeliveredTo"


# -- plain-text bounces -------------------------------------------------------


def test_old_exchange_text_ndr():
    msg = parse(
        "From: System Administrator <postmaster@fabrikam.example>\nSubject: Undeliverable: hello\n"
        "Content-Type: text/plain\n\n"
        "Your message did not reach some or all of the intended recipients.\n\n"
        "      Subject:\thello\n      Sent:\t3/14/2024 9:12 AM\n\n"
        "The following recipient(s) cannot be reached:\n\n"
        "      'old.account@fabrikam.example' on 3/14/2024 9:12 AM\n"
        "            The e-mail account does not exist at the organization this message was sent to.\n"
        "            <mail.fabrikam.example #5.1.1 smtp;550 5.1.1 User unknown>\n"
    )
    recipient = parse_bounce(msg).recipients[0]
    assert (recipient.address, recipient.status, recipient.permanent) == ("old.account@fabrikam.example", "5.1.1", True)
    assert "smtp;550 5.1.1 User unknown" in recipient.diagnostic


def test_old_gmail_text_bounce_takes_the_diagnostic_from_a_later_paragraph():
    msg = parse(
        "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\n"
        "Subject: Delivery Status Notification (Failure)\n\n"
        "Delivery to the following recipient failed permanently:\n\n     nobody@example.net\n\n"
        "Technical details of permanent failure:\nGoogle tried to deliver your message, but it was rejected.\n\n"
        "The error that the other server returned was:\n550 5.1.1 <nobody@example.net>: User unknown\n\n"
        "----- Original message -----\n\nMessage-ID: <old-gmail@support.example.com>\nSubject: hi\n"
    )
    report = parse_bounce(msg)
    assert report.original_message_id == "old-gmail@support.example.com"
    assert report.recipients[0].address == "nobody@example.net"
    assert report.recipients[0].diagnostic == "550 5.1.1 <nobody@example.net>: User unknown"


def test_exim_delay_warning_is_delayed_not_permanent():
    msg = parse(
        "From: Mail Delivery System <Mailer-Daemon@mail.example.org>\n"
        "Subject: Warning: message 1rkL2m-000Abc-Q1 delayed 24 hours\n\n"
        "This message was created automatically by mail delivery software.\n"
        "A message that you sent has not yet been delivered to one or more of its\n"
        "recipients after more than 24 hours on the queue on mail.example.org.\n\n"
        "The address to which the message has not yet been delivered is:\n\n"
        "  slow@example.net\n    Delay reason: SMTP error from remote mail server after RCPT TO:<slow@example.net>:\n"
        "    451 4.7.1 Greylisted, try again later\n\n"
        "No action is required on your part. Delivery attempts will continue for some time.\n"
    )
    recipient = parse_bounce(msg).recipients[0]
    assert (recipient.address, recipient.action, recipient.status) == ("slow@example.net", "delayed", "4.7.1")
    assert not recipient.permanent


def test_quoted_original_below_the_marker_is_preferred_to_the_explanation():
    msg = parse(
        "From: MAILER-DAEMON@mail.example.info\n\nHi. This is the qmail-send program at mail.example.info.\n\n"
        "Message-ID: <relay-id@mail.example.info>\n\n<x@example.info>:\nRemote host said: 550 5.1.1 unknown\n\n"
        "--- Below this line is a copy of the message.\n\nMessage-ID: <ours@support.example.com>\n"
    )
    assert parse_bounce(msg).original_message_id == "ours@support.example.com"


def test_text_bounce_falls_back_to_x_failed_recipients():
    msg = parse("From: Mail Delivery System <Mailer-Daemon@mx.example.org>\n"
                "X-Failed-Recipients: Lost@Example.org\n\nDelivery failed for a reason we do not say.\n")
    recipient = parse_bounce(msg).recipients[0]
    assert (recipient.address, recipient.action, recipient.status) == ("lost@example.org", "failed", "5.0.0")


def test_postfix_wrapped_reply_naming_the_address_again_is_one_recipient():
    msg = parse(
        "From: MAILER-DAEMON@mx.example.com (Mail Delivery System)\n\n"
        "This is the mail system at host mx.example.com.\n\n"
        "<a@example.net>: host mx.example.net[192.0.2.1] said: 550 5.1.1\n"
        "    <a@example.net>: Recipient address rejected: User unknown (in reply to RCPT TO\n    command)\n"
        "<b@example.net>: host mx.example.net[192.0.2.1] said: 552 5.2.2 over quota\n"
    )
    assert [(r.address, r.status) for r in parse_bounce(msg).recipients] == [
        ("a@example.net", "5.1.1"), ("b@example.net", "5.2.2")
    ]


def test_ip_addresses_are_not_mistaken_for_status_codes():
    msg = parse(
        "From: MAILER-DAEMON@mail.example.info\n\nHi. This is the qmail-send program at mail.example.info.\n\n"
        "<x@example.info>:\n203.0.113.44 does not like recipient.\nRemote host said: 554 rejected by 5.4.3.2 policy\n"
    )
    assert parse_bounce(msg).recipients[0].status == "5.0.0"


# -- odd encodings are read, not dropped ----------------------------------------


@pytest.mark.parametrize("charset", ["x-no-such-charset", "base64", "ut\x00f8"])
def test_human_text_in_an_unusable_charset_is_read_as_utf8(charset):
    # Unknown (LookupError), not a text codec (LookupError), NUL in the name (ValueError).
    text = DSN.replace("Content-Type: text/plain\n\nDelivery report.",
                       f'Content-Type: text/plain; charset="{charset}"\n\nDelivery failed: 550 5.1.1 user unknown')
    msg = parse(text.replace("{blocks}", "Final-Recipient: rfc822; a@example.net\nAction: failed\nStatus: 5.1.1\n"))
    assert dsn._parse(msg, "bounce-").recipients[0].diagnostic == "Delivery failed: 550 5.1.1 user unknown"


@pytest.mark.parametrize("word", ["=?foo?q?x?=", "=?utf-8?q?=FF?=", "=?utf-8?b?a?=", "=?\u00e9?q?x?="])
def test_undecodable_encoded_word_in_the_diagnostic_is_kept_as_written(word):
    # Unknown charset, bytes not in it, broken base64, non-ASCII charset name (RFC 2047 section 6.3).
    msg = dsn_with("Final-Recipient: rfc822; a@example.net\nAction: failed\nStatus: 5.1.1\n"
                   f"Diagnostic-Code: smtp; 550 {word}\n")
    assert dsn._parse(msg, "bounce-").recipients[0].diagnostic == f"smtp; 550 {word}"


def test_status_block_with_a_lone_surrogate_is_skipped_and_the_others_read():
    text = DSN.replace("Reporting-MTA: dns; mx.example.com", "Reporting-MTA: dns; mx\ud800.example.com")
    msg = email.message_from_string(
        text.replace("{blocks}", "Final-Recipient: rfc822; a@example.net\nAction: failed\nStatus: 5.1.1\n"),
        policy=email.policy.default,
    )
    assert [r.address for r in dsn._parse(msg, "bounce-").recipients] == ["a@example.net"]


# -- never raises -------------------------------------------------------------


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_parse_bounce_never_raises_on_arbitrary_bytes(raw):
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    # The parser itself, not only parse_bounce's last-resort guard, must cope.
    dsn._parse(msg, "bounce-")
    parse_bounce(msg)


_SAMPLES = sorted(p.name for p in DATA.glob("*.eml"))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_SAMPLES), st.data())
def test_parse_bounce_never_raises_on_mutated_real_messages(name, data):
    raw = bytearray((DATA / name).read_bytes())
    for _ in range(data.draw(st.integers(1, 5))):
        start = data.draw(st.integers(0, len(raw)))
        end = data.draw(st.integers(start, min(len(raw), start + 40)))
        raw[start:end] = data.draw(st.binary(max_size=40))
    msg = email.message_from_bytes(bytes(raw), policy=email.policy.default)
    report = dsn._parse(msg, "bounce-")
    if report is not None:
        for recipient in report.recipients:
            assert len(recipient.diagnostic) <= 500 and "\n" not in recipient.diagnostic
            recipient.diagnostic.encode("utf-8")
