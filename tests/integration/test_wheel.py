"""The wheel, not the checkout: build it, install it non-editable into a fresh venv, run the quick start.

This is what an operator (and the container image) does. The checkout is kept off the path of
every command run here, so a file missing from the wheel (migrations/, templates/) fails the test.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import smtplib
import sqlite3
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from tests.conftest import Sink, free_port, wait_until

CHECKOUT = Path(__file__).resolve().parents[2]
DOCKERFILE = CHECKOUT / "Dockerfile"


def _clean_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MAILDESK_", "PYTHON", "VIRTUAL_ENV", "PIP_REQUIRE"))}
    env.update(values)
    return env


# Both tests share the module-scoped wheel build: one xdist worker runs them (--dist loadgroup).
pytestmark = pytest.mark.xdist_group("wheel")


def _run(args: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kwargs)
    assert result.returncode == 0, f"{shlex.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bin/ of a fresh venv with the wheel built from this checkout installed (not editable)."""
    base = tmp_path_factory.mktemp("wheel")
    # Built from a copy: setuptools builds in the source tree, and a stale build/ there could
    # put files into the wheel that the checkout no longer has.
    source = base / "source"
    shutil.copytree(CHECKOUT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "var", "*.db", ".pytest_cache"))
    t0 = time.monotonic()
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(base / "dist"), str(source)],
         timeout=600, env=_clean_env(), cwd=base)
    (wheel,) = (base / "dist").glob("maildesk-*.whl")
    t1 = time.monotonic()
    _run([sys.executable, "-m", "venv", str(base / "venv")], timeout=300, env=_clean_env())
    bin_dir = base / "venv" / "bin"
    _run([str(bin_dir / "python"), "-m", "pip", "install", "-q", str(wheel)], timeout=900, env=_clean_env(), cwd=base)
    t2 = time.monotonic()
    print(f"wheel built in {t1 - t0:.1f}s; venv + install from the index in {t2 - t1:.1f}s")
    where = _run([str(bin_dir / "python"), "-c", "import maildesk; print(maildesk.__file__)"], timeout=60,
                 env=_clean_env(), cwd=base)
    assert str(base / "venv") in where.stdout and str(CHECKOUT) not in where.stdout
    return bin_dir


def _serve(cmd: list[str], cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT)
    http = f"http://{env['MAILDESK_HTTP_LISTEN']}"

    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited with {proc.returncode}:\n{log.read_text()}")
        try:
            return httpx.get(f"{http}/healthz", timeout=0.5).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(ready, timeout=60, what="the installed maildesk to answer /healthz")
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _mail(subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Newcomer <new@example.org>"
    msg["To"] = "support@localhost"
    msg["Subject"] = subject
    msg.set_content("Hello from a fresh install.")
    return msg


def test_installed_wheel_runs_the_quick_start_from_an_empty_directory(installed: Path, tmp_path: Path) -> None:
    work = tmp_path / "empty"
    work.mkdir()
    smtp_port, http_port = free_port(), free_port()
    env = _clean_env(MAILDESK_SMTP_LISTEN=f"127.0.0.1:{smtp_port}", MAILDESK_HTTP_LISTEN=f"127.0.0.1:{http_port}")
    migrated = _run([str(installed / "maildesk"), "migrate"], timeout=120, env=env, cwd=work)
    assert migrated.stdout.startswith("database schema migrated from none to ")
    proc = _serve([str(installed / "maildesk"), "serve"], work, env, tmp_path / "serve.log")
    try:
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as client:
            client.send_message(_mail("Where is my order?"))
        outbox = work / "var" / "outbox"
        (eml,) = wait_until(lambda: list(outbox.glob("*.eml")), timeout=30, what="the confirmation in var/outbox")
        confirmation = eml.read_text()
        assert "new@example.org" in confirmation and "SUP-00001" in confirmation
        page = httpx.get(f"http://127.0.0.1:{http_port}/login", timeout=10)  # web templates came with the wheel
        assert page.status_code == 200 and "<form" in page.text
        css = httpx.get(f"http://127.0.0.1:{http_port}/static/maildesk.css", timeout=10)
        assert css.status_code == 200 and len(css.text) > 100
    finally:
        _stop(proc)
    with sqlite3.connect(work / "maildesk.db") as db:
        assert db.execute("SELECT ticket_number, user_email FROM tickets").fetchall() == [("SUP-00001", "new@example.org")]


def _dockerfile_value(name: str) -> str:
    for line in DOCKERFILE.read_text().splitlines():
        line = line.strip().rstrip("\\").strip()
        if line.startswith(f"{name}="):
            return line.split("=", 1)[1].strip()
        if line.startswith("ENV ") and f" {name}=" in f" {line[4:]}":
            return line[4:].split(f"{name}=", 1)[1].split()[0]
    raise AssertionError(f"{name} not set in the Dockerfile")


def _healthcheck_command() -> list[str]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    (line,) = [ln for ln in text.splitlines() if ln.startswith("HEALTHCHECK")]
    return json.loads(line.split(" CMD ", 1)[1])


def test_the_images_own_command_keeps_everything_in_the_data_dir(installed: Path, tmp_path: Path, sink: Sink) -> None:
    # The image runs `sh -c "maildesk migrate && exec maildesk serve"` with MAILDESK_DATA_DIR=/data and
    # the SQLite file under it; here /data is an empty directory and the working directory another.
    data = tmp_path / "data"
    data.mkdir()
    cwd = tmp_path / "app"
    cwd.mkdir()
    assert _dockerfile_value("MAILDESK_DATABASE_URL") == "sqlite:////data/maildesk.db"
    assert _dockerfile_value("MAILDESK_DATA_DIR") == "/data"
    smtp_port, http_port = free_port(), free_port()
    env = _clean_env(
        PATH=f"{installed}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        MAILDESK_DATA_DIR=str(data),
        MAILDESK_DATABASE_URL=f"sqlite:///{data}/maildesk.db",
        MAILDESK_SMTP_LISTEN=f"127.0.0.1:{smtp_port}",
        MAILDESK_HTTP_LISTEN=f"127.0.0.1:{http_port}",
        MAILDESK_RELAY_URL=f"smtp://127.0.0.1:{sink.port}",
        MAILDESK_SECRET_KEY=os.urandom(32).hex(),
    )
    proc = _serve(["sh", "-c", "maildesk migrate && exec maildesk serve"], cwd, env, tmp_path / "serve.log")
    try:
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as client:
            client.send_message(_mail("Container test"), to_addrs=["support@localhost"])
        (confirmation,) = sink.wait_for("new@example.org", timeout=30)
        assert "SUP-00001" in confirmation.subject
        # The image's HEALTHCHECK command, pointed at this daemon's port, passes.
        check = _healthcheck_command()
        assert check[0] == "python"
        _run([str(installed / "python"), *[a.replace(":8000/", f":{http_port}/") for a in check[1:]]], timeout=30,
             env=env, cwd=cwd)
    finally:
        _stop(proc)
    assert list(cwd.iterdir()) == []  # nothing outside the data dir
    assert (data / "maildesk.db").exists()
