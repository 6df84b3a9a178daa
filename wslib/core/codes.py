"""Name the WebSocket close codes that the kit uses or meets.

The 1000-range codes come from RFC 6455, section 7.4.1
(https://www.rfc-editor.org/rfc/rfc6455#section-7.4.1); 4000-4999 is the range the RFC
leaves to applications, and the kit defines two codes there.

====  ======================  ==========================================================
code  constant                meaning for a chat client
====  ======================  ==========================================================
1000  CLOSE_NORMAL            closed on purpose by one side; nothing went wrong
1001  CLOSE_GOING_AWAY        the server is shutting down; reconnect (with backoff)
1002  CLOSE_PROTOCOL_ERROR    the peer broke the WebSocket protocol itself
1007  CLOSE_INVALID_DATA      a text frame was not valid UTF-8
1008  CLOSE_POLICY_VIOLATION  the peer broke a rule of the application
1009  CLOSE_MESSAGE_TOO_BIG   a frame was larger than the receiver accepts
1011  CLOSE_INTERNAL_ERROR    the server hit an unexpected error; reconnect
1013  CLOSE_TRY_AGAIN_LATER   the server dropped a client that fell too far behind; reconnect
4000  CLOSE_REPLACED          the notebook started a new server on this port; final
4001  CLOSE_TAKEN_OVER        your name was resumed by another connection; final
====  ======================  ==========================================================

A client must not reconnect after a code in ``FINAL``: doing so would fight the new server
or the new connection for the same name.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = [
    "CLOSE_GOING_AWAY",
    "CLOSE_INTERNAL_ERROR",
    "CLOSE_INVALID_DATA",
    "CLOSE_MESSAGE_TOO_BIG",
    "CLOSE_NORMAL",
    "CLOSE_POLICY_VIOLATION",
    "CLOSE_PROTOCOL_ERROR",
    "CLOSE_REASONS",
    "CLOSE_REPLACED",
    "CLOSE_TAKEN_OVER",
    "CLOSE_TRY_AGAIN_LATER",
    "FINAL",
]

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_INVALID_DATA = 1007
CLOSE_POLICY_VIOLATION = 1008
CLOSE_MESSAGE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_REPLACED = 4000
CLOSE_TAKEN_OVER = 4001

#: The reason sentence sent with each code (a close reason must fit in 123 bytes).
CLOSE_REASONS: Mapping[int, str] = MappingProxyType(
    {
        CLOSE_NORMAL: "closed normally",
        CLOSE_GOING_AWAY: "server shutting down",
        CLOSE_PROTOCOL_ERROR: "WebSocket protocol error",
        CLOSE_INVALID_DATA: "text frame was not valid UTF-8",
        CLOSE_POLICY_VIOLATION: "policy violation",
        CLOSE_MESSAGE_TOO_BIG: "message too big",
        CLOSE_INTERNAL_ERROR: "internal server error",
        CLOSE_TRY_AGAIN_LATER: "too slow: too much was waiting to be sent to you",
        CLOSE_REPLACED: "server replaced: the notebook started a new server on this port",
        CLOSE_TAKEN_OVER: "your name was resumed by another connection",
    }
)

#: Codes after which a client must stay closed instead of reconnecting.
FINAL: frozenset[int] = frozenset({CLOSE_REPLACED, CLOSE_TAKEN_OVER})
