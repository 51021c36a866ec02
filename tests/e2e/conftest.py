"""Headless Chromium (Debian's package) driven by Playwright against the live test server."""

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import missing_service

# Playwright's sync API keeps an event loop in the test thread; Django's ORM calls made by
# the test itself are still synchronous and safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LAUNCH_ARGS = [
    "--use-fake-device-for-media-stream",  # a test camera and microphone
    "--use-fake-ui-for-media-stream",  # and no permission prompt
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}


# One browser for the package's tests, each in contexts of its own (page_factory, or the
# test's new_context), which share no cookies, storage or permissions: launching Chromium
# per module cost 1 to 3 s each. Not per session: Playwright's sync API runs an event loop
# in the main thread while it lives, and the tests after this package (every one of which
# drives the browser) need that thread free of loops.
@pytest.fixture(scope="package")
def browser():
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        missing_service(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page_factory(browser):
    contexts = []

    def make(viewport=DESKTOP, locale="en-US"):
        context = browser.new_context(viewport=viewport, locale=locale)
        contexts.append(context)
        page = context.new_page()
        page.csp_violations = []
        page.on(
            "console",
            lambda m: (
                page.csp_violations.append(m.text) if "Content Security Policy" in m.text else None
            ),
        )
        return page

    yield make
    for context in contexts:
        context.close()


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def wait_until(page, function: str, *, timeout: float = 15.0, interval: float = 0.2) -> None:
    """Poll `function` (JavaScript source of a function, may return a promise) until it is
    truthy. page.wait_for_function evaluates strings with eval, which our CSP forbids."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if page.evaluate(function):
            return
        page.wait_for_timeout(interval * 1000)
    raise AssertionError(f"Timed out after {timeout} s waiting for: {function}")
