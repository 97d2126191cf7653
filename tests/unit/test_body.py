"""Body helpers: what a reader sees of a reply (visible_reply), of HTML mail as text
(html_to_text) and of HTML mail in our pages (sanitise_html)."""

from __future__ import annotations

from pathlib import Path

import pytest

from maildesk.mime import body
from maildesk.mime.body import html_to_text, sanitise_html, visible_reply
from maildesk.mime.parse import parse_message

CLIENTS = Path(__file__).resolve().parents[1] / "data" / "clients"


def corpus_text(name: str, *, from_html: bool = False) -> str:
    parsed = parse_message((CLIENTS / name).read_bytes())
    return html_to_text(parsed.html) if from_html else parsed.text


# file, the new text the reader must see, text that must be gone (quote or signature)
REPLIES = [
    ("outlook_html_reply.eml", "I updated the client to 5.2 as you suggested but the tunnel still drops",
     ["Please update the VPN client", "From: Example Support", "Regards,\nBob", "_____"]),
    ("outlook_tnef_original_message.eml", "The invoice is still not in the portal. Can you send it as PDF?",
     ["Original Message", "within one working day"]),
    ("gmail_reply.eml", "Resetting the password worked, I can log in again. Thanks a lot!",
     ["wrote:", "Please reset your password", "Example Support"]),
    ("gmail_wrapped_attribution.eml", "The export is still empty, even for last month.",
     ["On Tue, 4 Nov 2025", "wrote:", "clearing the filter"]),
    ("apple_mail_reply.eml", "The printer is back online after the restart.",
     ["wrote:", "We restarted the print server"]),
    ("thunderbird_reply.eml", "The sync works again since this morning. You can close the ticket.",
     ["wrote:", "Calendar sync should work", "Felix Braun", "+49 30"]),
    ("iphone_reply.eml", "Thursday afternoon works for me, I will bring the laptop to the front desk.",
     ["Sent from my iPhone", "The new battery arrived"]),
    ("android_samsung_reply.eml", "Got it, the guests are connected now.",
     ["Sent from my Galaxy", "Original message", "printed at the reception"]),
    ("german_reply.eml", "nach dem Austausch der Tonerkartusche druckt der Drucker wieder einwandfrei.",
     ["Mit freundlichen Grüßen", "Jürgen Müller", "schrieb", "Bitte tauschen Sie"]),
    ("german_iphone_reply.eml", "Das Laufwerk ist jetzt sichtbar, danke.",
     ["Von meinem iPhone gesendet", "schrieb", "Berechtigung"]),
    ("french_reply.eml", "Le problème est résolu après la mise à jour du mot de passe.",
     ["Bien cordialement", "Amélie", "a écrit", "réinitialiser"]),
    ("japanese_iso2022jp.eml", "再起動したところ、正常に接続できるようになりました。",
     ["2025年11月3日", "ルーターを再起動"]),
    ("japanese_shiftjis.eml", "ご連絡ありがとうございます。プリンターは復旧しました。",
     ["のメッセージ", "ドライバーを更新"]),
    ("outlook_german_quote.eml", "Das neue Passwort funktioniert.",
     ["Von:", "Gesendet:", "Bitte setzen Sie", "Gruß\nKarl"]),
]


@pytest.mark.parametrize("name, new, gone", REPLIES, ids=[r[0] for r in REPLIES])
def test_visible_reply_of_client_messages(name, new, gone):
    reply = visible_reply(corpus_text(name))
    assert new in reply
    for fragment in gone:
        assert fragment not in reply


@pytest.mark.parametrize(
    "name, new, gone",
    [
        ("outlook_html_reply.eml", "tunnel still drops", "Please update the VPN client"),
        ("gmail_reply.eml", "Resetting the password worked", "Please reset your password"),
        ("iphone_reply.eml", "Thursday afternoon works for me", "The new battery arrived"),
        ("android_samsung_reply.eml", "the guests are connected now", "printed at the reception"),
    ],
)
def test_visible_reply_of_html_parts(name, new, gone):
    reply = visible_reply(corpus_text(name, from_html=True))
    assert new in reply and gone not in reply


def test_visible_reply_keeps_a_forwarded_message():
    reply = visible_reply(corpus_text("forwarded_rfc822.eml"))
    assert "Is this alert genuine?" in reply
    assert "From: Security Team <security@accounts.northwind.example>" in reply
    assert "We noticed a new sign-in" in reply


@pytest.mark.parametrize(
    "text, expected",
    [
        # attributions in other languages
        ("Gracias, ya funciona.\n\nEl lun, 3 nov 2025 a las 10:12, Soporte (<s@example.com>) escribió:\n> viejo",
         "Gracias, ya funciona."),
        ("Het werkt weer.\n\nOp ma 3 nov. 2025 om 10:12 schreef Support <s@example.com>:\n> oud",
         "Het werkt weer."),
        ("Funziona.\n\nIl giorno lun 3 nov 2025 alle ore 10:12 Support <s@example.com> ha scritto:\n> vecchio",
         "Funziona."),
        # only mail-parser-reply's patterns know these
        ("Už to funguje.\n\nDne 3. 11. 2025 10:12 napsal(a) Podpora <s@example.com>:\n> staré",
         "Už to funguje."),
        ("이제 됩니다.\n\n2025년 11월 3일 (월) 오전 10:12, Support <s@example.com>님이 작성하였습니다:\n> 이전",
         "이제 됩니다."),
        ("已经好了。\n\n2025年11月3日 10:12，Support <s@example.com> 写道：\n> 旧的", "已经好了。"),
        # Outlook blocks without a separator line, in English and Italian
        ("Done.\n\nFrom: Support <s@example.com>\nSent: Monday, November 3, 2025 10:12\nTo: me\n"
         "Subject: x\n\nold", "Done."),
        ("Fatto.\n\nDa: Support <s@example.com>\nInviato: lunedì 3 novembre 2025 10:12\nA: me\n\nvecchio",
         "Fatto."),
        # an attribution without date or address, recognised because a quote follows
        ("Yes please.\n\nSupport wrote:\n> Shall we?", "Yes please."),
        # signatures
        ("It works.\n-- \nBob Smith\nACME", "It works."),
        ("It works.\n\nBest regards,\nBob Smith\nACME Corp\n+1 555 0100", "It works."),
        ("Ça marche.\n\nEnvoyé de mon iPhone", "Ça marche."),
        ("Geht.\n\nGesendet von meinem Samsung Galaxy", "Geht."),
        ("直りました\n\niPhoneから送信", "直りました"),
        ("Fixed.\n\nGet Outlook for iOS<https://aka.ms/o0ukef>", "Fixed."),
        # CRLF and lone CR line endings
        ("Thanks!\r\n\r\nOn Mon, 3 Nov 2025 at 10:12, S <s@example.com> wrote:\r\n> old\r\n", "Thanks!"),
    ],
)
def test_visible_reply_strips_quotes_and_signatures(text, expected):
    assert visible_reply(text) == expected


def test_interleaved_answers_keep_the_answers_and_drop_the_quotes():
    text = "> Which version?\n5.2\n\n> Which OS?\nWindows 11\n"
    assert visible_reply(text) == "5.2\n\nWindows 11"


@pytest.mark.parametrize(
    "text",
    [
        "Steps I tried:\n- restart the router\n- log in again\n- clear the cache",
        "Thanks, that worked.\nBut the export still fails on Fridays.",
        "Bonjour,\nmerci.",
        "From: my laptop the upload fails.\nIt worked from the office.",
        "On Monday the server was down again.\nPlease check the logs.",
        "Here is the log:\nERROR 42 at line 7",
        "Regards to the team, the fix works.",
        "Sent from my laptop the upload fails every time, from the office it works fine.",
        "メールサーバーから送信されたエラーです。",
    ],
)
def test_visible_reply_keeps_ordinary_text(text):
    assert visible_reply(text) == text


def test_visible_reply_falls_back_to_the_original_when_nothing_is_left():
    assert visible_reply("  > only quoted\n> text\n") == "> only quoted\n> text"
    assert visible_reply("-- \nBob") == "-- \nBob"
    assert visible_reply("") == ""
    assert visible_reply("   \n  ") == ""


def test_visible_reply_is_bounded_on_hostile_input():
    long_lines = "\n".join(["On " + "a " * 500] * 100)
    assert visible_reply(long_lines) == long_lines.strip()
    many = "new\n" + "On x wrote\n" * 20_000
    assert visible_reply(many).startswith("new")


def test_visible_reply_cuts_a_huge_reply_with_a_marker():
    reply = visible_reply("line of new text\n" * 20_000)
    assert reply.startswith("line of new text\nline of new text")
    assert reply.endswith("[… truncated by maildesk: reply longer than 200000 characters]")
    assert len(reply) < 200_100


# --- html_to_text ---------------------------------------------------------------------------


def test_html_to_text_keeps_links_as_text():
    html = ('<p>See <a href="https://example.com/a" title="t">the docs</a>, <a href="https://example.org">'
            'https://example.org</a> or write to <a href="mailto:help@example.com">help@example.com</a>.</p>')
    assert html_to_text(html) == (
        "See the docs (https://example.com/a), https://example.org or write to help@example.com."
    )


def test_html_to_text_drops_scripts_styles_titles_and_images():
    html = ("<html><head><title>Mail</title><style>p{color:red}</style></head><body>"
            "<script>alert(1)</script><p>Hello &amp; welcome</p><img src='cid:x' alt='logo'></body></html>")
    assert html_to_text(html) == "Hello & welcome"


def test_html_to_text_has_no_markdown_escapes():
    html = "<div>-----Original Message-----</div><p>1. first<br>- second<br>+ third * star_under</p>"
    assert html_to_text(html) == "-----Original Message-----\n\n1. first\n- second\n+ third * star_under"


def test_html_to_text_renders_lists_quotes_and_tables_readably():
    html = ("<ul><li>one</li><li>two</li></ul><blockquote>quoted</blockquote>"
            "<table><tr><th>Name</th><th>Qty</th></tr><tr><td>Apple</td><td>3</td></tr></table>")
    text = html_to_text(html)
    assert "* one\n  * two" in text
    assert "> quoted" in text
    assert "Name| Qty\nApple| 3" in text
    assert "---" not in text


def test_html_to_text_caps_huge_input_with_a_marker(monkeypatch):
    monkeypatch.setattr(body, "_MAX_HTML_CHARS", 100)
    text = html_to_text("<p>" + "word " * 1000 + "</p>")
    assert text.startswith("word word")
    assert text.endswith("[… truncated by maildesk: HTML longer than 100 characters or 100000 tags]")
    assert len(text) < 200


def test_html_to_text_caps_tag_soup(monkeypatch):
    monkeypatch.setattr(body, "_NTH_TAG", __import__("re").compile(r"(?:[^<]*<){10}"))
    text = html_to_text("<p>a</p>" * 100)
    assert text.startswith("a\n\na")
    assert 1 < text.split("\n").count("a") <= 5
    assert "truncated by maildesk" in text


def test_html_to_text_survives_broken_markup():
    nested = html_to_text("<table><tr><td>a<td><table><td>b</table></tr>")
    assert "a" in nested and "b" in nested
    assert html_to_text("<<<>>><p>text</p></div></div>").endswith("text")
    assert html_to_text("") == ""


# --- sanitise_html --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "html, gone",
    [
        ("<script>alert(1)</script><p>x</p>", ["<script", "alert"]),
        ("<p onclick='steal()' onmouseover=\"x()\">x</p>", ["onclick", "onmouseover", "steal"]),
        ("<img src=x onerror=alert(1)>", ["onerror", "alert"]),
        ("<iframe src='https://evil.example'></iframe>", ["<iframe", "evil.example"]),
        ("<form action='https://evil.example'><input name=p><button>Go</button></form>",
         ["<form", "<input", "evil.example"]),
        ("<img src='http://tracker.example/p.gif'>", ["tracker.example"]),
        ("<img src='https://tracker.example/p.gif'>", ["tracker.example"]),
        ("<img src='//tracker.example/p.gif'>", ["tracker.example"]),
        ("<img src='data:image/svg+xml;base64,PHN2Zz4='>", ["svg"]),
        ("<a href='javascript:alert(1)'>x</a>", ["javascript", "alert"]),
        ("<a href='data:text/html,<script>'>x</a>", ["data:", "script"]),
        ("<a href='vbscript:msgbox'>x</a>", ["vbscript"]),
        ("<style>body{background:url(https://t.example)}</style><p>x</p>", ["<style", "t.example"]),
        ("<p style='background:url(https://t.example/x)'>x</p>", ["style", "t.example"]),
        ("<meta http-equiv='refresh' content='0;url=https://evil.example'>", ["refresh", "evil.example"]),
        ("<object data='https://evil.example/x.swf'></object><embed src='https://evil.example/y'>",
         ["<object", "<embed", "evil.example"]),
        ("<base href='https://evil.example/'><link rel=stylesheet href='https://evil.example/s.css'>",
         ["<base", "<link", "evil.example"]),
        ("<svg onload=alert(1)><circle/></svg>", ["<svg", "onload"]),
        ("<table background='https://t.example/bg.gif'><tr><td>x</td></tr></table>", ["t.example"]),
        ("<!--[if mso]><script>x()</script><![endif]--><p>ok</p>", ["<!--", "script"]),
    ],
)
def test_sanitise_html_removes_active_and_remote_content(html, gone):
    clean = sanitise_html(html)
    for fragment in gone:
        assert fragment not in clean


def test_sanitise_html_keeps_formatting_links_and_inline_images():
    html = ('<p>Hello <b>bold</b> <i>it</i></p><ul><li>one</li></ul>'
            '<a href="https://example.com/x">link</a>'
            '<img src="cid:logo@example.com" alt="logo">'
            '<img src="data:image/png;base64,iVBORw0KGgo=" alt="dot">')
    clean = sanitise_html(html)
    assert "<p>Hello <b>bold</b> <i>it</i></p><ul><li>one</li></ul>" in clean
    assert '<a href="https://example.com/x" rel="noopener noreferrer nofollow">link</a>' in clean
    assert '<img src="cid:logo@example.com" alt="logo">' in clean
    assert '<img src="data:image/png;base64,iVBORw0KGgo=" alt="dot">' in clean


def test_sanitise_html_overrides_a_senders_rel():
    clean = sanitise_html('<a href="https://example.com" rel="opener" target="_top">x</a>')
    assert clean == '<a href="https://example.com" rel="noopener noreferrer nofollow">x</a>'


def test_line_search_finds_what_search_finds_in_reply_text():
    # visible_reply looks for the reply-splitting library's quote headers only where a match
    # can begin (line starts, newlines): the same first match, span and groups as search.
    import random

    pattern = body._library_header_regex()
    pieces = ["On Mon, 1 Jan 2024 at 10:00, Bob <b@x.org> wrote:", "From: a", "Sent: b", "To: c", "Subject: d",
              "> On x wrote:", "-----Original Message-----", "Am 1. Jan schrieb Bob <b@x.org>:", "Von: a",
              "Gesendet: b", "Le 1 janv. a écrit :", "De : a", "Envoyé : b", "Den 1 jan 2024 skrev Bob:",
              "2024年1月1日 写道：", "* From: x", "hello", "", "   ", "> quoted", "Thanks,", "--", "ok: fine", "\n",
              "wrote:", "On"]
    rnd = random.Random(14)
    samples = ["\n".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 12))) for _ in range(3000)]
    samples += [corpus_text(path.name) for path in sorted(CLIENTS.glob("*.eml"))]
    found = 0
    for sample in samples:
        expected, got = pattern.search(sample), body.line_search(pattern, sample)
        assert (expected is None) == (got is None), sample
        if expected is not None:
            found += 1
            assert (got.span(), got.groups()) == (expected.span(), expected.groups()), sample
    assert found > 1000  # the headers were there to be found


def test_library_quote_headers_match_only_where_a_line_begins():
    # mail-parser-reply before 1.36 let the French header match mid-line ("le Support ... a
    # écrit :" inside "Example Support"), which would cut the reply inside a line: on every
    # release pyproject.toml allows, a match starts a line or sits on the newline before one.
    texts = ["Bonjour,\n\nLe lun. 3 nov. 2025 à 10:12, Example Support <support@x.example> a écrit :\n\n> ?",
             "Merci\nLe 1 janv. 2024, Bob <b@x.org> a écrit :\n> ?"]
    starts = []
    for text in texts:
        for match in body._library_header_regex().finditer(text):
            assert match.start() == 0 or text[match.start() - 1] == "\n" or text[match.start()] == "\n", match
            starts.append(match.start())
    assert starts  # the plain attribution is found
    assert "Bonjour" in body.visible_reply(texts[0]) and "Example Support" not in body.visible_reply(texts[0])
