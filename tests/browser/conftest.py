"""Browser fixtures: one headless Chromium per session, a fresh watched page per test.

Every page is watched from its first request: console errors, uncaught exceptions, CSP
violations (Chromium's console reports and a `securitypolicyviolation` listener in every
document), dialogs (an injected `alert` would open one) and every request's address. When
the test ends the watch must be clean: nothing went wrong and no request left 127.0.0.1.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.browser.chromium import find_chromium, launch

TIMEOUT_MS = 10_000
HERE = Path(__file__).resolve().parent

REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__reportCspViolation(`${event.violatedDirective} blocked ${event.blockedURI || "inline"}`);
});
"""


@dataclass
class PageWatch:
    """What a page did that a test must not let pass: errors, CSP violations, dialogs, foreign requests."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    expected: list[re.Pattern[str]] = field(default_factory=list)

    def on_csp_violation(self, description: str) -> None:
        self.csp_violations.append(description)

    def expect_console_error(self, pattern: str) -> None:
        """Let a console error the test provokes on purpose pass (e.g. the browser's note of a 429)."""
        self.expected.append(re.compile(pattern))

    def on_console(self, kind: str, text: str) -> None:
        if "Content Security Policy" in text:
            self.csp_violations.append(text)
        elif kind == "error" and not any(pattern.search(text) for pattern in self.expected):
            self.console_errors.append(text)

    def problems(self) -> list[str]:
        """Return everything that went wrong, in words."""
        foreign = [url for url in self.requests if not _stays_on_this_machine(url)]
        return (
            [f"console error: {text}" for text in self.console_errors]
            + [f"page error: {text}" for text in self.page_errors]
            + [f"CSP violation: {text}" for text in self.csp_violations]
            + [f"dialog: {text}" for text in self.dialogs]
            + [f"request left 127.0.0.1: {url}" for url in foreign]
        )


def _stays_on_this_machine(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("data", "blob") or (parts.scheme == "http" and parts.hostname == "127.0.0.1")


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `browser` every test in this folder."""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """The Chromium to drive; the browser tests skip (fail in CI) without one."""
    path = find_chromium()
    if path is None:
        configured = os.environ.get("CHROMIUM_PATH")
        where = f"CHROMIUM_PATH={configured} is not executable" if configured else "no `chromium` on PATH"
        pytest.skip(f"Chromium is not installed ({where}); install Debian's `chromium` package or set CHROMIUM_PATH")
    return path


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[Browser]:
    """One headless Chromium for the whole session."""
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = launch(playwright, chromium_path)
        yield chromium
        chromium.close()


@pytest.fixture
def watch() -> PageWatch:
    """The record of what this test's page did."""
    return PageWatch()


@pytest.fixture
def new_page(browser: Browser) -> Iterator[Callable[[PageWatch], Page]]:
    """Open pages in fresh contexts (empty storage), each watched by the PageWatch it is given."""
    contexts = []

    def open_page(watch: PageWatch) -> Page:
        context = browser.new_context(viewport={"width": 1024, "height": 800})
        contexts.append(context)
        context.set_default_timeout(TIMEOUT_MS)
        context.expose_function("__reportCspViolation", watch.on_csp_violation)
        context.add_init_script(REPORT_CSP_VIOLATIONS)
        context.on("request", lambda request: watch.requests.append(request.url))
        page = context.new_page()
        page.on("console", lambda message: watch.on_console(message.type, message.text))
        page.on("pageerror", lambda error: watch.page_errors.append(str(error)))
        page.on("dialog", lambda dialog: (watch.dialogs.append(dialog.message), dialog.dismiss()))
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Callable[[PageWatch], Page], watch: PageWatch) -> Iterator[Page]:
    """A page in a fresh context (empty localStorage), watched; the watch must be clean at the end."""
    yield new_page(watch)
    assert watch.problems() == []


@pytest.fixture
def other_watch() -> PageWatch:
    """The record of what the second person's page did."""
    return PageWatch()


@pytest.fixture
def other_page(new_page: Callable[[PageWatch], Page], other_watch: PageWatch) -> Iterator[Page]:
    """A second person's page (an agent beside a customer), in a context of its own, watched the same way."""
    yield new_page(other_watch)
    assert other_watch.problems() == []
