"""Assemble the body pieces of a message into its text and its sanitised HTML, within the
body and line limits, with a marker where something was cut."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from maildesk.mime.body import html_to_text, sanitise_html
from maildesk.mime.headertext import CONTROL_CHARS, SURROGATES
from maildesk.mime.limits import MimeLimits, truncation_marker


@dataclass
class Piece:
    """Body content in document order: text, or HTML (text derived later when None)."""

    text: str | None
    html: str | None = None


def clean_text(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")
    return SURROGATES.sub("\ufffd", CONTROL_CHARS.sub("", text))


def join_texts(texts) -> str:
    return "\n\n".join(t.strip("\n") for t in texts if t and t.strip())


def text_as_html(text: str) -> str:
    return f"<pre>{html.escape(text)}</pre>" if text.strip() else ""


def assemble_text(pieces: list[Piece], limits: MimeLimits, notes: list[str]) -> str:
    budget = limits.max_body_chars
    # HTML converts at ~0.4 s/MB and may hold little text: bound the source converted in total.
    html_budget = limits.max_body_chars // 2
    texts = []
    for piece in pieces:
        if budget <= 0:
            break
        if piece.text is not None:
            text = piece.text
        else:
            source = (piece.html or "")[:html_budget]
            html_budget -= len(source)
            text = html_to_text(source)
        texts.append(text)
        budget -= len(text)
    text = clean_text(join_texts(texts))
    if len(text) > limits.max_body_chars:
        notes.append(f"body truncated at {limits.max_body_chars} characters")
        text = text[: limits.max_body_chars] + "\n" + truncation_marker(
            f"body longer than {limits.max_body_chars} characters"
        )
    return _truncate_long_lines(text, limits, notes)


def _truncate_long_lines(text: str, limits: MimeLimits, notes: list[str]) -> str:
    """Cut lines over max_line_bytes, leaving a marker where each was cut."""
    limit = limits.max_line_bytes
    if len(text) <= limit // 4:
        return text
    count = 0

    def cut(match: re.Match[str]) -> str:
        nonlocal count
        encoded = match.group(0).encode("utf-8")
        if len(encoded) <= limit:
            return match.group(0)
        count += 1
        kept = encoded[:limit].decode("utf-8", "ignore")
        return kept + "\n" + truncation_marker(f"line longer than {limit} bytes")

    text = re.sub(r"[^\n]{%d,}" % max(1, limit // 4), cut, text)
    if count:
        notes.append(f"{count} line{'' if count == 1 else 's'} longer than {limit} bytes truncated")
    return text


def assemble_html(pieces: list[Piece], limits: MimeLimits, notes: list[str]) -> str | None:
    if not any(p.html is not None for p in pieces):
        return None
    source = "".join(p.html if p.html is not None else text_as_html(p.text or "") for p in pieces)
    if len(source) <= limits.max_body_chars:
        return sanitise_html(source)
    notes.append(f"HTML body truncated at {limits.max_body_chars} characters")
    # Sanitise before adding the marker: the cut may fall inside an element we drop.
    marker = truncation_marker(f"HTML longer than {limits.max_body_chars} characters")
    return sanitise_html(source[: limits.max_body_chars]) + f"<p>{html.escape(marker)}</p>"
