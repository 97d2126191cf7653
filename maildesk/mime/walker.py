"""Walk a MIME tree (RFC 2046) into body pieces in document order and attachments, within the
part, depth and attachment-size limits, counting what it leaves out."""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import Message

from maildesk.mime.assemble import Piece, clean_text, join_texts, text_as_html
from maildesk.mime.body import html_to_text
from maildesk.mime.charsets import decode_bytes
from maildesk.mime.filenames import sanitise_filename
from maildesk.mime.headers import first_header, one_line
from maildesk.mime.headertext import decode_header_text
from maildesk.mime.limits import MimeLimits
from maildesk.mime.parsed import Attachment
from maildesk.mime.parts import (
    inner_message,
    part_charset,
    part_content_id,
    part_disposition,
    part_filename,
    part_type,
    related_root,
)
from maildesk.mime.payload import part_payload

FORWARD_SEPARATOR = "---------- Forwarded message ----------"


@dataclass
class Walker:
    """One walk over one message: the attachments found and the counts of what was left out."""

    limits: MimeLimits
    notes: list[str]
    attachments: list[Attachment] = field(default_factory=list)
    parts: int = 0
    total_bytes: int = 0
    parts_dropped: int = 0
    parts_too_deep: int = 0
    attachments_dropped: int = 0

    def render(self, part: Message, depth: int) -> list[Piece]:
        ctype = part_type(part)
        if part.is_multipart() and ctype.startswith("multipart/"):
            return self._multipart(part, ctype, depth)
        if ctype.startswith("message/") and ctype != "message/delivery-status" and part.is_multipart():
            return self._forwarded(part, depth)
        return self._leaf(part, ctype, inline_default=False)

    def _children(self, part: Message, depth: int) -> list[Message]:
        children = [c for c in part.get_payload() if isinstance(c, Message)]
        if depth + 1 > self.limits.max_depth:
            self.notes.append(_deep_note(len(children), self.limits))
            self.parts_too_deep += len(children)
            return []
        kept = []
        for child in children:
            self.parts += 1
            if self.parts <= self.limits.max_parts:
                kept.append(child)
        if len(kept) < len(children):
            self.notes.append(_many_note(len(children) - len(kept), self.limits))
            self.parts_dropped += len(children) - len(kept)
        return kept

    def _multipart(self, part: Message, ctype: str, depth: int) -> list[Piece]:
        children = self._children(part, depth)
        if ctype == "multipart/alternative":
            return self._alternative(children, depth)
        if ctype == "multipart/related" and children:
            root = related_root(part, children)
            pieces = self.render(root, depth + 1)
            for child in children:
                if child is not root:
                    self._collect(child, depth + 1, inline_default=True)
            return pieces
        if ctype == "multipart/report" and children:
            pieces = self.render(children[0], depth + 1)
            for child in children[1:]:
                self._collect(child, depth + 1, inline_default=False)
            return pieces
        pieces: list[Piece] = []
        for child in children:
            pieces.extend(self.render(child, depth + 1))
        return pieces

    def _alternative(self, children: list[Message], depth: int) -> list[Piece]:
        """RFC 2046 §5.1.4: the same content in several forms; text/plain is our text,
        the last HTML form is our HTML."""
        rendered = [(child, self.render(child, depth + 1)) for child in children]
        plain = next(
            (pieces for child, pieces in rendered
             if part_type(child) == "text/plain" and any((p.text or "").strip() for p in pieces)),
            None,
        )
        rich = next(
            (pieces for _, pieces in reversed(rendered) if any(p.html is not None for p in pieces)),
            None,
        )
        if plain and rich:
            html_text = "".join(p.html if p.html is not None else text_as_html(p.text or "") for p in rich)
            return [Piece(join_texts(p.text or "" for p in plain), html_text)]
        if rich or plain:
            return rich or plain or []
        return next((pieces for _, pieces in reversed(rendered) if pieces), [])

    def _forwarded(self, part: Message, depth: int) -> list[Piece]:
        """A message/rfc822 part as a readable "Forwarded message" block."""
        if depth + 1 > self.limits.max_depth:
            self.notes.append(_deep_note(1, self.limits))
            self.parts_too_deep += 1
            return []
        inner = next((c for c in part.get_payload() if isinstance(c, Message)), None)
        if inner is None:
            return []
        lines = [FORWARD_SEPARATOR]
        for name in ("From", "Date", "Subject", "To"):
            value = one_line(decode_header_text(first_header(inner, name.lower())))
            if value:
                lines.append(f"{name}: {value[:1000]}")
        head = "\n".join(lines)
        pieces = self.render(inner, depth + 1)
        body = join_texts(p.text if p.text is not None else html_to_text(p.html or "") for p in pieces)
        text = head + "\n\n" + body if body else head
        rich = None
        if any(p.html is not None for p in pieces):
            inner_html = "".join(p.html if p.html is not None else text_as_html(p.text or "") for p in pieces)
            rich = f"<div>{text_as_html(head)}{inner_html}</div>"
        return [Piece(text, rich)]

    def _leaf(self, part: Message, ctype: str, inline_default: bool) -> list[Piece]:
        disposition = part_disposition(part)
        filename = part_filename(part)
        if ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename:
            content = clean_text(decode_bytes(part_payload(part), part_charset(part)))
            return [Piece(None, content)] if ctype == "text/html" else [Piece(content)]
        if ctype.startswith("multipart/"):  # a multipart whose boundary never appeared
            return [Piece(clean_text(decode_bytes(part_payload(part), part_charset(part))))]
        self._attach(part, ctype, filename, disposition, inline_default)
        return []

    def _collect(self, part: Message, depth: int, inline_default: bool) -> None:
        """Everything below ``part`` as attachments (related resources, report parts)."""
        ctype = part_type(part)
        if part.is_multipart() and ctype.startswith("multipart/"):
            for child in self._children(part, depth):
                self._collect(child, depth + 1, inline_default)
            return
        self._attach(part, ctype, part_filename(part), part_disposition(part), inline_default)

    def _attach(self, part: Message, ctype: str, filename: str | None, disposition: str | None,
                inline_default: bool) -> None:
        content_id = part_content_id(part)
        if filename is None and ctype == "message/rfc822":
            subject = one_line(decode_header_text(first_header(inner_message(part), "subject")))
            filename = f"{subject[:150]}.eml" if subject else None
        name = sanitise_filename(filename, ctype)
        data = part_payload(part)
        if len(data) > self.limits.max_attachment_bytes:
            self.attachments_dropped += 1
            self.notes.append(
                f'attachment "{name}" dropped: {len(data)} bytes is over the limit of '
                f"{self.limits.max_attachment_bytes} bytes"
            )
            return
        if self.total_bytes + len(data) > self.limits.max_total_attachment_bytes:
            self.attachments_dropped += 1
            self.notes.append(
                f'attachment "{name}" dropped: attachments together are over the limit of '
                f"{self.limits.max_total_attachment_bytes} bytes"
            )
            return
        self.total_bytes += len(data)
        inline = disposition == "inline" or (disposition is None and (inline_default or content_id is not None))
        self.attachments.append(Attachment(name, ctype, data, content_id, inline))


def _deep_note(count: int, limits: MimeLimits) -> str:
    return f"{_parts(count)} nested deeper than {limits.max_depth} levels dropped"


def _many_note(count: int, limits: MimeLimits) -> str:
    return f"{_parts(count)} beyond the limit of {limits.max_parts} dropped"


def _parts(count: int) -> str:
    return f"{count} part" if count == 1 else f"{count} parts"
