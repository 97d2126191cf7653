"""Attachment files on disk under generated keys; the sender's filename is never a path.

Files live at DATA_DIR/attachments/<k[0:2]>/<key>. They are written and fsynced before the
transaction that records them commits; a rolled-back transaction can leave an unreferenced
file behind, never a row without its file. Directories are 0700 and files 0600 (private.py).
"""

from __future__ import annotations

import secrets
from pathlib import Path

from maildesk.private import private_dir, write_private


class AttachmentStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, key: str) -> Path:
        if not key or not all(c.isalnum() for c in key):
            raise ValueError("bad attachment key")
        return self.root / key[:2] / key

    def save(self, data: bytes) -> str:
        key = secrets.token_hex(20)
        path = self.path_for(key)
        private_dir(path.parent)
        write_private(path, data)
        return key

    def read(self, key: str) -> bytes:
        return self.path_for(key).read_bytes()
