"""README.md's and docs/api.md's examples, run verbatim against a fresh daemon.

Every shell block preceded by `<!-- tested -->` runs in order with bash (errexit, pipefail),
as a newcomer would paste it: the only changes are the ports (the test daemon's instead of
2525/8000). Variables a block sets (NUMBER, TOKEN) carry over to the next block, as in one
terminal. `.venv/bin/maildesk` and `maildesk` are the code under test.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import Daemon, wait_until

ROOT = Path(__file__).resolve().parents[2]
_BLOCK = re.compile(r"<!-- tested -->\n```sh\n(.*?)```", re.DOTALL)


def examples_in(path: Path) -> list[str]:
    return _BLOCK.findall(path.read_text())


class Terminal:
    """A directory like a fresh checkout (`.venv/bin/maildesk`) and shell state kept between blocks."""

    def __init__(self, home: Path, daemon: Daemon) -> None:
        self.home, self.daemon = home, daemon
        bin_dir = home / ".venv" / "bin"
        bin_dir.mkdir(parents=True)
        launcher = bin_dir / "maildesk"
        launcher.write_text(f'#!/bin/sh\nexec {sys.executable} -m maildesk "$@"\n')
        launcher.chmod(0o755)
        self.env = dict(daemon.env, PATH=f"{bin_dir}:/usr/local/bin:/usr/bin:/bin")
        self.state = home / ".state.sh"
        self.state.write_text("")

    def run(self, block: str) -> str:
        d = self.daemon
        text = (block.replace("127.0.0.1:8000", f"127.0.0.1:{d.http_port}")
                .replace("'127.0.0.1', 2525", f"'127.0.0.1', {d.smtp_port}")
                .replace("127.0.0.1:2525", f"127.0.0.1:{d.smtp_port}"))
        script = f"set -a\n. {self.state}\n{text}\nexport -p > {self.state}\n"
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=self.home, env=self.env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, (f"example failed ({result.returncode}):\n{block}\n{result.stdout}\n{result.stderr}\n"
                                        f"daemon log (last 3,000 characters):\n{d.log()[-3000:]}")
        assert '"status_code"' not in result.stdout, f"example got an error answer:\n{block}\n{result.stdout}"
        return result.stdout


def _fresh(daemon_factory, tmp_path: Path) -> tuple[Daemon, Terminal]:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    home.mkdir()
    daemon = daemon_factory(MAILDESK_RELAY_URL="", MAILDESK_DATA_DIR=str(home / "var"),
                            MAILDESK_SUPPORT_ADDRESS="support@localhost")
    return daemon, Terminal(home, daemon)


def test_readme_examples_run_verbatim(daemon_factory, tmp_path: Path) -> None:
    daemon, term = _fresh(daemon_factory, tmp_path)
    send, ls, create_admin, contact, reply = examples_in(ROOT / "README.md")

    term.run(send)
    daemon.wait_processed(1)
    assert [t[2:4] for t in daemon.tickets()] == [("ada@example.org", "Cannot log in")]
    outbox = term.home / "var" / "outbox"
    wait_until(lambda: list(outbox.glob("*-confirmation.eml")), timeout=30, what="the confirmation file")
    assert "confirmation.eml" in term.run(ls)

    assert "created admin admin@example.com" in term.run(create_admin)
    number = term.run(contact).strip()
    assert re.fullmatch(r"SUP-\d{5}", number) and number != "SUP-00001"
    answer = term.run(reply)
    assert '"sender_role":"admin"' in answer.replace(" ", "")
    (ticket_id,) = [t[0] for t in daemon.tickets() if t[1] == number]
    roles = daemon.sql("SELECT sender_role FROM ticket_messages WHERE ticket_id = :t ORDER BY id", t=ticket_id)
    assert [r[0] for r in roles] == ["user", "admin"]


def test_api_doc_examples_run_verbatim(daemon_factory, tmp_path: Path) -> None:
    daemon, term = _fresh(daemon_factory, tmp_path)
    contact, create_agent, reply_and_resolve = examples_in(ROOT / "docs" / "api.md")

    assert term.run(contact).strip() == "SUP-00001"
    assert "created admin agent@example.com" in term.run(create_agent)
    out = term.run(reply_and_resolve)
    assert '"sender_email":"agent@example.com"' in out.replace(" ", "")
    assert daemon.sql("SELECT status FROM tickets WHERE ticket_number = 'SUP-00001'") == [("resolved",)]
