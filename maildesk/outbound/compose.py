"""Composing outbound email from the Jinja2 templates in templates/mail/.

Each kind of email has a text template (and an HTML one where it helps). Every message gets
a fresh Message-ID at the support domain (see tokens.py), the ticket number in the subject,
In-Reply-To/References continuing the ticket's thread, Reply-To the support address, and the
RFC 3834 headers that keep other robots from answering it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import format_datetime, formataddr
from typing import Any

import jinja2

from maildesk.config import Settings
from maildesk.outbound import tokens, wire
from maildesk.models import Ticket, utcnow
from maildesk.resources import resource_dir

TEMPLATES_DIR = resource_dir("templates")

# kind -> (subject template, Auto-Submitted value)
_KINDS: dict[str, tuple[str, str]] = {
    "confirmation": ("Your support request {number} has been received", "auto-replied"),
    "update": ("Your support request has been updated", "auto-generated"),
    "resolved": ("Your support request {number} has been resolved", "auto-generated"),
    "new_ticket": ("New ticket: {subject}", "auto-generated"),
    "requester_reply": ("New reply: {subject}", "auto-generated"),
    "escalation": ("URGENT: Ticket {number} needs attention", "auto-generated"),
    "magic_link": ("Your sign-in link", "auto-replied"),
    "webhook_disabled": ("A webhook endpoint was disabled", "auto-generated"),
}

_SPACE = re.compile(r"\s+")


def header_safe(value: str, limit: int = 200) -> str:
    """One line, no CR/LF or other control characters, bounded: safe inside a header."""
    value = value or ""
    if not value.isprintable():
        value = "".join(ch if ch.isprintable() else " " for ch in value)
    value = _SPACE.sub(" ", value).strip()
    return value[:limit]


@dataclass(frozen=True)
class Composed:
    message_id: str  # without <>
    subject: str
    raw: bytes


class Composer:
    """Renders outbound mail; built once per process from the settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR / "mail")),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            auto_reload=False,  # the packaged templates do not change while the daemon runs
        )
        self.loop_token = tokens.loop_token(settings.secret_key)
        self._templates: dict[str, jinja2.Template | None] = {}

    def _render(self, name: str, context: dict[str, Any]) -> str | None:
        # Looked up once per name, a missing one too (most kinds have no HTML template):
        # compiled once, and no file system search for each message.
        if name not in self._templates:
            try:
                self._templates[name] = self._env.get_template(name)
            except jinja2.TemplateNotFound:
                self._templates[name] = None
        template = self._templates[name]
        return template.render(**context) if template is not None else None

    def compose(
        self,
        kind: str,
        to_addr: str,
        ticket: Ticket | None,
        *,
        to_name: str = "",
        context: dict[str, Any] | None = None,
    ) -> Composed:
        s = self.settings
        subject_template, auto_submitted = _KINDS[kind]
        values: dict[str, Any] = {
            "ticket": ticket,
            "base_url": s.base_url,
            "support_address": s.support_address,
            "name": header_safe(to_name, 100),
        }
        values.update(context or {})
        text = self._render(f"{kind}.txt", values)
        if text is None:
            raise LookupError(f"no template for {kind} mail")
        html = self._render(f"{kind}.html", values)

        subject = subject_template.format(
            number=ticket.ticket_number if ticket else "",
            subject=header_safe(ticket.subject if ticket else "", 150),
        )
        if ticket is not None:
            subject = f"[{ticket.ticket_number}] {subject}"
        message_id = tokens.new_message_id(s.secret_key, s.support_domain)

        subject = header_safe(subject, 300)
        headers: list[tuple[str, str] | str] = [
            ("From", formataddr(("Support", s.support_address))),
            wire.mailbox_header("To", header_safe(to_name, 100), to_addr),
            ("Subject", subject),
            ("Date", format_datetime(utcnow())),
            ("Message-ID", f"<{message_id}>"),
            ("Reply-To", s.support_address),
        ]
        if ticket is not None and ticket.root_message_id:
            headers.append(("In-Reply-To", f"<{ticket.root_message_id}>"))
            headers.append(("References", f"<{ticket.root_message_id}>"))
        if ticket is not None:
            headers.append(("X-Maildesk-Ticket", ticket.ticket_number or ""))
        # RFC 3834: mark every message as automatic, and ask robots not to answer.
        headers.append(("Auto-Submitted", auto_submitted))
        headers.append(("X-Auto-Response-Suppress", "All"))
        if kind != "update":  # an update carries a person's words; the rest is robot mail
            headers.append(("Precedence", "auto_reply" if auto_submitted == "auto-replied" else "bulk"))
        headers.append(("X-Maildesk-Loop", self.loop_token))
        # Written as EmailMessage + policy.SMTP would write it, without building one (wire.py).
        return Composed(message_id=message_id, subject=wire.header_text("Subject", subject),
                        raw=wire.message(headers, text, html))
