"""Shared test support: one timeout constant, and skips for tools outside Python.

Every wait in the suite is a multiple of ``TIMEOUT``; set ``WSLIB_TIMEOUT_SCALE`` to
stretch them all on a slow machine. A test that needs something outside Python
(Chromium, redis-server, Node.js) calls ``require(...)``: it skips with the reason
printed, unless ``WSLIB_REQUIRE_ALL=1`` (set by ``.ci/run``) turns the skip into a failure.
"""

from __future__ import annotations

import os
import shutil

import pytest

TIMEOUT = 5.0 * float(os.environ.get("WSLIB_TIMEOUT_SCALE", "1"))
REQUIRE_ALL = os.environ.get("WSLIB_REQUIRE_ALL") == "1"


def require(executable: str, why: str) -> str:
    """Return the path of ``executable``, or skip (fail under WSLIB_REQUIRE_ALL) without it."""
    path = shutil.which(executable)
    if path is None:
        message = f"{executable} not found: {why}"
        if REQUIRE_ALL:
            pytest.fail(f"WSLIB_REQUIRE_ALL=1 but {message}")
        pytest.skip(message)
    return path
