"""A WebSocket client on a bare socket, for the tests that send what no real client would.

websockets' own client refuses to send an unmasked frame, a reserved opcode or a long ping,
and it answers pings by itself. The hardening tests therefore speak the protocol by hand:
the opening handshake comes from ``wslib.teaching.handshake``, frames are built byte by byte with
``frame``, and what the server sends back is read with ``wslib.teaching.frames.decode_frame``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
from collections.abc import Callable

from support import TIMEOUT

from wslib.teaching.frames import (
    Frame,
    IncompleteFrame,
    Opcode,
    apply_mask,
    decode_frame,
    parse_close,
)
from wslib.teaching.handshake import (
    Response,
    check_accept,
    new_key,
    parse_response,
    upgrade_request,
)

__all__ = ["RawClient", "frame", "http_exchange", "open_socket", "status_of", "until"]


def frame(
    opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0, mask: bool = True
) -> bytes:
    """Return the bytes of one frame, valid or not.

    Args:
        opcode: Any 4-bit opcode, reserved ones included.
        payload: The payload, before masking; control frames may be longer than 125 here.
        fin: The FIN bit.
        rsv: The three reserved bits as a number: 4 is RSV1, 2 is RSV2, 1 is RSV3.
        mask: Whether to mask it, as a client must.
    """
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    mask_bit = 0x80 if mask else 0
    length = len(payload)
    if length <= 125:
        header = struct.pack("!BB", first, mask_bit | length)
    elif length <= 0xFFFF:
        header = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, length)
    if not mask:
        return header + payload
    key = os.urandom(4)
    return header + key + apply_mask(payload, key)


async def open_socket(
    port: int, *, rcvbuf: int | None = None, limit: int = 2**16
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a TCP connection to the loopback ``port``, with a small receive buffer if asked.

    Args:
        port: The server's port.
        rcvbuf: ``SO_RCVBUF`` in bytes, set before connecting so the kernel keeps it.
        limit: The stream reader's buffer limit (reading pauses past twice this).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        async with asyncio.timeout(TIMEOUT):
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        return await asyncio.open_connection(sock=sock, limit=limit)
    except BaseException:
        sock.close()
        raise


async def http_exchange(port: int, request: bytes, timeout: float = TIMEOUT) -> bytes:
    """Send ``request`` on a fresh connection; return all the server sends until it closes."""
    reader, writer = await open_socket(port)
    try:
        writer.write(request)
        async with asyncio.timeout(timeout):
            return await reader.read(-1)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


class RawClient:
    """One WebSocket connection on a bare socket; open it with ``connect``."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self._buffer = bytearray()

    @classmethod
    async def connect(
        cls,
        port: int,
        path: str = "/",
        *,
        origin: str | None = None,
        rcvbuf: int | None = None,
        limit: int = 2**16,
    ) -> RawClient:
        """Open a connection and complete the opening handshake.

        Raises:
            wslib.teaching.handshake.HandshakeRejected: The server did not answer 101.
        """
        reader, writer = await open_socket(port, rcvbuf=rcvbuf, limit=limit)
        key = new_key()
        writer.write(upgrade_request(f"127.0.0.1:{port}", path, key, origin))
        try:
            async with asyncio.timeout(TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
            check_accept(parse_response(head), key)
        except BaseException:
            writer.transport.abort()
            raise
        return cls(reader, writer)

    @property
    def transport(self) -> asyncio.Transport:
        """Return the underlying transport (to pause reading, or to abort)."""
        return self.writer.transport  # type: ignore[return-value]

    async def send(self, data: bytes) -> None:
        """Write raw bytes and wait until the transport has taken them."""
        self.writer.write(data)
        await self.writer.drain()

    async def send_text(self, text: str) -> None:
        """Send one valid, masked text frame."""
        await self.send(frame(Opcode.TEXT, text.encode()))

    async def read_frame(self, timeout: float = TIMEOUT) -> Frame | None:
        """Return the next frame from the server, or ``None`` once the connection has ended."""
        async with asyncio.timeout(timeout):
            while True:
                try:
                    received, used = decode_frame(self._buffer)
                except IncompleteFrame:
                    try:
                        chunk = await self.reader.read(2**16)
                    except ConnectionError:
                        return None
                    if not chunk:
                        return None
                    self._buffer += chunk
                    continue
                del self._buffer[:used]
                return received

    async def close_code(self, timeout: float = TIMEOUT) -> int | None:
        """Skip data frames until the server's close frame; return its code.

        Returns ``None`` when the connection ends without a close frame.
        """
        async with asyncio.timeout(timeout):
            while (received := await self.read_frame(timeout)) is not None:
                if received.opcode is Opcode.CLOSE:
                    return parse_close(received.payload)[0]
        return None

    async def wait_eof(self, timeout: float = TIMEOUT) -> None:
        """Wait until the server has closed the TCP connection (reading and dropping data)."""
        async with asyncio.timeout(timeout):
            while await self.read_frame(timeout) is not None:
                pass

    async def close(self) -> None:
        """Close the socket without a closing handshake."""
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


def status_of(answer: bytes) -> int:
    """Return the status code of a raw HTTP answer."""
    response: Response = parse_response(answer)
    return response.status


async def until(predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    """Wait until ``predicate()`` holds, checking every few milliseconds; fail on timeout.

    For server-side state that no event announces (a count of open connections, a task
    set that empties), checked a bounded number of times.
    """
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - no event announces these states
            await asyncio.sleep(0.005)
