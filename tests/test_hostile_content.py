"""Hostile names and messages are shown as text in the server's log and the CLI's view.

The chat relays what people send unchanged; only where it is *shown* does a string pass
through ``wslib.core.display.printable``. These tests send strings meant to break a terminal
or a log (escape sequences, bidi overrides, fake newlines, NUL) and check what comes out.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from support import TIMEOUT, recv_json, run_async
from websockets.asyncio.client import ClientConnection, connect

from wslib import ChatClient, Server, Status
from wslib.client.terminal import format_event
from wslib.server.logbook import LogBook

HOSTILE_TEXTS = [
    "<script>alert('hi')</script>",
    '<img src=x onerror="fetch(`//evil.example`)">',
    "\x1b[2J\x1b[H\x1b[31mthe screen is mine\x1b[0m",
    "\x1b]0;new terminal title\x07",
    "bell\x07backspace\x08\x08\x08tab\tdelete\x7f",
    "line one\nChat: admin joined\rcarriage",
    "invoice\u202efdp.exe and \u2066isolate\u2069",
    "\x9b31mC1 escape\x85next line",
    "😀" * 4000,
    "👩‍👩‍👧‍👦" * 500,
]

# A bidi override ("evil\u202egnp.exe") is no longer a name at all: it is refused as
# bad_name, with the other invisible characters (tests/test_protocol.py).
HOSTILE_NAMES = ["<b>boss</b>", "</script><script>x()", "z\u0336a\u0336p", "&amp;&lt;"]

# What must never reach a terminal or a log: C0 and C1 controls (a tab is harmless), DEL,
# bidi embeddings, overrides and isolates, and lone surrogates.
UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def assert_shown_as_text(line: str) -> None:
    """Assert that ``line`` holds nothing a terminal would act on."""
    found = UNSAFE.search(line)
    assert found is None, f"unsafe {found.group()!r} in {line[:80]!r}"


def test_hostile_messages_and_names_reach_the_stdout_log_as_one_safe_line_each() -> None:
    """Each chat message is logged once, as one line, with every control character escaped."""
    stdout = io.StringIO()

    async def body() -> list[dict[str, object]]:
        async with (
            Server(port=0, log=LogBook(stream=stdout)) as server,
            ChatClient(server.chat_url, "reader", reconnect=False) as reader,
        ):
            for number, name in enumerate(HOSTILE_NAMES):
                async with ChatClient(server.chat_url, name, reconnect=False) as sender:
                    for text in HOSTILE_TEXTS[number::4]:
                        await sender.send(text)
                    await sender.wait_for(lambda s=sender: not s.pending, TIMEOUT)
            await reader.wait_for(lambda: len(reader.messages) == len(HOSTILE_TEXTS), TIMEOUT)
            return reader.messages

    received = run_async(body())
    # Relayed unchanged: the chat carries text, it does not edit it.
    assert sorted(m["text"] for m in received) == sorted(HOSTILE_TEXTS)  # type: ignore[type-var]
    lines = stdout.getvalue().splitlines()
    for line in lines:
        assert_shown_as_text(line)
    assert sum(line.startswith("Received message: ") for line in lines) == len(HOSTILE_TEXTS)
    assert "Received message: <script>alert('hi')</script> (chat, from <b>boss</b>)" in lines
    assert any("\\x1b[2J\\x1b[H\\x1b[31mthe screen is mine" in line for line in lines)
    assert any("invoice\\u202efdp.exe" in line for line in lines)


def test_hostile_relay_messages_reach_the_stdout_log_as_one_safe_line_each() -> None:
    """On the article's relay, too, each hostile message is one escaped log line."""
    stdout = io.StringIO()

    async def body() -> None:
        async with (
            Server(port=0, log=LogBook(stream=stdout)) as server,
            connect(server.url) as alice,
            connect(server.url, max_size=None) as bob,
        ):
            for text in HOSTILE_TEXTS:
                await alice.send(text)
            for text in HOSTILE_TEXTS:
                assert await bob.recv() == "Received message from peer: " + text

    run_async(body())
    lines = stdout.getvalue().splitlines()
    assert len(lines) == len(HOSTILE_TEXTS) + 2  # and two disconnects
    for line in lines:
        assert_shown_as_text(line)


@pytest.mark.parametrize("text", HOSTILE_TEXTS)
@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_the_cli_view_shows_hostile_chat_events_as_one_safe_line(name: str, text: str) -> None:
    """The terminal client's line for any event, or a status with a close reason, is safe text."""
    events: list[object] = [
        {"type": "message", "id": "e-1", "name": name, "text": text, "ts": 0.0},
        {"type": "message", "id": "e-2", "name": name, "text": text, "ts": 0.0, "to": name},
        {"type": "welcome", "name": name, "online": [name, text[:32]], "reset": False},
        {"type": "joined", "name": name, "online": [name]},
        {"type": "left", "name": name, "online": []},
        {"type": "error", "code": "bad\x1b[0m", "detail": text},
        "Received message from peer: " + text,
        Status("reconnecting", 1001, text[:100]),  # a close reason, chosen by the server
    ]
    for event in events:
        line = format_event(event)
        assert line is not None
        assert_shown_as_text(line)


@pytest.mark.parametrize(
    ("join_name", "send_text"),
    [("ok", "nul \u0000 inside"), ("ok", "lone \ud83d surrogate"), ("nul\u0000name", None)],
    ids=["NUL in text", "lone surrogate in text", "NUL in a name"],
)
def test_nul_and_lone_surrogates_get_an_error_event_and_break_nothing(
    join_name: str, send_text: str | None
) -> None:
    """NUL or a lone surrogate gets that client an error event; the chat goes on for all."""

    async def body() -> None:
        async with (
            Server(port=0) as server,
            ChatClient(server.chat_url, "witness", reconnect=False) as witness,
            connect(server.chat_url) as mallory,
        ):
            # json.dumps escapes these as \\u0000 and \\ud83d, which is how a client sneaks
            # them past UTF-8 (a raw lone surrogate cannot even be encoded).
            await mallory.send(json.dumps({"type": "join", "name": join_name, "v": 1}))
            event = await recv_json(mallory)
            if send_text is not None:
                assert event["type"] == "welcome"
                while event["type"] != "error":
                    send = {"type": "send", "cid": "m1", "text": send_text}
                    await mallory.send(json.dumps(send))
                    event = await recv_json(mallory)
                    while event["type"] not in ("error", "message", "ack"):
                        event = await recv_json(mallory)
            assert event["type"] == "error"
            assert event["code"] in ("bad_text", "bad_name")
            await witness.send("still fine")
            await witness.wait_for(lambda: len(witness.messages) == 1, TIMEOUT)
            assert [m["text"] for m in witness.messages] == ["still fine"]

    run_async(body())


def test_look_alike_and_invisible_names_are_refused_while_the_owner_chats() -> None:
    """With alice online, "alice\u200b" gets bad_name and "\u0430lice" (Cyrillic a)
    name_taken; alice and bob keep chatting and nothing acknowledged is lost."""

    async def join(url: str, name: str) -> tuple[ClientConnection, dict[str, Any]]:
        connection = await connect(url)
        await connection.send(json.dumps({"type": "join", "v": 1, "name": name}))
        return connection, await recv_json(connection)

    async def body() -> None:
        async with (
            Server(port=0) as server,
            ChatClient(server.chat_url, "alice", reconnect=False) as alice,
            ChatClient(server.chat_url, "bob", reconnect=False) as bob,
        ):
            await alice.wait_for(lambda: alice.joined, TIMEOUT)
            await bob.wait_for(lambda: bob.joined, TIMEOUT)
            for name, code in [
                ("alice\u200b", "bad_name"),
                ("ali\u2060ce", "bad_name"),
                ("\u0430lice", "name_taken"),
                ("\u0391LICE", "name_taken"),
            ]:
                connection, reply = await join(server.chat_url, name)
                assert (reply["type"], reply["code"]) == ("error", code), name
                await connection.close()
            await alice.send("still me")
            await bob.wait_for(lambda: [m["text"] for m in bob.messages] == ["still me"], TIMEOUT)
            await alice.wait_for(lambda: not alice.pending, TIMEOUT)
            assert sorted(bob.online) == ["alice", "bob"]

    run_async(body())
