"""Tests for notebook 04's exercise checker: a chat bot that answers !who."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pytest

from wslib.teaching.bot import BotRun, bot_verdicts, check_bot

SOLUTION = Path(__file__).resolve().parents[1] / "notebooks" / "solutions" / "bot.py"


def scaffold(message: dict[str, Any], online: list[str]) -> str | None:
    """Return notebook 04's scaffold as shipped: a placeholder answer, and an echo."""
    if message["text"] == "!who":
        return "TODO: say who is online"
    return str(message["text"])


def test_the_scaffold_as_shipped_fails_with_helpful_words() -> None:
    """The unchanged scaffold is told which names its answer misses and to stay quiet."""
    report = check_bot(scaffold, wait=0.5)
    assert report.failed == [
        "the reply 'TODO: say who is online' misses Ann, Ben, Bot: try 'online: Ann, Ben, Bot'",
        "the bot answered 'hello, everyone' to 'hello, everyone': return None",
    ]


def test_the_solution_passes() -> None:
    """The solution lists everyone on !who, is heard by all, and is quiet otherwise."""
    report = check_bot(runpy.run_path(str(SOLUTION))["answer"])
    assert report.passed, str(report)


def silent(message: dict[str, Any], online: list[str]) -> None:
    """Return a bot that never answers."""
    return None


def raising(message: dict[str, Any], online: list[str]) -> str:
    """Return a bot that reads a field chat messages do not have."""
    return str(message["body"])


def not_text(message: dict[str, Any], online: list[str]) -> Any:
    """Return a bot that answers with the list itself rather than text."""
    return online if message["text"] == "!who" else None


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (silent, "the bot did not answer Ann's !who"),
        (raising, "answer raised KeyError: 'body'"),
        (not_text, "answer returned ['Ann', 'Ben', 'Bot']: a reply is a str"),
    ],
    ids=["silent", "raises", "not-text"],
)
def test_each_wrong_bot_gets_its_own_message(answer: Any, message: str) -> None:
    """A bot wrong in one way is told that way, in words."""
    report = check_bot(answer, wait=0.5)
    assert message in report.failed, str(report)


def test_a_reply_nobody_heard_is_reported() -> None:
    """If Ben never received the bot's answer, the rules say so (a rule without sockets)."""
    run = BotRun(online=["Ann", "Ben", "Bot"], replies={"!who": "online: Ann, Ben, Bot"})
    failed = [verdict.text for verdict in bot_verdicts(run) if not verdict.passed]
    assert failed == ["Ben never heard the bot's answer"]
