"""Property tests: no input makes the parser raise anything but MessageRefused, and what it
returns keeps its promises (limits, sanitised names, text that stores as UTF-8)."""

from __future__ import annotations

from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maildesk.mime import structure
from maildesk.mime.body import html_to_text, sanitise_html, visible_reply
from maildesk.mime.limits import MessageRefused, MimeLimits, precheck
from maildesk.mime.structure import bound_structure
from maildesk.mime.parse import ParsedMessage, parse_message

CLIENTS = Path(__file__).resolve().parents[1] / "data" / "clients"
CORPUS = sorted(path.read_bytes() for path in CLIENTS.glob("*.eml"))
SMALL = MimeLimits(
    max_header_bytes=4096,
    max_parts=5,
    max_depth=3,
    max_line_bytes=200,
    max_attachment_bytes=2000,
    max_total_attachment_bytes=3000,
    max_body_chars=500,
)
FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Bytes that steer a mutation towards the parser's interesting paths.
TOKENS = [
    b"\r\n", b"\n", b"\r", b"\r\n\r\n", b"--", b"\r\n--", b"--\r\n", b": ", b";", b'"', b"\\", b"(", b"<", b">",
    b"\x00", b"\xff", b"\xe3\x81", b"\x1b$B", b"=?", b"?=", b"=?utf-8?q?", b"=?x?b?", b"=?iso-2022-jp?B?",
    b"Content-Type: multipart/mixed; boundary=", b"Content-Type: message/rfc822\r\n\r\n",
    b"Content-Type: text/html; charset=foo\r\n", b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Transfer-Encoding: quoted-printable\r\n", b"Content-Transfer-Encoding: x-uuencode\r\n",
    b"Content-Disposition: attachment; filename*0*=utf-8''%E2; filename*1=", b"boundary*0=", b"=\r\n",
    b"=ZZ", b"<script>", b"<img src=x onerror=", b"((((((((((", b"From ", b" \t", b"X-Maildesk-Token: x\r\n",
]


def mutate(data: bytes, edits: list[tuple[int, int, int, bytes]]) -> bytes:
    for kind, where, length, payload in edits:
        at = where % (len(data) + 1)
        if kind == 0:  # insert
            data = data[:at] + payload + data[at:]
        elif kind == 1:  # delete
            data = data[:at] + data[at + length :]
        elif kind == 2:  # overwrite
            data = data[:at] + payload + data[at + len(payload) :]
        elif kind == 3:  # duplicate a slice
            data = data[:at] + data[at : at + length] * 3 + data[at:]
        else:  # truncate
            data = data[:at]
    return data


edits = st.lists(
    st.tuples(
        st.integers(0, 4),
        st.integers(0, 1 << 20),
        st.integers(0, 400),
        st.one_of(st.sampled_from(TOKENS), st.binary(max_size=16)),
    ),
    min_size=1,
    max_size=8,
)


def check(parsed: ParsedMessage, limits: MimeLimits) -> None:
    """What every result must honour, whatever the input."""
    strings = [parsed.from_addr, parsed.from_name, parsed.subject, parsed.text, parsed.html or ""]
    strings += [*parsed.to, *parsed.cc, *parsed.reply_to, *parsed.references, *parsed.in_reply_to, *parsed.notes]
    strings += [value for header in parsed.headers for value in header]
    for value in strings:
        value.encode("utf-8")  # storable: no lone surrogates
    assert "\r" not in parsed.subject and "\n" not in parsed.subject
    marker_room = 200
    assert len(parsed.text) <= limits.max_body_chars + marker_room * (1 + parsed.text.count("truncated by maildesk"))
    assert len(parsed.attachments) <= limits.max_parts
    assert sum(len(a.data) for a in parsed.attachments) <= limits.max_total_attachment_bytes
    for attachment in parsed.attachments:
        name = attachment.filename
        assert name and len(name) <= 200
        assert "/" not in name and "\\" not in name and not name.startswith(".")
        assert name.isprintable()
        assert len(attachment.data) <= limits.max_attachment_bytes
        assert attachment.content_id is None or ("<" not in attachment.content_id and attachment.content_id)
    assert not [n for n, _ in parsed.headers if n.lower().startswith("x-maildesk-")]
    if parsed.html is not None:
        assert_safe_html(parsed.html)
    if parsed.message_id is not None:
        assert "@" in parsed.message_id and "<" not in parsed.message_id and " " not in parsed.message_id


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, attrs))


def assert_safe_html(html: str) -> None:
    """No active elements, no event handlers, no remote resources: as a browser would parse it."""
    elements = _Elements()
    elements.feed(html)
    elements.close()
    for tag, attrs in elements.found:
        assert tag not in ("script", "style", "iframe", "form", "input", "object", "embed", "svg", "meta", "link")
        for name, value in attrs:
            assert not name.startswith("on")
            if name == "src":
                assert (value or "").lower().startswith(("cid:", "data:image/"))
            if name == "href":
                assert (value or "").lower().startswith(("http:", "https:", "mailto:"))


def parse_or_refuse(raw: bytes, limits: MimeLimits) -> ParsedMessage | None:
    try:
        parsed = parse_message(raw, limits)
    except MessageRefused as refused:
        reason = str(refused)
        assert reason and reason.isascii() and "\r" not in reason and "\n" not in reason
        return None
    check(parsed, limits)
    return parsed


@FUZZ
@given(st.binary(max_size=3000))
def test_arbitrary_bytes(raw):
    parse_or_refuse(raw, MimeLimits())
    parse_or_refuse(raw, SMALL)


@FUZZ
@given(st.sampled_from(CORPUS), edits)
def test_mutated_corpus_messages(original, changes):
    raw = mutate(original, changes)
    parse_or_refuse(raw, MimeLimits())


@FUZZ
@given(st.sampled_from(CORPUS), edits)
def test_mutated_corpus_messages_under_small_limits(original, changes):
    parse_or_refuse(mutate(original, changes), SMALL)


def _mime_tree(depth: int) -> st.SearchStrategy[bytes]:
    charset = st.sampled_from(["utf-8", "iso-8859-1", "shift_jis", "iso-2022-jp", "foo-bar", "utf-7", "", "gb2312"])
    encoding = st.sampled_from(["7bit", "8bit", "base64", "quoted-printable", "x-uuencode", "garbage"])
    ctype = st.sampled_from(["text/plain", "text/html", "image/png", "application/pdf", "text/calendar",
                             "message/delivery-status", "application/ms-tnef"])
    disposition = st.sampled_from(["", "inline", "attachment", 'attachment; filename="../x.txt"',
                                   "attachment; filename*=utf-8''%E2%80%AE.exe", "inline; filename=.."])
    leaf = st.builds(
        lambda c, cs, e, d, body: (
            f"Content-Type: {c}; charset={cs}\r\nContent-Transfer-Encoding: {e}\r\n"
            + (f"Content-Disposition: {d}\r\n" if d else "")
            + "Content-ID: <x@y>\r\n\r\n"
        ).encode() + body,
        ctype, charset, encoding, disposition,
        st.one_of(st.binary(max_size=200), st.sampled_from([b"<p>hi<script>x</script></p>", b"aGVsbG8=",
                                                            b"=E2=82=AC", "日本".encode("shift_jis")])),
    )
    if depth == 0:
        return leaf
    children = st.lists(_mime_tree(depth - 1), min_size=0, max_size=4)
    subtype = st.sampled_from(["mixed", "alternative", "related", "report", "digest", "signed"])
    boundary = st.sampled_from(["b", "b1", "=_x", "same", ""])
    multipart = st.builds(
        lambda sub, bnd, parts, closed: (
            f'Content-Type: multipart/{sub}; boundary="{bnd}"\r\n\r\npreamble\r\n'.encode()
            + b"".join(b"--" + bnd.encode() + b"\r\n" + part + b"\r\n" for part in parts)
            + (b"--" + bnd.encode() + b"--\r\n" if closed else b"")
        ),
        subtype, boundary, children, st.booleans(),
    )
    forwarded = st.builds(
        lambda inner: b"Content-Type: message/rfc822\r\n\r\nFrom: x@y\r\nSubject: fwd\r\n" + inner,
        _mime_tree(depth - 1),
    )
    return st.one_of(leaf, multipart, forwarded)


@FUZZ
@given(_mime_tree(3), st.sampled_from([MimeLimits(), SMALL]))
def test_generated_mime_trees(tree, limits):
    raw = b"From: Fuzz <fuzz@example.com>\r\nSubject: =?utf-8?q?t=C3=A9st?=\r\nMIME-Version: 1.0\r\n" + tree
    parsed = parse_or_refuse(raw, limits)
    assert parsed is None or parsed.from_addr == "fuzz@example.com"


@FUZZ
@given(st.binary(max_size=3000), st.integers(1, 5000))
def test_precheck_only_refuses(raw, max_header_bytes):
    limits = MimeLimits(max_header_bytes=max_header_bytes)
    try:
        precheck(raw, limits)
    except MessageRefused as refused:
        assert str(refused).startswith("header block too large")
        assert len(raw) > max_header_bytes
    bound_structure(raw, limits)


@FUZZ
@given(st.sampled_from(CORPUS), edits)
def test_precheck_on_mutated_corpus(original, changes):
    try:
        precheck(mutate(original, changes), MimeLimits())
    except MessageRefused as refused:
        assert str(refused).isascii()


@FUZZ
@given(st.text(max_size=2000))
def test_body_helpers_never_raise(text):
    reply = visible_reply(text)
    assert isinstance(reply, str) and len(reply) <= len(text.strip()) + 1
    assert isinstance(html_to_text(text), str)
    assert_safe_html(sanitise_html(text))


@FUZZ
@given(st.lists(st.sampled_from([
    "On Mon, 3 Nov 2025 at 10:12, A <a@b.c> wrote:", "> quoted", ">", "-- ", "Sent from my iPhone",
    "From: A <a@b.c>", "Sent: Monday", "To: B", "Subject: x", "-----Original Message-----",
    "Am 03.11.2025 um 10:12 schrieb A <a@b.c>:", "Best regards,", "Bob", "", "new text", "- item",
    "---------- Forwarded message ----------", "________________________________",
]), max_size=30))
def test_visible_reply_on_mixed_reply_lines(lines):
    text = "\n".join(lines)
    reply = visible_reply(text)
    assert reply == text.strip() or all(line in text for line in reply.split("\n"))


def assert_lifting_changes_nothing(raw: bytes) -> None:
    """bound_structure must split parts exactly where the stdlib parser would, so lifting
    every body past the parser gives the same result as lifting none."""
    try:
        normal = parse_message(raw)
    except MessageRefused:
        return
    saved = structure._LIFT_BYTES
    structure._LIFT_BYTES = 0  # lift every non-empty body
    try:
        lifted = parse_message(raw)
    finally:
        structure._LIFT_BYTES = saved
    assert _comparable(lifted) == _comparable(normal)


def _comparable(parsed: ParsedMessage) -> ParsedMessage:
    """message/* attachments are re-serialised, and the stdlib invents a random boundary for
    a multipart that has none: compare those without their bytes."""
    attachments = tuple(
        replace(a, data=b"") if a.content_type.startswith("message/") else a for a in parsed.attachments
    )
    return replace(parsed, attachments=attachments)


@FUZZ
@given(st.sampled_from(CORPUS), edits)
def test_lifting_bodies_changes_nothing_on_mutated_messages(original, changes):
    assert_lifting_changes_nothing(mutate(original, changes))


@FUZZ
@given(_mime_tree(3))
def test_lifting_bodies_changes_nothing_on_generated_trees(tree):
    assert_lifting_changes_nothing(b"From: Fuzz <fuzz@example.com>\r\nMIME-Version: 1.0\r\n" + tree)
