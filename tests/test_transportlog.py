"""Tests for wslib.server.transportlog: a mass disconnect is one warning line, not thousands."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys

import pytest
from support import TIMEOUT, run_async

from wslib import ChatClient, Server
from wslib.server.transportlog import ClosedSendWarnings

ASYNCIO_LINE = "socket.send() raised exception."


def test_a_burst_of_closed_socket_warnings_becomes_one_counted_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """500 of asyncio's closed-socket warnings reach no handler; one line counts them."""
    said = asyncio.Event()

    class Tell(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            said.set()

    async def body() -> None:
        quiet = ClosedSendWarnings(quiet=0.05)
        quiet.install()
        tell = Tell()
        logging.getLogger("wslib.server").addHandler(tell)
        try:
            for _ in range(500):
                logging.getLogger("asyncio").warning(ASYNCIO_LINE)
            logging.getLogger("asyncio").warning("something else")
            async with asyncio.timeout(TIMEOUT):
                await said.wait()
        finally:
            logging.getLogger("wslib.server").removeHandler(tell)
            quiet.remove()
        assert quiet.count == 500

    with caplog.at_level(logging.WARNING):
        run_async(body())
    messages = [r.getMessage() for r in caplog.records]
    assert ASYNCIO_LINE not in messages
    assert "something else" in messages
    assert [m for m in messages if "already closed" in m] == [
        f"500 writes went to connections that had already closed and were dropped "
        f"(asyncio: {ASYNCIO_LINE!r})"
    ]


def test_outside_a_loop_the_warning_passes_unchanged(caplog: pytest.LogCaptureFixture) -> None:
    """A closed-socket warning logged with no running loop is left alone."""
    quiet = ClosedSendWarnings()
    quiet.install()
    try:
        with caplog.at_level(logging.WARNING):
            logging.getLogger("asyncio").warning(ASYNCIO_LINE)
    finally:
        quiet.remove()
    assert [r.getMessage() for r in caplog.records] == [ASYNCIO_LINE]


CROWD = """
import asyncio, json, sys
from websockets.asyncio.client import connect
async def main():
    crowd = []
    for n in range(int(sys.argv[2])):
        connection = await connect(sys.argv[1], max_queue=None)
        await connection.send(json.dumps({"type": "join", "v": 1, "name": f"u{n}"}))
        crowd.append(connection)
    print("ready", flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


@pytest.mark.slow  # 500 joins, each announced to all: about 30 s; fewer show no warning
def test_a_mass_disconnect_logs_at_most_one_line_and_bystanders_chat_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """500 chat clients killed at once (kill -9) cost no per-socket warning; two bystanders
    keep chatting and what was acknowledged before stays in the history."""

    async def body() -> None:
        async with (
            Server(port=0) as server,
            ChatClient(server.chat_url, "alice") as alice,
            ChatClient(server.chat_url, "bob") as bob,
        ):
            await alice.send("before")
            await alice.wait_for(lambda: not alice.pending, TIMEOUT)
            crowd = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                CROWD,
                server.chat_url,
                "500",
                stdout=asyncio.subprocess.PIPE,
                stdin=asyncio.subprocess.DEVNULL,
            )
            try:
                assert crowd.stdout is not None
                ready = await asyncio.wait_for(crowd.stdout.readline(), 8 * TIMEOUT)
                assert ready == b"ready\n"
                await bob.wait_for(lambda: len(bob.online) == 502, 4 * TIMEOUT)
                os.kill(crowd.pid, signal.SIGKILL)
                await bob.wait_for(lambda: len(bob.online) == 2, 4 * TIMEOUT)
            finally:
                if crowd.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        crowd.kill()
                await asyncio.wait_for(crowd.wait(), TIMEOUT)
            await alice.send("after")
            await bob.wait_for(
                lambda: [m["text"] for m in bob.messages] == ["before", "after"], TIMEOUT
            )
            async with ChatClient(server.chat_url, "carol") as carol:  # the replay is whole
                await carol.wait_for(lambda: len(carol.messages) == 2, TIMEOUT)
                assert [m["text"] for m in carol.messages] == ["before", "after"]

    with caplog.at_level(logging.WARNING):
        run_async(body(), 20 * TIMEOUT)
    messages = [r.getMessage() for r in caplog.records]
    assert ASYNCIO_LINE not in messages
    assert len([m for m in messages if "already closed" in m]) <= 1
