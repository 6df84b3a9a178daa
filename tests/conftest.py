"""Fixtures shared by the test modules that drive a browser, and Hypothesis's settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import settings
from support import CHROME_FLAGS, TIMEOUT, chromium

# Hypothesis fails an example that takes over 200 ms by default: a timed assertion, which
# a loaded machine breaks (a wirelog split once took 428 ms in CI). Speed is measured in
# benchmarks/, so no property test here has a deadline.
settings.register_profile("wslib", deadline=None)
settings.load_profile("wslib")


@pytest.fixture
def stop_everything() -> Iterator[None]:
    """Stop whatever the kit runs before and after a test: servers, clients, processes.

    A module that starts things through the kit's runtime uses it for every test with
    ``pytestmark = pytest.mark.usefixtures("stop_everything")``.
    """
    import wslib  # support and this file load no wslib until a test asks

    wslib.stop_all()
    try:
        yield
    finally:
        wslib.stop_all()


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
