"""An async WebSocket client that reconnects by itself, for the relay and as a base.

Usage::

    async with Client("ws://127.0.0.1:8080/") as client:
        await client.send("hello")
        reply = await client.recv()

Reconnection is websockets' own (``async for connection in connect(...)``, exponential
backoff with an initial random delay); this class adds the rule for *when* to stop: a
close code that says "try again" (1001 going away, 1006 dropped, 1011-1014) reconnects,
any other code (1000, a protocol or policy error, the kit's 4000-range codes) is final.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from websockets.asyncio.client import ClientConnection, connect
from websockets.client import backoff, process_exception
from websockets.exceptions import ConnectionClosed

from ..core.codes import CLOSE_NORMAL
from ..core.lifetime import AsyncStopOnExit
from ..exceptions import WslibError

__all__ = [
    "RECONNECT_CODES",
    "Backoff",
    "Client",
    "Listener",
    "NotConnectedError",
    "State",
    "Status",
    "should_reconnect",
]

logger = logging.getLogger("wslib.client")

State = Literal["connecting", "open", "reconnecting", "closed"]

#: Close codes after which the server, or a later one, may well accept us again.
RECONNECT_CODES = frozenset({1001, 1005, 1006, 1011, 1012, 1013, 1014})


def should_reconnect(code: int | None) -> bool:
    """Return whether a connection closed with ``code`` (``None``: dropped) is worth retrying."""
    return code is None or code in RECONNECT_CODES


class NotConnectedError(WslibError):
    """Signal that a message cannot be sent because the connection is not open."""


@dataclass(frozen=True, slots=True)
class Status:
    """A client's connection state, with the close code and reason once it has closed."""

    state: State
    code: int | None = None
    reason: str = ""

    def __str__(self) -> str:
        if self.code is None:
            return self.state
        reason = f" {self.reason}" if self.reason else ""
        return f"{self.state} ({self.code}{reason})"


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long to wait between reconnection attempts (seconds), as websockets computes it.

    The first delay is random between 0 and ``initial`` (so that many clients do not come
    back at the same instant), then ``minimum`` growing by ``factor`` up to ``maximum``.
    """

    initial: float = 1.0
    minimum: float = 0.5
    maximum: float = 10.0
    factor: float = 1.618

    def delays(self) -> Generator[float]:
        """Return websockets' generator of delays for these settings."""
        return backoff(self.initial, self.minimum, self.maximum, self.factor)


#: What a relay client receives: a text or a binary message.
Message = str | bytes

#: What a client hands to ``recv``: a ``Message`` for the relay client, a chat event for
#: ``ChatClient``.
E = TypeVar("E")

#: Called with each received item and each new ``Status``.
Listener = Callable[[E | Status], None]


class BaseClient(AsyncStopOnExit, Generic[E]):
    """Connect, keep receiving, and reconnect when it is worth it; subclasses say what a
    received message becomes (``on_message``) and so what ``recv`` returns.

    ``Client`` (relay messages) and ``ChatClient`` (chat events) are the two kinds.
    """

    def __init__(
        self,
        url: str,
        *,
        reconnect: Backoff | bool = True,
        on_event: Listener[E] | None = None,
        wait_for_server: bool = True,
        **options: Any,
    ) -> None:
        self.url = url
        self.wait_for_server = wait_for_server
        self.backoff = Backoff() if reconnect is True else (reconnect or None)
        self.status = Status("connecting")
        self.connections = 0
        self._listeners: list[Listener[E]] = [on_event] if on_event is not None else []
        self._options = options
        self._queue: asyncio.Queue[E] = asyncio.Queue()
        self._connection: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._stopping = False

    # -- public API ------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """Return whether the connection is open now."""
        return self.status.state == "open"

    @property
    def local_address(self) -> str | None:
        """Return this end's address as ``host:port`` while connected, else ``None``.

        A server knows a client by this address: the flow diagram names lanes with it.
        """
        connection = self._connection
        if connection is None:
            return None
        address = connection.local_address
        return f"{address[0]}:{address[1]}"

    def listen(self, listener: Listener[E]) -> None:
        """Call ``listener`` with every later event, on the client's loop."""
        self._listeners.append(listener)

    async def start(self, timeout: float | None = 10.0) -> None:
        """Connect, and return once the connection is open.

        Raises:
            ConnectionError: The client closed for good before it opened.
            TimeoutError: It did not open within ``timeout`` seconds.
        """
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"wslib client {self.url}")
        await self.wait_for(lambda: self.status.state in ("open", "closed"), timeout)
        if self.status.state == "closed":
            raise ConnectionError(f"could not connect to {self.url}: {self.status}")

    async def send(self, message: Message) -> None:
        """Send one message.

        Raises:
            NotConnectedError: The connection is not open (it may be reconnecting).
        """
        if self._connection is None or not self.is_open:
            raise NotConnectedError(f"not connected to {self.url} ({self.status})")
        await self._connection.send(message)

    async def recv(self, timeout: float | None = None) -> E:
        """Return the next received item: a message (``Client``) or a chat event."""
        async with asyncio.timeout(timeout):
            return await self._queue.get()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float | None = None) -> None:
        """Wait until ``predicate()`` is true; it is checked after every event.

        Raises:
            TimeoutError: It did not become true within ``timeout`` seconds.
        """
        async with asyncio.timeout(timeout):
            while not predicate():
                await self._changed.wait()

    async def drop(self) -> None:
        """Cut the connection as a failing network would: no close frame at all.

        For teaching and tests. The server sees the connection end without a close code
        (1006); a client that reconnects comes back by itself, and a chat client resumes.
        """
        if self._connection is not None:
            self._connection.transport.abort()

    async def stop(self) -> None:
        """Close the connection with 1000, stop reconnecting and wait until all is done."""
        self._stopping = True
        if self._connection is not None:
            await self._connection.close(CLOSE_NORMAL)
        if self._task is not None:
            if self.status.state != "open":
                self._task.cancel()  # it may be waiting to reconnect
            await asyncio.gather(self._task, return_exceptions=True)
        if self.status.state != "closed":
            self._set_status(Status("closed", CLOSE_NORMAL))

    # -- hooks for subclasses --------------------------------------------------------

    async def on_open(self, connection: ClientConnection) -> None:
        """Run right after each (re)connection; the chat client joins here."""

    def on_message(self, message: Message) -> None:
        """Handle one received message: turn it into an item and ``emit`` it."""
        raise NotImplementedError

    def emit(self, event: E | Status) -> None:
        """Queue ``event`` for ``recv`` (unless a ``Status``), tell listeners, wake ``wait_for``."""
        if not isinstance(event, Status):
            self._queue.put_nowait(event)
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:  # a broken view must not break the connection
                logger.exception("event listener failed")
        self._changed.set()
        self._changed = asyncio.Event()

    # -- the connection loop ---------------------------------------------------------

    def _set_status(self, status: Status) -> None:
        self.status = status
        self.emit(status)

    async def _run(self) -> None:
        connector = connect(
            self.url,
            reconnect_delays=self._delays,
            process_exception=self._retryable,
            logger=logger,
            **self._options,
        )
        try:
            if self.backoff is None:
                async with connector as connection:
                    code, reason = await self._session(connection)
                self._set_status(Status("closed", code, reason))
                return
            async for connection in connector:
                code, reason = await self._session(connection)
                if self._stopping or self.backoff is None or not self._reconnects(code, reason):
                    self._set_status(Status("closed", code, reason))
                    return
                self._set_status(Status("reconnecting", code, reason))
        except asyncio.CancelledError:
            self._set_status(Status("closed", CLOSE_NORMAL))
            raise
        except Exception as exc:  # a fatal connection error: say it, stay closed
            self._set_status(Status("closed", None, str(exc)))

    async def _session(self, connection: ClientConnection) -> tuple[int | None, str]:
        self._connection = connection
        self.connections += 1
        try:
            await self.on_open(connection)
            self._set_status(Status("open"))
            async for message in connection:
                self.on_message(message)
        except ConnectionClosed:
            pass
        finally:
            self._connection = None
        received = connection.protocol.close_rcvd
        return (received.code, received.reason) if received is not None else (None, "")

    def _reconnects(self, code: int | None, reason: str) -> bool:
        """Return whether to reconnect after a close with ``code`` (``should_reconnect``)."""
        return should_reconnect(code)

    def _retryable(self, exc: Exception) -> Exception | None:
        """Return ``None`` to retry after ``exc``, or the exception to give up with."""
        if self.connections == 0 and not self.wait_for_server:
            return exc  # never connected, and told not to wait: say so now
        return process_exception(exc)  # websockets' own rule: network errors, 5xx

    def _delays(self) -> Generator[float]:
        assert self.backoff is not None
        return self.backoff.delays()


class Client(BaseClient[Message]):
    """Connect to a WebSocket server, keep receiving, and reconnect when it is worth it.

    Received messages and status changes are kept (``received``, ``status``), put on a
    queue for ``recv``, and passed to ``on_event`` (called on the client's loop).

    Args:
        url: A ``ws://`` or ``wss://`` URL.
        reconnect: A ``Backoff``, ``True`` for the default one, or ``False`` for none.
        on_event: Called with each received message and each new ``Status``.
        wait_for_server: Keep trying when the very first connection fails (the server may
            not be up yet); ``False`` gives up at once, as a command-line client should.
        **options: Passed on to websockets' ``connect`` (``max_size``, ``ssl``, ...).
    """

    def __init__(
        self,
        url: str,
        *,
        reconnect: Backoff | bool = True,
        on_event: Listener[Message] | None = None,
        wait_for_server: bool = True,
        **options: Any,
    ) -> None:
        super().__init__(
            url,
            reconnect=reconnect,
            on_event=on_event,
            wait_for_server=wait_for_server,
            **options,
        )
        self.received: list[Message] = []

    def on_message(self, message: Message) -> None:
        """Record one received message and queue it for ``recv``."""
        self.received.append(message)
        self.emit(message)
