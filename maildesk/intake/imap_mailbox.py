"""One IMAP connection with the folder selected: the blocking calls the poller makes (imapclient).

Every method blocks; the poller (mail/imap.py) runs them in a worker thread, one at a time per
connection. A message larger than MAILDESK_MAX_MESSAGE_BYTES is not fetched: it stays in the
folder, flagged \\Flagged and `$MaildeskTooLarge` for a person to look at, and is skipped from
then on. Bodies are fetched with BODY.PEEK[] in chunks bounded by count and bytes.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from urllib.parse import quote

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from maildesk.config import ImapAfter, ImapConfig
from maildesk.intake import imap_after

log = logging.getLogger("maildesk.imap")
# imapclient logs every closed connection at INFO; the poller's failure line says what matters.
logging.getLogger("imapclient").setLevel(logging.WARNING)

TOO_LARGE = b"$MaildeskTooLarge"
_CHUNK_MESSAGES = 25
_CHUNK_BYTES = 32 * 1024 * 1024
_SIZE_WINDOW = 200
_TIMEOUT_SECONDS = 60.0


def mailbox_name(cfg: ImapConfig) -> str:
    """The mailbox as the operator wrote it, without the password: imap://user@host:port/FOLDER."""
    scheme = "imaps" if cfg.ssl else "imap"
    return f"{scheme}://{quote(cfg.username, safe='')}@{cfg.host}:{cfg.port}/{cfg.folder}"


def error_text(exc: BaseException) -> str:
    """An imapclient error as one short line (imapclient passes the server's bytes as text)."""
    value = str(exc.args[0]) if len(exc.args) == 1 else str(exc)
    if value.startswith("b'") or value.startswith('b"'):
        value = value[2:-1]
    return " ".join(value.split())[:300]


class FolderError(Exception):
    """The folder to poll cannot be selected (missing, or not allowed)."""


@dataclass
class _Fetched:
    uid: int
    raw: bytes


class Mailbox:
    """A logged-in IMAP connection with the folder selected. Every method blocks."""

    def __init__(self, cfg: ImapConfig, max_bytes: int, after: ImapAfter = ImapAfter()) -> None:
        self.cfg = cfg
        self.max_bytes = max_bytes
        self.after = after
        self.uidvalidity = 0
        self.client: IMAPClient | None = None
        self.can_idle = False
        self.uidplus = False
        self.idling = False

    def connect(self) -> None:
        cfg = self.cfg
        client = IMAPClient(cfg.host, port=cfg.port, ssl=cfg.ssl, timeout=_TIMEOUT_SECONDS)
        try:
            client.login(cfg.username, cfg.password)
            try:
                selected = client.select_folder(cfg.folder)
            except IMAPClientAbortError:
                raise
            except IMAPClientError as exc:
                raise FolderError(error_text(exc)) from None
            self.uidvalidity = int(selected.get(b"UIDVALIDITY", 0))
            self.can_idle = client.has_capability("IDLE")
            self.uidplus = client.has_capability("UIDPLUS")
            imap_after.prepare(client, self.after)
        except BaseException:
            with contextlib.suppress(Exception):
                client.shutdown()
            raise
        self.client = client

    def waiting(self) -> list[int]:
        assert self.client is not None
        return sorted(self.client.search(["NOT", "DELETED", "NOT", "KEYWORD", TOO_LARGE.decode()]))

    def fetch(self, uids: list[int]) -> tuple[list[_Fetched], list[int]]:
        """Fetch a chunk: (messages in UID order, UIDs left for the next chunk)."""
        assert self.client is not None
        # Sizes for a window only: a folder with thousands waiting is not asked about all of them per chunk.
        window, later = uids[:_SIZE_WINDOW], uids[_SIZE_WINDOW:]
        sizes = {uid: data.get(b"RFC822.SIZE", 0) for uid, data in self.client.fetch(window, ["RFC822.SIZE"]).items()}
        too_large = [uid for uid in window if sizes.get(uid, 0) > self.max_bytes]
        if too_large:
            self.client.add_flags(too_large, [b"\\Flagged", TOO_LARGE], silent=True)
            for uid in too_large:
                log.warning(
                    "IMAP %s: message UID %s is %s bytes, over MAILDESK_MAX_MESSAGE_BYTES=%s; "
                    "left in the folder, flagged %s",
                    mailbox_name(self.cfg), uid, sizes[uid], self.max_bytes, TOO_LARGE.decode(),
                )
        chunk: list[int] = []
        total = 0
        rest = [uid for uid in window if uid in sizes and uid not in too_large]
        for uid in rest:
            if chunk and (len(chunk) >= _CHUNK_MESSAGES or total + sizes[uid] > _CHUNK_BYTES):
                break
            chunk.append(uid)
            total += sizes[uid]
        if not chunk:
            return [], later
        data = self.client.fetch(chunk, ["BODY.PEEK[]"])
        fetched = [_Fetched(uid, bytes(data[uid][b"BODY[]"])) for uid in chunk if uid in data and b"BODY[]" in data[uid]]
        return fetched, rest[len(chunk):] + later

    def after_import(self, uids: list[int]) -> None:
        """Delete, move or keep (MAILDESK_IMAP_AFTER); only for messages whose intake has committed."""
        assert self.client is not None
        imap_after.apply(self.client, self.after, uids, uidplus=self.uidplus)

    def idle_start(self) -> None:
        assert self.client is not None
        self.client.idle()
        self.idling = True

    def idle_check(self, seconds: float) -> str:
        """'mail' when the folder changed, 'quiet' after `seconds`, 'check' when unsure (e.g. EOF)."""
        assert self.client is not None
        started = time.monotonic()
        responses = self.client.idle_check(timeout=seconds)
        if any(len(r) >= 2 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
            return "mail"
        if not responses and time.monotonic() - started < seconds / 2:
            return "check"  # readable without a response: the server may have closed the connection
        return "quiet"

    def idle_done(self) -> None:
        assert self.client is not None
        if self.idling:
            self.idling = False
            self.client.idle_done()

    def close(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        try:
            if self.idling:
                self.idling = False
                client.idle_done()
            client.logout()
        except Exception:
            with contextlib.suppress(Exception):
                client.shutdown()

