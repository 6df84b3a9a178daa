"""Shared test support: one timeout constant, and skips for tools outside Python.

Every wait in the suite is a multiple of ``TIMEOUT``; set ``WSLIB_TIMEOUT_SCALE`` to
stretch them all on a slow machine. A test that needs something outside Python
(Chromium, redis-server, Node.js) calls ``require(...)``: it skips with the reason
printed, unless ``WSLIB_REQUIRE_ALL=1`` (set by ``.ci/run``) turns the skip into a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple, TypeVar

import pytest

TIMEOUT = 5.0 * float(os.environ.get("WSLIB_TIMEOUT_SCALE", "1"))
REQUIRE_ALL = os.environ.get("WSLIB_REQUIRE_ALL") == "1"

# A shell without job control starts `pytest &` with SIGINT ignored, and every process a
# test spawns would inherit that: a server told to stop with SIGINT would never hear it.
# Any handler, unlike SIG_IGN, is reset to the default in a child when it execs.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def require(executable: str, why: str) -> str:
    """Return the path of ``executable``, or skip (fail under WSLIB_REQUIRE_ALL) without it."""
    path = shutil.which(executable)
    if path is None:
        message = f"{executable} not found: {why}"
        if REQUIRE_ALL:
            pytest.fail(f"WSLIB_REQUIRE_ALL=1 but {message}")
        pytest.skip(message)
    return path


def require_module(name: str, why: str) -> None:
    """Skip (fail under WSLIB_REQUIRE_ALL) unless the optional module ``name`` imports."""
    try:
        importlib.import_module(name)
    except ImportError:
        message = f"Python module {name} not installed: {why}"
        if REQUIRE_ALL:
            pytest.fail(f"WSLIB_REQUIRE_ALL=1 but {message}")
        pytest.skip(message)


# Debian's Chromium, never a browser that Playwright downloads; these flags keep it from
# reaching for the network at start (../shared/BROWSER.md).
CHROME_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium(why: str) -> str:
    """Return the Chromium to drive (``CHROMIUM``, default /usr/bin/chromium), or skip."""
    return require(os.environ.get("CHROMIUM", "/usr/bin/chromium"), why)


# axe-core, pinned in tests/package.json (npm ci --prefix tests; .ci/test runs it), checks a
# page against WCAG's level A and AA rules from inside the browser.
AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
WCAG_A_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def axe_script() -> Path:
    """Return axe-core's script, or skip (fail under WSLIB_REQUIRE_ALL) without it."""
    if not AXE.is_file():
        message = "axe-core not installed: npm ci --prefix tests"
        if REQUIRE_ALL:
            pytest.fail(f"WSLIB_REQUIRE_ALL=1 but {message}")
        pytest.skip(message)
    return AXE


def axe_violations(frame: Any, include: list[str]) -> list[str]:
    """Run axe-core on the elements ``include`` selects in a Playwright page or frame.

    Returns:
        One line per WCAG A or AA violation: the rule, the element, what is wrong.
    """
    if not frame.evaluate("() => typeof window.axe === 'object'"):
        frame.add_script_tag(path=str(axe_script()))
    violations = frame.evaluate(
        """async ([include, tags]) => {
            const result = await axe.run(
                {include: include.map(selector => [selector])},
                {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
            const summary = n => n.failureSummary.split(String.fromCharCode(10)).join(' ');
            return result.violations.flatMap(v => v.nodes.map(
                n => `${v.id}: ${n.target.join(' ')}: ${summary(n)}`));
        }""",
        [include, WCAG_A_AA],
    )
    return list(violations)


# -- helpers for tests with real sockets and processes ------------------------------------

ROOT = Path(__file__).resolve().parents[1]

T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T], timeout: float = 6 * TIMEOUT) -> T:
    """Run an async test body on a fresh event loop; fail if it takes longer than ``timeout``."""

    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await coro

    return asyncio.run(bounded())


async def recv(connection: Any, timeout: float = TIMEOUT) -> Any:
    """Return the next message on a websockets connection, or raise ``TimeoutError``."""
    async with asyncio.timeout(timeout):
        return await connection.recv()


async def recv_json(connection: Any, timeout: float = TIMEOUT) -> dict[str, Any]:
    """Return the next message on a websockets connection, decoded from JSON."""
    value = json.loads(await recv(connection, timeout))
    assert isinstance(value, dict)
    return value


def child_env(**extra: str) -> dict[str, str]:
    """Return an environment for ``python -m wslib`` that imports this checkout of wslib.

    ``PYTHONUNBUFFERED`` and ``PORT`` are removed, so a test sees the CLI's own flushing
    and default port unless it sets them.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONUNBUFFERED", "PORT")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


class Child:
    """A subprocess whose stdout and stderr lines can be read with a timeout.

    Use it through ``spawn``, which kills the process if the test did not end it.
    """

    def __init__(
        self,
        args: list[str],
        env: dict[str, str],
        *,
        merge_stderr: bool = False,
        new_session: bool = False,
    ) -> None:
        """Start ``args``; ``merge_stderr`` reads stderr lines as stdout lines, and
        ``new_session`` gives the process a group of its own (``os.killpg`` ends it all)."""
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
            env=env,
            cwd=ROOT,
            text=True,
            encoding="utf-8",
            start_new_session=new_session,
        )
        self._out: queue.Queue[str | None] = queue.Queue()
        self._err: list[str | None] = []
        self._readers = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self._out.put)),
        ]
        if not merge_stderr:
            self._readers.append(
                threading.Thread(target=self._pump, args=(self.proc.stderr, self._err.append))
            )
        for reader in self._readers:
            reader.daemon = True
            reader.start()

    @staticmethod
    def _pump(stream: IO[str] | None, put: Callable[[Any], None]) -> None:
        assert stream is not None
        for line in stream:
            put(line)
        put(None)

    def line(self, timeout: float = TIMEOUT) -> str:
        """Return the next stdout line without its newline; fail on timeout or end of output."""
        try:
            line = self._out.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no stdout line within {timeout} s; stderr: {self.stderr!r}")
        if line is None:
            self._out.put(None)  # later calls see the end too
            pytest.fail(f"stdout ended; exit {self.proc.poll()}, stderr: {self.stderr!r}")
        return line.rstrip("\n")

    def line_matching(self, predicate: Callable[[str], bool], timeout: float = TIMEOUT) -> str:
        """Return the first later stdout line for which ``predicate`` holds."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.line(max(deadline - time.monotonic(), 0.0))
            if predicate(line):
                return line

    def wait(self, timeout: float = TIMEOUT) -> int:
        """Wait for the process to exit and for its output to be read; return its exit code."""
        code = self.proc.wait(timeout)
        for reader in self._readers:
            reader.join(timeout)
        return code

    def rest(self) -> list[str]:
        """Return the stdout lines not read yet, once the process has exited."""
        lines = []
        while not self._out.empty():
            line = self._out.get_nowait()
            if line is None:
                self._out.put(None)
                break
            lines.append(line.rstrip("\n"))
        return lines

    @property
    def stderr(self) -> str:
        """Return what the process wrote to stderr so far."""
        return "".join(line for line in self._err if line is not None)

    def close(self) -> None:
        """Kill the process if it still runs, and release its pipes."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(TIMEOUT)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        for reader in self._readers:
            reader.join(TIMEOUT)


@contextlib.contextmanager
def spawn(*args: str, env: dict[str, str] | None = None) -> Iterator[Child]:
    """Run ``python *args`` with this checkout of wslib importable; kill it on exit."""
    child = Child([sys.executable, *args], env if env is not None else child_env())
    try:
        yield child
    finally:
        child.close()


# A program that holds an exclusive lock on the file named in argv[1] until its stdin closes.
HOLD_LOCK = textwrap.dedent(
    """
    import sqlite3, sys
    db = sqlite3.connect(sys.argv[1], isolation_level=None)
    db.execute("BEGIN EXCLUSIVE")
    print("locked", flush=True)
    sys.stdin.readline()
    db.execute("ROLLBACK")
    """
)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Return whether a new socket can listen on ``port`` right now."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def restart_port(host: str = "127.0.0.1") -> int:
    """Return a free port that a server can stop and start again on (``wslib.server.ports``).

    Port 0 would take one from the pool the kernel lends to every outgoing connection,
    where another socket could take it while the test has its server stopped.
    """
    from wslib.server.ports import restartable_port  # support loads no wslib until asked

    port = restartable_port(host)
    if port is None:
        pytest.fail(f"no free port below the ephemeral range on {host}")
    return port


class LoopThread:
    """An event loop in a thread of its own, which a test can freeze to hold a client still.

    Freezing blocks the loop with a callback that waits on a ``threading.Event``: whatever
    runs on that loop (a client, its reconnection) does nothing until ``thaw``.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._gate = threading.Event()
        self._gate.set()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = TIMEOUT) -> T:
        """Run ``coro`` on this loop and block until it returns."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def freeze(self) -> None:
        """Stop this loop from running anything until ``thaw``; return once it is frozen."""
        frozen = threading.Event()
        self._gate.clear()

        def hold() -> None:
            frozen.set()
            self._gate.wait(4 * TIMEOUT)

        self.loop.call_soon_threadsafe(hold)
        assert frozen.wait(TIMEOUT), "the loop did not freeze"

    def thaw(self) -> None:
        """Let the loop run again."""
        self._gate.set()

    def close(self) -> None:
        """Thaw, cancel what is left, stop the loop and join its thread."""
        self.thaw()

        async def cancel_rest() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(cancel_rest())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(TIMEOUT)
        self.loop.close()


class Reply(NamedTuple):
    """A plain HTTP response: status code, headers (names in lower case) and body."""

    status: int
    headers: dict[str, str]
    body: bytes


async def http_get(port: int, target: str) -> Reply:
    """Send a plain HTTP/1.1 GET (no Upgrade) to 127.0.0.1 and read the whole response.

    A ``Content-Length``, when the response has one, must match the body that came.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        async with asyncio.timeout(TIMEOUT):
            data = await reader.read()  # the server closes after answering
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines)}
    if "content-length" in headers:
        assert len(body) == int(headers["content-length"])
    return Reply(int(status_line.split()[1]), headers, body)
