"""Choose a free port that a server can stop and start again on: one the kernel never lends.

Port 0 lets the kernel choose from its *ephemeral range*, the same pool it draws from
for the local end of every outgoing connection on the machine. While a server started
that way restarts, its port is back in that pool: a browser's connection, another
program's, or a client reconnecting to this very port (a TCP self-connect: the kernel
gives the client the port it is dialling) can take it, and the restart fails with
"address already in use". A port below the range is taken only by a program that asks
for it by number, so ``wslib.start(port=0)`` binds one of those instead.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

__all__ = ["ephemeral_range", "restartable_port"]

#: Where Linux keeps the ephemeral range (``net.ipv4.ip_local_port_range``).
_LINUX_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
#: IANA's dynamic ports (RFC 6335), which macOS and Windows use by default.
_IANA_RANGE = (49152, 65535)
#: The lowest port to choose: clear of the registered services most machines run.
_LOWEST = 20000


def ephemeral_range() -> tuple[int, int]:
    """Return the first and last port the kernel lends out (Linux's setting, or IANA's)."""
    try:
        first, last = (int(part) for part in _LINUX_RANGE.read_text().split())
    except (OSError, ValueError):
        return _IANA_RANGE
    return first, last


def restartable_port(host: str = "127.0.0.1", *, tries: int = 100) -> int | None:
    """Return a port free on ``host`` now, below the ephemeral range; ``None`` if none is found.

    Args:
        host: The address the server will bind (its every address must have the port free).
        tries: How many random ports to try.
    """
    first = ephemeral_range()[0]
    lowest = _LOWEST if first > _LOWEST else first // 2
    for _ in range(tries):
        port = random.randrange(lowest, first)
        if _free(host, port):
            return port
    return None


def _free(host: str, port: int) -> bool:
    """Return whether a listening socket could bind ``port`` on every address of ``host``."""
    try:
        addresses = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except OSError:
        return False
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio binds
            try:
                probe.bind(address)
            except OSError:
                return False
    return True
