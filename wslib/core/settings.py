"""Every limit a server enforces, with its default, in one place.

=====================  ===========  ===========================================================
setting                default      what happens past it
=====================  ===========  ===========================================================
``max_size``           64 KiB       a larger message closes the connection with 1009
``max_fragment``       64 KiB       each fragment too; a flood of tiny fragments still counts
                                    toward ``max_size``, so a message stays bounded
``write_limit``        1 MiB        a client with more queued for it is dropped: code 1013,
                                    one log line, transport aborted after ``drop_grace``
``drop_grace``         2 s          how long a dropped client gets to take its close frame
``chat_rate``          20/s, 40     chat messages (and typing) per second, burst; past it 1008
``relay_rate``         off          the article's relay had no rate limit; set one to get 1008
``max_connections``    20,000       counting handshakes in progress, lowered 128 below the
                                    descriptor limit; past it HTTP 503 (wslib.server.admission)
``open_timeout``       10 s         a handshake not finished by then is closed
``ping_interval``      20 s         keepalive: how often the server pings
``ping_timeout``       20 s         a peer that does not answer a ping in time is closed (1011)
``close_timeout``      2 s          how long a closing handshake may take before the server
                                    aborts the connection (websockets waits 10 s)
``origins``            own page     browser pages from other origins get HTTP 403
``compression``        off          not negotiated, so no decompression bomb can be sent
=====================  ===========  ===========================================================
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Limits"]


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits a ``Server`` enforces; see the module's table for what each does.

    Usage::

        Server(port=0, limits=Limits(max_size=1 << 20, relay_rate=(10, 20)))
    """

    max_size: int | None = 64 * 1024
    max_fragment: int | None = 64 * 1024
    write_limit: int | None = 1024 * 1024
    drop_grace: float = 2.0
    chat_rate: tuple[float, float] | None = (20.0, 40.0)
    relay_rate: tuple[float, float] | None = None
    max_connections: int | None = None
    open_timeout: float | None = 10.0
    ping_interval: float | None = 20.0
    ping_timeout: float | None = 20.0
    close_timeout: float | None = 2.0
    origins: tuple[str, ...] | None = None
