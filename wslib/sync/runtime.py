"""The kit's own event loop, in a background thread, and a register of what runs on it.

In a notebook, the kernel's thread runs your cells. A server on that thread would stall
whenever a cell blocks (``time.sleep(3)``, a blocking client, ``subprocess.run`` of the CLI
against this very server, which would deadlock). So servers and clients started from
plain code run on one daemon thread with its own loop, and blocking calls hand work to
it. Scripts use the same loop, so ``with``-blocks and ``serve_forever`` need no
``asyncio.run``.

Contract:

1. ``run(coro)`` submits a coroutine to the kit's loop and blocks until it finishes.
2. Anything long-lived registers itself with ``remember`` and leaves with ``forget``.
3. ``stop_all()`` stops everything registered, newest first; it also runs at exit.
4. A server that is replaced calls ``stop_clients_of`` with its URL once it has stopped.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import logging
import threading
from collections.abc import Coroutine
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from ..client.client import BaseClient

__all__ = [
    "Stoppable",
    "forget",
    "kit_loop",
    "remember",
    "run",
    "running",
    "stop_all",
    "stop_clients_of",
    "submit",
]

T = TypeVar("T")

logger = logging.getLogger("wslib.runtime")


class Stoppable(Protocol):
    """Something started by the kit that ``stop_all`` can stop."""

    def stop(self) -> None:
        """Stop it; calling this twice does nothing the second time."""


_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_running: list[Stoppable] = []


def kit_loop() -> asyncio.AbstractEventLoop:
    """Return the kit's event loop, starting its thread on first use."""
    global _loop, _thread
    with _lock:
        if _loop is None or _thread is None or not _thread.is_alive():
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def main() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            _thread = threading.Thread(target=main, name="wslib-loop", daemon=True)
            _thread.start()
            ready.wait()
            _loop = loop
        return _loop


def submit(coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Schedule ``coro`` on the kit's loop from any other thread; return its future."""
    return asyncio.run_coroutine_threadsafe(coro, kit_loop())


def run(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run ``coro`` on the kit's loop and block until it returns.

    Raises:
        RuntimeError: Called from the kit's own thread, where it would deadlock.
        TimeoutError: It took longer than ``timeout`` seconds (the work is cancelled), or
            ``coro`` raised it (with its own message).
    """
    if threading.current_thread() is _thread:
        coro.close()
        raise RuntimeError("wslib.runtime.run() cannot be called from the kit's own loop")
    future = submit(coro)
    # Wait first, then read the result: a TimeoutError that ``coro`` raised itself (a
    # ``recv(timeout=1)`` that got nothing) is the same class as the one ``result(timeout)``
    # raises, and must reach the caller with its own message, not this one.
    done, _ = concurrent.futures.wait([future], timeout)
    if not done:
        future.cancel()
        raise TimeoutError(f"gave up after {timeout} s")
    return future.result()


def remember(item: Stoppable) -> None:
    """Register ``item`` so that ``stop_all`` stops it."""
    with _lock:
        _running.append(item)


def forget(item: Stoppable) -> None:
    """Unregister ``item`` (it stopped by itself or was stopped)."""
    with _lock:
        if item in _running:
            _running.remove(item)


def running() -> list[Stoppable]:
    """Return what is registered now (started and not yet stopped), oldest first."""
    with _lock:
        return list(_running)


def stop_clients_of(url: str) -> int:
    """Stop every registered client of the server that served ``url``; return how many.

    A replaced server closes its open connections with 4000, which the kit's clients take
    as final. A client that was between two attempts to connect at that moment (after a
    1001 or a 1013) never hears it, and would go on trying an address that nobody serves.
    Every registered item whose ``client`` (a kit ``Client`` or ``ChatClient``: panes,
    blocking clients) connects to the same host and port is stopped here; call it after
    the server has stopped and left the register.
    """
    address = urlsplit(url).netloc
    with _lock:
        items = [
            item
            for item in _running
            if isinstance(client := getattr(item, "client", None), BaseClient)
            and urlsplit(client.url).netloc == address
        ]
    return _stop_each(items)


def stop_all() -> int:
    """Stop every server and client the kit started from this process; return how many.

    The number counts what was still registered: servers from ``start``, panes and clients
    whose connection had not closed for good, throw-away Redis servers. Something that had
    already stopped by itself is not counted. Servers close their clients with 1000, which
    no client takes as a cue to reconnect (``BackgroundServer.stop_for_good``).
    """
    with _lock:
        items = list(reversed(_running))
    return _stop_each(items)


def _stop_each(items: list[Stoppable]) -> int:
    """Stop and unregister each of ``items``, in order; return how many there were."""
    for item in items:
        try:
            # A server stops for good (1000), so that no client, the browser page included,
            # keeps trying to come back; everything else stops as it always does.
            final = getattr(item, "stop_for_good", None)
            if callable(final):
                final()
            else:
                item.stop()
        except Exception:  # one failure must not keep the others running
            logger.exception("could not stop %r", item)
        forget(item)
    return len(items)


atexit.register(stop_all)
