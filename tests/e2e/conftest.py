"""Browser fixtures: real Chromium (Debian's /usr/bin/chromium) driven by Playwright.

Chromium is never downloaded (no `playwright install`): scripts/test installs the Debian
package. Without it these tests fail, saying so; they are never skipped.

Playwright's sync API keeps its own event loop running in this thread, so anything that calls
asyncio.run (accounts, SQL on the daemon's database) goes through `off_loop`, in a thread.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import pytest

from tests.conftest import Daemon

CHROMIUM = os.environ.get("MAILDESK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

T = TypeVar("T")


def off_loop(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run fn in a worker thread (it may use asyncio.run) and return its result."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn, *args, **kwargs).result()


@pytest.fixture
def browser(daemon: Daemon) -> Iterator[Any]:
    """A headless Chromium, started after the daemon (whose set-up uses asyncio.run)."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: the browser tests need Debian's `chromium` package "
            "(./scripts/test installs it; or run `apt-get install -y chromium`).",
            pytrace=False,
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is missing: install the test extra (pip install -e '.[test]').", pytrace=False)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class Visit:
    """One person's browser window, JavaScript off (the pages must work without it), recording
    every URL the pages make the browser ask for."""

    def __init__(self, browser: Any, daemon: Daemon) -> None:
        self.daemon = daemon
        self.context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()
        self.requested: list[str] = []
        self.page.on("request", lambda request: self.requested.append(request.url))

    def go(self, path: str) -> Any:
        return self.page.goto(path if path.startswith("http") else self.daemon.base_url + path)

    def foreign_requests(self) -> list[str]:
        return [u for u in self.requested if not u.startswith(self.daemon.base_url + "/")]

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def visit(browser: Any, daemon: Daemon) -> Iterator[Callable[[], Visit]]:
    opened: list[Visit] = []

    def open_window() -> Visit:
        v = Visit(browser, daemon)
        opened.append(v)
        return v

    yield open_window
    for v in opened:
        v.close()
