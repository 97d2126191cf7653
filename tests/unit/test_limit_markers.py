"""Content cut past the MIME limits is named in the text and HTML, never dropped silently."""

from __future__ import annotations

from maildesk.mime.limits import MimeLimits
from maildesk.mime.parse import parse_message

_HEAD = b"From: a@example.org\r\nSubject: limits\r\nMIME-Version: 1.0\r\n"


def many_parts(n: int) -> bytes:
    parts = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % i for i in range(n))
    return _HEAD + b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + parts + b"--b--\r\n"


def deep_multipart(n: int) -> bytes:
    body = b"".join(b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i - 1, i) for i in range(1, n))
    body += b"--b%d\r\nContent-Type: text/plain\r\n\r\ndeep text\r\n--b%d--\r\n" % (n - 1, n - 1)
    body += b"".join(b"--b%d--\r\n" % i for i in range(n - 2, -1, -1))
    return _HEAD + b"Content-Type: multipart/mixed; boundary=b0\r\n\r\n" + body


def nested_rfc822(n: int) -> bytes:
    inner = b"From: z@example.org\r\nSubject: level %d\r\n\r\ninnermost text\r\n" % n
    for i in range(n - 1, -1, -1):
        inner = b"From: z@example.org\r\nSubject: level %d\r\nContent-Type: message/rfc822\r\n\r\n" % i + inner
    return inner


def many_parameters(n: int) -> bytes:
    params = b";".join(b" p%d=v%d" % (i, i) for i in range(n))
    return (_HEAD + b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html;"
            + params + b"\r\n\r\n<p>shown text</p>\r\n--b--\r\n")


def test_ten_thousand_parts_say_how_many_are_not_shown() -> None:
    parsed = parse_message(many_parts(10_000))
    assert "part 199" in parsed.text and "part 200" not in parsed.text
    assert parsed.text.endswith(
        "[… truncated by maildesk: 9,800 more parts not shown (limit 200); the original message is kept]")
    assert parsed.left_out == ("9,800 more parts not shown (limit 200)",)


def test_thousand_deep_multipart_is_not_an_empty_description() -> None:
    parsed = parse_message(deep_multipart(1000))
    assert parsed.text == (
        "[… truncated by maildesk: 1 part nested deeper than 20 levels not shown; the original message is kept]")


def test_nested_messages_past_the_depth_say_so() -> None:
    parsed = parse_message(nested_rfc822(40))
    assert "Subject: level 19" in parsed.text and "innermost text" not in parsed.text
    assert parsed.text.endswith("1 part nested deeper than 20 levels not shown; the original message is kept]")


def test_part_with_thousands_of_parameters_says_its_header_was_cut() -> None:
    parsed = parse_message(many_parameters(4000))
    assert "shown text" in parsed.text
    assert parsed.left_out == ("1 oversized part header cut",)
    assert parsed.html is not None and "1 oversized part header cut" in parsed.html


def test_dropped_attachments_and_several_limits_in_one_marker() -> None:
    raw = many_parts(30).replace(b"Content-Type: text/plain\r\n\r\npart 1\r\n",
                                 b"Content-Type: application/pdf\r\nContent-Disposition: attachment; "
                                 b"filename=big.pdf\r\n\r\n" + b"x" * 2000 + b"\r\n")
    parsed = parse_message(raw, MimeLimits(max_parts=10, max_attachment_bytes=1000))
    assert parsed.left_out == ("20 more parts not shown (limit 10)", "1 attachment over the size limit not kept")
    assert parsed.text.endswith("[… truncated by maildesk: 20 more parts not shown (limit 10); "
                                "1 attachment over the size limit not kept; the original message is kept]")


def test_a_message_within_the_limits_has_no_marker() -> None:
    parsed = parse_message(many_parts(5))
    assert parsed.left_out == () and "truncated" not in parsed.text
