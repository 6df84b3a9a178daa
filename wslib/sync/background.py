"""Run a ``Server`` from plain code: a notebook cell, a script, a ``with`` block.

Usage in a notebook (the cell returns at once; re-running it replaces the server)::

    server = wslib.start(port=0)
    server.url                      # 'ws://127.0.0.1:27315/'

Usage in a script::

    with wslib.start(port=8080) as server:
        ...                         # the server runs while the block does

    wslib.serve_forever(port=8080)  # blocks until Ctrl-C or SIGTERM
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from ..core.codes import CLOSE_GOING_AWAY, CLOSE_NORMAL, CLOSE_REPLACED
from ..core.lifetime import StopOnExit
from ..exceptions import PortInUseError
from ..server.logbook import LogBook
from ..server.ports import restartable_port
from ..server.server import DEFAULT_HOST, DEFAULT_PORT, Server
from . import runtime

__all__ = ["BackgroundServer", "serve_forever", "start"]

_by_key: dict[str, BackgroundServer] = {}
_STOP_TIMEOUT = 10.0


class BackgroundServer(StopOnExit):
    """A ``Server`` running on the kit's loop, controlled from this thread.

    Its attributes mirror the server's: ``url``, ``chat_url``, ``http_url``, ``port``,
    ``log`` (the ``LogBook`` with its output lines) and ``lines``.
    """

    def __init__(self, server: Server, key: str) -> None:
        self.server = server
        self.key = key

    @property
    def url(self) -> str:
        """Return the relay's URL."""
        return self.server.url

    @property
    def chat_url(self) -> str:
        """Return the chat's URL."""
        return self.server.chat_url

    @property
    def http_url(self) -> str:
        """Return the page's URL."""
        return self.server.http_url

    @property
    def run_key(self) -> str:
        """Return the key that lets a playground link run its script at once."""
        return self.server.run_key

    @property
    def port(self) -> int:
        """Return the bound port."""
        return self.server.port

    @property
    def log(self) -> LogBook:
        """Return the server's ``LogBook``."""
        return self.server.log

    @property
    def lines(self) -> list[str]:
        """Return the server's output lines so far."""
        return self.server.log.lines

    @property
    def running(self) -> bool:
        """Return whether the server is listening."""
        return self.server.running

    def stop(self, code: int = CLOSE_GOING_AWAY, reason: str = "server shutting down") -> None:
        """Close every client with ``code``, free the port, and forget this server."""
        if self.server.running:
            runtime.run(self.server.stop(code, reason), _STOP_TIMEOUT)
        if _by_key.get(self.key) is self:
            del _by_key[self.key]
        runtime.forget(self)

    def stop_for_good(self) -> None:
        """Stop with 1000 (closed normally), which no client takes as a cue to come back.

        ``stop_all`` and the Stop button stop servers this way: the learner is done, so a
        chat page in a frame, which the kernel cannot stop, stays closed instead of trying
        again every few seconds. ``stop`` says 1001 (going away): a restart may follow.
        """
        self.stop(CLOSE_NORMAL, "stopped: everything this notebook ran was stopped")

    def restart(self, reason: str = "server restarting") -> None:
        """Stop the server, its clients getting 1001 (going away), and start it on the same port.

        The object stays the same, and so do its URL and its ``log``: panes that reconnect
        and a ``ServerLog`` that follows this server go on with the new one.
        """
        if self.server.running:
            runtime.run(self.server.stop(CLOSE_GOING_AWAY, reason), _STOP_TIMEOUT)
        runtime.run(self.server.start(), _STOP_TIMEOUT)
        if _by_key.get(self.key) is not self:
            _by_key[self.key] = self
            runtime.remember(self)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<BackgroundServer {self.server.mode} {self.url} {state}>"


def start(
    host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *, name: str | None = None, **options: Any
) -> BackgroundServer:
    """Start a ``Server`` on the kit's loop and return at once, replacing an earlier one.

    A server this process started earlier under the same name (by default, the same
    port; or "default" for port 0), or one that holds the port asked for, is stopped
    first, and its clients are closed with ``CLOSE_REPLACED`` (4000), which the kit's
    clients take as final. So re-running a notebook cell never meets "address already
    in use" and leaves no stale clients.

    Args:
        host: The address to bind.
        port: The port to bind; 0 picks a free one that ``restart`` can bind again.
        name: What identifies this server for replacement; several need distinct names.
        **options: Passed on to ``Server`` (``mode``, ``handler``, ``history_db``, ...).

    Returns:
        The running server.

    Raises:
        PortInUseError: Another process already listens on the port.
    """
    key = name if name is not None else (str(port) if port else "default")
    previous = _by_key.get(key)
    if previous is None and port:
        # A server this kernel started with port=0 (or another name) may hold this port.
        previous = next((s for s in _by_key.values() if s.port == port and s.running), None)
    if previous is not None:
        previous.stop(CLOSE_REPLACED, "replaced by a new server")
        runtime.stop_clients_of(previous.url)  # those that were reconnecting missed the 4000
    background = BackgroundServer(Server(host, port, **options), key)
    _bind(background.server, any_port=not port)
    _by_key[key] = background
    runtime.remember(background)
    return background


def _bind(server: Server, *, any_port: bool) -> None:
    """Start ``server``; for any port, on one the kernel never lends, so that it can restart.

    Port 0 would take a port from the pool every outgoing connection draws from, where
    another socket could take it while ``restart`` has it closed (``ports``).
    """
    if any_port:
        for _ in range(3):  # another program may bind the port between the check and us
            port = restartable_port(server.host)
            if port is None:
                break
            server.port = port
            try:
                runtime.run(server.start(), _STOP_TIMEOUT)
            except PortInUseError:
                continue
            return
        server.port = 0  # no such port free here: let the kernel choose
    runtime.run(server.start(), _STOP_TIMEOUT)


def serve_forever(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, **options: Any) -> None:
    """Start a server and block until Ctrl-C or SIGTERM, then stop it cleanly (code 1001).

    Args:
        host: The address to bind.
        port: The port to bind.
        **options: Passed on to ``Server``.
    """
    done = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        # Before the port opens: once a client can connect, SIGTERM must close it with 1001.
        previous = signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        background = start(host, port, **options)
        try:
            while not done.wait(0.5):  # a timed wait lets Ctrl-C through on every platform
                pass
        except KeyboardInterrupt:
            pass
        finally:
            background.stop()
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
