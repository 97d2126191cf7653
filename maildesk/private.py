"""Owner-only files and directories: 0700 directories, 0600 files.

What maildesk writes holds secrets (the database, the generated key, attachments, outgoing
mail carrying live sign-in links), so it is created owner-only whatever the caller's umask.
The CLI also sets the process umask to 077; these helpers give explicit modes as well, for
code that runs as a library under someone else's umask. Modes passed to open()/mkdir() are
masked by the umask, which can only remove bits, so the results are owner-only either way;
an explicit chmod makes them exactly 0700/0600.
"""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
UMASK = 0o077


def private_dir(path: Path, *, tighten: bool = False) -> Path:
    """Create `path` and any missing parents as 0700 directories.

    Existing directories keep their mode unless `tighten` (used for the data dir, which holds
    only maildesk's own files); a directory we may not chmod is left as it is.
    """
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:  # another process made it a moment ago
            continue
        os.chmod(directory, DIR_MODE)
    if tighten and not missing:
        try:
            if os.stat(path).st_mode & 0o077:
                os.chmod(path, DIR_MODE)
        except OSError:
            pass
    return path


def open_private(path: Path) -> int:
    """A new (or truncated) file opened for writing with mode 0600; returns the descriptor."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    return fd


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` (0600) durably: a temporary file, fsync, then an atomic rename."""
    tmp = path.with_suffix(".tmp")
    with os.fdopen(open_private(tmp), "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def private_file(path: Path) -> None:
    """Make sure `path` exists and is owner-only, before another library (SQLite) opens it.

    SQLite creates its -wal and -shm files with the database file's permissions, so a 0600
    database keeps its companions 0600 too.
    """
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        tighten_file(path)
        return
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


def tighten_file(path: Path) -> None:
    """Make an existing file (made by an older maildesk or by hand) owner-only, if we may."""
    try:
        if os.stat(path).st_mode & 0o077:
            os.chmod(path, FILE_MODE)
    except OSError:  # gone, or not ours
        pass
