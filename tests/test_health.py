"""Tests for notebook 06's exercise checker: a health check that never raises."""

from __future__ import annotations

import json
import runpy
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from wslib.teaching.health import check_health

SOLUTION = Path(__file__).resolve().parents[1] / "notebooks" / "solutions" / "is_healthy.py"


def scaffold(http_url: str) -> bool:
    """Return notebook 06's scaffold as shipped: healthy whenever urlopen does not raise."""
    with urllib.request.urlopen(http_url + "healthz", timeout=5):
        return True


def test_the_scaffold_as_shipped_fails_with_helpful_words() -> None:
    """The unchanged scaffold passes a running server and is told to catch the two errors."""
    report = check_health(scaffold)
    assert [text.split(":")[0] for text in report.failed] == [
        "a port where nothing listens",
        "a server answering 503",
    ]
    assert report.failed[0].endswith(
        "catch the OSError that urlopen raises when nothing answers, and return False"
    )
    assert "raised HTTPError: HTTP Error 503" in report.failed[1]


def test_the_solution_passes() -> None:
    """The solution says True for a running kit server and False for the other two."""
    report = check_health(runpy.run_path(str(SOLUTION))["is_healthy"])
    assert report.passed, str(report)


def always(answer: Any) -> Any:
    """Return a health check that answers ``answer`` whatever happens."""
    return lambda http_url: answer


def status_only(http_url: str) -> bool:
    """Trust the status code alone, but read the body wrongly."""
    try:
        with urllib.request.urlopen(http_url + "healthz", timeout=5) as reply:
            return bool(json.load(reply)["healthy"])
    except OSError:
        return False


@pytest.mark.parametrize(
    ("probe", "message"),
    [
        (always(False), "a running kit server: you say False, not True"),
        (always(True), "a server answering 503: you say True, not False"),
        (always("yes"), "a running kit server: you say 'yes', not True"),
        (status_only, "a running kit server: is_healthy raised KeyError: 'healthy'"),
    ],
    ids=["never-healthy", "always-healthy", "not-a-bool", "wrong-field"],
)
def test_each_wrong_health_check_gets_its_own_message(probe: Any, message: str) -> None:
    """A health check wrong in one way is told that way, in words."""
    report = check_health(probe)
    assert any(text.startswith(message) for text in report.failed), str(report)
