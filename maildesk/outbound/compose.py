"""Composing outbound email from the Jinja2 templates in templates/mail/.

Each kind of email has a text template (and an HTML one where it helps). Every message gets
a fresh Message-ID at the support domain (see tokens.py), the ticket number in the subject,
In-Reply-To/References continuing the ticket's thread, Reply-To the support address, and the
RFC 3834 headers that keep other robots from answering it.
"""

from __future__ import annotations

import email.policy
import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any

import jinja2

from maildesk.config import Settings
from maildesk.outbound import tokens
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
    value = "".join(ch if ch.isprintable() else " " for ch in value or "")
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
        )
        self.loop_token = tokens.loop_token(settings.secret_key)

    def _render(self, name: str, context: dict[str, Any]) -> str | None:
        try:
            template = self._env.get_template(name)
        except jinja2.TemplateNotFound:
            return None
        return template.render(**context)

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

        msg = EmailMessage(policy=email.policy.SMTP)
        msg["From"] = formataddr(("Support", s.support_address))
        msg["To"] = formataddr((header_safe(to_name, 100), to_addr))
        msg["Subject"] = header_safe(subject, 300)
        msg["Date"] = format_datetime(utcnow())
        msg["Message-ID"] = f"<{message_id}>"
        msg["Reply-To"] = s.support_address
        if ticket is not None and ticket.root_message_id:
            msg["In-Reply-To"] = f"<{ticket.root_message_id}>"
            msg["References"] = f"<{ticket.root_message_id}>"
        if ticket is not None:
            msg["X-Maildesk-Ticket"] = ticket.ticket_number or ""
        # RFC 3834: mark every message as automatic, and ask robots not to answer.
        msg["Auto-Submitted"] = auto_submitted
        msg["X-Auto-Response-Suppress"] = "All"
        if kind != "update":  # an update carries a person's words; the rest is robot mail
            msg["Precedence"] = "auto_reply" if auto_submitted == "auto-replied" else "bulk"
        msg["X-Maildesk-Loop"] = self.loop_token
        msg.set_content(text)
        if html is not None:
            msg.add_alternative(html, subtype="html")
        return Composed(message_id=message_id, subject=msg["Subject"], raw=msg.as_bytes())
