"""A client that breaks RFC 6455 is closed with the right code; everyone else keeps chatting.

Each offence is written as raw bytes on a bare socket (tests/rawclient.py), because a real
client library refuses to send them.
"""

from __future__ import annotations

import logging

import pytest
from rawclient import RawClient, frame
from support import TIMEOUT, recv, run_async
from websockets.asyncio.client import connect

from wslib import Server
from wslib.core.codes import CLOSE_INVALID_DATA, CLOSE_PROTOCOL_ERROR
from wslib.teaching.frames import Opcode

TEXT, PING, CONT = Opcode.TEXT, Opcode.PING, Opcode.CONT

VIOLATIONS = {
    "invalid UTF-8 in a text frame": ([frame(TEXT, b"caf\xc3(")], CLOSE_INVALID_DATA),
    "invalid UTF-8 split across fragments": (
        [frame(TEXT, b"ok \xe2\x82", fin=False), frame(CONT, b"\xff")],
        CLOSE_INVALID_DATA,
    ),
    "an unmasked client frame": ([frame(TEXT, b"hello", mask=False)], CLOSE_PROTOCOL_ERROR),
    "a ping longer than 125 bytes": ([frame(PING, b"p" * 126)], CLOSE_PROTOCOL_ERROR),
    "a fragmented ping": ([frame(PING, b"p", fin=False)], CLOSE_PROTOCOL_ERROR),
    "RSV1 without an extension": ([frame(TEXT, b"x", rsv=4)], CLOSE_PROTOCOL_ERROR),
    "RSV2": ([frame(TEXT, b"x", rsv=2)], CLOSE_PROTOCOL_ERROR),
    "RSV3": ([frame(TEXT, b"x", rsv=1)], CLOSE_PROTOCOL_ERROR),
    "reserved data opcode 0x3": ([frame(0x3, b"x")], CLOSE_PROTOCOL_ERROR),
    "reserved control opcode 0xB": ([frame(0xB, b"x")], CLOSE_PROTOCOL_ERROR),
    "a continuation with nothing to continue": ([frame(CONT, b"x")], CLOSE_PROTOCOL_ERROR),
    "a new text frame inside a fragmented one": (
        [frame(TEXT, b"a", fin=False), frame(TEXT, b"b")],
        CLOSE_PROTOCOL_ERROR,
    ),
}


@pytest.mark.parametrize(("data", "code"), VIOLATIONS.values(), ids=VIOLATIONS.keys())
def test_offender_is_closed_with_the_right_code_and_others_keep_chatting(
    data: list[bytes], code: int, caplog: pytest.LogCaptureFixture
) -> None:
    """A protocol violation closes that client with its RFC 6455 code; the others carry on."""
    caplog.set_level(logging.INFO, logger="wslib")

    async def body() -> None:
        async with (
            Server(port=0) as server,
            connect(server.url) as alice,
            connect(server.url) as bob,
        ):
            offender = await RawClient.connect(server.port)
            try:
                await offender.send(b"".join(data))
                assert await offender.close_code() == code
                await offender.wait_eof()
            finally:
                await offender.close()
            await alice.send("still here?")
            assert await recv(bob) == "Received message from peer: still here?"
            await bob.send("yes")
            assert await recv(alice) == "Received message from peer: yes"

    run_async(body())
    assert not [r for r in caplog.records if r.exc_info], (
        "a stranger's bad bytes logged a traceback"
    )
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) <= 1


def test_a_dozen_offenders_each_cost_at_most_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    """Many offenders in a row leave at most one warning each and never a traceback."""
    caplog.set_level(logging.INFO, logger="wslib")
    offences = [b"".join(data) for data, _ in VIOLATIONS.values()]

    async def body() -> None:
        async with Server(port=0) as server, connect(server.url) as alice:
            for data in offences:
                offender = await RawClient.connect(server.port)
                try:
                    await offender.send(data)
                    assert await offender.close_code() is not None
                finally:
                    await offender.close()
            async with connect(server.url) as bob:
                await alice.send("after the storm")
                assert await recv(bob, TIMEOUT) == "Received message from peer: after the storm"

    run_async(body())
    assert not [r for r in caplog.records if r.exc_info]
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) <= len(offences)
