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

import importlib as _importlib
import logging as _logging
import typing as _typing

from .client.chatclient import ChatClient
from .client.client import Backoff, Client, NotConnectedError, Status
from .client.transcript import Transcript
from .core.codes import CLOSE_GOING_AWAY, CLOSE_REPLACED, CLOSE_TAKEN_OVER
from .core.flow import Flow
from .core.settings import Limits
from .exceptions import ChatError, PortInUseError, WslibError
from .notebook.nested import allow_nested_asyncio
from .notebook.page import page_url, show_page
from .notebook.playground import Playground
from .server.backplane import Backplane, LocalBackplane
from .server.logbook import LogBook
from .server.server import Server
from .sync.background import BackgroundServer, serve_forever, start
from .sync.blocking import SyncChatClient, SyncClient
from .sync.process import WslibProcess, spawn
from .sync.runtime import stop_all
from .teaching.inspector import WireTap
from .teaching.redis_server import RedisServer

if _typing.TYPE_CHECKING:
    from .notebook.checker import PageCheck, check_reconnect
    from .notebook.flowview import FlowDiagram
    from .notebook.panes import ChatPane, PaneRow, ServerLog, chat_panes, side_by_side
    from .notebook.wireview import InspectorView
    from .server.redis_backplane import RedisBackplane

__all__ = [
    "CLOSE_GOING_AWAY",
    "CLOSE_REPLACED",
    "CLOSE_TAKEN_OVER",
    "BackgroundServer",
    "Backoff",
    "Backplane",
    "ChatClient",
    "ChatError",
    "ChatPane",
    "Client",
    "Flow",
    "FlowDiagram",
    "InspectorView",
    "Limits",
    "LocalBackplane",
    "LogBook",
    "NotConnectedError",
    "PageCheck",
    "PaneRow",
    "Playground",
    "PortInUseError",
    "RedisBackplane",
    "RedisServer",
    "Server",
    "ServerLog",
    "Status",
    "SyncChatClient",
    "SyncClient",
    "Transcript",
    "WireTap",
    "WslibError",
    "WslibProcess",
    "__version__",
    "allow_nested_asyncio",
    "chat_panes",
    "check_reconnect",
    "page_url",
    "serve_forever",
    "show_page",
    "side_by_side",
    "spawn",
    "start",
    "stop_all",
]

# The panes and the wire view need ipywidgets and the Redis backplane redis-py, which
# scripts and the command line do not: they load on first use (``wslib.chat_panes``), so
# ``import wslib`` stays light.
_LAZY = {
    **{
        name: "notebook.panes"
        for name in ("ChatPane", "PaneRow", "ServerLog", "chat_panes", "side_by_side")
    },
    **{name: "notebook.checker" for name in ("PageCheck", "check_reconnect")},
    "FlowDiagram": "notebook.flowview",
    "InspectorView": "notebook.wireview",
    "RedisBackplane": "server.redis_backplane",  # needs redis-py: pip install 'wslib[redis]'
}


def __getattr__(name: str) -> _typing.Any:
    if name in _LAZY:
        value = getattr(_importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__version__ = "0.1.0"

# A library leaves logging to its user; this keeps Python's last-resort handler from
# printing the kit's warnings into whichever notebook cell happens to be running.
_logging.getLogger("wslib").addHandler(_logging.NullHandler())
