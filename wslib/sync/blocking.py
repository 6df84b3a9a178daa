"""Blocking clients for scripts and notebook cells, run on the kit's background loop.

Usage::

    with SyncClient("ws://127.0.0.1:8080/") as client:
        client.send("hello")
        print(client.recv(timeout=5))

    with SyncChatClient("ws://127.0.0.1:8080/chat", "alice") as alice:
        alice.send("hi all")

They wrap ``Client`` and ``ChatClient``: the connection lives on the kit's loop, so it keeps
receiving (and reconnecting) while your code blocks, and ``wslib.stop_all()`` stops it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from ..client.chatclient import ChatClient, Event
from ..client.client import BaseClient, Client, Message, Status
from ..core.lifetime import StopOnExit
from . import runtime

__all__ = ["SyncChatClient", "SyncClient"]

E = TypeVar("E")

_SETTLE_TIMEOUT = 10.0


class _Blocking(StopOnExit, Generic[E]):
    def __init__(self, client: BaseClient[E], timeout: float | None) -> None:
        self.client = client
        client.listen(self._on_event)
        runtime.run(client.start(timeout), None if timeout is None else timeout + 1)
        runtime.remember(self)
        if client.status.state == "closed":  # closed for good while being registered
            runtime.forget(self)

    @property
    def status(self) -> Status:
        """Return the connection's status."""
        return self.client.status

    def recv(self, timeout: float | None = None) -> E:
        """Block until the next received item and return it.

        Raises:
            TimeoutError: Nothing arrived within ``timeout`` seconds.
        """
        try:
            return runtime.run(self.client.recv(timeout))
        except TimeoutError:
            raise TimeoutError(f"nothing received within {timeout} s") from None

    def wait_for(self, predicate: Callable[[], bool], timeout: float | None = None) -> None:
        """Block until ``predicate()`` holds (checked after each event on the kit's loop).

        Raises:
            TimeoutError: It did not hold within ``timeout`` seconds.
        """
        try:
            runtime.run(self.client.wait_for(predicate, timeout))
        except TimeoutError:
            raise TimeoutError(f"still waiting after {timeout} s") from None

    def stop(self) -> None:
        """Close the connection (1000) and stop reconnecting."""
        runtime.run(self.client.stop(), _SETTLE_TIMEOUT)
        runtime.forget(self)

    def _on_event(self, event: object) -> None:
        if isinstance(event, Status) and event.state == "closed":
            runtime.forget(self)  # closed for good: nothing left for stop_all to stop


class SyncClient(_Blocking[Message]):
    """Connect to a relay (or any WebSocket server) and block on each call.

    Args:
        url: A ``ws://`` or ``wss://`` URL.
        timeout: How long to wait for the connection to open.
        **options: Passed on to ``Client`` (``reconnect``, ``on_event``, ...).
    """

    client: Client

    def __init__(self, url: str, *, timeout: float | None = 10.0, **options: Any) -> None:
        super().__init__(Client(url, **options), timeout)

    @property
    def received(self) -> list[Message]:
        """Return every message received so far."""
        return list(self.client.received)

    def send(self, message: str | bytes) -> None:
        """Send one message."""
        runtime.run(self.client.send(message))


class SyncChatClient(_Blocking[Event]):
    """Join the kit's chat as ``name`` and block on each call.

    Args:
        url: The chat's URL, e.g. ``ws://127.0.0.1:8080/chat``.
        name: The name to join with.
        timeout: How long to wait for the connection to open and the join to be answered.
        **options: Passed on to ``ChatClient``.
    """

    client: ChatClient

    def __init__(
        self, url: str, name: str, *, timeout: float | None = 10.0, **options: Any
    ) -> None:
        super().__init__(ChatClient(url, name, **options), timeout)
        self.wait_for(lambda: self.client.joined or bool(self.client.errors), timeout)

    @property
    def messages(self) -> list[Event]:
        """Return the chat messages seen so far, each once, in order."""
        return list(self.client.messages)

    @property
    def online(self) -> list[str]:
        """Return who is online, as the server last said."""
        return list(self.client.online)

    def send(self, text: str, to: str | None = None) -> str:
        """Send a chat message; return its client message id."""
        return runtime.run(self.client.send(text, to))
