"""`maildesk backup DIR` and `maildesk restore DIR`: a consistent copy while `serve` runs.

What a restore needs: the database, the secret key (it signs the Message-IDs replies thread
by, sessions and sign-in links: without it replies to earlier mail open new tickets) and the
attachment files. On SQLite the database is copied with SQLite's online backup API
(sqlite3.Connection.backup, one step: a single read transaction, so the copy is one
consistent snapshot while WAL lets `serve` keep writing). Attachment files are written and
fsynced before the row naming them commits and are never changed, so copying them *after* the
database snapshot covers every attachment the snapshot names.

The rest of the data dir (outbox files and the like) is copied as it is. On PostgreSQL the
database is the server's to dump: the data dir is copied and the notice (printed and written
as README.txt) gives the pg_dump / pg_restore commands.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy.engine import make_url

from maildesk.config import Settings

DB_FILE = "maildesk.db"
SECRET_FILE = "secret_key"
ATTACHMENTS = "attachments"
NOTICE = "README.txt"


class BackupError(Exception):
    """The backup or restore cannot be done; str() says why in one line."""


@dataclass
class Result:
    kind: str  # sqlite | postgresql
    tickets: int | None = None
    attachment_files: int = 0
    secret: str = ""  # how the secret key is covered
    notice: list[str] = field(default_factory=list)


def sqlite_path(database_url: str) -> Path | None:
    """The SQLite file of a sqlite:/// URL, None for other databases."""
    if not database_url.startswith("sqlite"):
        return None
    name = make_url(database_url).database
    if not name or name == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(name)


def redacted(url: str) -> str:
    """The URL without its password (the notice is printed and stored)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _empty_target(dest: Path) -> None:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupError(f"{dest} exists and is not an empty directory")
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(dest, 0o700)  # the secret key and every ticket are inside


def _copy_tree(src: Path, dst: Path, skip: frozenset[Path] = frozenset()) -> int:
    """Copy the files under src (not half-written *.tmp files, not those under `skip`); return how many."""
    count = 0
    if not src.is_dir():
        return 0
    for path in sorted(src.rglob("*")):
        resolved = path.resolve()
        if any(resolved == s or s in resolved.parents for s in skip):
            continue
        if path.is_file() and path.suffix != ".tmp":
            target = dst / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
            count += 1
    return count


def _data_dir_files(settings: Settings, dest: Path, db_file: Path | None) -> None:
    """The rest of the data dir (outbox files and the like), without the database and the backup itself."""
    skip = {dest.resolve(), settings.attachments_dir.resolve(), (settings.data_dir / SECRET_FILE).resolve(),
            (settings.data_dir / NOTICE).resolve(), (settings.data_dir / DB_FILE).resolve()}
    if db_file is not None:
        skip |= {Path(f"{db_file.resolve()}{suffix}") for suffix in ("", "-wal", "-shm", "-journal")}
    _copy_tree(settings.data_dir, dest, frozenset(skip))


def _copy_secret(settings: Settings, dest: Path) -> str:
    path = settings.data_dir / SECRET_FILE
    if path.is_file():
        shutil.copy2(path, dest / SECRET_FILE)
        os.chmod(dest / SECRET_FILE, 0o600)
        return f"{SECRET_FILE} copied"
    if settings.secret_key:
        return "MAILDESK_SECRET_KEY comes from your configuration (not copied): keep it with this backup"
    return "no secret key yet (none configured or generated)"


def backup(settings: Settings, dest: Path) -> Result:
    """Copy the database (SQLite), the secret key and the attachments into the new directory dest."""
    db_file = sqlite_path(settings.database_url)
    if db_file is not None and not db_file.is_file():
        raise BackupError(f"no SQLite database at {db_file} (MAILDESK_DATABASE_URL)")
    _empty_target(dest)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    if db_file is None:
        result = Result("postgresql")
    else:
        result = Result("sqlite", tickets=_sqlite_snapshot(db_file, dest / DB_FILE))
    # After the snapshot: every attachment it names is already on disk (see the docstring).
    result.attachment_files = _copy_tree(settings.attachments_dir, dest / ATTACHMENTS, frozenset({dest.resolve()}))
    result.secret = _copy_secret(settings, dest)
    _data_dir_files(settings, dest, db_file)
    if result.kind == "sqlite":
        result.notice = [
            f"maildesk backup of {stamp}: {result.tickets} tickets, {result.attachment_files} attachment files;",
            f"  {result.secret}.",
            f"Restore: maildesk restore {dest}  (with MAILDESK_DATABASE_URL and MAILDESK_DATA_DIR of the new install),",
            f"  or copy {DB_FILE} to the database path and {SECRET_FILE} and {ATTACHMENTS}/ into the data dir.",
        ]
    else:
        url = redacted(settings.database_url)
        result.notice = [
            f"maildesk backup of {stamp}: {result.attachment_files} attachment files; {result.secret}.",
            "The database is on PostgreSQL and is NOT in this directory. Dump it with pg_dump",
            "(run the dump first, then `maildesk backup`, so the files cover every row of the dump):",
            f"  pg_dump --format=custom --file=maildesk.pgdump '{url}'",
            "Restore: pg_restore --clean --if-exists --no-owner --dbname=NEW_DATABASE_URL maildesk.pgdump,",
            f"  then copy {SECRET_FILE} and {ATTACHMENTS}/ into the new MAILDESK_DATA_DIR.",
        ]
    (dest / NOTICE).write_text("\n".join(result.notice) + "\n")
    return result


def _sqlite_snapshot(src: Path, dst: Path) -> int:
    """Copy src to dst with the online backup API in one step; return the copy's ticket count."""
    source = sqlite3.connect(src, timeout=30)
    target = sqlite3.connect(dst)
    try:
        source.execute("PRAGMA busy_timeout = 30000")
        source.backup(target)  # pages=-1: everything in one step, one consistent snapshot
        (check,) = target.execute("PRAGMA quick_check").fetchone()
        if check != "ok":
            raise BackupError(f"the copy failed SQLite's quick_check: {check}")
        try:
            return int(target.execute("SELECT count(*) FROM tickets").fetchone()[0])
        except sqlite3.OperationalError:
            raise BackupError(f"{src} has no maildesk schema (run `maildesk migrate`)") from None
    finally:
        target.close()
        source.close()


def restore(settings: Settings, src: Path) -> Result:
    """Put a backup made by `backup` in place for a new install: never over existing data."""
    if not (src / NOTICE).is_file():
        raise BackupError(f"{src} is not a maildesk backup (no {NOTICE})")
    db_file = sqlite_path(settings.database_url)
    has_db = (src / DB_FILE).is_file()
    if db_file is None and has_db:
        raise BackupError("this backup holds a SQLite database but MAILDESK_DATABASE_URL is PostgreSQL")
    if db_file is not None and not has_db:
        raise BackupError("this backup has no SQLite database (a PostgreSQL backup: use pg_restore, see README.txt)")
    if db_file is not None and db_file.exists():
        raise BackupError(f"{db_file} exists: restore into a new database path")
    secret_target = settings.data_dir / SECRET_FILE
    if (src / SECRET_FILE).is_file() and secret_target.exists():
        raise BackupError(f"{secret_target} exists: restore into a new data dir")
    if settings.attachments_dir.exists() and any(settings.attachments_dir.iterdir()):
        raise BackupError(f"{settings.attachments_dir} is not empty: restore into a new data dir")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    result = Result("sqlite" if db_file is not None else "postgresql")
    if db_file is not None:
        db_file.parent.mkdir(parents=True, exist_ok=True)
        result.tickets = _sqlite_snapshot(src / DB_FILE, db_file)
    if (src / SECRET_FILE).is_file():
        shutil.copy2(src / SECRET_FILE, secret_target)
        os.chmod(secret_target, 0o600)
        result.secret = f"{SECRET_FILE} restored"
    else:
        result.secret = "no secret_key in the backup: set the old MAILDESK_SECRET_KEY"
    result.attachment_files = _copy_tree(src / ATTACHMENTS, settings.attachments_dir)
    # Whatever else the data dir held (e.g. outbox files), as it was.
    rest = {src.resolve() / name for name in (DB_FILE, NOTICE, SECRET_FILE, ATTACHMENTS)}
    rest |= {Path(f"{src.resolve() / DB_FILE}{suffix}") for suffix in ("-wal", "-shm", "-journal")}
    _copy_tree(src, settings.data_dir, frozenset(rest))
    return result
