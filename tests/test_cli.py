"""Tests for wslib.cli: ``main([...])`` in-process, and ``python -m wslib`` as a subprocess."""

from __future__ import annotations

import contextlib
import gc
import io
import logging
import os
import signal
import socket
import subprocess
import sys
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import TIMEOUT, Child, child_env, port_is_free, recv, run_async, spawn
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

import wslib
from wslib import cli
from wslib.core.protocol import MAX_TEXT


@pytest.fixture
def taken_port() -> Iterator[int]:
    """Yield a port that a plain socket listens on for the length of the test."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


# -- main([...]) in-process ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "required: command"),
        (["dance"], "invalid choice: 'dance'"),
        (["serve", "--port", "eighty"], "not a port number: 'eighty'"),
        (["serve", "--port", "65536"], "between 0 and 65535"),
        (["serve", "--max-size", "big"], "invalid int value"),
        (["chat"], "required: url"),
        (["serve", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_main_reports_a_bad_command_line_with_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad command line returns 2 with argparse's message on stderr, not an exception."""
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert message in err
    assert "Traceback" not in err


def test_main_version_prints_the_version(capsys: pytest.CaptureFixture[str]) -> None:
    """``wslib --version`` prints the package version and returns 0."""
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"wslib {wslib.__version__}\n"


def test_chat_needs_a_name_for_the_chat_path(capsys: pytest.CaptureFixture[str]) -> None:
    """``wslib chat URL/chat`` without --name returns 2 with one line saying so."""
    assert cli.main(["chat", "ws://127.0.0.1:1/chat"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert "--name" in err


def test_serve_on_a_taken_port_exits_1_with_one_line_naming_it(
    taken_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """``serve`` on a port in use returns 1 with one stderr line naming the port, no traceback."""
    assert cli.main(["serve", "--port", str(taken_port)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert f"port {taken_port}" in err
    assert "Traceback" not in err


@contextlib.contextmanager
def stdin_at_its_end() -> Iterator[None]:
    """Give this process, for a while, a descriptor 0 that is at its end already."""
    read_end, write_end = os.pipe()
    os.close(write_end)
    saved = os.dup(0)
    os.dup2(read_end, 0)
    try:
        yield
    finally:
        os.dup2(saved, 0)
        os.close(saved)
        os.close(read_end)


def test_serve_freezes_start_ups_objects_while_it_serves_and_unfreezes_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While ``serve`` runs, start-up's objects are frozen; when it returns, they are not."""
    seen: list[tuple[tuple[int, int, int], int]] = []
    freeze = cli._collector_for_serving

    @contextlib.contextmanager
    def watched() -> Iterator[None]:
        with freeze():
            seen.append((gc.get_threshold(), gc.get_freeze_count()))
            yield

    monkeypatch.setattr(cli, "_collector_for_serving", watched)
    before = gc.get_threshold(), gc.get_freeze_count()
    with stdin_at_its_end():  # --until-stdin-closes then stops the server at once
        assert cli.main(["serve", "--port", "0", "--until-stdin-closes"]) == 0
    assert len(seen) == 1
    thresholds, frozen = seen[0]
    assert thresholds == before[0]
    assert frozen > before[1]
    assert (gc.get_threshold(), gc.get_freeze_count()) == before


def test_the_collector_still_frees_cycles_by_itself_while_serving() -> None:
    """With start-up's objects frozen, a new garbage cycle is freed with no explicit collection."""

    class Cycle:
        def __init__(self) -> None:
            self.me = self

    with cli._collector_for_serving():
        cycle = Cycle()
        gone = weakref.ref(cycle)
        del cycle
        assert gone() is not None  # only the collector can free it
        young = [[] for _ in range(2 * gc.get_threshold()[0])]  # new tracked objects
        assert gone() is None
        del young


def test_full_collections_wait_while_connections_keep_arriving() -> None:
    """The third threshold is out of reach while the count grows by a step, CPython's after."""
    normal = (700, 10, 10)
    ramps = cli._Ramps(normal, step=50, young=7000)
    held = ramps.thresholds(60)  # 60 new connections since the last look: a ramp
    assert held[:2] == (7000, 10)  # fewer young collections, each walking more
    assert held[2] > 1_000_000
    assert ramps.thresholds(100) == normal  # 40 more: not a ramp
    assert ramps.thresholds(150) == held  # 50 more: a ramp again
    assert ramps.thresholds(20) == normal  # connections closing: the full pass may come


def test_a_ramp_keeps_a_first_threshold_set_higher() -> None:
    """A first threshold above the ramp's own is not lowered in a ramp."""
    ramps = cli._Ramps((10_000, 10, 10), step=50, young=7000)
    assert ramps.thresholds(60)[0] == 10_000


def test_port_environment_variable_sets_the_default_port(monkeypatch: pytest.MonkeyPatch) -> None:
    """PORT sets the default port of serve and echo, and --port still overrides it."""
    monkeypatch.setenv("PORT", "9123")
    parser = cli.build_parser()
    assert parser.parse_args(["serve"]).port == 9123
    assert parser.parse_args(["echo"]).port == 9123
    assert parser.parse_args(["serve", "--port", "0"]).port == 0
    monkeypatch.delenv("PORT")
    assert cli.build_parser().parse_args(["serve"]).port == 8080


def test_bad_port_environment_variable_is_a_command_line_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A PORT that is not a port number returns 2 with a message, not a traceback."""
    monkeypatch.setenv("PORT", "eighty")
    assert cli.main(["serve"]) == 2
    assert "not a port number: 'eighty'" in capsys.readouterr().err


def test_defaults_are_the_articles_host_and_port(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without flags or PORT, serve binds 127.0.0.1:8080."""
    monkeypatch.delenv("PORT", raising=False)
    args = cli.build_parser().parse_args(["serve"])
    assert (args.host, args.port) == ("127.0.0.1", 8080)


# -- python -m wslib serve, as a subprocess ------------------------------------------------


@pytest.fixture
def served() -> Iterator[tuple[Child, str]]:
    """Run ``python -m wslib serve --port 0`` and yield it with the URL it printed first."""
    with spawn("-m", "wslib", "serve", "--port", "0") as child:
        yield child, child.line()


def test_serve_prints_its_url_first_and_flushed(served: tuple[Child, str]) -> None:
    """The first stdout line, readable through a pipe at once, is the ws:// URL served."""
    _, url = served
    assert url.startswith("ws://127.0.0.1:")
    assert url.endswith("/")
    port = int(url.rsplit(":", 1)[1].rstrip("/"))
    assert port != 0
    assert not port_is_free(port)


def test_serve_subprocess_keeps_the_articles_contract(served: tuple[Child, str]) -> None:
    """The process relays to every other client and prints the article's two kinds of line."""
    child, url = served

    async def body() -> None:
        async with connect(url) as alice, connect(url) as bob, connect(url) as carol:
            await alice.send("hi there")
            assert await recv(bob) == "Received message from peer: hi there"
            assert await recv(carol) == "Received message from peer: hi there"
            assert child.line() == "Received message: hi there"
            await bob.send(b"\x01\x02")
            assert await recv(alice) == b"\x01\x02"
            assert await recv(carol) == b"\x01\x02"
            assert child.line() == "Received message: <2 bytes>"
            await carol.close()
            assert child.line() == "Client disconnected"
            await bob.send("after carol")
            assert await recv(alice) == "Received message from peer: after carol"

    run_async(body())


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_shuts_down_cleanly_on_a_signal(
    served: tuple[Child, str], signum: signal.Signals
) -> None:
    """On SIGINT or SIGTERM every client gets 1001, the exit code is 0, and the port is free."""
    child, url = served
    port = int(url.rsplit(":", 1)[1].rstrip("/"))

    async def body() -> list[int | None]:
        # The stack closes the clients even when a check fails: a socket left open would
        # surface as a ResourceWarning, and so as an error, in some later test.
        async with contextlib.AsyncExitStack() as stack:
            clients = [await stack.enter_async_context(connect(url)) for _ in range(3)]
            await clients[0].send("hello")
            for client in clients[1:]:
                assert await recv(client) == "Received message from peer: hello"
            child.proc.send_signal(signum)
            codes = []
            for client in clients:
                with pytest.raises(ConnectionClosed):
                    await recv(client)
                codes.append(client.close_code)
            return codes

    assert run_async(body()) == [1001, 1001, 1001]
    assert child.wait() == 0
    assert child.stderr == ""
    assert child.rest() == [
        "Received message: hello",
        "Client disconnected",
        "Client disconnected",
        "Client disconnected",
    ]
    assert port_is_free(port)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_handles_a_signal_sent_as_soon_as_the_url_is_printed(signum: signal.Signals) -> None:
    """A signal sent the moment the URL line is read still ends the server cleanly (exit 0)."""
    for _ in range(3):  # the race it guards against is narrow: try it a few times
        with spawn("-m", "wslib", "serve", "--port", "0") as child:
            child.line()
            child.proc.send_signal(signum)
            assert child.wait() == 0
            assert child.stderr == ""


def test_serve_subprocess_reads_port_from_the_environment() -> None:
    """``PORT=0 python -m wslib serve`` listens on a free port rather than 8080."""
    with spawn("-m", "wslib", "serve", env=child_env(PORT="0")) as child:
        url = child.line()
        assert url.startswith("ws://127.0.0.1:")
        assert not url.endswith(":8080/")
        child.proc.send_signal(signal.SIGTERM)
        assert child.wait() == 0


def test_serve_until_stdin_closes_stops_cleanly_when_its_parent_closes_the_pipe() -> None:
    """With ``--until-stdin-closes``, the end of stdin stops the server as SIGTERM does."""
    with spawn("-m", "wslib", "serve", "--port", "0", "--until-stdin-closes") as child:
        url = child.line()
        assert child.proc.stdin is not None

        async def body() -> int | None:
            async with connect(url) as client:
                assert child.proc.stdin is not None
                child.proc.stdin.write("typed lines are ignored\n")
                child.proc.stdin.flush()
                await client.send("still serving")
                child.proc.stdin.close()
                with pytest.raises(ConnectionClosed):
                    await recv(client)
                return client.close_code

        assert run_async(body()) == 1001
        assert child.wait() == 0
        assert child.stderr == ""
        assert port_is_free(int(url.rsplit(":", 1)[1].rstrip("/")))


def test_serve_until_stdin_closes_closes_clients_with_4000_after_a_replaced_line() -> None:
    """A ``replaced`` line, then the end of stdin: clients get 4000, "replaced by a new server"."""
    with spawn("-m", "wslib", "serve", "--port", "0", "--until-stdin-closes") as child:
        url = child.line()

        async def body() -> tuple[int | None, str | None]:
            async with connect(url) as client:
                assert child.proc.stdin is not None
                child.proc.stdin.write("replaced\n")
                child.proc.stdin.close()
                with pytest.raises(ConnectionClosed):
                    await recv(client)
                return client.close_code, client.close_reason

        assert run_async(body()) == (4000, "replaced by a new server")
        assert child.wait() == 0


def test_a_script_that_reads_only_the_first_line_never_freezes_the_server(tmp_path: Path) -> None:
    """A parent that reads the URL and never reads again: the server relays on, and exits 0.

    About 1.5 MB of log lines fill the pipe (64 kB) and the writer's backlog (1 MiB).
    """
    with (tmp_path / "stderr").open("w+") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "wslib", "serve", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=child_env(),
            text=True,
        )
        try:
            assert process.stdout is not None
            url = process.stdout.readline().strip()  # and never another line
            text = "x" * 5000

            async def body() -> None:
                async with connect(url) as alice, connect(url) as bob:
                    for n in range(300):
                        await alice.send(f"{n} {text}")
                        assert await recv(bob) == f"Received message from peer: {n} {text}"
                async with connect(url) as carol, connect(url) as dave:  # newcomers too
                    await carol.send("after the flood")
                    assert await recv(dave) == "Received message from peer: after the flood"

            run_async(body())
            process.send_signal(signal.SIGTERM)
            assert process.wait(4 * TIMEOUT) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            assert process.stdout is not None
            process.stdout.close()
        stderr.seek(0)
        assert stderr.read() == ""


def test_serve_subprocess_on_a_taken_port_exits_1_without_traceback(taken_port: int) -> None:
    """``python -m wslib serve`` on a taken port exits 1 with one stderr line naming it."""
    with spawn("-m", "wslib", "serve", "--port", str(taken_port)) as child:
        assert child.wait() == 1
        assert child.rest() == []
        assert child.stderr.count("\n") == 1
        assert f"port {taken_port}" in child.stderr


def test_echo_subprocess_echoes_and_accepts_a_raised_max_size() -> None:
    """``python -m wslib echo --max-size`` echoes messages larger than the default limit."""
    big = "x" * (200 * 1024)
    with spawn("-m", "wslib", "echo", "--port", "0", "--max-size", str(1 << 20)) as child:
        url = child.line()

        async def body() -> None:
            async with connect(url, max_size=None) as client:
                await client.send("ping")
                assert await recv(client) == "ping"
                await client.send(big)
                assert await recv(client) == big

        run_async(body())
        assert child.line() == "Received message: ping"
        assert child.line() == f"Received message: {big}"
        child.proc.send_signal(signal.SIGINT)
        assert child.wait() == 0
        assert child.stderr == ""


# -- python -m wslib chat, as a subprocess against a background server ----------------------


def test_chat_client_subprocess_talks_to_a_server() -> None:
    """The terminal client sends stdin lines, prints messages, marks joins, leaves and errors."""
    with wslib.start(port=0, name="test_cli chat") as server:
        alice = wslib.SyncChatClient(server.chat_url, "alice", timeout=TIMEOUT)
        try:
            with spawn("-m", "wslib", "chat", server.chat_url, "--name", "bob") as bob:
                assert bob.line() == "# open"
                assert bob.line() == "* joined as bob; online: alice, bob"
                alice.wait_for(lambda: "bob" in alice.online, TIMEOUT)

                alice.send("hello bob")
                assert bob.line() == "alice: hello bob"

                bob_stdin = bob.proc.stdin
                assert bob_stdin is not None
                bob_stdin.write("hello alice\n")
                bob_stdin.flush()
                assert bob.line() == "bob: hello alice"
                alice.wait_for(lambda: len(alice.messages) == 2, TIMEOUT)
                assert alice.messages[-1]["name"] == "bob"
                assert alice.messages[-1]["text"] == "hello alice"

                bob_stdin.write("y" * (MAX_TEXT + 1) + "\n")
                bob_stdin.flush()
                assert bob.line().startswith("! too_long: ")

                with wslib.SyncChatClient(server.chat_url, "carol", timeout=TIMEOUT):
                    assert bob.line() == "* carol joined"
                assert bob.line() == "* carol left"

                bob_stdin.close()  # Ctrl-D
                assert bob.wait() == 0
                assert bob.rest() == ["# closed (1000)"]
                assert bob.stderr == ""
            alice.wait_for(lambda: alice.online == ["alice"], TIMEOUT)
        finally:
            alice.stop()


def test_chat_client_subprocess_sends_piped_lines_before_exiting() -> None:
    """Lines piped into the chat client are all delivered before it exits at end of input."""
    with wslib.start(port=0, name="test_cli pipe") as server:
        alice = wslib.SyncChatClient(server.chat_url, "alice", timeout=TIMEOUT)
        try:
            with spawn("-m", "wslib", "chat", server.chat_url, "--name", "bob") as bob:
                assert bob.proc.stdin is not None
                bob.proc.stdin.write("one\ntwo\nthree\n")
                bob.proc.stdin.close()
                assert bob.wait() == 0
                assert bob.stderr == ""
            alice.wait_for(lambda: len(alice.messages) == 3, TIMEOUT)
            assert [m["text"] for m in alice.messages] == ["one", "two", "three"]
        finally:
            alice.stop()


def test_chat_client_subprocess_on_the_relay_marks_its_own_lines() -> None:
    """Against the relay path the terminal client prints peers' lines and marks its own."""
    with wslib.start(port=0, name="test_cli relay") as server:
        peer = wslib.SyncClient(server.url, timeout=TIMEOUT)
        try:
            with spawn("-m", "wslib", "chat", server.url) as child:
                assert child.line() == "# open"
                server_lines = server.log
                peer.send("from the peer")
                assert child.line() == "Received message from peer: from the peer"
                assert child.proc.stdin is not None
                child.proc.stdin.write("from the terminal\n")
                child.proc.stdin.flush()
                assert child.line() == "(you) from the terminal"
                assert peer.recv(TIMEOUT) == "Received message from peer: from the terminal"
                child.proc.stdin.close()
                assert child.wait() == 0
                assert "Received message: from the terminal" in server_lines.lines
        finally:
            peer.stop()


def test_redis_and_history_db_together_are_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """--redis with --history-db exits 1 with one line: Redis keeps the history then."""
    db = str(tmp_path / "chat.db")
    code = cli.main(
        ["serve", "--port", "0", "--redis", "redis://127.0.0.1:1/0", "--history-db", db]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1
    assert "history" in err


def test_chat_to_a_server_that_is_not_there_fails_at_once_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``wslib chat`` exits 1 at once with one 'cannot connect' line when nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        port = sock.getsockname()[1]
        code = cli.main(["chat", f"ws://127.0.0.1:{port}/chat", "--name", "alice"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(f"wslib chat: cannot connect to ws://127.0.0.1:{port}/chat: ")
    assert "Connect call failed" in err  # the refusal itself, not a timeout after retries
    assert err.count("\n") == 1


def test_allow_host_is_repeatable_and_off_by_default() -> None:
    """``--allow-host`` collects each name it is given; without it only loopback names pass."""
    parser = cli.build_parser()
    assert parser.parse_args(["serve"]).allow_host == []
    args = parser.parse_args(["serve", "--allow-host", "a.test", "--allow-host", "b.test"])
    assert args.allow_host == ["a.test", "b.test"]


def test_asyncio_warnings_go_through_the_stderr_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's stderr handler sits on the root logger: asyncio's warnings use it too."""
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    handler = cli._log_to_stderr(logging.WARNING)
    try:
        logging.getLogger("asyncio").warning("loop trouble")
        logging.getLogger("wslib.server").warning("server trouble")
    finally:
        logging.getLogger().removeHandler(handler)
        handler.writer.close(TIMEOUT)
    assert stream.getvalue().splitlines() == [
        "asyncio: loop trouble",
        "wslib.server: server trouble",
    ]
