"""Tests for notebook 03's exercise checker: predict a WebSocket's bytes, then measure."""

from __future__ import annotations

import runpy
from collections.abc import Callable
from pathlib import Path

import pytest

from wslib.teaching.prediction import check_prediction

SOLUTION = Path(__file__).resolve().parents[1] / "notebooks" / "solutions" / "websocket_bytes.py"


def scaffold(texts: list[str]) -> int:
    """Return notebook 03's scaffold as shipped: 2 bytes of header per text, nothing else."""
    return sum(2 + len(text.encode()) for text in texts)


def test_the_scaffold_as_shipped_fails_with_helpful_words() -> None:
    """The unchanged scaffold is told about the close frames and the longer headers."""
    report = check_prediction(scaffold)
    assert [text.split(":")[0] for text in report.failed] == [
        "no messages",
        "200 bytes",
        "70,000 bytes",
        "20 quotes",
    ]
    assert "the close frames still cross" in report.failed[0]
    assert "4-byte header: 126, then 2 length bytes" in report.failed[1]
    assert "10-byte header: 127, then 8 length bytes" in report.failed[2]
    assert report.failed[3] == "20 quotes: you predict 460, the meter counted 472"


def test_the_solution_passes_and_agrees_with_the_meter() -> None:
    """The solution gets every probe right and matches the byte meter to the byte."""
    report = check_prediction(runpy.run_path(str(SOLUTION))["websocket_bytes"])
    assert report.passed, str(report)


def characters(texts: list[str]) -> int:
    """Count characters where bytes are meant (and the rest right)."""
    return 12 + sum((2 if len(t) <= 125 else 4 if len(t) < 65536 else 10) + len(t) for t in texts)


def raising(texts: list[str]) -> int:
    """Fail on the empty list."""
    return max(len(text) for text in texts)


def not_a_number(texts: list[str]) -> str:
    """Return text instead of a number."""
    return "about 500"


@pytest.mark.parametrize(
    ("predict", "message"),
    [
        (characters, "'héllo' is 5 characters but 6 bytes in UTF-8"),
        (raising, "no messages: websocket_bytes raised ValueError"),
        (not_a_number, "websocket_bytes returned 'about 500', no int"),
    ],
    ids=["characters", "raises", "not-a-number"],
)
def test_each_wrong_prediction_gets_its_own_message(
    predict: Callable[[list[str]], object], message: str
) -> None:
    """A prediction wrong in one way is told that way, in words."""
    report = check_prediction(predict)
    assert any(message in text for text in report.failed), str(report)
