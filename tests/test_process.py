"""Tests for wslib.sync.process: ``wslib`` commands as child processes that stop with us."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
import time
from pathlib import Path

import pytest
from support import TIMEOUT, child_env, port_is_free, recv, run_async, spawn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

import wslib
from wslib.exceptions import ServerError
from wslib.sync import runtime

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and /proc"),
    pytest.mark.usefixtures("stop_everything"),
]


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].rstrip("/"))


async def closed_with(connection: ClientConnection) -> int | None:
    """Wait until the server closes ``connection``; return the close code it sent."""
    with pytest.raises(ConnectionClosed):
        await recv(connection, 2 * TIMEOUT)
    return connection.close_code


def test_a_spawned_server_prints_its_url_relays_and_stops_its_clients_with_1001() -> None:
    """``spawn("serve")`` returns with the URL; its log lines are kept; ``stop`` gives 1001."""
    server = wslib.spawn("serve", "--port", "0", timeout=2 * TIMEOUT)
    assert server.url is not None
    assert server.url.startswith("ws://127.0.0.1:")
    assert runtime.running() == [server]

    async def body() -> int | None:
        assert server.url is not None
        async with connect(server.url) as alice, connect(server.url) as bob:
            await alice.send("hi bob")
            assert await recv(bob) == "Received message from peer: hi bob"
            assert server.read_until("hi bob") == ["Received message: hi bob"]
            server.stop()  # from this loop's thread: the stop is the child's, not ours
            return await closed_with(bob)

    assert run_async(body()) == 1001
    assert server.returncode == 0
    assert server.errors == []
    assert server.lines[0] == server.url
    assert runtime.running() == []
    assert port_is_free(port_of(server.url))


def test_stop_all_stops_spawned_processes_and_counts_them() -> None:
    """``wslib.stop_all()`` stops a spawned server and counts it, like any kit server."""
    server = wslib.spawn("echo", "--port", "0", timeout=2 * TIMEOUT)
    assert wslib.stop_all() == 1
    assert server.returncode == 0
    assert not server.running


def test_spawning_the_same_command_again_replaces_the_earlier_process() -> None:
    """A re-run cell replaces its server: the first closes its clients with 4000 (final)."""
    first = wslib.spawn("serve", "--port", "0", timeout=2 * TIMEOUT)
    other = wslib.spawn("serve", "--port", "0", name="other", timeout=2 * TIMEOUT)

    async def body() -> tuple[int | None, str | None]:
        assert first.url is not None
        async with connect(first.url) as client:
            await asyncio.to_thread(wslib.spawn, "serve", "--port", "0", timeout=2 * TIMEOUT)
            return await closed_with(client), client.close_reason

    assert run_async(body()) == (4000, "replaced by a new server")
    (second,) = [p for p in runtime.running() if p not in (first, other)]
    assert first.returncode == 0
    assert second.running
    assert other.running
    assert runtime.running() == [other, second]


def test_a_terminal_chat_client_reads_types_and_leaves_at_the_end_of_its_input() -> None:
    """``spawn("chat")``: its screen is read by lines, its keyboard is ``type``; Ctrl-D ends it."""
    with (
        wslib.start(port=0, name="test_process chat") as server,
        wslib.SyncChatClient(server.chat_url, "Ann", timeout=TIMEOUT) as ann,
    ):
        bob = wslib.spawn("chat", server.chat_url, "--name", "Bob", timeout=2 * TIMEOUT)
        assert bob.url is None
        assert bob.read_until("joined as Bob") == [
            "# open",
            "* joined as Bob; online: Ann, Bob",
        ]
        bob.type("hello from the terminal")
        ann.wait_for(lambda: len(ann.messages) == 1, TIMEOUT)
        assert ann.messages[0]["text"] == "hello from the terminal"
        ann.send("hi Bob")
        assert bob.read_until("hi Bob") == ["Bob: hello from the terminal", "Ann: hi Bob"]
        bob.close_input()
        assert bob.wait() == 0
        assert runtime.running() == [server, ann]  # it left the register by itself
        with pytest.raises(BrokenPipeError):
            bob.type("too late")
        with pytest.raises(EOFError, match="ended before printing 'never'"):
            bob.read_until("never")


def test_read_until_times_out_with_a_clear_message() -> None:
    """A line that never comes raises ``TimeoutError`` naming the text, and reads nothing."""
    server = wslib.spawn("serve", "--port", "0", timeout=2 * TIMEOUT)
    with pytest.raises(TimeoutError, match=r"no line with 'nothing' within 0\.2 s"):
        server.read_until("nothing", timeout=0.2)


def test_a_server_whose_port_is_taken_raises_server_error_with_its_reason() -> None:
    """``spawn`` on a taken port raises ``ServerError`` with the server's own line."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ServerError, match=f"port {port} on 127.0.0.1 is already in use"):
            wslib.spawn("serve", "--port", str(port), timeout=2 * TIMEOUT)
    assert runtime.running() == []


def test_sigterm_closes_clients_with_1001_and_the_exit_code_is_0() -> None:
    """SIGTERM, as a service manager sends it: clients get 1001, the exit code is 0."""
    service = wslib.spawn("serve", env={"PORT": "0"}, timeout=2 * TIMEOUT)

    async def body() -> int | None:
        assert service.url is not None
        async with connect(service.url) as client:
            service.send_signal(signal.SIGTERM)
            return await closed_with(client)

    assert run_async(body()) == 1001
    assert service.wait() == 0
    assert runtime.running() == []


def test_output_is_drained_so_a_chatty_server_never_waits_and_keeps_the_newest_lines() -> None:
    """Far more output than a pipe holds is read as it comes; ``keep`` newest lines stay."""
    server = wslib.WslibProcess("serve", "--port", "0", timeout=2 * TIMEOUT, keep=5).start()
    text = "x" * 4000

    async def body() -> None:
        assert server.url is not None
        async with connect(server.url) as alice, connect(server.url) as bob:
            for n in range(100):  # about 400 kB of log lines: six pipes' worth
                await alice.send(f"{n} {text}")
                assert await recv(bob) == f"Received message from peer: {n} {text}"

    run_async(body())
    assert server.read_until("99 x")[-1] == f"Received message: 99 {text}"
    server.read_until("Client disconnected")
    server.read_until("Client disconnected")
    logged = [f"Received message: {n} {text}" for n in (97, 98, 99)]
    assert server.lines == [*logged, "Client disconnected", "Client disconnected"]


# The parent that a kernel stands for: it spawns a server, says where it is, then waits.
PARENT = """
import sys, time, wslib
server = wslib.spawn("serve", "--port", "0")
print(server.url, server.pid, flush=True)
time.sleep(600)
"""


def process_state(pid: int) -> str | None:
    """Return the state letter of ``pid`` from /proc (``Z`` for a zombie), or None if gone."""
    with contextlib.suppress(OSError):
        text = Path(f"/proc/{pid}/stat").read_text()
        return text[text.rindex(")") + 2]
    return None


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_a_parent_killed_with_sigkill_takes_its_spawned_server_with_it() -> None:
    """SIGKILL the parent (a killed kernel): its server closes clients with 1001 and exits."""
    with spawn("-c", PARENT, env=child_env()) as parent:
        url, pid = parent.line(4 * TIMEOUT).split()

        async def body() -> int | None:
            async with connect(url) as client:
                parent.proc.kill()  # no atexit, no finally: only the pipe's end is left
                return await closed_with(client)

        assert run_async(body()) == 1001
        assert parent.wait() == -signal.SIGKILL
    # The orphan exits; whoever adopted it reaps it (or leaves a zombie, which holds nothing).
    deadline = time.monotonic() + 4 * TIMEOUT
    while process_state(int(pid)) not in (None, "Z") and time.monotonic() < deadline:
        time.sleep(0.05)  # polling: a process that is not our child cannot be waited on
    assert process_state(int(pid)) in (None, "Z")
    assert port_is_free(port_of(url))
