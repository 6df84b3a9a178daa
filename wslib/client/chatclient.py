"""An async client for the kit's JSON chat (``/chat``) that resumes where it left off.

Usage::

    async with ChatClient("ws://127.0.0.1:8080/chat", "alice") as alice:
        await alice.send("hello")
        await alice.wait_for(lambda: not alice.pending)   # acknowledged

What it adds to ``Client`` (see docs/chat-protocol.md):

1. Each (re)connection joins with the name, the resume token and the id of the last
   message seen, so the server replays exactly what was missed.
2. Each send carries a fresh client message id (``cid``) and stays in ``pending`` until the
   server acknowledges it; after a reconnection, pending sends are sent again and the
   server drops any it already accepted, so nothing is lost and nothing shows twice.
3. ``messages`` holds each chat message once, in order, whatever was replayed.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from websockets.asyncio.client import ClientConnection

from ..core.protocol import VERSION
from .client import BaseClient, Message, NotConnectedError

__all__ = ["RETRY_ERRORS", "ChatClient", "Event", "JSONValue"]

#: Error codes that refuse a send only for now; the send stays pending and is retried.
RETRY_ERRORS = frozenset({"unavailable"})

#: A value in a JSON document, as ``json.loads`` returns it.
JSONValue = str | int | float | bool | None | list["JSONValue"] | dict[str, "JSONValue"]

#: One event of the chat protocol (docs/chat-protocol.md), as a decoded JSON object.
Event = dict[str, JSONValue]


class ChatClient(BaseClient[Event]):
    """Join the chat as ``name`` and keep the conversation, across reconnections.

    Args:
        url: The chat's URL, e.g. ``ws://127.0.0.1:8080/chat``.
        name: The name to join with.
        **options: Passed on to ``Client`` (``reconnect``, ``on_event``, ...).

    Attributes:
        messages: Chat message events, each once, in order.
        online: Who is online, as the server last said.
        pending: Sends not yet acknowledged, by client message id, in order.
        errors: Error events the server sent to this client.
        history_resets: How many times the server said history was lost (``reset``).
    """

    def __init__(self, url: str, name: str, **options: Any) -> None:
        super().__init__(url, **options)
        self.name = name
        self.token: str | None = None
        self.last_id: str | None = None
        self.joined = False
        self.messages: list[Event] = []
        self.online: list[str] = []
        self.pending: dict[str, Event] = {}
        self.errors: list[Event] = []
        self.history_resets = 0
        self._seen: set[str] = set()
        self._resends: set[asyncio.Task[None]] = set()

    async def send(self, message: Message, to: str | None = None) -> str:  # type: ignore[override]
        """Send a chat message (to everyone, or privately ``to`` one name); return its cid.

        While the connection is down the message waits in ``pending`` and goes out after
        the next join.
        """
        if not isinstance(message, str):
            raise TypeError("chat messages are text")
        cid = uuid.uuid4().hex
        event: Event = {"type": "send", "cid": cid, "text": message}
        if to is not None:
            event["to"] = to
        self.pending[cid] = event
        # ``joined`` still holds while reconnecting; ``is_open`` says the link is up now.
        if self.joined and self.is_open:
            await self._send_event(event)
        return cid

    async def typing(self) -> None:
        """Tell the others that this client is typing."""
        if self.joined and self.is_open:
            await self._send_event({"type": "typing"})

    async def on_open(self, connection: ClientConnection) -> None:
        """Join (or rejoin) with the name, token and last seen id."""
        self.joined = False
        join: Event = {"type": "join", "v": VERSION, "name": self.name}
        if self.token is not None:
            join["token"] = self.token
        if self.last_id is not None:
            join["last_id"] = self.last_id
        await connection.send(json.dumps(join))

    def on_message(self, message: Message) -> None:
        """Apply one server event to the client's state, then pass it on."""
        event: Event = json.loads(message)
        kind = event.get("type")
        if kind == "welcome":
            self._welcome(event)
        elif kind == "message":
            self._record(event)
        elif kind == "ack":
            self.pending.pop(text(event, "cid") or "", None)
        elif kind == "joined":  # presence comes as deltas; the whole list only on welcome
            self.online = sorted({*self.online, text(event, "name") or ""})
        elif kind == "left":
            self.online = [name for name in self.online if name != text(event, "name")]
        elif kind == "error":
            self.errors.append(event)
            if event.get("code") not in RETRY_ERRORS:
                # The server refused this send for good (too long, bad text, no such user):
                # retrying it after a reconnection would only be refused again.
                self.pending.pop(text(event, "cid") or "", None)
        self.emit(event)

    def _welcome(self, event: Event) -> None:
        self.joined = True
        self.name = text(event, "name") or self.name
        self.token = text(event, "token") or self.token
        self.online = names(event, "online")
        if event.get("reset"):
            self.history_resets += 1
        history = event.get("history")
        for message in history if isinstance(history, list) else []:
            if isinstance(message, dict):
                self._record(message)
        for pending in list(self.pending.values()):  # retried in the order they were sent
            self._resend(pending)

    def _record(self, message: Event) -> None:
        message_id = message.get("id")
        if message_id in self._seen:
            return
        if isinstance(message_id, str):
            self._seen.add(message_id)
            if "to" not in message:
                self.last_id = message_id
        self.messages.append(message)

    def _resend(self, event: Event) -> None:
        connection = self._connection
        if connection is not None:
            # on_message is synchronous and send is a coroutine, so schedule it; the loop
            # starts tasks in the order they were created, which keeps the sends in order.
            task = asyncio.get_running_loop().create_task(connection.send(json.dumps(event)))
            self._resends.add(task)
            task.add_done_callback(self._resends.discard)

    async def _send_event(self, event: Event) -> None:
        if self._connection is None:
            raise NotConnectedError(f"not connected to {self.url} ({self.status})")
        await self._connection.send(json.dumps(event))


def text(event: Event, key: str) -> str | None:
    """Return ``event[key]`` if it is a string, else ``None``."""
    value = event.get(key)
    return value if isinstance(value, str) else None


def names(event: Event, key: str) -> list[str]:
    """Return the strings listed under ``event[key]`` (e.g. who is online), or ``[]``."""
    value = event.get(key)
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []
