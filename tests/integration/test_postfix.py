"""Postfix in front of maildesk, configured from contrib/postfix/ (the files docs/deploy.md quotes).

A private Postfix instance (Debian's /usr/sbin/postfix with its own config dir, queue, data
dir, log file and port on 127.0.0.1, started and stopped here) takes the mail over SMTP and
hands it to a real `maildesk serve` through the sample transport: mail to the support address
becomes a ticket, an address not in the sample recipient map is refused at RCPT.
Postfix needs root to start (it drops to its `postfix` user); the CI machine runs tests as
root, elsewhere the commands go through `sudo -n`.
"""

from __future__ import annotations

import os
import shutil
import smtplib
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import Daemon, Sink, free_port, make_mail, wait_until

SAMPLES = Path(__file__).resolve().parents[2] / "contrib" / "postfix"
POSTFIX = "/usr/sbin/postfix"


def _as_root(args: list[str]) -> subprocess.CompletedProcess[str]:
    cmd = args if os.geteuid() == 0 else ["sudo", "-n", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{' '.join(cmd)} exited {result.returncode}: {result.stdout}{result.stderr}"
    return result


def private_master_cf(port: int) -> str:
    """Debian's master.cf with smtpd on 127.0.0.1:port, nothing chrooted, plus contrib/postfix/master.cf."""
    lines = []
    for line in Path("/etc/postfix/master.cf").read_text().splitlines():
        fields = line.split()
        if line[:1].isalpha() and len(fields) >= 8:
            if fields[:2] == ["smtp", "inet"]:
                fields[0] = f"127.0.0.1:{port}"
            fields[4] = "n"  # the chroot would need copies of /etc files in the queue dir
            line = "  ".join(fields)
        lines.append(line)
    return "\n".join(lines) + "\n" + (SAMPLES / "master.cf").read_text()


@pytest.fixture
def postfix(daemon: Daemon) -> Iterator[tuple[int, Path]]:
    """A running private Postfix relaying the sample's support address to `daemon`; (port, log file)."""
    # Postfix's daemons run as the `postfix` user: the directory must be reachable for it,
    # unlike pytest's 0700 tmp_path.
    base = Path(tempfile.mkdtemp(prefix="maildesk-postfix-"))
    base.chmod(0o755)
    conf, queue, data = base / "conf", base / "queue", base / "data"
    for d in (conf, queue, data):
        d.mkdir()
    port, log = free_port(), base / "maillog"
    main = [
        "compatibility_level = 3.6",
        f"queue_directory = {queue}",
        f"data_directory = {data}",
        f"maillog_file_prefixes = {base}",
        f"maillog_file = {log}",
        "inet_interfaces = 127.0.0.1",
        "inet_protocols = ipv4",
        "myhostname = mx.test.example",
        "mydestination =",
        "smtputf8_enable = no",
        "",
        (SAMPLES / "main.cf").read_text().replace("/etc/postfix/", f"{conf}/"),
    ]
    (conf / "main.cf").write_text("\n".join(main))
    (conf / "master.cf").write_text(private_master_cf(port))
    # The samples as written, but for the test daemon's port instead of 2525.
    (conf / "transport").write_text(
        (SAMPLES / "transport").read_text().replace("[127.0.0.1]:2525", f"[127.0.0.1]:{daemon.smtp_port}"))
    shutil.copy(SAMPLES / "maildesk_recipients", conf / "maildesk_recipients")
    started = False
    try:
        _as_root(["chown", "postfix:postfix", str(data)])
        for table in ("transport", "maildesk_recipients"):
            _as_root(["/usr/sbin/postmap", "-c", str(conf), str(conf / table)])
        _as_root([POSTFIX, "-c", str(conf), "check"])
        _as_root([POSTFIX, "-c", str(conf), "start"])
        started = True
        wait_until(lambda: _listening(port), timeout=30, what="the private Postfix to listen")
        yield port, log
    finally:
        if started:
            _as_root([POSTFIX, "-c", str(conf), "stop"])
        _as_root(["rm", "-rf", str(base)])


def _listening(port: int) -> bool:
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=2) as client:
            return client.noop()[0] == 250
    except OSError:
        return False


def test_postfix_from_the_sample_delivers_the_support_address_to_maildesk(daemon: Daemon, sink: Sink,
                                                                          postfix: tuple[int, Path]) -> None:
    port, log = postfix
    assert daemon.support == "support@example.com"  # the address the samples name
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo("client.example.org")
        code, _ = client.docmd("MAIL FROM:<ada@example.org>")
        assert code == 250
        refused, _ = client.docmd("RCPT TO:<sales@example.com>")  # not in maildesk_recipients
        assert refused // 100 == 5
        client.rset()
        client.send_message(make_mail("Ada <ada@example.org>", "Through Postfix", "Relayed by the MX."),
                            to_addrs=["support+billing@example.com"])
    wait_until(lambda: daemon.tickets(), timeout=60, what=f"a ticket via Postfix; Postfix log:\n{log}")
    (ticket,) = daemon.tickets()
    assert ticket[2:4] == ("ada@example.org", "Through Postfix")
    assert ticket[5] == "other"  # +billing is not a configured category
    (confirmation,) = sink.wait_for("ada@example.org", timeout=30)
    assert ticket[1] in confirmation.subject
    received = daemon.sql("SELECT raw FROM inbound_messages")[0][0]
    assert b"mx.test.example" in bytes(received)  # Postfix's Received: header: it came through Postfix
