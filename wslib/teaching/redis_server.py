"""Start a throw-away ``redis-server`` on a free loopback port, for a notebook or a test.

Usage::

    with RedisServer() as redis:
        server = wslib.start(port=0, redis=redis.url)

It keeps nothing on disk unless asked (``--save ""``, ``--appendonly no``), works in a
temporary directory that ``stop`` removes, and listens on 127.0.0.1 only.

A throw-away server must not outlive the notebook that started it, whatever happens to
the cells in between:

1. ``start`` registers it with the kit's runtime, so ``wslib.stop_all()`` (the notebooks'
   *Stop everything* button, and Python's exit) stops it.
2. A small watchdog process holds a pipe from this process. When this process ends in any
   way, a kernel killed with SIGKILL included, the pipe closes and the watchdog sends
   ``redis-server`` SIGTERM. (Linux's ``PR_SET_PDEATHSIG`` would need ``preexec_fn``, which
   is unsafe in a process with threads, as a kernel running the kit's loop is.)
3. Started again under the same ``name`` (a re-run notebook cell), it replaces the earlier
   one instead of running beside it.

``kill`` and ``restart`` play a Redis that crashes; ``pause`` and ``resume`` one that hangs
with its connections open.
"""

from __future__ import annotations

import importlib.util
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Self

from ..core.lifetime import StopOnExit
from ..exceptions import ServerError
from ..server.ports import restartable_port
from ..sync import runtime

__all__ = ["RedisServer", "redis_server_path", "why_no_redis"]

# Run by the watchdog: wait for the end of stdin (this process closed the pipe, or ended),
# then ask redis-server, whose pid is the argument, to stop; SIGCONT lets a paused one act
# on the SIGTERM.
_WATCHDOG = (
    "import os, signal, sys\n"
    "sys.stdin.buffer.read()\n"
    "try:\n"
    "    os.kill(int(sys.argv[1]), signal.SIGTERM)\n"
    "    os.kill(int(sys.argv[1]), signal.SIGCONT)\n"
    "except ProcessLookupError:\n"
    "    pass\n"
)


def redis_server_path() -> str | None:
    """Return the path of the ``redis-server`` program, or ``None`` if it is not installed."""
    return shutil.which("redis-server")


def why_no_redis() -> str | None:
    """Return why servers cannot share a chat through Redis here, or ``None`` if they can.

    They need the ``redis-server`` program (to start one) and redis-py (to talk to it).
    """
    if redis_server_path() is None:
        return "redis-server is not installed (on Debian: apt install redis-server)"
    if importlib.util.find_spec("redis") is None:
        return "redis-py is not installed (pip install 'wslib[redis]')"
    return None


def _free_port() -> int:
    """Return a free port that ``restart`` can bind again (``wslib.server.ports``)."""
    port = restartable_port("127.0.0.1")
    if port is not None:
        return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int) -> bool:
    """Return whether something on ``port`` answers a Redis PING."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer(StopOnExit):
    """One ``redis-server`` process that this object starts and stops.

    Args:
        port: The port; a free one by default. ``restart`` keeps the same port.
        persist: Keep the data in an append-only file, so it survives ``restart``.
        timeout: How long to wait for the server to answer after starting it.
        name: Starting replaces a running ``RedisServer`` of the same name (``None``: none).
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        persist: bool = False,
        timeout: float = 10.0,
        name: str | None = None,
    ):
        self.port = port or _free_port()
        self.persist = persist
        self.timeout = timeout
        self.name = name
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Return the Redis URL, e.g. ``redis://127.0.0.1:6390/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        """Return whether the process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> Self:
        """Start the server and return once it answers.

        Raises:
            ServerError: ``redis-server`` is not installed, or did not start in time.
        """
        program = redis_server_path()
        if program is None:
            raise ServerError("redis-server is not installed (on Debian: apt install redis-server)")
        if self.name is not None:
            for earlier in runtime.running():
                if (
                    isinstance(earlier, RedisServer)
                    and earlier is not self
                    and earlier.name == self.name
                ):
                    earlier.stop()
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="wslib-redis-")
        args = [program, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--dir", self._dir.name, "--daemonize", "no", "--loglevel", "warning"]
        if self.persist:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        with Path(self._dir.name, "redis.log").open("ab") as log:
            self._proc = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        self._watchdog = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, str(self._proc.pid)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + self.timeout
        while not _answers(self.port):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise ServerError(f"redis-server did not start on port {self.port}")
            time.sleep(0.02)  # polling a child process that has no readiness signal
        if self not in runtime.running():
            runtime.remember(self)
        return self

    def kill(self) -> None:
        """Kill the process at once (as a crash would); the data directory stays."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()  # not reaped until wait(): its pid cannot be reused meanwhile
            self._release_watchdog(signal_redis=True)
        self._release_watchdog(signal_redis=False)  # reaped already: its pid may be reused
        if self._proc is not None:
            self._proc.wait()
            self._proc = None

    def _release_watchdog(self, *, signal_redis: bool) -> None:
        """End the watchdog: by closing its pipe (it signals redis-server) or by killing it."""
        if self._watchdog is not None:
            assert self._watchdog.stdin is not None
            if not signal_redis:
                self._watchdog.kill()
            self._watchdog.stdin.close()
            self._watchdog.wait()
            self._watchdog = None

    def pause(self) -> None:
        """Stop the process without ending it (SIGSTOP): Redis hangs, its sockets stay open."""
        if self.running:
            assert self._proc is not None
            self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused process run again (SIGCONT); it answers what waited meanwhile."""
        if self.running:
            assert self._proc is not None
            self._proc.send_signal(signal.SIGCONT)

    def restart(self) -> Self:
        """Start the server again on the same port (after ``kill``)."""
        self.kill()
        return self.start()

    def stop(self) -> None:
        """Stop the process and remove its directory; calling it twice does nothing more."""
        runtime.forget(self)
        self.resume()  # a paused process would not act on the SIGTERM below
        if self._proc is not None and self._proc.poll() is None:
            self._release_watchdog(signal_redis=True)  # it sends SIGTERM to redis-server
            try:
                self._proc.wait(self.timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        self.kill()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> Self:
        return self.start() if not self.running else self
