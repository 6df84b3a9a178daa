"""Define the exceptions that wslib raises.

Every error the package raises on purpose belongs to one small tree, so a caller can catch
``WslibError`` to catch them all, or a branch to catch one kind::

    WslibError
    ├── ChatError(code, detail)         a chat client sent something the room refuses
    │   ├── BadEventError               not a well-formed event: bad_json, binary,
    │   │                               unknown_type, bad_field, bad_version
    │   ├── BadValueError               well formed, but a value is refused: bad_name,
    │   │                               too_long, bad_text
    │   └── StateError                  fine in itself, but not now: not_joined,
    │                                   already_joined, name_taken, no_such_user
    ├── StoreError                      a history store cannot be opened or used
    └── ServerError                     a server cannot start or keep serving
        └── PortInUseError(port)        another process already listens on the port

Logic raises a ``ChatError``; the room turns it into an ``error`` event for the one client
that caused it (see ``docs/chat-protocol.md``) and everyone else is unaffected.
"""

from __future__ import annotations

__all__ = [
    "BadEventError",
    "BadValueError",
    "ChatError",
    "PortInUseError",
    "ServerError",
    "StateError",
    "StoreError",
    "WslibError",
]


class WslibError(Exception):
    """Signal any error that wslib raises on purpose."""


class ChatError(WslibError):
    """Refuse one chat event with a stable machine-readable code and a sentence for people.

    Args:
        code: A short stable identifier such as ``"bad_json"``; clients may switch on it.
        detail: One sentence that says what was wrong, for a person to read.
    """

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class BadEventError(ChatError):
    """Refuse an event that is not well formed (not JSON, wrong shape, unknown type)."""


class BadValueError(ChatError):
    """Refuse a well-formed event whose name or text is not allowed."""


class StateError(ChatError):
    """Refuse an event that is valid in itself but not in the room's current state."""


class StoreError(WslibError):
    """Signal that a history store cannot be opened or is not one this version understands."""


class ServerError(WslibError):
    """Signal that a server cannot start or keep serving."""


class PortInUseError(ServerError):
    """Signal that another process already listens on the requested port.

    Args:
        port: The TCP port that was asked for.
    """

    def __init__(self, port: int) -> None:
        super().__init__(f"port {port} is already in use")
        self.port = port
