"""What the server answers to requests that are not a proper WebSocket handshake.

websockets 17 itself answers 431 to a header line over 8 KiB or more than 128 headers, 414
to a request line over 8 KiB, 400 to an incomplete upgrade, and drops a request it cannot
parse; these tests pin that down for the kit's server, together with ``open_timeout``.
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from rawclient import http_exchange, open_socket, status_of
from support import TIMEOUT, recv, run_async
from websockets.asyncio.client import connect

from wslib import Server
from wslib.core.settings import Limits

HOST = b"Host: 127.0.0.1\r\n"


def exchange(request: bytes, limits: Limits | None = None) -> bytes:
    """Return what a fresh server answers to ``request`` on a connection of its own."""

    async def body() -> bytes:
        async with Server(port=0, limits=limits) as server:
            return await http_exchange(server.port, request)

    return run_async(body())


def test_plain_get_gets_the_page_that_says_how_to_connect() -> None:
    """A plain HTTP GET / is answered 200 with a page, not an upgrade error."""
    answer = exchange(b"GET / HTTP/1.1\r\n" + HOST + b"\r\n")
    assert status_of(answer) == 200
    assert len(answer.partition(b"\r\n\r\n")[2]) > 0


def test_an_upgrade_without_a_key_gets_400() -> None:
    """An upgrade request without Sec-WebSocket-Key is refused with 400 and a reason."""
    upgrade = b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
    answer = exchange(b"GET / HTTP/1.1\r\n" + HOST + upgrade + b"\r\n")
    assert status_of(answer) == 400
    assert b"Sec-WebSocket-Key" in answer


def test_a_header_line_over_8_kib_gets_431() -> None:
    """A single header line longer than 8 KiB is answered 431 Request Header Fields Too Large."""
    answer = exchange(b"GET / HTTP/1.1\r\n" + HOST + b"Cookie: " + b"a" * 9000 + b"\r\n\r\n")
    assert status_of(answer) == 431


def test_more_than_128_headers_get_431() -> None:
    """A request with more than 128 header lines is answered 431."""
    many = b"".join(b"X-Filler-%d: 1\r\n" % i for i in range(200))
    answer = exchange(b"GET / HTTP/1.1\r\n" + HOST + many + b"\r\n")
    assert status_of(answer) == 431


def test_a_request_line_over_8_kib_gets_414() -> None:
    """A request target longer than 8 KiB is answered 414 URI Too Long."""
    answer = exchange(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n" + HOST + b"\r\n")
    assert status_of(answer) == 414


@pytest.mark.parametrize(
    "garbage",
    [
        b"HELLO\r\n\r\n",
        b"GET / SPDY/3\r\n\r\n",
        b"\xff\xfe\xfd\r\n\r\n",
        b"GET /\xe9 HTTP/1.1\r\n\r\n",
    ],
    ids=["no method", "wrong protocol", "binary", "non-ASCII target"],
)
def test_garbage_is_dropped_or_answered_400(
    garbage: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """Bytes that are not HTTP end the connection (or get 400) without a logged traceback."""
    caplog.set_level(logging.INFO, logger="wslib")
    answer = exchange(garbage)
    assert answer == b"" or status_of(answer) == 400
    assert not [r for r in caplog.records if r.exc_info]


@pytest.mark.parametrize(
    "start",
    [b"", b"GET / HTTP/1.1\r\n" + HOST, b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"],
    ids=["silent", "headers never end", "TLS hello to a plain server"],
)
def test_an_unfinished_handshake_is_closed_after_open_timeout(start: bytes) -> None:
    """A connection that never completes its handshake is closed once open_timeout passes."""
    open_timeout = TIMEOUT / 10

    async def body() -> None:
        async with Server(port=0, limits=Limits(open_timeout=open_timeout)) as server:
            reader, writer = await open_socket(server.port)
            try:
                began = time.monotonic()
                writer.write(start)
                async with asyncio.timeout(TIMEOUT):
                    rest = await reader.read(-1)
                waited = time.monotonic() - began
            finally:
                writer.close()
            assert rest == b""
            assert waited >= 0.8 * open_timeout
            async with connect(server.url) as alice, connect(server.url) as bob:
                await alice.send("the server still answers")
                assert await recv(bob) == "Received message from peer: the server still answers"

    run_async(body())


UPGRADE = (
    b"GET / HTTP/1.1\r\n" + HOST + b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
)


@pytest.mark.parametrize(
    "extra",
    [
        b"Origin: http://a.test\r\nOrigin: http://b.test\r\n",
        b"Host: elsewhere\r\n",
        b"Upgrade: h2c\r\n",
    ],
    ids=["Origin", "Host", "Upgrade"],
)
def test_a_repeated_header_gets_400_and_one_warning(
    extra: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """A handshake with a header given twice gets 400 and one warning, not a 500 and a traceback."""
    caplog.set_level(logging.INFO, logger="wslib")
    answer = exchange(UPGRADE + extra + b"\r\n")
    assert status_of(answer) == 400
    assert not [r for r in caplog.records if r.exc_info]
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1


@pytest.mark.parametrize(
    "origin", [b"http://[::1", b"http://127.0.0.1:99999", b"http://127.0.0.1:port"]
)
def test_a_malformed_origin_gets_403_without_a_traceback(
    origin: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """An Origin header that is not a valid URL is refused with 403, not a 500 and a traceback."""
    caplog.set_level(logging.INFO, logger="wslib")
    answer = exchange(UPGRADE + b"Origin: " + origin + b"\r\n\r\n")
    assert status_of(answer) == 403
    assert not [r for r in caplog.records if r.exc_info]
