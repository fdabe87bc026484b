"""Debian's chromium driven by Playwright, for every browser test (tests/e2e, tests/security).

One `browser` for the whole session, registered in tests/conftest.py: Playwright's sync API
keeps an event loop running in the main thread while it is open, so a second one could not
start beside it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest

from lib.chromium import CHROMIUM_ARGS

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium, headless. Missing chromium is a failure, never a skip."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests drive Debian's chromium (a Playwright "
            "browser download is impossible here). Install it with `make test-deps` "
            "(apt-get install chromium).",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


# The first frame of a stack inside a preview (an app in a sandbox, on its own origin p<id>.…).
PREVIEW_FRAME = re.compile(r"^\s*at .*https?://p\d+\.[^/\s]+/", re.MULTILINE)


class PageErrors(list):
    """Uncaught JS errors of every page a test opened; the test fails if any occurred. An error
    thrown by the app inside a preview iframe is that app's (the sample full-stack frontend
    fails to reach its absent backend, on purpose): kept apart in `app_errors`, not ours."""

    def __init__(self) -> None:
        super().__init__()
        self.app_errors: list[str] = []

    def watch(self, page) -> None:
        page.on("pageerror", lambda error: self._record(page, error))

    def _record(self, page, error) -> None:
        first_frame = next(
            (line for line in (error.stack or "").splitlines() if line.strip().startswith("at ")),
            "",
        )
        where = self.app_errors if PREVIEW_FRAME.match(first_frame) else self
        where.append(f"{page.url}: {error}")


@pytest.fixture
def page_errors() -> Iterator[PageErrors]:
    errors = PageErrors()
    yield errors
    assert not errors, "JavaScript errors on the page:\n" + "\n".join(errors)
