"""Fixtures shared by the test modules, and Hypothesis's settings."""

from __future__ import annotations

import gc
import sys
import weakref
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


# What the check below keeps between tests: the server-side connections already reported
# (each is reported once), and the module of the test that ran last.
_REPORTED = pytest.StashKey["weakref.WeakSet[object]"]()
_PREVIOUS = pytest.StashKey[str]()


@pytest.fixture(autouse=True)
def no_server_connection_outlives_its_module(request: pytest.FixtureRequest) -> None:
    """Fail a module's first test if the module before it left a server's side of a
    connection alive.

    Something a test keeps (a handler's set of connections, a parameter built at import,
    which pytest holds for the whole session) would keep each connection's
    ``ServerProtocol`` and its stopped server alive, and muddle the tests that later count
    what is alive. It is checked as the next module starts, not as one ends: until the last
    test's teardown is over, pytest still holds that test's log records, whose tracebacks
    hold connections. One collection per module keeps the check cheap.
    """
    module = request.module.__name__
    previous = request.config.stash.get(_PREVIOUS, "")
    request.config.stash[_PREVIOUS] = module
    server = sys.modules.get("websockets.server")
    # After a failure pytest keeps its traceback (sys.last_traceback) and what that holds.
    if module == previous or server is None or request.session.testsfailed:
        return
    reported = request.config.stash.setdefault(_REPORTED, weakref.WeakSet())
    gc.collect()
    left = [
        thing
        for thing in gc.get_objects()
        if type(thing) is server.ServerProtocol and thing not in reported
    ]
    reported.update(left)
    assert not left, (
        f"{len(left)} server-side connection(s) outlived the tests of {previous}: something"
        " a test made still holds them (gc.get_referrers shows what)"
    )


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
