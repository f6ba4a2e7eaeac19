"""A headless Chromium for tests of pages s2s writes (Playwright, no browser download).

Import the fixtures into a test module (``from tests.browser import browser, network_log, page``):

* ``browser``: launched once per module;
* ``page``: a fresh 1280x800 page per test; every request that is not ``file:`` is aborted and
  its URL appended to ``network_log``, so a test can assert that a page fetched nothing;
  uncaught script errors make the test fail when it ends.

Without Playwright or Chromium the tests skip, or fail in one line when ``S2S_REQUIRE_BROWSER=1``
(as CI sets it), saying what to install.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 800}
INSTALL_HINT = "apt-get install chromium; pip install -c constraints.txt -e .[test]"


def find_chromium() -> str | None:
    """The Chromium to drive: ``$S2S_CHROMIUM``, else /usr/bin/chromium, else ``chromium`` on PATH."""
    named = os.environ.get("S2S_CHROMIUM")
    if named:
        return named if Path(named).is_file() else None
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    return shutil.which("chromium")


def browser_missing(what: str) -> None:
    """Skip, or fail where a browser is required, in one line naming the fix."""
    message = f"{what} ({INSTALL_HINT})"
    if os.environ.get("S2S_REQUIRE_BROWSER") == "1":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One headless Chromium for the whole test module."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        browser_missing("Playwright is not installed")
    executable = find_chromium()
    if executable is None:
        named = os.environ.get("S2S_CHROMIUM")
        browser_missing(f"S2S_CHROMIUM={named} does not exist" if named else "Chromium is not installed")
    with sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        except Error as exc:
            browser_missing(f"{executable} does not start: {str(exc).splitlines()[0]}")
        yield launched
        launched.close()


@pytest.fixture
def network_log() -> list[str]:
    """URLs of the requests a page tried to make outside ``file:`` (all of them aborted)."""
    return []


@pytest.fixture
def page(browser, network_log: list[str]) -> Iterator[object]:
    """A fresh page whose only reachable URLs are ``file:`` ones."""
    context = browser.new_context(viewport=VIEWPORT)
    errors: list[str] = []

    def record(request) -> None:
        if not request.url.startswith(("file:", "data:")):
            network_log.append(request.url)

    # A pattern, not a Python predicate: the browser side matches it, so file: loads skip the round trip to Python.
    context.route(re.compile(r"^(?!file:)"), lambda route: route.abort())
    opened = context.new_page()
    opened.on("request", record)
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert not errors, f"script errors on the page: {errors}"
