"""Hostile SMTP and HTTP clients against the real daemon: idle floods past the open-file
limit, the per-IP and total session caps, the idle-session timeout, slow HTTP requests,
and inbound STARTTLS."""

from __future__ import annotations

import resource
import smtplib
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import httpx

from tests.conftest import Daemon, Sink, make_mail, wait_until


def _connect(daemon: Daemon, source: str = "127.0.0.1", timeout: float = 10) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", daemon.smtp_port))
    return sock


def _line(sock: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(1024)
        if not chunk:
            break
        data += chunk
    return data.decode("ascii", "replace")


def _until_closed(sock: socket.socket) -> str:
    """Everything the server says until it closes the connection."""
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data.decode("ascii", "replace")


def _start_limited(daemon: Daemon, soft: int, hard: int) -> Daemon:
    """Start `maildesk serve` with RLIMIT_NOFILE lowered to (soft, hard)."""
    assert daemon.log_path is not None
    log = open(daemon.log_path, "ab")
    daemon.proc = subprocess.Popen(
        [sys.executable, "-m", "maildesk", "serve"], env=daemon.env, stdout=log, stderr=subprocess.STDOUT,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard)),
    )
    wait_until(daemon._ready, timeout=30, what="maildesk serve to listen")
    return daemon


def _open_files_limit(pid: int) -> tuple[int, int]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError("no open-files line")


def test_idle_flood_past_the_open_file_limit_leaves_smtp_http_and_the_database_working(
    daemon_factory: Callable[..., Daemon], sink: Sink
) -> None:
    # Soft 128 below hard 256: the daemon raises the soft limit to 256 itself. Caps high enough
    # that only the descriptor arithmetic limits the sessions (256 - (64 + 32) = 160).
    daemon = _start_limited(daemon_factory(
        start=False, MAILDESK_SMTP_MAX_SESSIONS="1000", MAILDESK_SMTP_MAX_SESSIONS_PER_IP="1000",
        MAILDESK_SMTP_IDLE_SECONDS="5", MAILDESK_HTTP_MAX_CONNECTIONS="32",
    ), soft=128, hard=256)
    assert daemon.proc is not None
    assert _open_files_limit(daemon.proc.pid) == (256, 256)
    assert "SMTP sessions capped at 160" in daemon.log()

    idle: list[socket.socket] = []
    try:
        for _ in range(300):  # more sockets than the daemon may open files
            idle.append(_connect(daemon))
        # While they are all open: HTTP answers at once and the database is there.
        assert httpx.get(f"{daemon.base_url}/healthz", timeout=5).json() == {"status": "ok"}
        said = [_until_closed(s) for s in idle]  # each is refused, or closed once idle
    finally:
        for s in idle:
            s.close()
    refused = [s for s in said if "421 4.7.0" in s and "too many connections" in s]
    timed_out = [s for s in said if s.startswith("220 ") and "421 4.4.2" in s]
    assert len(refused) + len(timed_out) == 300, [s for s in said if s not in refused + timed_out][:3]
    # How many of each depends on how fast the 300 connect (sessions time out meanwhile).
    assert len(timed_out) >= 100 and len(refused) >= 1

    # A normal client gets its 250, the message becomes a ticket and its confirmation goes out.
    daemon.send(make_mail("ann@example.org", "After the flood", "Still there?"))
    sink.wait_for("ann@example.org")
    assert [t[3] for t in daemon.tickets()] == ["After the flood"]
    assert httpx.get(f"{daemon.base_url}/healthz", timeout=5).status_code == 200
    log = daemon.log()
    assert "Traceback" not in log
    # Refusals and idle closes are summed up, a line every few seconds, not one per connection.
    assert log.count("over the session cap") <= 5 and log.count("with no transaction within") <= 5


def test_per_ip_and_total_caps_answer_421(daemon_factory: Callable[..., Daemon]) -> None:
    daemon = daemon_factory(MAILDESK_SMTP_MAX_SESSIONS="5", MAILDESK_SMTP_MAX_SESSIONS_PER_IP="3")
    held = [_connect(daemon, "127.0.0.1") for _ in range(3)]
    try:
        assert all(_line(s).startswith("220 ") for s in held)
        with _connect(daemon, "127.0.0.1") as fourth:
            reply = _until_closed(fourth)
        assert reply.startswith("421 4.7.0 ") and "too many connections from 127.0.0.1" in reply
        # Another client is not affected by the first one's sessions.
        held += [_connect(daemon, "127.0.0.2") for _ in range(2)]
        assert all(_line(s).startswith("220 ") for s in held[3:])
        with _connect(daemon, "127.0.0.3") as sixth:
            reply = _until_closed(sixth)
        assert reply.startswith("421 4.7.0 ") and "too many connections;" in reply
        # A session that ends gives its place back.
        held.pop(0).close()
        def admitted() -> bool:
            with _connect(daemon, "127.0.0.1") as again:
                return _line(again).startswith("220 ")
        wait_until(admitted, timeout=10, what="a place to free up")
    finally:
        for s in held:
            s.close()


def test_session_without_a_transaction_is_closed_after_the_idle_timeout(daemon_factory: Callable[..., Daemon]) -> None:
    daemon = daemon_factory(MAILDESK_SMTP_IDLE_SECONDS="1")
    with smtplib.SMTP("127.0.0.1", daemon.smtp_port, timeout=10) as client:
        client.ehlo("idle.example")
        started = time.monotonic()
        # NOOPs are no transaction: they do not keep the session open.
        while True:
            try:
                code, reply = client.noop()
            except smtplib.SMTPServerDisconnected:
                break
            if code == 421:
                assert reply.startswith(b"4.4.2") and b"timeout" in reply
                break
            assert code == 250 and time.monotonic() - started < 5
            time.sleep(0.2)
    assert 0.9 <= time.monotonic() - started < 5

    # Once MAIL FROM opened a transaction the short timeout no longer applies.
    with smtplib.SMTP("127.0.0.1", daemon.smtp_port, timeout=10) as client:
        client.ehlo("busy.example")
        assert client.mail("bob@example.org")[0] == 250
        assert client.rcpt(daemon.support)[0] == 250
        time.sleep(2.5)
        code, reply = client.data(make_mail("bob@example.org", "Slow typist", "Hello").as_bytes())
        assert code == 250, reply


def test_slow_http_request_headers_and_body_are_cut_off(daemon_factory: Callable[..., Daemon]) -> None:
    daemon = daemon_factory(MAILDESK_HTTP_READ_SECONDS="1")
    # Half a request line, then nothing: closed after the deadline.
    with socket.create_connection(("127.0.0.1", daemon.http_port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        assert sock.recv(1024) == b""
        assert 0.9 <= time.monotonic() - started < 5
    # Headers, then half the promised body: 408.
    with socket.create_connection(("127.0.0.1", daemon.http_port), timeout=10) as sock:
        sock.sendall(b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"email\": ")
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
            if b"did not arrive" in reply:
                break
        assert reply.startswith(b"HTTP/1.1 408 ") and b"did not arrive within 1 seconds" in reply
    # An ordinary keep-alive client is not affected.
    with httpx.Client(base_url=daemon.base_url, timeout=10) as client:
        for _ in range(3):
            assert client.get("/healthz").status_code == 200


# -- inbound STARTTLS (issue 10.3) ------------------------------------------------------------


def _self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=example.com", "-addext", "subjectAltName=DNS:example.com"],
        check=True, capture_output=True,
    )
    return cert, key


def test_starttls_is_offered_and_mail_sent_over_it_becomes_a_ticket(
    daemon_factory: Callable[..., Daemon], sink: Sink, tmp_path: Path
) -> None:
    cert, key = _self_signed(tmp_path)
    daemon = daemon_factory(MAILDESK_SMTP_TLS_CERT=str(cert), MAILDESK_SMTP_TLS_KEY=str(key))
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False  # the listener is 127.0.0.1; the chain itself is verified
    with smtplib.SMTP("127.0.0.1", daemon.smtp_port, timeout=30) as client:
        client.ehlo("tls.example")
        assert client.has_extn("starttls")
        code, _ = client.starttls(context=context)
        assert code == 220
        client.ehlo("tls.example")
        client.send_message(make_mail("tls@example.org", "Over TLS", "Encrypted hello."), to_addrs=[daemon.support])
    sink.wait_for("tls@example.org")
    assert [t[3] for t in daemon.tickets()] == ["Over TLS"]

    plain = daemon_factory()
    with smtplib.SMTP("127.0.0.1", plain.smtp_port, timeout=30) as client:
        client.ehlo("plain.example")
        assert not client.has_extn("starttls") and client.has_extn("size")


def test_plaintext_behind_starttls_is_not_run_after_the_upgrade(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    """RFC 3207 §4.2: commands pipelined in plaintext behind STARTTLS are dropped, not run
    once TLS is up (the CVE-2011-0411 injection). maildesk hands aiosmtpd one line at a time,
    so it must drop the lines it still holds too."""
    cert, key = _self_signed(tmp_path)
    daemon = daemon_factory(MAILDESK_SMTP_TLS_CERT=str(cert), MAILDESK_SMTP_TLS_KEY=str(key))
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False
    with socket.create_connection(("127.0.0.1", daemon.smtp_port), timeout=30) as raw:
        reader = raw.makefile("rb")

        def reply(stream: Any) -> bytes:
            while True:
                line = stream.readline()
                assert line, "connection closed"
                if line[3:4] != b"-":
                    return line

        assert reply(reader).startswith(b"220")
        raw.sendall(b"EHLO inject.example\r\n")
        assert reply(reader).startswith(b"250")
        raw.sendall(b"STARTTLS\r\nXYZZY\r\nXYZZY\r\nXYZZY\r\n")
        assert reply(reader).startswith(b"220")
        with context.wrap_socket(raw, server_hostname="example.com") as tls:
            secure = tls.makefile("rb")
            tls.sendall(b"NOOP\r\n")
            assert reply(secure).startswith(b"250")
            tls.sendall(b"QUIT\r\n")
            assert reply(secure).startswith(b"221")  # not a 500 for an injected XYZZY


def test_tls_settings_are_checked_at_start(daemon_factory: Callable[..., Daemon], tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    env_base = daemon_factory(start=False).env
    unreadable = tmp_path / "missing.pem"
    cases = [
        ({"MAILDESK_SMTP_TLS_CERT": str(cert)}, "MAILDESK_SMTP_TLS_KEY"),
        ({"MAILDESK_SMTP_TLS_KEY": str(key)}, "MAILDESK_SMTP_TLS_CERT"),
        ({"MAILDESK_SMTP_TLS_CERT": str(unreadable), "MAILDESK_SMTP_TLS_KEY": str(key)}, "MAILDESK_SMTP_TLS_CERT"),
        ({"MAILDESK_SMTP_TLS_CERT": str(cert), "MAILDESK_SMTP_TLS_KEY": str(cert)}, "MAILDESK_SMTP_TLS_CERT"),
        ({"MAILDESK_SMTP_MAX_SESSIONS": "0"}, "MAILDESK_SMTP_MAX_SESSIONS"),
        ({"MAILDESK_SMTP_IDLE_SECONDS": "soon"}, "MAILDESK_SMTP_IDLE_SECONDS"),
    ]
    for extra, named in cases:
        result = subprocess.run([sys.executable, "-m", "maildesk", "serve"], env={**env_base, **extra},
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 2, (extra, result.stderr)
        assert named in result.stderr and "Traceback" not in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
