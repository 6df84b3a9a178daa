"""Fixtures shared by the test modules that drive a browser."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from support import CHROME_FLAGS, TIMEOUT, chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module; each test opens its own contexts.

    Chromium comes from the system (``CHROMIUM``, default ``/usr/bin/chromium``); the test
    skips without it or without Playwright, unless ``WSLIB_REQUIRE_ALL=1``.
    """
    executable = chromium("browser tests")
    playwright_api = pytest.importorskip("playwright.sync_api")
    playwright_api.expect.set_options(timeout=2 * TIMEOUT * 1000)
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROME_FLAGS)
        try:
            yield launched
        finally:
            launched.close()
