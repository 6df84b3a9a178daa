"""Do the WebSocket opening handshake by hand: build the request, check the answer.

The handshake is one HTTP/1.1 exchange (RFC 6455 §4). The client sends a ``GET`` with
``Upgrade: websocket`` and a random ``Sec-WebSocket-Key``; the server proves that it
speaks WebSocket by answering ``101 Switching Protocols`` with a ``Sec-WebSocket-Accept``
value derived from that key. Nothing here touches a socket: the functions build and read
bytes, so a notebook can send them over a raw socket and show every step::

    request = upgrade_request("localhost:8765", "/chat", key=SAMPLE_KEY)
    sock.sendall(request)
    response = parse_response(sock.recv(4096))
    check_accept(response, SAMPLE_KEY)  # raises HandshakeError if the server said no
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass

from ..exceptions import WslibError

__all__ = [
    "GUID",
    "SAMPLE_KEY",
    "HandshakeError",
    "HandshakeRejected",
    "InvalidAccept",
    "InvalidResponse",
    "Response",
    "accept_key",
    "check_accept",
    "new_key",
    "parse_response",
    "upgrade_request",
]

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
"""The fixed string every server appends to the client's key (RFC 6455 §1.3)."""

SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
"""The example key of RFC 6455 §1.3; its accept value is ``s3pPLMBiTxaQ9kYGzzhZRbK+xOo=``."""

_HEAD_END = b"\r\n\r\n"


class HandshakeError(WslibError):
    """The opening handshake did not succeed."""


class InvalidResponse(HandshakeError):
    """The bytes received are not an HTTP/1.1 response head."""


class HandshakeRejected(HandshakeError):
    """The server answered with a status other than 101 Switching Protocols."""


class InvalidAccept(HandshakeError):
    """The ``Sec-WebSocket-Accept`` header is missing or does not match the key."""


@dataclass(frozen=True)
class Response:
    """An HTTP response head, as the server sent it.

    Attributes:
        status: Status code, e.g. ``101``.
        reason: Reason phrase, e.g. ``"Switching Protocols"``.
        headers: ``(name, value)`` pairs in the order they arrived.
    """

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]

    def header(self, name: str) -> str | None:
        """Look up a header, ignoring the case of its name.

        Args:
            name: Header name, e.g. ``"sec-websocket-accept"``.

        Returns:
            The value, or ``None`` if absent. A header sent several times gives its
            values joined by ``", "``, as HTTP allows (RFC 9110 §5.3).
        """
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        return ", ".join(values) if values else None


def accept_key(key: str) -> str:
    """Compute the ``Sec-WebSocket-Accept`` value for a client key (RFC 6455 §4.2.2).

    Args:
        key: The client's ``Sec-WebSocket-Key`` value.

    Returns:
        base64 of the SHA-1 digest of ``key + GUID``.
    """
    digest = hashlib.sha1((key + GUID).encode()).digest()
    return base64.b64encode(digest).decode("ascii")


def new_key() -> str:
    """Draw a fresh ``Sec-WebSocket-Key``: 16 random bytes, base64-encoded (RFC 6455 §4.1).

    Returns:
        A 24-character key.
    """
    return base64.b64encode(secrets.token_bytes(16)).decode("ascii")


def upgrade_request(
    host: str, path: str = "/", key: str = SAMPLE_KEY, origin: str | None = None
) -> bytes:
    """Build the client's opening handshake request (RFC 6455 §4.1).

    Args:
        host: Value of the ``Host`` header, e.g. ``"localhost:8765"``.
        path: Resource to open; must start with ``/``.
        key: ``Sec-WebSocket-Key``; use :func:`new_key` outside examples.
        origin: Value of the ``Origin`` header, which browsers always send.

    Returns:
        The request head, ready to write to the socket.

    Raises:
        ValueError: If ``path`` does not start with ``/`` or a value is not ASCII or
            contains a line break (which would smuggle in extra headers).
    """
    if not path.startswith("/"):
        raise ValueError(f"path must start with '/': {path!r}")
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    for line in lines:
        if "\r" in line or "\n" in line:
            raise ValueError(f"line break in request line {line!r}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def parse_response(data: bytes | bytearray) -> Response:
    """Read the status line and headers of the server's answer.

    Anything after the blank line that ends the head is not part of the handshake
    (it is a body, or the first WebSocket frames) and is ignored.

    Args:
        data: Bytes received so far, starting with the status line.

    Returns:
        The parsed response head.

    Raises:
        InvalidResponse: If the head is incomplete or not HTTP/1.1.
    """
    end = data.find(_HEAD_END)
    if end < 0:
        raise InvalidResponse("incomplete response: no blank line after the headers yet")
    # Header bytes are ASCII in practice; ISO-8859-1 decodes any byte, so it never fails.
    status_line, *header_lines = bytes(data[:end]).decode("iso-8859-1").split("\r\n")
    version, _, rest = status_line.partition(" ")
    code, _, reason = rest.partition(" ")
    if version != "HTTP/1.1" or len(code) != 3 or not code.isdigit():
        raise InvalidResponse(f"not an HTTP/1.1 status line: {status_line!r}")
    headers = []
    for line in header_lines:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise InvalidResponse(f"not a header line: {line!r}")
        headers.append((name, value.strip(" \t")))
    return Response(int(code), reason, tuple(headers))


def check_accept(response: Response, key: str) -> None:
    """Check that the server accepted the handshake for this key (RFC 6455 §4.1).

    Args:
        response: The parsed answer from :func:`parse_response`.
        key: The ``Sec-WebSocket-Key`` sent in the request.

    Raises:
        HandshakeRejected: If the status is not 101.
        InvalidAccept: If ``Sec-WebSocket-Accept`` is missing or wrong for ``key``.
    """
    if response.status != 101:
        raise HandshakeRejected(
            f"server answered {response.status} {response.reason}, expected 101 Switching Protocols"
        )
    got = response.header("Sec-WebSocket-Accept")
    if got is None:
        raise InvalidAccept("no Sec-WebSocket-Accept header in the 101 response")
    expected = accept_key(key)
    if got != expected:
        raise InvalidAccept(f"Sec-WebSocket-Accept is {got!r}, expected {expected!r}")
