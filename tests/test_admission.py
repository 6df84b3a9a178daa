"""Tests for wslib.server.admission: the cap counts handshakes, descriptors stay free.

The descriptor tests run ``wslib serve`` (or a small server script) in a subprocess whose
open-file limit is lowered to 1,100 with ``resource.setrlimit``, then open more
connections than that against it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import IO, Any

import pytest
from rawclient import http_exchange, status_of
from support import ROOT, TIMEOUT, child_env, run_async

from wslib import ChatClient
from wslib.server.admission import HANDSHAKE_GRACE, AcceptErrors

LIMIT = 1100


def _limit_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, LIMIT))


@contextlib.contextmanager
def limited(*args: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """Run ``python *args`` with at most 1,100 open files; yield it and its first line."""
    process = subprocess.Popen(
        [sys.executable, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(),
        cwd=ROOT,
        preexec_fn=_limit_files,  # a plain setrlimit in the child
    )
    try:
        assert process.stdout is not None
        yield process, process.stdout.readline().decode().strip()
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(2 * TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(TIMEOUT)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def _stderr(process: subprocess.Popen[bytes]) -> str:
    stream: IO[bytes] | None = process.stderr
    assert stream is not None
    return stream.read().decode(errors="replace")


def _slowloris(port: int, count: int) -> list[socket.socket]:
    """Open ``count`` connections that start a request and never finish it."""
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        with contextlib.suppress(OSError):  # the server may already have closed it
            sock.sendall(b"GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        sockets.append(sock)
    return sockets


async def _health(port: int, deadline: float) -> int:
    """GET /healthz, again while the server closes the connection unanswered (at its cap)."""
    request = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    while True:
        try:
            return status_of(await http_exchange(port, request))
        except (OSError, IndexError, ValueError):
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(HANDSHAKE_GRACE / 10)  # retrying a refused connection: no event


def test_slowloris_past_the_descriptor_limit_cannot_lock_out_newcomers_or_bystanders() -> None:
    """With 1,100 descriptors, 1,150 unfinished handshakes leave bystanders chatting, let a
    newcomer join and /healthz answer, and write no traceback."""
    with limited("-m", "wslib", "serve", "--port", "0") as (process, url):
        port = int(url.rsplit(":", 1)[1].strip("/"))
        chat = f"ws://127.0.0.1:{port}/chat"

        async def body() -> None:
            async with ChatClient(chat, "alice") as alice, ChatClient(chat, "bob") as bob:
                await alice.wait_for(lambda: alice.joined, TIMEOUT)
                await bob.wait_for(lambda: bob.joined, TIMEOUT)
                crowd = await asyncio.to_thread(_slowloris, port, 1150)
                try:
                    await alice.send("during the flood")
                    await bob.wait_for(lambda: len(bob.messages) == 1, 2 * TIMEOUT)
                    await alice.wait_for(lambda: not alice.pending, TIMEOUT)
                    # Past the cap, a newcomer takes the place of a handshake older than
                    # HANDSHAKE_GRACE: it gets in, retrying meanwhile as clients do.
                    carol = ChatClient(chat, "carol")
                    try:
                        await carol.start(timeout=4 * TIMEOUT)
                        await carol.wait_for(lambda: carol.joined, 4 * TIMEOUT)
                        await carol.send("i got in")
                        await alice.wait_for(lambda: len(alice.messages) == 2, TIMEOUT)
                    finally:
                        await carol.stop()
                    assert await _health(port, time.monotonic() + 4 * TIMEOUT) == 200
                finally:
                    for sock in crowd:
                        sock.close()
                assert [m["text"] for m in bob.messages] == ["during the flood", "i got in"]

        run_async(body(), 12 * TIMEOUT)
        process.terminate()
        assert process.wait(2 * TIMEOUT) == 0
        errors = _stderr(process)
    assert "Traceback" not in errors
    assert len(errors.splitlines()) < 20, errors[-2000:]


SERVER_OVER_THE_LIMIT = """
import asyncio, logging
from wslib import Limits, Server
logging.basicConfig(format="%(name)s: %(message)s")
async def main():
    # A cap far above the open-file limit, so accept() itself runs out of descriptors.
    async with Server(port=0, limits=Limits(max_connections=5000)) as server:
        print(server.url, flush=True)
        await asyncio.Event().wait()
asyncio.run(main())
"""


def test_accept_errors_past_the_open_file_limit_are_one_line_per_interval() -> None:
    """When accept() fails for want of descriptors, the log gets one counted line, no
    traceback, and the server accepts again once descriptors are free."""
    with limited("-c", SERVER_OVER_THE_LIMIT) as (process, url):
        port = int(url.rsplit(":", 1)[1].strip("/"))

        async def body() -> None:
            async with asyncio.timeout(6 * TIMEOUT):
                crowd = await asyncio.to_thread(_slowloris, port, 1200)
            try:
                # The server cannot accept now; the kernel's backlog holds the rest.
                reply = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
                with pytest.raises((TimeoutError, OSError)):
                    await http_exchange(port, reply, timeout=3 * HANDSHAKE_GRACE)
            finally:
                for sock in crowd:
                    sock.close()
            assert await _health(port, time.monotonic() + 4 * TIMEOUT) == 200

        run_async(body(), 12 * TIMEOUT)
        process.terminate()
        process.wait(2 * TIMEOUT)
        errors = _stderr(process)
    lines = errors.splitlines()
    assert "Traceback" not in errors
    accept_lines = [line for line in lines if "cannot accept connections" in line]
    assert 1 <= len(accept_lines) <= 2, errors[-2000:]
    assert len(lines) < 10, errors[-2000:]


def test_accept_errors_are_counted_and_said_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The handler logs the first accept error, then one counted line per interval."""
    now = [0.0]
    loop = asyncio.new_event_loop()
    try:
        handler = AcceptErrors(loop, every=10.0, clock=lambda: now[0])
        handler.install()
        error = OSError(24, "Too many open files")
        context = {"message": "socket.accept() out of system resource", "exception": error}
        with caplog.at_level(logging.WARNING, logger="wslib.server"):
            for step in range(30):
                now[0] = float(step)
                handler(loop, context)
        said = [r.getMessage() for r in caplog.records]
        assert handler.count == 30
        assert len(said) == 3  # at 0, 10 and 20 seconds
        assert "Too many open files" in said[0]
        assert "(10 time(s)" in said[1]
        handler.remove()
        assert loop.get_exception_handler() is None
    finally:
        loop.close()


def test_a_retry_to_accept_on_a_closed_server_is_dropped_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """asyncio's accept retry that fails on a server closed meanwhile logs no traceback."""
    loop = asyncio.new_event_loop()
    reports: list[dict[str, Any]] = []
    try:
        loop.set_exception_handler(lambda _loop, context: reports.append(context))
        handler = AcceptErrors(loop)
        handler.install()
        context = {
            "message": "Exception in callback BaseSelectorEventLoop._start_serving(...)",
            "exception": ValueError("Invalid file descriptor: -1"),
        }
        with caplog.at_level(logging.WARNING, logger="wslib.server"):
            handler(loop, context)
            handler(loop, {"message": "something else", "exception": ValueError("x")})
        assert [r["message"] for r in reports] == ["something else"]  # passed on: not ours
        assert caplog.records == []
        handler.remove(after=0.01)  # stays a moment, for a retry still pending
        assert loop.get_exception_handler() is handler
        loop.run_until_complete(asyncio.sleep(0.05))
        assert loop.get_exception_handler() is not handler
    finally:
        loop.close()
