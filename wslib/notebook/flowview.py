"""Show a live message-flow diagram of a running server, beside its chat panes.

Usage in a notebook::

    server = wslib.start(port=0)
    panes = wslib.chat_panes(server, "Alice", "Bob", "Carol")
    diagram = wslib.FlowDiagram(server, panes=panes)
    diagram                       # the diagram appears and keeps drawing
    print(diagram.text(last=1))   # the latest step as text (what nbval compares)

How it works:

1. The diagram gives each server a ``Flow`` (``wslib.core.flow``), the same one for
   linked servers, unless a server already has one; the server feeds it (``Server.flow``).
2. Panes name their lanes by their address, which is how the server knows them (the
   relay knows nothing else); ``name()`` does the same for other clients, and a chat
   client's lane also takes the name that the server's welcome gives it.
3. Each new step schedules one redraw a moment later on the kit's loop, so a burst of
   messages costs one drawing; the widget is an ipywidgets ``HTML`` holding the SVG of
   ``wslib.core.flowsvg``, every peer's text escaped.
"""

from __future__ import annotations

import asyncio
import contextvars
import socket
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import ipywidgets as widgets  # type: ignore[import-untyped]

from ..core.flow import Flow
from ..core.flowchart import Chart, layout, render_text
from ..core.flowsvg import render_svg
from ..sync import runtime
from ..sync.background import BackgroundServer
from .panes import ChatPane, View

__all__ = ["FlowDiagram"]

T = TypeVar("T")

_REDRAW = 0.1  # seconds: how long a burst may run before the diagram is drawn again
_BOX = "overflow-x: auto; border: 1px solid var(--jp-border-color1, #bbb); background: white;"


class FlowDiagram(View):
    """Draw, live, every connection of a server as a lane and every message as arrows.

    Args:
        *servers: Servers from ``wslib.start``; several linked ones share one diagram,
            with the backplane between them.
        panes: Chat panes whose lanes to name (relay panes by their address).
        keep: How many steps the ``Flow`` keeps (when the diagram creates it).
        max_lanes: How many lanes of each server get a column; the rest share one.
        max_rows: How many arrows the widget draws: the newest steps, whole, below a line
            that counts the earlier ones.

    Attributes:
        flow: The ``Flow`` the servers feed.
        widget: The ipywidgets ``HTML`` that shows the diagram.
    """

    def __init__(
        self,
        *servers: BackgroundServer,
        panes: Iterable[View] = (),
        keep: int = 500,
        max_lanes: int = 6,
        max_rows: int = 16,
    ) -> None:
        if not servers:
            raise ValueError("give at least one server")
        self.servers = servers
        self.panes = [pane for pane in panes if isinstance(pane, ChatPane)]
        self.max_lanes, self.max_rows = max_lanes, max_rows
        self.flow: Flow = next(
            (s.server.flow for s in servers if s.server.flow is not None), None
        ) or Flow(keep, hub=_hub_name(servers))
        self.widget = widgets.HTML(layout=widgets.Layout(max_width="100%"))
        self.widget.add_class("wslib-flow-view")
        self._lock = threading.Lock()
        self._pending = False
        self._named: dict[str, str] = {}
        self._changed = threading.Condition()
        self._steps_seen = 0
        self.chart: Chart = layout(self.flow.snapshot(last=0))
        runtime.run(self._attach(), 10.0)

    # -- reading, from a cell -----------------------------------------------------------

    def mark(self) -> int:
        """Return how many steps are recorded so far: pass it to ``text(since=...)``."""
        return runtime.run(self._call(lambda: self.flow.recorded), 10.0)

    def text(self, last: int | None = None, since: int = 0, *, max_rows: int | None = None) -> str:
        """Return the diagram as plain text, for a cell's output or a terminal.

        Args:
            last: Only the latest ``last`` steps.
            since: Only the steps after ``mark()`` returned this.
            max_rows: At most this many arrows, whole steps from the newest back.
        """

        def draw() -> str:
            self._name_lanes()
            snapshot = self.flow.snapshot(last, since)
            return render_text(layout(snapshot, max_lanes=self.max_lanes, max_rows=max_rows))

        return runtime.run(self._call(draw), 10.0)

    def save_svg(self, path: str | Path, last: int | None = None, since: int = 0) -> Path:
        """Write the diagram (or its latest steps) to ``path`` as an SVG file; return the path."""

        def draw() -> str:
            self._name_lanes()
            snapshot = self.flow.snapshot(last, since)
            return render_svg(layout(snapshot, max_lanes=self.max_lanes, max_rows=self.max_rows))

        path = Path(path)
        path.write_text(runtime.run(self._call(draw), 10.0) + "\n", encoding="utf-8")
        return path

    def name(self, **clients: object) -> None:
        """Name the lanes of clients that are not panes: ``diagram.name(Alice=alice)``.

        A client is named by its address, which is how the server knows it: give a
        ``SyncClient``, a ``Client``, a ``ChatPane``, a connected socket, or ``"host:port"``.

        Raises:
            ValueError: A client is not connected, or has no address to go by.
        """
        names = {_address(client): name for name, client in clients.items()}
        runtime.run(self._call(lambda: self.flow.name_peers(names)), 10.0)

    def wait_for(self, text: str, timeout: float = 10.0) -> None:
        """Block until the diagram has an arrow whose annotation contains ``text``.

        For what the server does on its own time, such as closing a connection:
        ``diagram.wait_for("close 1013")``.

        Raises:
            TimeoutError: No such arrow within ``timeout`` seconds.
        """

        def found() -> bool:
            chart = layout(self.flow.snapshot(), max_lanes=self.max_lanes)
            return any(text in row.label for row in chart.rows)

        deadline = time.monotonic() + timeout
        while True:
            with self._changed:
                seen = self._steps_seen
            if runtime.run(self._call(found), timeout):
                return
            with self._changed:
                while self._steps_seen == seen:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TimeoutError(f"no arrow with {text!r} after {timeout} s")
                    self._changed.wait(left)

    def refresh(self) -> None:
        """Draw the widget now, from any thread."""
        runtime.run(self._call(self._render), 10.0)

    def stop(self) -> None:
        """Stop drawing; the servers keep recording into ``flow`` until they stop."""
        self._unlisten()

    def __repr__(self) -> str:
        # nbval compares this text: it must not change with the traffic.
        return f"FlowDiagram({len(self.servers)} server{'s' if len(self.servers) > 1 else ''})"

    # -- on the kit's loop ----------------------------------------------------------------

    async def _attach(self) -> None:
        for index, background in enumerate(self.servers):
            if background.server.flow is not self.flow:
                background.server.flow = self.flow
            if len(self.servers) > 1:
                self.flow.name_server(background.server, f"server {chr(ord('A') + index)}")
        self._unlisten = self.flow.listen(self._on_step)
        self._render()

    async def _call(self, function: Callable[[], T]) -> T:
        return function()

    def _on_step(self) -> None:
        with self._changed:
            self._steps_seen += 1
            self._changed.notify_all()
        with self._lock:
            if self._pending:
                return
            self._pending = True
        # An empty context: ipykernel then tags the widget update with the request it is
        # handling now, so a notebook run by nbclient saves the latest state (see panes).
        asyncio.get_running_loop().call_later(_REDRAW, self._render, context=contextvars.Context())

    def _name_lanes(self) -> None:
        names = {
            address: pane.name
            for pane in self.panes
            if (address := pane.client.local_address) is not None
        }
        if names != self._named:
            self._named = names
            self.flow.name_peers(names)

    def _render(self) -> None:
        with self._lock:
            self._pending = False
        self._name_lanes()
        chart = layout(self.flow.snapshot(), max_lanes=self.max_lanes, max_rows=self.max_rows)
        self.chart = chart
        self.widget.value = f'<div class="wslib-flow-box" style="{_BOX}">{render_svg(chart)}</div>'


def _address(client: object) -> str:
    """Return the ``host:port`` a client connects from, as the server sees it."""
    if isinstance(client, str):
        return client
    if isinstance(client, socket.socket):
        host, port = client.getsockname()[:2]
        return f"{host}:{port}"
    inner = getattr(client, "client", client)  # a SyncClient or a pane holds a Client
    address = getattr(inner, "local_address", None)
    if not isinstance(address, str):
        raise ValueError(f"{client!r} is not connected: it has no address to name")
    return address


def _hub_name(servers: tuple[BackgroundServer, ...]) -> str:
    kinds = {type(background.server.backplane).__name__ for background in servers}
    return "Redis" if "RedisBackplane" in kinds else "backplane"
