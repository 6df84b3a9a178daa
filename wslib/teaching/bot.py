"""The checker for notebook 04's exercise: a chat bot that answers ``!who``.

The learner writes ``answer(message, online) -> str | None``: given a chat message (the
event a client receives, with ``name`` and ``text``) and the names online, it returns the
bot's reply, or ``None`` to stay quiet. The runner joins the kit's chat as Bot, next to
Ann and Ben, feeds the learner's function what Bot receives and sends its replies; the
rules then judge what everyone saw (see ``wslib.teaching.exercises``).

Usage in notebook 04::

    print(check_bot(answer))
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..sync.background import start
from ..sync.blocking import SyncChatClient
from .exercises import Report, Verdict

__all__ = ["BotRun", "bot_verdicts", "check_bot", "run_bot"]

Answer = Callable[[dict[str, Any], list[str]], Any]
ASKED = ("!who", "hello, everyone")


@dataclass
class BotRun:
    """What the bot answered to each of Ann's messages, and what Ben then saw.

    Attributes:
        online: Who was online when Ann asked.
        replies: The learner's reply to each message Ann sent (``None``: quiet).
        heard: What Ben received from Bot after each of Ann's messages.
        errors: Exceptions ``answer`` raised, as ``"KeyError: ..."`` text.
    """

    online: list[str] = field(default_factory=list)
    replies: dict[str, Any] = field(default_factory=dict)
    heard: dict[str, list[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def bot_verdicts(run: BotRun) -> list[Verdict]:
    """Judge a bot by its replies: names on ``!who``, quiet otherwise, heard by the others."""
    verdicts: list[Verdict] = []
    if run.errors:
        verdicts.append(Verdict(False, f"answer raised {run.errors[0]}"))
    who = run.replies.get("!who")
    wanted = "online: " + ", ".join(run.online)
    if who is None:
        verdicts.append(Verdict(False, "the bot did not answer Ann's !who"))
    elif not isinstance(who, str):
        verdicts.append(Verdict(False, f"answer returned {who!r}: a reply is a str"))
    elif all(name in who for name in run.online):
        verdicts.append(Verdict(True, "the bot answers !who with everyone online"))
    else:
        missing = [name for name in run.online if name not in who]
        verdicts.append(
            Verdict(False, f"the reply {who!r} misses {', '.join(missing)}: try {wanted!r}")
        )
    if isinstance(who, str) and who in run.heard.get("!who", []):
        verdicts.append(Verdict(True, "Ben heard the bot's answer: it went to the whole chat"))
    elif isinstance(who, str):
        verdicts.append(Verdict(False, "Ben never heard the bot's answer"))
    quiet = run.replies.get("hello, everyone")
    if quiet is None:
        verdicts.append(Verdict(True, "the bot stays quiet when nobody asks it anything"))
    else:
        verdicts.append(
            Verdict(False, f"the bot answered {quiet!r} to 'hello, everyone': return None")
        )
    return verdicts


def run_bot(answer: Answer, *, wait: float = 2.0) -> BotRun:
    """Join Ann, Ben and Bot to a live chat; Ann speaks, ``answer`` decides what Bot says."""
    run = BotRun()
    server = start(port=0, name="exercise: bot")
    try:
        with (
            SyncChatClient(server.chat_url, "Ann") as ann,
            SyncChatClient(server.chat_url, "Ben") as ben,
            SyncChatClient(server.chat_url, "Bot") as bot,
        ):
            ann.wait_for(lambda: len(ann.online) == 3, wait)
            run.online = ann.online
            for text in ASKED:
                ann.send(text)
                bot.wait_for(_said(bot, "Ann", text), wait)
                message = next(m for m in bot.messages if m.get("text") == text)
                try:
                    reply = answer(dict(message), bot.online)
                except Exception as exc:  # the rules report it
                    run.errors.append(f"{type(exc).__name__}: {exc}")
                    reply = None
                run.replies[text] = reply
                if isinstance(reply, str) and reply:
                    bot.send(reply)
                    with contextlib.suppress(TimeoutError):
                        ben.wait_for(_said(ben, "Bot", reply), wait)
                run.heard[text] = [
                    str(m.get("text")) for m in ben.messages if m.get("name") == "Bot"
                ]
    finally:
        server.stop()
    return run


def _said(client: SyncChatClient, name: str, text: str) -> Callable[[], bool]:
    """Return a test of whether ``client`` has seen ``name`` say ``text``."""
    return lambda: any(m.get("name") == name and m.get("text") == text for m in client.messages)


def check_bot(answer: Answer, *, wait: float = 2.0) -> Report:
    """Run notebook 04's "a bot that answers !who" exercise for real and judge it, rule by rule.

    Usage in notebook 04::

        print(check_bot(answer))
    """
    return Report("a bot that answers !who", tuple(bot_verdicts(run_bot(answer, wait=wait))))
