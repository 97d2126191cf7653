"""parse_message on messages written the way real clients write them (tests/data/clients),
and the decoding helpers on the edge cases those clients produce."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from maildesk.mime import structure
from maildesk.mime.limits import MessageRefused, MimeLimits, precheck
from maildesk.mime.structure import bound_structure
from maildesk.mime.parse import (
    FORWARD_SEPARATOR,
    decode_bytes,
    decode_header_text,
    normalise_msgid,
    parse_message,
    sanitise_filename,
)

CLIENTS = Path(__file__).resolve().parents[1] / "data" / "clients"
TICKET = "sup-00042.a1b2c3@helpdesk.example.com"


def load(name: str):
    return parse_message((CLIENTS / name).read_bytes())


# file: (subject, from_addr, from_name, message_id)
HEADERS = {
    "outlook_html_reply.eml": (
        "RE: [SUP-00042] VPN drops every 10 minutes", "bob.meyer@contoso.example", "Bob Meyer",
        "AM6PR05MB5231A1B2C3D4E5F6A7B8C9D0@AM6PR05MB5231.eurprd05.prod.outlook.com"),
    "outlook_tnef_original_message.eml": (
        "RE: [SUP-00077] Invoice 2025-1183 missing", "anna.schmidt@fabrikam.example", "Schmidt, Anna",
        "000001dc4d7a$5e2b1c40$1a8154c0$@fabrikam.example"),
    "gmail_reply.eml": (
        "Re: [SUP-00042] Cannot log in to the portal", "carla.jones@gmail.com", "Carla Jones",
        "CAJ8m3xQ7pZ0tW-Vd3k0yN_2b1H7f5gE9uR4s6L2iXcA1bQ@mail.gmail.com"),
    "gmail_wrapped_attribution.eml": (
        "Re: [SUP-00051] Export to CSV is empty", "dmitri.volkov@gmail.com", "Dmitri Volkov",
        "CAHx9v+0e5Zq-4tLq2kC3Zt5gmBqfP6Uu3F7LwE@mail.gmail.com"),
    "apple_mail_reply.eml": (
        "Re: [SUP-00042] Printer on 3rd floor offline", "eva@lindqvist.example", "Eva Lindqvist",
        "7F3A1C2E-9B4D-4E6A-8C1F-2D5E6F7A8B9C@lindqvist.example"),
    "thunderbird_reply.eml": (
        "Re: [SUP-00042] Calendar sync fails", "felix.braun@posteo.example", "Felix Braun",
        "c5f1a7e2-3b4d-4f8e-9a21-7d6c5b4a3f21@posteo.example"),
    "iphone_reply.eml": (
        "Re: [SUP-00042] Laptop battery replacement", "grace.okafor@icloud.com", "Grace Okafor",
        "5D2B8C1E-7A3F-4B9D-8E6C-1F2A3B4C5D6E@icloud.com"),
    "android_samsung_reply.eml": (
        "RE: [SUP-00042] Wi-Fi password for guests", "hiro.tanaka@example.net", "Hiro Tanaka",
        "mw0ax1k9b2c3d4e5f6g7h8i9.1762175400123@email.android.com"),
    "german_reply.eml": (
        "AW: [SUP-00042] Drucker im Büro druckt nur leere Seiten", "juergen.mueller@gmx.example",
        "Jürgen Müller", "trinity-4b1c7e2a-9d3f-4a6b-8e5c-2f1a0b9c8d7e-1762179730123@3c-app-gmx-bs12"),
    "german_iphone_reply.eml": (
        "Re: [SUP-00042] Zugang zum Laufwerk", "sabine.koch@web.example", "Sabine Koch",
        "A1B2C3D4-E5F6-4711-8899-AABBCCDDEEFF@web.example"),
    "french_reply.eml": (
        "Re: [SUP-00042] Problème de connexion à la messagerie", "amelie.dubois@orange.example",
        "Amélie Dubois", "CAF5kq3Yb7-mZ0pL2x_9vT6hR4eW1dQ8sU3nK5jB0@mail.gmail.com"),
    "japanese_iso2022jp.eml": (
        "Re: [SUP-00042] ネットワークに接続できません", "taro.yamada@example.jp", "山田太郎",
        "CAKj3x9Zq1-Wm2pT8vN4bR6yU0eL5sH7cD3fG1a@mail.gmail.com"),
    "japanese_shiftjis.eml": (
        "Re: [SUP-00042] プリンターが印刷しません", "suzuki@example.co.jp", "鈴木花子",
        "20251103190200.4B2A.E1F0@example.co.jp"),
    "latin1_body.eml": (
        "Problème d'accès au réseau", "francois@levesque.example", "François Lévesque",
        "4.3.2.7.2.20251104091400.00b8e0c0@levesque.example"),
    "bad_charset_label.eml": (
        "Strange characters", "ivan@petrov.example", "Ivan Petrov", "20251104100000.12345@petrov.example"),
    "broken_rfc2047_subject.eml": (
        "Café order problem — urgent", "zoe@smith.example", "Zoë Smith", "broken.2047.1@smith.example"),
    "raw_8bit_headers.eml": (
        "Überweisung fehlgeschlagen – bitte prüfen", "rene@faid.example", "René Faïd", "raw8bit.1@faid.example"),
    "forwarded_rfc822.eml": (
        "Fwd: Suspicious login alert", "olivia.brown@northwind.example", "Olivia Brown",
        "fwd-9f8e7d6c@northwind.example"),
    "inline_cid_image.eml": (
        "Error dialog when saving", "paul.girard@example.fr", "Paul Girard",
        "C0FFEE00-1234-4321-ABCD-0123456789AB@example.fr"),
    "traversal_unix_filename.eml": (
        "Please check the attached config", "mallory@attacker.example", "", "traversal-1@attacker.example"),
    "traversal_windows_filename.eml": ("Invoice", "mallory@attacker.example", "", "traversal-2@attacker.example"),
    "rfc2231_filename.eml": ("Quote documents", "kenji.sato@example.jp", "Kenji Sato", "rfc2231.1@example.jp"),
    "hostile_html.eml": (
        "Your mailbox is full", "it-department@phish.example", "IT Department", "phish-0001@phish.example"),
    "html_only_newsletter.eml": (
        "Release notes – November", "news@contoso.example", "Contoso Updates",
        "newsletter.20251106@contoso.example"),
    "deep_nesting.eml": ("Deeply nested", "fuzzer@attacker.example", "", "deep-50@attacker.example"),
    "many_parts.eml": ("Five hundred parts", "fuzzer@attacker.example", "", "many-500@attacker.example"),
    "long_line.eml": ("Build log", "cron@build.example", "", "longline-1@build.example"),
    "no_message_id.eml": ("Scanned document", "scanner@office.example", "", None),
    "folded_references.eml": (
        "Re: Re: Re: [SUP-00042] Access card", "nora@quinn.example", "Nora Quinn", "reply-7@quinn.example"),
    "dsn_bounce.eml": (
        "Undelivered Mail Returned to Sender", "mailer-daemon@helpdesk.example.com", "",
        "20251106092640.4Xk3Bz1Lq2z9sWq@mx.helpdesk.example.com"),
    "auto_reply_ooo.eml": (
        "Automatic reply: [SUP-00042] VPN drops every 10 minutes", "bob.meyer@contoso.example", "Bob Meyer",
        "ooo.AM6PR05MB5231@contoso.example"),
    "x_maildesk_control_headers.eml": (
        "Re: [SUP-00042] please escalate", "eve@forger.example", "", "forged-1@forger.example"),
    "garbage_transfer_encodings.eml": ("ERP export", "legacy@erp.example", "", "garbage-1@erp.example"),
    "mailing_list_post.eml": (
        "[users] Anyone else seeing timeouts?", "tom.reed@example.org", "Tom Reed", "list-42@example.org"),
    "weird_date_and_group_address.eml": (
        "Meeting room booking", "jane.doe@example.com", "Doe, Jane", "olddate-1@example.com"),
    "gbk_chinese.eml": ("打印机无法连接", "wang.wei@example.cn", "王伟", "202511062000001234567@example.cn"),
    "outlook_german_quote.eml": (
        "AW: [SUP-00042] Passwort abgelaufen", "k.weber@firma.example", "Karl Weber",
        "AM0PR10MB2468DEADBEEF@AM0PR10MB2468.EURPRD10.PROD.OUTLOOK.COM"),
    "calendar_invite.eml": (
        "Review of open tickets", "bob.meyer@contoso.example", "Bob Meyer", "invite-1@contoso.example"),
}

# file: fragments the body text must contain (the reader sees them, decoded)
TEXT = {
    "outlook_html_reply.eml": ["tunnel still drops after about ten minutes", "Please update the VPN client"],
    "outlook_tnef_original_message.eml": ["Can you send it as PDF?", "-----Original Message-----"],
    "gmail_reply.eml": ["Resetting the password worked", "> Please reset your password"],
    "gmail_wrapped_attribution.eml": ["The export is still empty", "clearing the filter"],
    "apple_mail_reply.eml": ["Café on the 3rd floor is happy again", "We restarted the print server"],
    "thunderbird_reply.eml": ["The sync works again", "Posteo Operations"],
    "iphone_reply.eml": ["Thursday afternoon works for me", "Sent from my iPhone"],
    "android_samsung_reply.eml": ["the guests are connected now", "printed at the reception"],
    "german_reply.eml": ["Vielen Dank für die schnelle Hilfe!", "Mit freundlichen Grüßen"],
    "german_iphone_reply.eml": ["Das Laufwerk ist jetzt sichtbar", "Von meinem iPhone gesendet"],
    "french_reply.eml": ["Le problème est résolu après la mise à jour", "réinitialiser"],
    "japanese_iso2022jp.eml": ["正常に接続できるようになりました", "ルーターを再起動"],
    "japanese_shiftjis.eml": ["プリンターは復旧しました", "のメッセージ:"],
    "latin1_body.eml": ["je n'ai plus accès au réseau du bâtiment B", "Le câble est branché", "François"],
    "bad_charset_label.eml": ["Привет, the café menu shows “smart quotes” wrongly."],
    "broken_rfc2047_subject.eml": ["My order from the café never arrived."],
    "raw_8bit_headers.eml": ["Die Überweisung über 120 € ist fehlgeschlagen."],
    "forwarded_rfc822.eml": ["Is this alert genuine?", "We noticed a new sign-in"],
    "inline_cid_image.eml": ["This dialog appears every time I save:"],
    "traversal_unix_filename.eml": ["See attachment."],
    "traversal_windows_filename.eml": ["Invoice attached."],
    "rfc2231_filename.eml": ["Two documents attached."],
    "hostile_html.eml": ["Your mailbox is full", "quota page (https://phish.example/login)", "Click here"],
    "html_only_newsletter.eml": ["What’s new in November", "Faster sync", "Dark mode",
                                 "full release notes (https://contoso.example/notes/2025-11)"],
    "deep_nesting.eml": ["Visible text at the top level."],
    "many_parts.eml": ["The first part is the body."],
    "long_line.eml": ["Build failed, log follows:", "step000000=ok;", "[… truncated by maildesk:"],
    "no_message_id.eml": ["Scanned from MFP-4020 in room 2.11."],
    "folded_references.eml": ["The new access card works at all doors now."],
    "dsn_bounce.eml": ["could not\nbe delivered", "Recipient address rejected: User unknown"],
    "auto_reply_ooo.eml": ["I am out of the office until 10 November"],
    "x_maildesk_control_headers.eml": ["I am the admin, close all tickets."],
    "garbage_transfer_encodings.eml": ["Hello, the export", "Order total € 99"],
    "mailing_list_post.eml": ["every request times out after 30 s."],
    "weird_date_and_group_address.eml": ["Can you book room 4 for Friday?"],
    "gbk_chinese.eml": ["您好，打印机无法连接。镕"],
    "outlook_german_quote.eml": ["Das neue Passwort funktioniert.", "Bitte setzen Sie Ihr Passwort zurück."],
    "calendar_invite.eml": ["Let's go through the open tickets on Monday."],
}


def test_every_corpus_message_has_expectations():
    files = {path.name for path in CLIENTS.glob("*.eml")}
    assert len(files) >= 30
    assert files == set(HEADERS) == set(TEXT)


def test_corpus_files_use_crlf_line_endings():
    for path in CLIENTS.glob("*.eml"):
        data = path.read_bytes()
        assert data.count(b"\n") == data.count(b"\r\n"), path.name


def test_corpus_readme_names_every_message():
    readme = (CLIENTS / "README.md").read_text(encoding="utf-8")
    for path in CLIENTS.glob("*.eml"):
        assert f"`{path.name}`" in readme


@pytest.mark.parametrize("name", sorted(HEADERS))
def test_headers_are_decoded(name):
    subject, from_addr, from_name, message_id = HEADERS[name]
    parsed = load(name)
    assert parsed.subject == subject
    assert parsed.from_addr == from_addr
    assert parsed.from_name == from_name
    assert parsed.message_id == message_id


@pytest.mark.parametrize("name", sorted(TEXT))
def test_body_text_is_readable(name):
    parsed = load(name)
    for fragment in TEXT[name]:
        assert fragment in parsed.text
    assert "\r" not in parsed.text and "\ufffd" not in parsed.text
    assert "=?" not in parsed.text and "=E2" not in parsed.text  # no undecoded words or QP


def test_replies_carry_thread_ids():
    for name in ("gmail_reply.eml", "outlook_html_reply.eml", "iphone_reply.eml", "german_reply.eml"):
        parsed = load(name)
        assert parsed.in_reply_to == (TICKET,)
        assert parsed.references == (TICKET,)


def test_folded_and_repeated_references_keep_order_without_duplicates():
    parsed = load("folded_references.eml")
    assert parsed.references == (
        TICKET,
        "reply-5@quinn.example",
        "sup-00042.n2@helpdesk.example.com",
        "sup-00042.n3@helpdesk.example.com",
    )
    assert parsed.in_reply_to == ("sup-00042.n3@helpdesk.example.com",)
    assert parsed.message_id == "reply-7@quinn.example"


def test_message_without_message_id_or_date():
    parsed = load("no_message_id.eml")
    assert parsed.message_id is None
    assert parsed.date is None
    assert [a.filename for a in parsed.attachments] == ["scan0001.pdf"]


def test_dates_are_timezone_aware():
    assert load("gmail_reply.eml").date == datetime(2025, 11, 3, 10, 20, 31, tzinfo=timezone.utc)
    german = load("german_reply.eml").date
    assert german.utcoffset() == timedelta(hours=1)
    old = load("weird_date_and_group_address.eml").date  # "6 Nov 25 11:30", no zone
    assert old == datetime(2025, 11, 6, 11, 30, tzinfo=timezone.utc)


def test_address_lists_are_lowercased_bare_addresses():
    parsed = load("mailing_list_post.eml")
    assert parsed.to == ("users@lists.example.org",)
    assert parsed.cc == ("support@helpdesk.example.com", "legal@example.org")
    assert parsed.reply_to == ("users@lists.example.org",)
    group = load("weird_date_and_group_address.eml")
    assert group.to == ()  # undisclosed-recipients:;
    assert group.cc == ("kim.lee@example.com", "support@helpdesk.example.com")


def test_control_headers_are_excluded_but_others_kept_in_order():
    parsed = load("x_maildesk_control_headers.eml")
    names = [name for name, _ in parsed.headers]
    assert not [n for n in names if n.lower().startswith("x-maildesk-")]
    assert names[:5] == ["From", "To", "Subject", "Date", "Message-ID"]
    assert ("X-Mailer", "curl/8.5") in parsed.headers


def test_header_values_are_decoded_and_unfolded():
    parsed = load("german_reply.eml")
    headers = dict(parsed.headers)
    assert headers["From"] == "Jürgen Müller <juergen.mueller@gmx.example>"
    assert headers["Subject"] == "AW: [SUP-00042] Drucker im Büro druckt nur leere Seiten"
    outlook = dict(load("outlook_html_reply.eml").headers)
    assert "\n" not in outlook["Content-Type"] and "boundary=" in outlook["Content-Type"]


def test_broken_encoded_words_are_decoded_best_effort():
    headers = dict(load("broken_rfc2047_subject.eml").headers)
    assert headers["X-Original-Subject"] == "Café"  # unknown charset label: UTF-8 fallback
    assert headers["Comments"] == "日本語"


def test_multipart_alternative_prefers_plain_text_and_keeps_sanitised_html():
    parsed = load("gmail_reply.eml")
    assert parsed.text.startswith("Resetting the password worked, I can log in again. Thanks a lot!")
    assert "<div" not in parsed.text
    assert parsed.html is not None and "gmail_quote" not in parsed.html  # class attributes dropped
    assert 'href="mailto:support@helpdesk.example.com"' in parsed.html
    assert 'rel="noopener noreferrer nofollow"' in parsed.html


def test_plain_only_message_has_no_html():
    assert load("thunderbird_reply.eml").html is None


def test_html_only_message_is_converted_to_text():
    parsed = load("android_samsung_reply.eml")
    assert "<div" not in parsed.text and "&lt;" not in parsed.text
    assert "From: Example Support <support@helpdesk.example.com>" in parsed.text
    assert parsed.html is not None and "Got it, the guests are connected now." in parsed.html


def test_hostile_html_is_sanitised():
    parsed = load("hostile_html.eml")
    html = parsed.html
    for bad in ("<script", "document.cookie", "<iframe", "onerror", "onload", "<form", "<input",
                "tracker.phish.example", "javascript:", "<style"):
        assert bad not in html
        assert bad not in parsed.text
    assert '<a href="https://phish.example/login" rel="noopener noreferrer nofollow">quota page</a>' in html


def test_forwarded_message_is_rendered_as_a_readable_block():
    parsed = load("forwarded_rfc822.eml")
    own, forwarded = parsed.text.split(FORWARD_SEPARATOR)
    assert "Is this alert genuine?" in own
    assert "From: Security Team <security@accounts.northwind.example>" in forwarded
    assert "Date: Wed, 5 Nov 2025 12:41:09 +0000" in forwarded
    assert "Subject: Suspicious login alert" in forwarded
    assert "We noticed a new sign-in to your account from Sao Paulo, Brazil." in forwarded
    assert parsed.attachments == ()


def test_inline_cid_image_is_an_inline_attachment_referenced_by_the_html():
    parsed = load("inline_cid_image.eml")
    (image,) = parsed.attachments
    assert image.content_type == "image/png"
    assert image.content_id == "6B1E4C2A-8F3D@example.fr"
    assert image.inline is True
    assert image.filename == "Screenshot 2025-11-05 at 13.58.png"
    assert image.data.startswith(b"\x89PNG")
    assert 'src="cid:6B1E4C2A-8F3D@example.fr"' in parsed.html


def test_winmail_dat_is_kept_as_an_attachment():
    parsed = load("outlook_tnef_original_message.eml")
    (tnef,) = parsed.attachments
    assert (tnef.filename, tnef.content_type, tnef.inline) == ("winmail.dat", "application/ms-tnef", False)
    assert tnef.data.startswith(b"\x78\x9f\x3e\x22") and len(tnef.data) == 1028


@pytest.mark.parametrize(
    "name, expected",
    [
        ("traversal_unix_filename.eml", [("passwd", b"root:x:0:0"), ("htaccess", b"Options +Indexes")]),
        ("traversal_windows_filename.eml", [("evil.exe", b"MZ"), ("invoicefdp.exe", b"MZ")]),
        ("rfc2231_filename.eml", [("見積書_2025.pdf", b"%PDF-1.4"), ("Rechnung März.pdf", b"%PDF-1.4")]),
    ],
)
def test_attachment_filenames_are_sanitised(name, expected):
    parsed = load(name)
    assert [(a.filename, a.data[: len(prefix)]) for a, (_, prefix) in zip(parsed.attachments, expected)] == expected
    for attachment in parsed.attachments:
        assert "/" not in attachment.filename and "\\" not in attachment.filename
        assert not attachment.filename.startswith(".")
        assert "\u202e" not in attachment.filename


def test_delivery_report_parts_become_attachments():
    parsed = load("dsn_bounce.eml")
    assert [a.content_type for a in parsed.attachments] == ["message/delivery-status", "text/rfc822-headers"]
    assert b"Status: 5.1.1" in parsed.attachments[0].data
    assert b"Subject: [SUP-00042] Your request" in parsed.attachments[1].data
    assert "Reporting-MTA" not in parsed.text


def test_calendar_part_of_an_alternative_is_an_attachment():
    parsed = load("calendar_invite.eml")
    (invite,) = parsed.attachments
    assert invite.content_type == "text/calendar" and invite.filename == "attachment.ics"
    assert b"BEGIN:VEVENT" in invite.data
    assert "BEGIN:VCALENDAR" not in parsed.text


def test_charsets_are_decoded():
    assert load("japanese_shiftjis.eml").text.startswith("鈴木です。")
    assert load("japanese_iso2022jp.eml").text.startswith("お世話になっております。")
    assert "镕" in load("gbk_chinese.eml").text  # GBK-only character in a gb2312-labelled body
    assert "€" in load("garbage_transfer_encodings.eml").text


def test_garbage_base64_and_quoted_printable_degrade_gracefully():
    parsed = load("garbage_transfer_encodings.eml")
    assert "Hello, the export" in parsed.text
    assert "=ZZ done" in parsed.text  # invalid escape kept literally, as RFC 2045 §6.7 suggests


# --- limits ---------------------------------------------------------------------------------


def test_deep_nesting_is_cut_with_a_note():
    parsed = load("deep_nesting.eml")
    assert "Text hidden 50 levels down." not in parsed.text
    assert parsed.notes == ("1 part nested deeper than 20 levels dropped",)


def test_parts_beyond_the_limit_are_dropped_with_a_note():
    parsed = load("many_parts.eml")
    assert parsed.text == (
        "The first part is the body.\n\n"
        "[… truncated by maildesk: 300 more parts not shown (limit 200); the original message is kept]"
    )
    assert parsed.left_out == ("300 more parts not shown (limit 200)",)
    assert len(parsed.attachments) == 199
    assert parsed.attachments[-1].filename == "part199.txt"
    assert parsed.notes == ("300 parts beyond the limit of 200 dropped",)


def test_long_line_is_truncated_with_a_visible_marker():
    parsed = load("long_line.eml")
    lines = parsed.text.split("\n")
    assert max(len(line.encode()) for line in lines) <= 64 * 1024
    assert "[… truncated by maildesk: line longer than 65536 bytes]" in lines
    assert lines[-1] == "END OF LOG"
    assert parsed.notes == ("1 line longer than 65536 bytes truncated",)


def test_smaller_limits_cut_parts_and_depth():
    raw = (CLIENTS / "many_parts.eml").read_bytes()
    parsed = parse_message(raw, MimeLimits(max_parts=10))
    assert len(parsed.attachments) == 9
    assert parsed.notes == ("490 parts beyond the limit of 10 dropped",)
    nested = parse_message((CLIENTS / "inline_cid_image.eml").read_bytes(), MimeLimits(max_depth=1))
    assert nested.attachments == ()  # the image sits two levels down
    assert nested.text == (
        "This dialog appears every time I save:\n\n[screenshot]\n\n"
        "[… truncated by maildesk: 1 part nested deeper than 1 levels not shown; the original message is kept]"
    )
    assert "1 part nested deeper than 1 levels dropped" in nested.notes


def test_attachment_over_the_limit_is_dropped_and_named():
    raw = (CLIENTS / "outlook_tnef_original_message.eml").read_bytes()
    parsed = parse_message(raw, MimeLimits(max_attachment_bytes=1000))
    assert parsed.attachments == ()
    assert parsed.notes == ('attachment "winmail.dat" dropped: 1028 bytes is over the limit of 1000 bytes',)
    assert "Can you send it as PDF?" in parsed.text


def test_attachments_over_the_total_limit_are_dropped_and_named():
    raw = (CLIENTS / "rfc2231_filename.eml").read_bytes()
    parsed = parse_message(raw, MimeLimits(max_total_attachment_bytes=100))
    assert [a.filename for a in parsed.attachments] == ["見積書_2025.pdf"]
    assert parsed.notes == (
        'attachment "Rechnung März.pdf" dropped: attachments together are over the limit of 100 bytes',
    )


def test_body_beyond_max_chars_is_truncated_with_a_marker():
    raw = (CLIENTS / "german_reply.eml").read_bytes()
    parsed = parse_message(raw, MimeLimits(max_body_chars=20))
    assert parsed.text == "Hallo,\n\nnach dem Aus\n[… truncated by maildesk: body longer than 20 characters]"
    assert parsed.notes == ("body truncated at 20 characters",)


def test_html_beyond_max_chars_is_truncated_with_a_marker():
    raw = (CLIENTS / "hostile_html.eml").read_bytes()
    parsed = parse_message(raw, MimeLimits(max_body_chars=200))
    assert "truncated by maildesk" in parsed.html
    assert "HTML body truncated at 200 characters" in parsed.notes


def test_long_header_is_truncated_with_a_marker():
    raw = b"From: a@example.com\r\nSubject: " + b"x" * 5000 + b"\r\n\r\nbody\r\n"
    parsed = parse_message(raw, MimeLimits(max_line_bytes=1000))
    assert parsed.subject.startswith("x" * 1000)
    assert parsed.subject.endswith("[… truncated by maildesk: longer than 1000 bytes]")
    assert "subject longer than 1000 bytes truncated" in parsed.notes


def test_precheck_refuses_a_huge_header_block():
    raw = b"From: a@example.com\r\n" + b"X-Filler: " + b"y" * 300_000 + b"\r\n\r\nbody"
    with pytest.raises(MessageRefused) as refused:
        precheck(raw, MimeLimits())
    reason = str(refused.value)
    assert reason.startswith("header block too large (") and "limit 262144" in reason
    assert reason.isascii() and "\r" not in reason and "\n" not in reason
    with pytest.raises(MessageRefused):
        parse_message(raw)


def test_precheck_refuses_headers_without_a_separator():
    raw = b"".join(b"X-H%d: v\r\n" % i for i in range(40_000))  # ~400 KB, never a blank line
    with pytest.raises(MessageRefused, match="header block too large"):
        precheck(raw, MimeLimits())


def test_precheck_accepts_normal_messages_and_bodies_without_headers():
    for path in CLIENTS.glob("*.eml"):
        precheck(path.read_bytes(), MimeLimits())
    precheck(b"just some text\n" * 100_000, MimeLimits())  # no headers at all: body only
    precheck(b"", MimeLimits())


def test_bound_structure_leaves_ordinary_messages_untouched():
    for name in ("gmail_reply.eml", "inline_cid_image.eml", "forwarded_rfc822.eml"):
        raw = (CLIENTS / name).read_bytes()
        bounded = bound_structure(raw, MimeLimits())
        assert (bounded.raw, bounded.notes, bounded.bodies) == (raw, (), ())


def test_big_bodies_come_out_exactly_as_sent():
    pdf = bytes(range(256)) * 1000  # 256 KB: lifted past the feedparser
    encoded = base64.b64encode(pdf)
    text = "Zeile mit Umlauten äöü\n" * 5000
    raw = (
        b'From: a@example.com\r\nSubject: big\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + text.replace("\n", "\r\n").encode()
        + b"\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=big.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + b"\r\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
        + b"\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nFrom: inner@example.com\r\nSubject: inner\r\n\r\n"
        + b"inner line\r\n" * 10_000
        + b"\r\n--b--\r\n"
    )
    assert len(bound_structure(raw, MimeLimits()).bodies) == 3
    parsed = parse_message(raw)
    (attachment,) = parsed.attachments
    assert attachment.filename == "big.pdf" and attachment.data == pdf
    own, forwarded = parsed.text.split(FORWARD_SEPARATOR)
    assert own.strip() == text.strip()
    assert forwarded.count("inner line") == 10_000
    assert parsed.notes == ()


def test_a_big_single_part_body_keeps_its_headers_clean():
    raw = b"From: a@example.com\r\nSubject: big\r\n\r\n" + b"hello world\r\n" * 20_000
    parsed = parse_message(raw)
    assert parsed.text == ("hello world\n" * 20_000).strip()
    assert [name for name, _ in parsed.headers] == ["From", "Subject"]


@pytest.mark.parametrize("name", sorted(HEADERS))
def test_lifting_bodies_past_the_parser_changes_nothing(name, monkeypatch):
    raw = (CLIENTS / name).read_bytes()
    normal = parse_message(raw)
    monkeypatch.setattr(structure, "_LIFT_BYTES", 0)  # lift every non-empty body
    assert parse_message(raw) == normal


def test_oversized_part_header_is_capped():
    raw = (
        b'From: a@example.com\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: text/plain; " + b"a=b; " * 20_000 + b"\r\n\r\nhello\r\n--b--\r\n"
    )
    parsed = parse_message(raw)
    assert parsed.text == (
        "hello\n\n[… truncated by maildesk: 1 oversized part header cut; the original message is kept]"
    )
    assert "1 oversized part header(s) truncated" in parsed.notes


# --- helpers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        ("<abc@example.com>", "abc@example.com"),
        ("  <ABC.Def@Example.COM>  ", "ABC.Def@Example.COM"),
        ("<abc@\r\n example.com>", "abc@example.com"),
        ("abc@example.com", "abc@example.com"),
        ("<abc@example.com> (comment)", "abc@example.com"),
        ("", None),
        (None, None),
        ("<>", None),
        ("<no-at-sign>", None),
        ("<@example.com>", None),
        ("garbage with spaces", None),
        ("<a\x00b@example.com>", None),
    ],
)
def test_normalise_msgid(value, expected):
    assert normalise_msgid(value) == expected


@pytest.mark.parametrize(
    "name, content_type, expected",
    [
        ("../../etc/passwd", "text/plain", "passwd"),
        ("..\\..\\windows\\evil.exe", "application/octet-stream", "evil.exe"),
        ("C:\\Users\\bob\\report.pdf", "application/pdf", "report.pdf"),
        (".htaccess", "text/plain", "htaccess"),
        ("...", "application/pdf", "attachment.pdf"),
        ("", "image/png", "attachment.png"),
        (None, "application/x-unknown-thing", "attachment.bin"),
        (None, "message/rfc822", "attachment.eml"),
        ("inv\u202eoice.exe", "application/octet-stream", "invoice.exe"),
        ("line\r\nbreak\x00.txt", "text/plain", "linebreak.txt"),
        ("what?<is>this*.txt", "text/plain", "what__is_this_.txt"),
        ("CON.txt", "text/plain", "_CON.txt"),
        ("name.   ", "text/plain", "name"),
        ("  spaced   out  name.doc ", "application/msword", "spaced out name.doc"),
    ],
)
def test_sanitise_filename(name, content_type, expected):
    assert sanitise_filename(name, content_type) == expected


def test_sanitise_filename_keeps_the_extension_when_shortening():
    name = sanitise_filename("a" * 300 + ".pdf", "application/pdf")
    assert len(name) == 200 and name.endswith("a.pdf")
    assert len(sanitise_filename("b" * 300, "application/pdf")) == 200


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("=?utf-8?q?Caf=C3=A9?= =?utf-8?q?_ok?=", "Café ok"),
        ("Re: =?ISO-8859-1?Q?M=FCller?= and more", "Re: Müller and more"),
        ("=?foo-bar?Q?caf=C3=A9?=", "café"),  # unknown label: UTF-8
        ("=?foo-bar?Q?caf=E9?=", "café"),  # unknown label, not UTF-8: cp1252
        ("=?utf-8?B?w6k", "é"),  # missing ?= and padding
        ("=?utf-8?q?hello world?=", "hello world"),  # space inside the word
        ("=?utf-8?B?5pel5g==?= =?utf-8?B?nKzoqp4=?=", "日本語"),  # character split over two words
        ("=?utf-8*en?Q?English?=", "English"),  # RFC 2231 language tag
        ("a =?utf-8?q?x?= b", "a x b"),
        ("=?iso-2022-jp?B?GyRCRnxLXDhsGyhC?=", "日本語"),
        ("\x1b$BF|K\\8l\x1b(B", "日本語"),  # raw ISO-2022-JP without RFC 2047
        ("folded\r\n line", "folded line"),
        ("tab\tand\x07bell", "tab andbell"),
        ("=?utf-8?B?!!!?=", ""),
        ("=?unicode-escape?Q?\\u0041?=", "\\u0041"),  # refused codec: never unicode_escape
    ],
)
def test_decode_header_text(raw, expected):
    assert decode_header_text(raw) == expected


def test_decode_header_text_handles_raw_8bit_bytes():
    utf8 = "Grüße".encode().decode("ascii", "surrogateescape")
    latin1 = "Grüße".encode("latin-1").decode("ascii", "surrogateescape")
    assert decode_header_text(utf8) == "Grüße"
    assert decode_header_text(latin1) == "Grüße"


@pytest.mark.parametrize(
    "data, charset, expected",
    [
        ("naïve".encode(), "utf-8", "naïve"),
        ("naïve".encode(), "us-ascii", "naïve"),  # mislabelled UTF-8
        ("“quoted”".encode("cp1252"), "iso-8859-1", "“quoted”"),  # Latin-1 label, cp1252 bytes
        ("naïve".encode("latin-1"), "utf-8", "naïve"),
        ("naïve".encode("latin-1"), "no-such-charset", "naïve"),
        ("①番".encode("cp932"), "shift_jis", "①番"),  # Windows extension in a Shift_JIS label
        ("日本".encode("iso-2022-jp"), "ISO-2022-JP", "日本"),
        ("x".encode(), '"utf-8"', "x"),
        (b"\xff\xfe\x00", "utf-8", "ÿþ\x00"),
        ("é".encode(), "base64", "é"),  # a bytes-to-bytes codec is not a charset
        ("é".encode(), "rot13", "é"),
        (b"xn--caf-dma", "punycode", "xn--caf-dma"),
    ],
)
def test_decode_bytes(data, charset, expected):
    assert decode_bytes(data, charset) == expected


def test_unparseable_input_still_yields_a_message():
    parsed = parse_message(b"\x00\xff garbage without headers \x80")
    assert parsed.message_id is None and parsed.from_addr == ""
    assert "garbage without headers" in parsed.text


def test_limits_are_frozen_and_have_the_documented_defaults():
    limits = MimeLimits()
    assert (limits.max_header_bytes, limits.max_parts, limits.max_depth) == (256 * 1024, 200, 20)
    assert limits.max_line_bytes == 64 * 1024 and limits.max_body_chars == 1_000_000
    assert replace(limits, max_parts=5).max_parts == 5
    with pytest.raises(Exception):
        limits.max_parts = 1  # type: ignore[misc]


def test_the_line_break_a_lifted_body_ends_with_is_read_from_its_last_bytes():
    from maildesk.mime.rawlines import newline_at_end

    body = b"x" * 100_000
    cases = {b"\r\n": b"\r\n", b"\n": b"\n", b"\r": b"\r", b"\n\r": b"\r", b"\r\r\n": b"\r\n", b"": b""}
    for ending, expected in cases.items():
        assert newline_at_end(memoryview(body + ending)) == expected, ending
    assert newline_at_end(b"") == b"" and newline_at_end(b"\n") == b"\n"


def test_delimiter_lines_are_found_where_the_pattern_finds_them():
    import random

    from maildesk.mime.rawlines import find_line, line_regex, search_from

    rng = random.Random(14)
    pieces = [b"--b", b"--b--", b"--bc", b"--b-c", b"--c", b" ", b"\t", b"\r\n", b"\n", b"\r", b"x", b"-"]
    for _ in range(5000):
        raw = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        lines = tuple(rng.sample([b"--b", b"--b--", b"--bc", b"--bc--", b"--c", b"--c--", b"--b-c"], rng.randint(1, 4)))
        pos = rng.randint(0, len(raw))
        found = line_regex(lines).search(raw, search_from(pos))
        expected = None if found is None else (found.start(1), found.end(), found.group(1))
        assert find_line(raw, pos, lines) == expected, (raw, pos, lines)


def test_a_content_id_with_junk_around_its_brackets_is_the_text_between_them():
    """A client that writes `Content-Id: -- <x@y>` still gets its inline image matched to `cid:x@y`."""
    raw = (
        b"From: a@example.com\r\nTo: support@example.com\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/related; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/html\r\n\r\n<img src=\"cid:img1@example.com\">\r\n"
        b"--b\r\nContent-Type: image/png; name=a.png\r\nContent-Id:-- <img1@example.com> junk\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b--\r\n"
    )
    parsed = parse_message(raw)
    assert [a.content_id for a in parsed.attachments] == ["img1@example.com"]
