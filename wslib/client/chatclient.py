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
   Sends go out one at a time, each once the one before it is answered, so they are
   stored in the order they were made. One the server refuses for now (``unavailable``:
   its database is locked or full) is sent again on the open connection after a backoff
   delay (``Backoff``, capped at its ``maximum``), before anything sent later, until it
   is stored or the client stops. ``wslib.core.outbox`` holds these rules, with no I/O.
3. Sends, new or retried, go out at most at ``SEND_RATE``, below the server's default
   ``chat_rate``: sixty lines typed while the server was down are not one burst that gets
   the client closed with 1008. Should a server with a lower limit close it with 1008 all
   the same, the client reconnects at half its pace and sends the rest.
4. Should the client close for good with sends still unacknowledged, it says which: an
   ``error`` event with code ``not_delivered`` (marked ``"local": true``) lists them, and
   ``undelivered`` keeps them.
5. ``messages`` holds each chat message once, in order, whatever was replayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Iterator
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from ..core.codes import CLOSE_POLICY_VIOLATION
from ..core.limits import RateLimiter
from ..core.outbox import Outbox
from ..core.protocol import VERSION
from .client import Backoff, BaseClient, Message, NotConnectedError, Status

__all__ = ["RATE_CLOSE_REASON", "RETRY_ERRORS", "SEND_RATE", "ChatClient", "Event", "JSONValue"]

#: How fast the client sends chat messages, new or retried, as (per second, burst): under
#: the server's default ``chat_rate`` of 20/s in bursts of 40, with room left for typing.
SEND_RATE = (15.0, 30.0)

#: The reason of the server's 1008 close for a client over its ``chat_rate``.
RATE_CLOSE_REASON = "too many messages; slow down"

#: Error codes that refuse a send only for now: it stays pending and is sent again, after a
#: backoff delay, before any later send.
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
        joined: Whether the server welcomed this client. It stays true while the client
            reconnects, and turns false once it has stopped or closed for good.
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
        self.errors: list[Event] = []
        self.history_resets = 0
        self.undelivered: list[Event] = []
        self._seen: set[str] = set()
        # Which send goes out next, and when (``wslib.core.outbox``); ``pending`` is its.
        self._outbox: Outbox[Event] = Outbox(RateLimiter(*SEND_RATE), self._refusal_delays)
        self.pending = self._outbox.pending
        self._pacer: asyncio.Task[None] | None = None

    async def send(self, message: Message, to: str | None = None) -> str:  # type: ignore[override]
        """Send a chat message (to everyone, or privately ``to`` one name); return its cid.

        While the connection is down the message waits in ``pending`` and goes out after
        the next join.

        Raises:
            TypeError: ``message`` is not text.
            NotConnectedError: The client has stopped or closed for good: nothing would
                ever send the message.
        """
        if not isinstance(message, str):
            raise TypeError("chat messages are text")
        if self._stopping or self.status.state == "closed":
            raise NotConnectedError(f"not connected to {self.url} ({self.status})")
        cid = uuid.uuid4().hex
        event: Event = {"type": "send", "cid": cid, "text": message}
        if to is not None:
            event["to"] = to
        self._outbox.add(cid, event)
        # ``joined`` still holds while reconnecting; ``is_open`` says the link is up now.
        if self.joined and self.is_open and self._pacer is None:
            ready, _ = self._outbox.next(asyncio.get_running_loop().time())
            if ready is not None:  # nothing before it, within the pace: send it from here
                with contextlib.suppress(ConnectionClosed):  # kept pending, resent later
                    await self._send_event(self.pending[ready])
            else:
                self._pace()
        return cid

    async def typing(self) -> None:
        """Tell the others that this client is typing (skipped while sends wait their turn)."""
        if self.joined and self.is_open and not self._outbox.waiting and self._take_token():
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
            self._answered(event, stored=True)
        elif kind == "joined":  # presence comes as deltas; the whole list only on welcome
            self.online = sorted({*self.online, text(event, "name") or ""})
        elif kind == "left":
            self.online = [name for name in self.online if name != text(event, "name")]
        elif kind == "error":
            self.errors.append(event)
            self._answered(event, stored=False, retry=event.get("code") in RETRY_ERRORS)
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
        if self._pacer is not None:  # still busy with the connection that was lost
            self._pacer.cancel()
            self._pacer = None
        self._outbox.restart()  # what is pending goes again, in the order it was sent, paced
        self._pace()

    def _record(self, message: Event) -> None:
        message_id = message.get("id")
        if message_id in self._seen:
            return
        if isinstance(message_id, str):
            self._seen.add(message_id)
            if "to" not in message:
                self.last_id = message_id
        self.messages.append(message)

    def _answered(self, event: Event, *, stored: bool, retry: bool = False) -> None:
        """Settle the send an ``ack`` or ``error`` answers, and let the next one go."""
        cid = text(event, "cid")
        if cid is None:
            return  # the answer names no send
        self._outbox.answered(cid, asyncio.get_running_loop().time(), stored=stored, retry=retry)
        self._pace()

    def _refusal_delays(self) -> Iterator[float]:
        return (self.backoff or Backoff()).delays()

    def _take_token(self) -> bool:
        return self._outbox.limiter.allow(asyncio.get_running_loop().time())

    def _pace(self) -> None:
        """Make sure a task sends what the outbox holds, one at a time, at ``SEND_RATE``."""
        if self._pacer is None and self._outbox.waiting and self._connection is not None:
            self._pacer = asyncio.get_running_loop().create_task(self._drain(self._connection))

    async def _drain(self, connection: ClientConnection) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._connection is connection and self.joined:
                cid, wait = self._outbox.next(loop.time())
                if cid is not None:
                    await connection.send(json.dumps(self.pending[cid]))
                elif wait > 0:
                    await asyncio.sleep(wait)  # pacing sends: waiting for time is the point
                else:
                    break  # nothing to send, or one in flight: its answer paces again
        except ConnectionClosed:
            pass  # what is left goes out after the next welcome
        finally:
            if self._pacer is asyncio.current_task():
                self._pacer = None

    def _reconnects(self, code: int | None, reason: str) -> bool:
        if code == CLOSE_POLICY_VIOLATION and reason == RATE_CLOSE_REASON:
            # This client went too fast for this server: slow down and carry on, rather
            # than drop what it still holds.
            limiter = self._outbox.limiter
            self._outbox.limiter = RateLimiter(limiter.rate / 2, max(1.0, limiter.burst / 2))
            return not self._stopping
        return super()._reconnects(code, reason)

    def emit(self, event: Event | Status) -> None:
        """Pass ``event`` on; on closing for good with sends unacknowledged, say which."""
        gone = isinstance(event, Status) and event.state in ("reconnecting", "closed")
        if gone and self._pacer is not None:  # its connection is gone; a welcome starts one
            self._pacer.cancel()
            self._pacer = None
        if isinstance(event, Status) and event.state == "closed":
            self.joined = False  # the session is over: ``send`` now raises
        super().emit(event)
        if isinstance(event, Status) and event.state == "closed" and self.pending:
            self.undelivered = list(self.pending.values())
            texts = ", ".join(repr(text(e, "text")) for e in self.undelivered[:5])
            more = "" if len(self.undelivered) <= 5 else ", ..."
            super().emit(
                {
                    "type": "error",
                    "code": "not_delivered",
                    "local": True,
                    "detail": f"{len(self.undelivered)} message(s) were not delivered "
                    f"before the connection closed ({event}): {texts}{more}",
                    "cids": list(self.pending),
                }
            )

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
