"""Body text helpers: HTML to safe HTML, HTML to readable text, and the newly written part of a reply.

All three take untrusted text and are bounded: inputs beyond a size cap are cut
with a visible marker, and the reply stripper only runs line-anchored patterns
over lines of bounded length.
"""

from __future__ import annotations

import functools
import html as _html
import re

import html2text
import nh3
from mailparser_reply.parser import EmailMessage

from maildesk.mime.limits import truncation_marker

__all__ = ["html_to_text", "sanitise_html", "visible_reply"]

# html2text is pure Python (~0.4 s per MB, ~10 µs per tag); these keep one conversion bounded.
_MAX_HTML_CHARS = 1_000_000
_MAX_HTML_TAGS = 100_000
_NTH_TAG = re.compile(r"(?:[^<]*<){%d}" % _MAX_HTML_TAGS)
# Tags whose content is never readable text.
_DROP_CONTENT = {"script", "style", "title", "template", "noscript", "textarea", "select"}
_ALLOWED_TAGS = set(nh3.ALLOWED_TAGS) - {"area", "map"}
_LINK_REL = "noopener noreferrer nofollow"
_MARKDOWN_LINK = re.compile(r"\[([^\[\]\n]{0,2000})\]\(([^\s()]{1,4000})\)")
_TABLE_RULE = re.compile(r"^\s*-{3}(?:\|-{3})*\s*$")
_IMAGE_DATA = re.compile(r"data:image/(?:png|gif|jpe?g|webp|bmp);", re.IGNORECASE)


def sanitise_html(html: str) -> str:
    """HTML safe to show in our pages: no script/style/iframe/form, no event handlers,
    no remote resources (only ``cid:`` and ``data:`` images), links marked
    ``rel="noopener noreferrer nofollow"``."""
    html, cut = _cap(html, _MAX_HTML_CHARS)
    clean = nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        clean_content_tags=_DROP_CONTENT,
        url_schemes={"http", "https", "mailto", "cid", "data"},
        attribute_filter=_filter_attribute,
        link_rel=_LINK_REL,
        strip_comments=True,
    )
    if cut:
        clean += f"<p>{truncation_marker(f'HTML longer than {_MAX_HTML_CHARS} characters')}</p>"
    return clean


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    lowered = value.strip().lower()
    if attribute == "src":
        # A remote src is a tracking pixel or worse; inline images come as cid: or data:.
        if lowered.startswith("cid:") or _IMAGE_DATA.match(lowered):
            return value
        return None
    if attribute in ("href", "cite"):
        if lowered.startswith(("http:", "https:", "mailto:")):
            return value
        return None
    return value


class _PlainText(html2text.HTML2Text):
    """html2text without Markdown escaping: our output is read, not rendered."""

    def handle_data(self, data: str, entity_char: bool = False) -> None:
        super().handle_data(data, entity_char=True)


def html_to_text(html: str) -> str:
    """Readable plain text of an HTML body: links kept as ``text (url)``, images dropped."""
    html, cut = _cap(html, _MAX_HTML_CHARS)
    too_many_tags = _NTH_TAG.match(html)
    if too_many_tags:
        html, cut = html[: too_many_tags.end() - 1], True
    # Sanitise first: it drops script/style content and tames broken markup cheaply (Rust).
    clean = nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        clean_content_tags=_DROP_CONTENT,
        attribute_filter=_only_href,
        link_rel=None,
    )
    try:
        converter = _PlainText(bodywidth=0)
        converter.ignore_images = True
        converter.ignore_emphasis = True
        converter.ignore_mailto_links = True
        converter.use_automatic_links = False
        converter.unicode_snob = True
        text = _MARKDOWN_LINK.sub(_plain_link, converter.handle(clean))
    except Exception:  # html2text has had IndexErrors on odd tables; fall back to bare text
        text = nh3.clean(clean, tags=set(), clean_content_tags=_DROP_CONTENT)
        text = _html.unescape(text)
    # Markdown table rules ("---|---") are noise to a reader of plain text.
    text = "\n".join(line.rstrip() for line in text.split("\n") if not _TABLE_RULE.match(line))
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    if cut:
        text += "\n" + truncation_marker(
            f"HTML longer than {_MAX_HTML_CHARS} characters or {_MAX_HTML_TAGS} tags"
        )
    return text


def _only_href(tag: str, attribute: str, value: str) -> str | None:
    return value if attribute in ("href", "start") else None


def _plain_link(match: re.Match[str]) -> str:
    """``[text](url)`` as ``text (url)``; just the url when it is the text."""
    text, url = match.group(1).strip(), match.group(2)
    if not text or text == url or f"{text}/" == url:
        return url
    return f"{text} ({url})"


def _cap(text: str, limit: int) -> tuple[str, bool]:
    if len(text) <= limit:
        return text, False
    return text[:limit], True


# --- visible_reply ---------------------------------------------------------------

# Only the head of a line is matched, so no pattern ever sees an unbounded line.
_MATCH_CHARS = 300
# A reply longer than this is shown cut (the full text stays on the stored message).
_MAX_REPLY_CHARS = 200_000

_SEPARATOR = re.compile(
    r"^-{2,}\s*(?:original message|ursprüngliche nachricht|message d'origine|"
    r"mensaje original|messaggio originale|oorspronkelijk bericht|元のメッセージ)\s*-{2,}$",
    re.IGNORECASE,
)
_FORWARD_SEPARATOR = re.compile(
    r"^(?:-{2,}\s*(?:forwarded message|weitergeleitete nachricht|message transféré|"
    r"mensaje reenviado|messaggio inoltrato|doorgestuurd bericht|転送されたメッセージ)\s*-{2,}|"
    r"begin forwarded message:|anfang der weitergeleiteten nachricht:|début du message réexpédié :?)$",
    re.IGNORECASE,
)
_UNDERSCORES = re.compile(r"^_{10,}$")
_FROM_FIELD = re.compile(
    r"^\*?(?:from|von|de|da|van|från|fra|od|差出人|送信者|发件人)\s*\*?\s*[:：]", re.IGNORECASE
)
_OTHER_FIELD = re.compile(
    r"^\*?(?:sent|date|to|subject|cc|gesendet|datum|an|betreff|envoyé|date|à|objet|enviado|"
    r"fecha|para|asunto|inviato|data|a|oggetto|verzonden|aan|onderwerp|"
    r"送信日時|日付|宛先|件名|发送时间|收件人|主题)\s*\*?\s*[:：]",
    re.IGNORECASE,
)
# Attributions ("On <date>, <name> wrote:"), possibly wrapped over up to three lines.
_ATTRIBUTION_START = re.compile(
    r"^(?:(?:on|am|le|el|il|op|den)\b|\d{4}[年/.-])", re.IGNORECASE
)
_ATTRIBUTION_END = re.compile(
    r"(?:wrote|schrieb|a écrit|escribió|ha scritto|schreef|skrev|"
    r"のメッセージ|のメール|は書きました|書きました)\s*[:：]?$|"
    r"^\d{4}年\d{1,2}月\d{1,2}日.*[:：]$",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"^\s*>")
_SIGNATURE_MARK = re.compile(r"^--\s?$|^__$")
_SENT_FROM = re.compile(
    r"^(?:sent from (?:my |mail for |outlook|yahoo)|get outlook for |sent with proton|"
    r"sent via |von meinem .{1,40} gesendet|gesendet von meinem |gesendet mit |"
    r"envoyé de mon |envoyé depuis |enviado desde mi |inviato da |verzonden vanaf mijn |"
    r"skickat från min |.{1,20}から送信$)",
    re.IGNORECASE,
)
_VALEDICTION = re.compile(
    r"^(?:best|best regards|kind regards|warm regards|regards|many thanks|thanks|thank you|"
    r"thanks again|cheers|sincerely|yours|mit freundlichen grüßen|mit freundlichen grüssen|"
    r"viele grüße|viele grüsse|beste grüße|liebe grüße|lg|mfg|gruß|grüße|cordialement|"
    r"bien cordialement|bien à vous|salutations|merci|saludos|un saludo|cordiali saluti|"
    r"met vriendelijke groet|よろしくお願いします|よろしくお願いいたします)[\s,.!]*$",
    re.IGNORECASE,
)
# "Sent from my iPhone" lines are short; a longer line starting so is the writer's text.
_SENT_FROM_MAX_CHARS = 60
# A valediction only starts the signature when little short text follows it.
_SIGNATURE_MAX_LINES = 6
_SIGNATURE_MAX_LINE_CHARS = 80
# mail-parser-reply's languages (not Polish: its header pattern fires on a single "Data:" line).
_LIBRARY_LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "sv", "da", "cs", "ja", "zh", "ko")
# Its patterns are quadratic in line length; keep their input small.
_LIBRARY_LINES = 200
_LIBRARY_LINE_CHARS = 160


def visible_reply(text: str) -> str:
    """The part of a reply the requester newly wrote: quoted text ("On ... wrote:", "Am ... schrieb", "Le ... a écrit",
    Japanese "...のメッセージ:" / "...wrote", Outlook "-----Original Message-----" / "From: ... Sent: ..." blocks,
    "> " lines) and signatures ("-- \\n", "Sent from my iPhone", "Von meinem iPhone gesendet", etc.) removed.
    If stripping leaves nothing, return the stripped-of-whitespace original."""
    text, cut = _cap(text, _MAX_REPLY_CHARS)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    keys = _mask_forwards([line.strip()[:_MATCH_CHARS] for line in lines])
    end = min(_quote_start(keys), _library_quote_start(keys))
    kept = _drop_quoted(lines[:end])
    kept = kept[: _signature_start([line.strip()[:_MATCH_CHARS] for line in kept])]
    reply = "\n".join(kept).strip()
    reply = re.sub(r"\n{3,}", "\n\n", reply) or text.strip()
    if cut:
        reply += "\n" + truncation_marker(f"reply longer than {_MAX_REPLY_CHARS} characters")
    return reply


def _mask_forwards(keys: list[str]) -> list[str]:
    """Blank the header block under a "Forwarded message" line: a forward is content the
    writer chose to send, not a quote of earlier mail."""
    masked = list(keys)
    index = 0
    while index < len(masked):
        if not _FORWARD_SEPARATOR.match(masked[index]):
            index += 1
            continue
        masked[index] = ""
        index += 1
        while index < len(masked) and not masked[index]:
            index += 1
        while index < len(masked) and masked[index]:
            masked[index] = ""
            index += 1
    return masked


def _quote_start(keys: list[str]) -> int:
    """Index of the first line of quoted material: a separator, an Outlook header block
    or an attribution line."""
    for index, key in enumerate(keys):
        if not key:
            continue
        if _SEPARATOR.match(key):
            return index
        if _UNDERSCORES.match(key) and _is_header_block(keys, index + 1):
            return index
        if _FROM_FIELD.match(key) and _is_header_block(keys, index):
            return index
        if _ATTRIBUTION_START.match(key) or _ATTRIBUTION_END.search(key):
            span = _attribution_span(keys, index)
            if span:
                return index
    return len(keys)


def _is_header_block(keys: list[str], index: int) -> bool:
    """An Outlook-style block: From: followed within a few lines by Sent:/Date:/To:/Subject:."""
    window = [key for key in keys[index : index + 6] if key]
    if not window or not _FROM_FIELD.match(window[0]):
        return False
    return sum(1 for key in window[1:5] if _OTHER_FIELD.match(key)) >= 1


def _attribution_span(keys: list[str], index: int) -> int:
    """Number of lines (1-3) of an attribution starting at ``index``, 0 if none."""
    if _ATTRIBUTION_END.search(keys[index]):
        return 1 if _looks_like_attribution(keys[index], keys, index) else 0
    if not _ATTRIBUTION_START.match(keys[index]):
        return 0
    joined = keys[index]
    for offset in (1, 2):
        if index + offset >= len(keys) or not keys[index + offset]:
            return 0
        joined += " " + keys[index + offset]
        if _ATTRIBUTION_END.search(keys[index + offset]):
            return offset + 1 if _looks_like_attribution(joined, keys, index + offset) else 0
    return 0


def _looks_like_attribution(line: str, keys: list[str], last: int) -> bool:
    """An attribution names the earlier writer (an address or a date) or precedes a quote."""
    if "@" in line or re.search(r"\d", line):
        return True
    following = next((keys[i] for i in range(last + 1, len(keys)) if keys[i]), "")
    return following.startswith(">")


def _library_quote_start(keys: list[str]) -> int:
    """mail-parser-reply's header patterns, for the languages our own patterns miss."""
    head = [key[:_LIBRARY_LINE_CHARS] for key in keys[:_LIBRARY_LINES]]
    sample = "\n".join(head)
    match = line_search(_library_header_regex(), sample)
    if not match:
        return len(keys)
    start = match.start()
    # The match may begin on the newline before its first line.
    while start < len(sample) and sample[start] == "\n":
        start += 1
    return sample.count("\n", 0, start)


def line_search(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    """`pattern.search(text)` for a MULTILINE pattern each of whose matches begins at a line
    start (`^`) or on a newline (`\n`), as `_library_header_regex` makes sure of: tried only
    at those positions, in order, so the first match is search's leftmost
    one. search tries the whole pattern (some 25 alternatives) at every character: a half
    millisecond per reply; this tries it twice a line."""
    pos = 0
    while True:
        match = pattern.match(text, pos)
        if match is not None:
            return match
        newline = text.find("\n", pos)
        if newline < 0:
            return None
        if newline != pos:
            match = pattern.match(text, newline)
            if match is not None:
                return match
        pos = newline + 1


@functools.lru_cache(maxsize=1)
def _library_header_regex() -> re.Pattern[str]:
    """The library's quote-header pattern, held to matches that begin a line (or sit on the
    newline before one). From 1.36 every alternative is anchored so already; earlier releases
    let some match mid-line (1.21's French "Le ... a écrit :" matched "le Support <...>" inside
    "Example Support <...>"), which would cut a reply in the middle of a line."""
    library = EmailMessage(text="", languages=list(_LIBRARY_LANGUAGES)).HEADER_REGEX
    return re.compile(r"(?:^|(?=\n))(?:" + library.pattern + ")", library.flags)


def _drop_quoted(lines: list[str]) -> list[str]:
    """Remove "> " lines, and an attribution line right before a quote."""
    kept: list[str] = []
    last = -1  # index in kept of the last line that is not blank
    for line in lines:
        if _QUOTED.match(line):
            if last >= 0 and _is_attribution_line(kept[last].strip()[:_MATCH_CHARS]):
                del kept[last:]
                last = next((i for i in range(len(kept) - 1, -1, -1) if kept[i].strip()), -1)
            continue
        kept.append(line)
        if line.strip():
            last = len(kept) - 1
    return kept


def _is_attribution_line(key: str) -> bool:
    return key.endswith((":", "：")) and ("@" in key or bool(_ATTRIBUTION_END.search(key)))


def _signature_start(keys: list[str]) -> int:
    for index, key in enumerate(keys):
        if _SIGNATURE_MARK.match(key) or (len(key) <= _SENT_FROM_MAX_CHARS and _SENT_FROM.match(key)):
            return index
    for index, key in enumerate(keys):
        if index and _VALEDICTION.match(key) and _short_tail(keys, index + 1):
            return index
    return len(keys)


def _short_tail(keys: list[str], start: int) -> bool:
    """A name and a few contact lines: at least one, at most a handful, all short."""
    count = 0
    for index in range(start, len(keys)):
        if not keys[index]:
            continue
        count += 1
        if count > _SIGNATURE_MAX_LINES or len(keys[index]) > _SIGNATURE_MAX_LINE_CHARS:
            return False
    return count > 0
