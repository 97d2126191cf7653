"""A real Dovecot IMAP server for the tests: one user, a maildir, plaintext login on 127.0.0.1.

`start_dovecot()` writes a self-contained configuration into a fresh directory under /tmp
(not pytest's tmp_path: Dovecot's unprivileged processes must be able to reach it, and
pytest's base directory is closed to other users), starts `dovecot -F -c CONF` as a child
process on a free port and waits until it greets. Mail lives in a maildir owned by the
`dovecot` system user when the tests run as root (Dovecot refuses to serve mail as root),
otherwise by the current user. Messages are put into the mailbox with IMAP APPEND, the way
a mail delivery agent would make them appear to the poller.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from imapclient import IMAPClient

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
TOO_LARGE_FLAG = "$MaildeskTooLarge"  # the keyword maildesk sets on messages it will not fetch

_CONF = """\
# maildesk test server (tests/dovecot.py): nothing here is meant for production
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
info_log_path = {dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal}
default_internal_group = {internal_group}
default_login_user = {login}
first_valid_uid = {uid}
last_valid_uid = {uid}
first_valid_gid = {gid}
last_valid_gid = {gid}
mail_uid = {uid}
mail_gid = {gid}
mail_location = maildir:{dir}/mail/%u
mail_privileged_group =
namespace inbox {{
  inbox = yes
  separator = /
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={dir}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
service auth {{
  user = {internal}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
imap_idle_notify_interval = 1 secs
{capability}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Dovecot:
    dir: Path
    port: int
    user: str
    password: str
    proc: subprocess.Popen[bytes]

    def url(self, *, password: str | None = None, folder: str = "INBOX", port: int | None = None) -> str:
        return f"imap://{self.user}:{password if password is not None else self.password}@127.0.0.1:{port or self.port}/{folder}"

    def client(self) -> IMAPClient:
        c = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=10)
        c.login(self.user, self.password)
        return c

    def append(self, raw: bytes, folder: str = "INBOX", flags: tuple[bytes, ...] = ()) -> None:
        with self.client() as c:
            c.append(folder, raw, flags=flags)

    def uids(self, folder: str = "INBOX", criteria: str = "ALL") -> list[int]:
        with self.client() as c:
            c.select_folder(folder, readonly=True)
            return list(c.search(criteria))

    def folder_exists(self, folder: str) -> bool:
        with self.client() as c:
            return bool(c.folder_exists(folder))

    def set_password(self, password: str) -> None:
        """Change the user's password (Dovecot re-reads the passwd-file when it changes)."""
        self.password = password
        path = self.dir / "passwd"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(f"{self.user}:{{PLAIN}}{password}::::::\n")
        tmp.chmod(0o644)
        os.replace(tmp, path)

    def log(self) -> str:
        path = self.dir / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def start_dovecot(
    user: str = "support@example.com", password: str = "s3cret-imap-pw", *, capabilities: str | None = None
) -> Dovecot:
    """Start a Dovecot with one user; the caller must stop() it.

    `capabilities` replaces what the server advertises (e.g. "IMAP4rev1 UIDPLUS" for a
    server without IDLE).
    """
    if not os.path.exists(DOVECOT):
        raise RuntimeError("dovecot not found (Debian: apt-get install dovecot-imapd; scripts/test does it)")
    directory = Path(tempfile.mkdtemp(prefix="maildesk-dovecot-"))
    directory.chmod(0o755)
    if os.geteuid() == 0:
        owner = pwd.getpwnam("dovecot")
        internal, internal_group = "dovecot", "dovecot"
        login = "dovenull" if _user_exists("dovenull") else "nobody"
    else:  # an unprivileged run: everything as ourselves
        owner = pwd.getpwuid(os.geteuid())
        internal = login = owner.pw_name
        internal_group = _group_name(owner.pw_gid)
    uid, gid = owner.pw_uid, owner.pw_gid
    (directory / "mail").mkdir()
    os.chown(directory / "mail", uid, gid)
    (directory / "passwd").write_text(f"{user}:{{PLAIN}}{password}::::::\n")
    (directory / "passwd").chmod(0o644)
    port = 0
    for _attempt in range(5):
        port = _free_port()
        conf = directory / "dovecot.conf"
        conf.write_text(
            _CONF.format(dir=directory, port=port, uid=uid, gid=gid, internal=internal,
                         internal_group=internal_group, login=login,
                         capability=f"imap_capability = {capabilities}\n" if capabilities else "")
        )
        proc = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(conf)],
            stdout=open(directory / "stdout.log", "ab"),
            stderr=subprocess.STDOUT,
        )
        if _wait_greeting(port, proc):
            return Dovecot(directory, port, user, password, proc)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    output = (directory / "stdout.log").read_text(errors="replace")
    log = (directory / "dovecot.log").read_text(errors="replace") if (directory / "dovecot.log").exists() else ""
    shutil.rmtree(directory, ignore_errors=True)
    raise RuntimeError(f"dovecot did not start on port {port}:\n{output}\n{log}")


def _wait_greeting(port: int, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(200).startswith(b"* OK"):
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _group_name(gid: int) -> str:
    import grp

    return grp.getgrgid(gid).gr_name


def running_dovecot() -> Iterator[Dovecot]:
    """Generator body for a pytest fixture."""
    server = start_dovecot()
    try:
        yield server
    finally:
        server.stop()
