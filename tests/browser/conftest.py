"""A real Chromium (Debian's package) driven by Playwright, against the live server.

Playwright's own browser download does not work here: `scripts/ensure-chromium` (run by
`make test`) installs Debian's `chromium`, and these tests skip when it is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    expect,
    sync_playwright,
)

# The emulator and the two registered orgs of the integration tests.
from tests.integration.conftest import emulator, orgs  # noqa: F401

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Generous for a shared 2-core machine, far below pytest-wide limits.
TIMEOUT_MS = 15_000

NO_CHROMIUM = (
    f"browser tests need Debian's chromium at {CHROMIUM}, which "
    "`scripts/ensure-chromium` (run by `make test`) installs when run as root"
)
skip_without_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason=NO_CHROMIUM)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium per test module.

    Playwright's sync API keeps an asyncio event loop running in this thread, and Django
    refuses synchronous database calls from a thread with a running loop
    (SynchronousOnlyOperation). The test code here is synchronous, so the check is
    switched off, but only while the browser runs, not for the rest of the suite.
    """
    if not CHROMIUM.exists():
        pytest.skip(NO_CHROMIUM)
    expect.set_options(timeout=TIMEOUT_MS)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            yield launched
            launched.close()


@contextmanager
def checked_page(browser: Browser, **context_options: Any) -> Iterator[Page]:
    """A page in a fresh browser context (no cookies) that fails the test on any
    browser error, CSP refusals included."""
    context = browser.new_context(**context_options)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # The admin has no favicon; the browser's request for one is no page error.
        if message.type == "error" and "favicon.ico" not in message.location["url"]:
            errors.append(f"{message.text} ({message.location['url']})")

    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", on_console)
    yield page
    context.close()
    assert not errors, f"errors in the browser console: {errors}"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context and page per test."""
    with checked_page(browser, viewport={"width": 1280, "height": 1000}) as page:
        yield page
