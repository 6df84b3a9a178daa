"""Tests for background and runtime: servers started from a notebook cell or script.

A Jupyter kernel runs cells on a thread whose event loop is already running. Several tests
here run their body inside ``asyncio.run`` for that reason, and then block that loop on
purpose (``time.sleep``, a sync client, ``subprocess.run``), as a learner's cell would.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest
import websockets.sync.client
from support import TIMEOUT, child_env, port_is_free, restart_port, spawn
from websockets.asyncio.server import ServerConnection

import wslib
from wslib.server.ports import ephemeral_range
from wslib.sync import runtime

pytestmark = pytest.mark.usefixtures("stop_everything")


def in_running_loop(cell: Callable[[], None]) -> None:
    """Call ``cell`` on a thread whose event loop is running, as a notebook kernel does."""

    async def kernel() -> None:
        cell()

    asyncio.run(kernel())


def wait_until(predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    """Block this thread with time.sleep until ``predicate()`` holds; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(TIMEOUT / 500)


def test_start_returns_a_running_server_at_once() -> None:
    """start() returns a running server whose URL the kit's blocking clients can use."""
    server = wslib.start(port=0)
    assert server.running
    assert server.url == f"ws://127.0.0.1:{server.port}/"
    assert server.chat_url == f"ws://127.0.0.1:{server.port}/chat"
    assert repr(server).endswith("running>")
    with wslib.SyncClient(server.url) as alice, wslib.SyncClient(server.url) as bob:
        alice.send("from a cell")
        assert bob.recv(TIMEOUT) == "Received message from peer: from a cell"
    assert server.lines[0] == "Received message: from a cell"


def test_rerunning_start_replaces_the_server_and_closes_its_clients_with_4000() -> None:
    """start(port=0) twice: the first server stops, its clients get 4000 and do not reconnect."""
    first = wslib.start(port=0)
    client = wslib.SyncClient(first.url)
    second = wslib.start(port=0)
    client.wait_for(lambda: client.status.state == "closed", TIMEOUT)
    assert client.status.code == wslib.CLOSE_REPLACED == 4000
    assert client.client.connections == 1
    assert not first.running
    assert second.running
    assert port_is_free(first.port)


class PageOn:
    """Something registered with the kit that has a URL on a server but is not its client."""

    def __init__(self, url: str) -> None:
        self.url = url

    def stop(self) -> None:
        runtime.forget(self)


def test_replacing_a_server_stops_its_clients_that_were_reconnecting() -> None:
    """A client between two attempts to connect misses the 4000; the replacement stops it."""
    first = wslib.start(port=0, name="test_background reconnecting")
    client = wslib.SyncClient(first.url)
    other = wslib.SyncClient(wslib.start(port=0, name="test_background other").url)
    page = PageOn(first.http_url + "playground")  # a page on that server, not a client
    runtime.remember(page)
    runtime.run(first.server.stop())  # 1001: the client tries again, and finds no one
    client.wait_for(lambda: client.status.state == "reconnecting", TIMEOUT)
    second = wslib.start(port=0, name="test_background reconnecting")
    assert str(client.status) == "closed (1000)"
    assert client not in runtime.running()
    assert other in runtime.running()  # a client of another server is left alone
    assert page in runtime.running()  # and so is what only has a URL there
    assert second.running


def test_start_twice_on_the_same_port_replaces_without_address_in_use() -> None:
    """start(port=P) twice replaces the first server on P; its clients get 4000."""
    port = restart_port()
    first = wslib.start(port=port)
    client = wslib.SyncClient(first.url)
    second = wslib.start(port=port, mode="echo")
    assert second.port == port
    client.wait_for(lambda: client.status.state == "closed", TIMEOUT)
    assert client.status.code == 4000
    with wslib.SyncClient(second.url) as again:
        again.send("echo?")
        assert again.recv(TIMEOUT) == "echo?"


def test_start_on_the_port_of_the_kernels_own_server_replaces_it() -> None:
    """start(port=P), where P is the port a kit server got from port=0, replaces that server."""
    first = wslib.start(port=0)
    client = wslib.SyncClient(first.url)
    second = wslib.start(port=first.port)
    assert second.port == first.port
    client.wait_for(lambda: client.status.state == "closed", TIMEOUT)
    assert client.status.code == 4000
    assert not first.running


def test_servers_with_distinct_names_run_side_by_side() -> None:
    """Servers started under different names on port 0 do not replace each other."""
    one = wslib.start(port=0, name="one")
    two = wslib.start(port=0, name="two")
    assert one.running
    assert two.running
    assert one.port != two.port


def test_start_on_a_port_another_process_holds_raises_port_in_use() -> None:
    """start() on a port held by another process raises PortInUseError, naming the port."""
    with spawn("-m", "wslib", "serve", "--port", "0") as other:
        port = int(other.line().rsplit(":", 1)[1].rstrip("/"))
        with pytest.raises(wslib.PortInUseError) as caught:
            wslib.start(port=port)
        assert caught.value.port == port


def test_stop_all_stops_servers_and_blocking_clients() -> None:
    """stop_all() stops every server and blocking client the kit started, freeing the ports."""
    relay = wslib.start(port=0, name="relay")
    chat = wslib.start(port=0, name="chat")
    client = wslib.SyncClient(relay.url)
    alice = wslib.SyncChatClient(chat.chat_url, "alice")
    assert wslib.stop_all() == 4
    assert not relay.running
    assert not chat.running
    assert client.status.state == "closed"
    assert alice.status.state == "closed"
    assert port_is_free(relay.port)
    assert port_is_free(chat.port)
    assert wslib.stop_all() == 0


def test_with_block_stops_the_server_at_its_end() -> None:
    """A server used as a context manager is stopped, and its clients get 1001, at the end."""
    with wslib.start(port=0, name="with") as server:
        client = wslib.SyncClient(server.url, reconnect=False)
    client.wait_for(lambda: client.status.state == "closed", TIMEOUT)
    assert client.status.code == 1001
    assert not server.running
    assert port_is_free(server.port)


def test_background_server_prints_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    """A background server writes nothing to stdout or stderr; its lines go to its LogBook."""
    server = wslib.start(port=0)
    with wslib.SyncClient(server.url) as alice, wslib.SyncClient(server.url) as bob:
        alice.send("quiet please")
        bob.recv(TIMEOUT)
        with wslib.SyncChatClient(server.chat_url, "carol") as carol:
            carol.send("also quiet")
            carol.wait_for(lambda: len(carol.messages) == 1, TIMEOUT)
    server.stop()
    assert capfd.readouterr() == ("", "")
    # Disconnects are logged as each handler ends, so only the set of lines is fixed.
    assert sorted(server.lines) == sorted(
        [
            "Received message: quiet please",
            "Chat: carol joined",
            "Received message: also quiet (chat, from carol)",
            "Chat: carol left",
            "Client disconnected",
            "Client disconnected",
        ]
    )


def test_custom_handler_runs_in_the_background() -> None:
    """A learner's own async handler is served by start(handler=...)."""

    async def reverse(connection: ServerConnection) -> None:
        async for message in connection:
            await connection.send(str(message)[::-1])

    server = wslib.start(port=0, handler=reverse)
    with wslib.SyncClient(server.url) as client:
        client.send("stressed")
        assert client.recv(TIMEOUT) == "desserts"


# -- blocking work in the caller's thread does not stall the server -----------------------


def test_time_sleep_in_a_cell_does_not_stall_the_server() -> None:
    """While the kernel's thread only sleeps, the background server keeps relaying."""

    def cell() -> None:
        server = wslib.start(port=0)
        alice = wslib.SyncClient(server.url)
        bob = wslib.SyncClient(server.url)

        def chatter() -> None:
            with websockets.sync.client.connect(server.url) as carol:
                for number in range(3):
                    carol.send(f"during sleep {number}")

        thread = threading.Thread(target=chatter)
        thread.start()
        try:
            wait_until(lambda: len(alice.received) == 3 and len(bob.received) == 3)
        finally:
            thread.join(TIMEOUT)
        assert alice.received == [f"Received message from peer: during sleep {n}" for n in range(3)]

    in_running_loop(cell)


def test_websockets_own_sync_client_in_a_cell_is_served() -> None:
    """websockets' sync client, blocking the kernel's thread, talks to a background server."""

    def cell() -> None:
        server = wslib.start(port=0)
        with (
            websockets.sync.client.connect(server.url) as alice,
            websockets.sync.client.connect(server.url) as bob,
        ):
            alice.send("blocking hello")
            assert bob.recv(timeout=TIMEOUT) == "Received message from peer: blocking hello"
            bob.send(b"\x00\xff")
            assert alice.recv(timeout=TIMEOUT) == b"\x00\xff"

    in_running_loop(cell)


def test_subprocess_run_of_the_chat_cli_against_a_started_server() -> None:
    """subprocess.run of ``python -m wslib chat`` against start()'s server works, with no hang."""

    def cell() -> None:
        server = wslib.start(port=0)
        alice = wslib.SyncChatClient(server.chat_url, "alice")
        result = subprocess.run(
            [sys.executable, "-m", "wslib", "chat", server.chat_url, "--name", "bob"],
            input="hi from a subprocess\nsecond line\n",
            capture_output=True,
            text=True,
            env=child_env(),
            timeout=4 * TIMEOUT,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        assert "* joined as bob; online: alice, bob" in result.stdout.splitlines()
        alice.wait_for(lambda: len(alice.messages) == 2, TIMEOUT)
        assert [m["text"] for m in alice.messages] == ["hi from a subprocess", "second line"]
        assert [m["name"] for m in alice.messages] == ["bob", "bob"]

    in_running_loop(cell)


def test_runtime_run_refuses_to_block_the_kits_own_loop() -> None:
    """runtime.run() called from the kit's own thread raises instead of deadlocking."""

    async def nested() -> None:
        coro = asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="kit's own loop"):
            runtime.run(coro)

    runtime.run(nested(), TIMEOUT)


def test_runtime_run_times_out_and_cancels() -> None:
    """runtime.run(coro, timeout) raises TimeoutError and cancels the work on the kit's loop."""
    cancelled = threading.Event()

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    with pytest.raises(TimeoutError):
        runtime.run(forever(), TIMEOUT / 50)
    assert cancelled.wait(TIMEOUT)


def test_runtime_run_passes_on_the_coroutines_own_timeout_error() -> None:
    """A TimeoutError raised inside the coroutine reaches the caller with its own message."""

    async def gives_up() -> None:
        raise TimeoutError("the coroutine's own words")

    with pytest.raises(TimeoutError, match=r"^the coroutine's own words$"):
        runtime.run(gives_up(), None)
    with pytest.raises(TimeoutError, match=r"^the coroutine's own words$"):
        runtime.run(gives_up(), 4 * TIMEOUT)


# -- serve_forever, in a script ------------------------------------------------------------

# serve_forever() prints nothing, so the script says the URL itself, and only once
# serve_forever waits in its loop: where a user's Ctrl-C or a SIGTERM would find it.
SERVE_FOREVER = """
import threading

import wslib
from wslib.sync import background


class Announcing(threading.Event):
    announced = False

    def wait(self, timeout=None):
        if background._by_key and not Announcing.announced:
            Announcing.announced = True
            print(next(iter(background._by_key.values())).url, flush=True)
        return super().wait(timeout)

threading.Event = Announcing
wslib.serve_forever(port=0)
print("returned", flush=True)
"""


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_serve_forever_blocks_until_a_signal_then_stops_cleanly(signum: str) -> None:
    """serve_forever() blocks a script until Ctrl-C or SIGTERM, then closes clients with 1001."""
    with spawn("-c", SERVE_FOREVER) as script:
        url = script.line()
        with websockets.sync.client.connect(url) as client:
            client.send("hi")
            script.proc.send_signal(signal.Signals[signum])
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                client.recv(timeout=TIMEOUT)
            assert client.close_code == 1001
        assert script.line() == "returned"
        assert script.wait() == 0
        assert script.stderr == ""


def test_running_lists_what_stop_all_would_stop_and_stop_all_counts_it() -> None:
    """runtime.running() lists servers and clients still registered; stop_all stops that many."""
    server = wslib.start(port=0, name="test_running")
    client = wslib.SyncClient(server.url, reconnect=False)
    assert runtime.running()[-2:] == [server, client]
    assert wslib.stop_all() >= 2
    assert runtime.running() == []


def test_start_on_port_0_binds_a_port_the_kernel_never_lends_out() -> None:
    """start(port=0) binds below the ephemeral range, where no other socket takes the port
    while restart() has it closed."""
    server = wslib.start(port=0, name="test_port_0")
    try:
        assert server.port < ephemeral_range()[0]
    finally:
        server.stop()


def test_restart_closes_clients_with_1001_and_serves_again_on_the_same_port() -> None:
    """restart() keeps the object, port and log; a reconnecting client comes back to it."""
    server = wslib.start(port=restart_port(), name="test_restart")
    port, log = server.port, server.log
    client = wslib.SyncClient(server.url, reconnect=wslib.Backoff(0.05, 0.05, 0.2))
    seen: list[str] = []
    client.client.listen(lambda event: seen.append(str(event)))
    server.restart()
    client.wait_for(lambda: client.status.state == "open" and len(seen) >= 2, TIMEOUT)
    assert (server.port, server.log, server.running) == (port, log, True)
    assert seen[0] == "reconnecting (1001 server restarting)"
    assert server in runtime.running()
    with websockets.sync.client.connect(server.url) as peer:
        client.send("hello again")
        assert peer.recv(TIMEOUT) == "Received message from peer: hello again"


def test_stop_all_closes_a_servers_clients_for_good() -> None:
    """After stop_all a client that would reconnect after a restart (1001) stays closed:
    its server said 1000, as the chat page in a notebook frame hears it too."""
    server = wslib.start(port=0, name="test-stop-for-good")
    client = wslib.SyncClient(server.url)  # reconnects after 1001, 1011, 1013 ...
    try:
        runtime.forget(client)  # stop_all must stop the server only: the client hears it
        assert wslib.stop_all() == 1
        client.wait_for(lambda: client.status.state == "closed", timeout=TIMEOUT)
        assert client.status.code == 1000
        assert client.status.reason.startswith("stopped")
    finally:
        client.stop()
