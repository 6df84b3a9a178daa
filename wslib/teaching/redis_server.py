"""Start a throw-away ``redis-server`` on a free loopback port, for a notebook or a test.

Usage::

    with RedisServer() as redis:
        server = wslib.start(port=0, redis=redis.url)

It keeps nothing on disk unless asked (``--save ""``, ``--appendonly no``), works in a
temporary directory that ``stop`` removes, and listens on 127.0.0.1 only.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Self

from ..core.lifetime import StopOnExit
from ..exceptions import ServerError

__all__ = ["RedisServer", "redis_server_path"]


def redis_server_path() -> str | None:
    """Return the path of the ``redis-server`` program, or ``None`` if it is not installed."""
    return shutil.which("redis-server")


def _free_port() -> int:
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
    """

    def __init__(self, port: int | None = None, *, persist: bool = False, timeout: float = 10.0):
        self.port = port or _free_port()
        self.persist = persist
        self.timeout = timeout
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None

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
        deadline = time.monotonic() + self.timeout
        while not _answers(self.port):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise ServerError(f"redis-server did not start on port {self.port}")
            time.sleep(0.02)  # polling a child process that has no readiness signal
        return self

    def kill(self) -> None:
        """Kill the process at once (as a crash would); the data directory stays."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            self._proc = None

    def restart(self) -> Self:
        """Start the server again on the same port (after ``kill``)."""
        self.kill()
        return self.start()

    def stop(self) -> None:
        """Stop the process and remove its directory."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
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
