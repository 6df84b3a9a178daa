"""Tests for the blocking clients: their timeouts say how long they waited."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from support import TIMEOUT

import wslib
from wslib.sync import runtime


@pytest.fixture
def server() -> Iterator[wslib.BackgroundServer]:
    """A relay on the kit's loop, stopped with everything else at the end."""
    try:
        yield wslib.start(port=0, name="test-blocking")
    finally:
        wslib.stop_all()


def test_recv_timeout_names_the_timeout_it_was_given(server: wslib.BackgroundServer) -> None:
    """SyncClient.recv(timeout=t) with nothing to receive raises TimeoutError naming t."""
    wait = TIMEOUT / 10
    with wslib.SyncClient(server.url) as client:
        started = time.monotonic()
        with pytest.raises(TimeoutError, match=rf"^nothing received within {wait} s$"):
            client.recv(timeout=wait)
        assert time.monotonic() - started >= wait
        # The connection is still usable: a message sent now is received.
        with wslib.SyncClient(server.url) as other:
            other.send("after the timeout")
            assert client.recv(timeout=TIMEOUT) == "Received message from peer: after the timeout"


def test_wait_for_timeout_names_the_timeout_it_was_given(server: wslib.BackgroundServer) -> None:
    """SyncClient.wait_for(never, timeout=t) raises TimeoutError naming t."""
    wait = TIMEOUT / 10
    with (
        wslib.SyncClient(server.url) as client,
        pytest.raises(TimeoutError, match=rf"^still waiting after {wait} s$"),
    ):
        client.wait_for(lambda: False, timeout=wait)


def test_a_client_closed_for_good_is_no_longer_counted_as_running(
    server: wslib.BackgroundServer,
) -> None:
    """stop_all and the Stop button count only what still runs: a closed client is not."""
    client = wslib.SyncClient(server.url, reconnect=False)
    assert client in runtime.running()
    server.stop()  # 1001 without reconnecting: the client has closed for good
    client.wait_for(lambda: client.status.state == "closed", timeout=TIMEOUT)
    assert client not in runtime.running()
    assert server not in runtime.running()
