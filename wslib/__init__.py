"""wslib: WebSockets in ten minutes, live in Jupyter.

The article's broadcast chat as a package: a server (``Server``, or ``start`` from a
notebook cell or script), clients that reconnect (``Client``, ``ChatClient`` and their
blocking twins), the ``wslib`` command line, and teaching helpers for the wire.

Usage::

    import wslib

    server = wslib.start(port=0)          # runs in the background; the cell returns
    with wslib.SyncClient(server.url) as alice, wslib.SyncClient(server.url) as bob:
        alice.send("hello")
        print(bob.recv(timeout=5))        # Received message from peer: hello
    wslib.stop_all()
"""

from __future__ import annotations

import logging

from .background import BackgroundServer, serve_forever, start
from .blocking import SyncChatClient, SyncClient
from .chatclient import ChatClient
from .client import Backoff, Client, NotConnectedError, Status
from .codes import CLOSE_GOING_AWAY, CLOSE_REPLACED, CLOSE_TAKEN_OVER
from .exceptions import ChatError, PortInUseError, WslibError
from .logbook import LogBook
from .nested import allow_nested_asyncio
from .runtime import stop_all
from .server import Server

__all__ = [
    "CLOSE_GOING_AWAY",
    "CLOSE_REPLACED",
    "CLOSE_TAKEN_OVER",
    "BackgroundServer",
    "Backoff",
    "ChatClient",
    "ChatError",
    "Client",
    "LogBook",
    "NotConnectedError",
    "PortInUseError",
    "Server",
    "Status",
    "SyncChatClient",
    "SyncClient",
    "WslibError",
    "__version__",
    "allow_nested_asyncio",
    "serve_forever",
    "start",
    "stop_all",
]

__version__ = "0.1.0"

# A library leaves logging to its user; this keeps Python's last-resort handler from
# printing the kit's warnings into whichever notebook cell happens to be running.
logging.getLogger("wslib").addHandler(logging.NullHandler())
