"""Tests for wslib.teaching.handshake, checked against websockets' own sans-I/O implementation."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.http11 import Request
from websockets.http11 import Response as WsResponse
from websockets.server import ServerProtocol
from websockets.streams import StreamReader
from websockets.utils import accept_key as ws_accept_key

from wslib.exceptions import WslibError
from wslib.teaching.handshake import (
    SAMPLE_KEY,
    HandshakeError,
    HandshakeRejected,
    InvalidAccept,
    InvalidResponse,
    Response,
    accept_key,
    check_accept,
    new_key,
    parse_response,
    upgrade_request,
)

keys = st.binary(min_size=16, max_size=16).map(lambda raw: base64.b64encode(raw).decode())
hosts = st.from_regex(r"[a-z][a-z0-9-]{0,12}(\.[a-z]{2,6}){0,2}(:[1-9][0-9]{0,4})?", fullmatch=True)
paths = st.from_regex(r"/[A-Za-z0-9/_.~-]{0,30}(\?[a-z]{1,5}=[a-z0-9]{0,5})?", fullmatch=True)


def server_answer(request: bytes) -> tuple[ServerProtocol, Request, bytes]:
    """Feed a request to websockets' sans-I/O server; return it, the request and its answer."""
    server = ServerProtocol()
    server.receive_data(request)
    [event] = server.events_received()
    assert isinstance(event, Request)
    server.send_response(server.accept(event))
    # A refusal is followed by b"" (the end of stream); joining keeps just the bytes.
    return server, event, b"".join(server.data_to_send())


def ws_parse_response(data: bytes) -> WsResponse:
    """Parse a response with websockets' own HTTP parser."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = WsResponse.parse(reader.read_line, reader.read_exact, reader.read_to_eof)
    try:
        next(parser)
    except StopIteration as done:
        result: WsResponse = done.value
        return result
    raise AssertionError("websockets wanted more bytes")


def test_accept_key_rfc_sample() -> None:
    """The RFC 6455 §1.3 sample key gives the accept value printed in the RFC."""
    assert accept_key(SAMPLE_KEY) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@given(keys)
def test_accept_key_matches_websockets(key: str) -> None:
    """accept_key computes the same value as websockets for any valid key."""
    assert accept_key(key) == ws_accept_key(key)


def test_new_key_is_16_random_bytes() -> None:
    """new_key returns base64 of 16 bytes and a different key each time."""
    first, second = new_key(), new_key()
    assert len(base64.b64decode(first, validate=True)) == 16
    assert first != second


def test_upgrade_request_exact_bytes() -> None:
    """upgrade_request writes the request line and headers of RFC 6455 §4.1 in order."""
    assert upgrade_request("example.com", "/chat", origin="http://example.com") == (
        b"GET /chat HTTP/1.1\r\n"
        b"Host: example.com\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n"
        b"Origin: http://example.com\r\n"
        b"\r\n"
    )


@given(hosts, paths, keys, st.none() | st.just("http://localhost:8888"))
def test_websockets_server_accepts_request(
    host: str, path: str, key: str, origin: str | None
) -> None:
    """websockets' server parses our request as sent and accepts it with 101."""
    server, request, _ = server_answer(upgrade_request(host, path, key, origin))
    assert request.path == path
    assert request.headers["Host"] == host
    assert request.headers["Sec-WebSocket-Key"] == key
    assert request.headers.get("Origin") == origin
    assert server.handshake_exc is None


@given(keys)
def test_websockets_answer_passes_check_accept(key: str) -> None:
    """The 101 response websockets writes for our request passes check_accept."""
    _, _, answer = server_answer(upgrade_request("localhost", "/", key))
    response = parse_response(answer)
    assert response.status == 101
    assert response.reason == "Switching Protocols"
    check_accept(response, key)


@given(keys, keys)
def test_check_accept_rejects_other_key(key: str, other: str) -> None:
    """A 101 response computed for another key fails with InvalidAccept."""
    _, _, answer = server_answer(upgrade_request("localhost", "/", key))
    if other != key:
        with pytest.raises(InvalidAccept, match="expected"):
            check_accept(parse_response(answer), other)


def test_parse_response_agrees_with_websockets() -> None:
    """parse_response reads the same status, reason and headers as websockets' parser."""
    _, _, answer = server_answer(upgrade_request("localhost"))
    ours, theirs = parse_response(answer), ws_parse_response(answer)
    assert (ours.status, ours.reason) == (theirs.status_code, theirs.reason_phrase)
    assert list(ours.headers) == list(theirs.headers.raw_items())


def test_check_accept_rejects_non_101() -> None:
    """A request websockets refuses (no key) yields a 400 that check_accept rejects."""
    request = upgrade_request("localhost").replace(b"Sec-WebSocket-Key", b"X-Not-A-Key")
    _, _, answer = server_answer(request)
    with pytest.raises(HandshakeRejected, match="400 Bad Request"):
        check_accept(parse_response(answer), SAMPLE_KEY)


def test_check_accept_requires_accept_header() -> None:
    """A 101 response without Sec-WebSocket-Accept fails with InvalidAccept."""
    response = Response(101, "Switching Protocols", (("Upgrade", "websocket"),))
    with pytest.raises(InvalidAccept, match="no Sec-WebSocket-Accept"):
        check_accept(response, SAMPLE_KEY)


def test_errors_share_one_base() -> None:
    """Every handshake failure can be caught as HandshakeError, itself a WslibError."""
    assert issubclass(HandshakeError, WslibError)
    assert issubclass(InvalidResponse, HandshakeError)
    assert issubclass(HandshakeRejected, HandshakeError)
    assert issubclass(InvalidAccept, HandshakeError)


def test_header_lookup_ignores_case_and_joins_repeats() -> None:
    """Response.header ignores name case and joins a repeated header with commas."""
    response = parse_response(b"HTTP/1.1 101 Switching Protocols\r\nA: 1\r\na:  2 \r\n\r\n")
    assert response.header("A") == "1, 2"
    assert response.header("b") is None


def test_parse_response_ignores_bytes_after_head() -> None:
    """Bytes after the blank line (e.g. a first frame) do not disturb the parse."""
    response = parse_response(b"HTTP/1.1 101 Switching Protocols\r\n\r\n\x81\x02hi")
    assert response == Response(101, "Switching Protocols", ())


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n",
        b"HTTP/1.0 101 Switching Protocols\r\n\r\n",
        b"HTTP/1.1 1O1 Switching Protocols\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nno colon here\r\n\r\n",
        b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
    ],
)
def test_parse_response_rejects_malformed(data: bytes) -> None:
    """An incomplete head, a wrong version or a broken line raise InvalidResponse."""
    with pytest.raises(InvalidResponse):
        parse_response(data)


@pytest.mark.parametrize(
    ("host", "path"), [("localhost", "chat"), ("evil\r\nX-Injected: 1", "/"), ("caf\xe9", "/")]
)
def test_upgrade_request_rejects_bad_values(host: str, path: str) -> None:
    """A path without '/', a line break or a non-ASCII value raises ValueError."""
    with pytest.raises(ValueError, match=r"."):
        upgrade_request(host, path)
