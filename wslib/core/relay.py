"""The article's broadcast rule, with no sockets: who gets what, and what is logged.

The article's Node.js server relays every message a client sends to every *other* open
client, prefixed with ``Received message from peer: ``, and logs ``Received message: …``
for each message and ``Client disconnected`` for each disconnect. ``Relay`` keeps the
membership and answers each event with what to send to whom; the server writes it.

Binary messages are relayed unchanged as binary (the article's code would have turned
them into text) and logged by their size.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from .display import describe_binary, printable

__all__ = [
    "DISCONNECT_LINE",
    "PEER_PREFIX",
    "RECEIVED_PREFIX",
    "Delivery",
    "Relay",
    "log_line",
    "relayed",
]

PEER_PREFIX = "Received message from peer: "
RECEIVED_PREFIX = "Received message: "
DISCONNECT_LINE = "Client disconnected"

Member = TypeVar("Member", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Delivery(Generic[Member]):
    """What one received message turns into: a payload for some members and a log line."""

    recipients: list[Member]
    payload: str | bytes
    log_line: str


class Relay(Generic[Member]):
    """Keep the relay's members and decide, for each message, who receives what.

    Usage::

        relay: Relay[str] = Relay()
        relay.join("alice"); relay.join("bob")
        delivery = relay.receive("alice", "hi")
        assert delivery.recipients == ["bob"]
        assert delivery.payload == "Received message from peer: hi"
    """

    version: int
    """A number that changes whenever a member joins or leaves (read it, never set it).

    A plain attribute, not a property: a server's fan-out reads it for every message."""

    def __init__(self) -> None:
        self._members: dict[Member, None] = {}  # a dict keeps join order
        self.version = 0

    @property
    def members(self) -> list[Member]:
        """Return the current members in the order they joined."""
        return list(self._members)

    def join(self, member: Member) -> None:
        """Add ``member``; it receives what others send from now on."""
        self._members[member] = None
        self.version += 1

    def leave(self, member: Member) -> str:
        """Remove ``member`` and return the log line for its disconnect."""
        if self._members.pop(member, 0) is None:
            self.version += 1
        return DISCONNECT_LINE

    def receive(self, sender: Member, message: str | bytes) -> Delivery[Member]:
        """Return the delivery for ``message`` sent by ``sender``.

        Args:
            sender: The member that sent the message; it gets nothing back.
            message: A text or binary message.

        Returns:
            Every other member as recipients, the payload (prefixed text, or the bytes
            unchanged) and the log line, with unsafe characters escaped.
        """
        recipients = list(self._members)  # copied and searched in C: cheap per message
        if sender in self._members:
            recipients.remove(sender)
        return Delivery(recipients, relayed(message), log_line(message))


def relayed(message: str | bytes) -> str | bytes:
    """Return what the relay sends on for ``message``: text prefixed, bytes unchanged."""
    return PEER_PREFIX + message if isinstance(message, str) else message


def log_line(message: str | bytes) -> str:
    """Return the article's log line for a received message, with unsafe characters escaped."""
    if isinstance(message, str):
        return RECEIVED_PREFIX + printable(message)
    return RECEIVED_PREFIX + describe_binary(message)
