"""Show a ``WireTap`` in a notebook: the handshake headers and a live table of frames.

Like the WebSocket panel of a browser's developer tools, for any kit connection::

    tap = WireTap(server.url)
    wslib.InspectorView(tap)  # the last line of a cell: the view appears and keeps updating

The view is an ipywidgets ``VBox`` of two ``HTML`` widgets whose values the tap's loop sets
as events arrive (no ``Output`` widget: writing to one from another thread is unreliable).
Everything shown came from the wire, so every piece of text is escaped before it becomes
HTML. ipywidgets is imported when a view is made, not when this module is imported.
"""

from __future__ import annotations

import asyncio
import contextvars
import html
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..teaching.wirelog import ConnectionLog, Direction, WireEvent

if TYPE_CHECKING:
    from ..teaching.inspector import WireTap

__all__ = ["InspectorView", "render_handshakes", "render_table"]

# JupyterLab's theme variables, so that the view follows its light and dark themes; the
# fallbacks are the light theme's. Both text colours pass WCAG AA on the background in both.
_STYLE = (
    "font-family: var(--jp-code-font-family, monospace); font-size: 12px;"
    " border-collapse: collapse; color: var(--jp-ui-font-color1, rgba(0, 0, 0, 0.87));"
    " background: var(--jp-layout-color1, #fff)"
)
_CELL = "padding: 1px 8px; text-align: {}; white-space: pre"
_COLUMNS = (
    ("seconds", "right"),
    ("#", "right"),
    ("direction", "left"),
    ("type", "left"),
    ("fin", "center"),
    ("masked", "center"),
    ("length", "right"),
    ("payload", "left"),
)
# The direction column says which way a frame went; the colour only helps the eye.
_COLOURS = {
    Direction.TO_SERVER: "var(--jp-content-link-color, #0d47a1)",
    Direction.TO_CLIENT: "var(--jp-ui-font-color1, rgba(0, 0, 0, 0.87))",
}


def _cells(event: WireEvent) -> list[str]:
    fin = "" if event.fin is None else str(int(event.fin))
    masked = "" if event.masked is None else ("yes" if event.masked else "no")
    values = [f"{event.time:.3f}", str(event.conn), event.direction, event.kind, fin, masked]
    return [*values, str(event.length), event.preview]


def render_table(events: Sequence[WireEvent], total: int | None = None) -> str:
    """Lay out events as an HTML table, every value escaped.

    Args:
        events: The events to show, oldest first.
        total: How many events there are in all, when ``events`` is only the latest ones.

    Returns:
        A caption and a ``<table>``.
    """
    total = len(events) if total is None else total
    shown = f", the last {len(events)} shown" if len(events) < total else ""
    caption = f"{total} event{'' if total == 1 else 's'}{shown}"
    head = "".join(
        f'<th style="{_CELL.format(align)}">{html.escape(name)}</th>' for name, align in _COLUMNS
    )
    rows = []
    for event in events:
        colour = _COLOURS[event.direction]
        cells = "".join(
            f'<td style="{_CELL.format(align)}">{html.escape(value)}</td>'
            for value, (_, align) in zip(_cells(event), _COLUMNS, strict=True)
        )
        rows.append(f'<tr style="color: {colour}">{cells}</tr>')
    return (
        f'<div style="{_STYLE}">{html.escape(caption)}</div>'
        f'<table style="{_STYLE}"><tr>{head}</tr>{"".join(rows)}</table>'
    )


def render_handshakes(connections: Sequence[ConnectionLog]) -> str:
    """Show each connection's HTTP request and response heads, escaped, in ``<details>``."""
    parts = []
    for wire in connections:
        heads = [str(head) for head in (wire.request, wire.response) if head is not None]
        if not heads:
            continue
        text = html.escape("\n\n".join(heads))
        parts.append(
            f"<details><summary>connection {wire.conn}: handshake headers</summary>"
            f'<pre style="{_STYLE}">{text}</pre></details>'
        )
    return "".join(parts)


class InspectorView:
    """A notebook view of a ``WireTap`` that updates itself as events arrive.

    Display it by making it the last value of a cell. ``close()`` stops the updates.

    Args:
        tap: The tap to show.
        last: Show at most this many of the latest events.

    Attributes:
        box: The ipywidgets ``VBox`` that holds the view.
    """

    def __init__(self, tap: WireTap, *, last: int = 200) -> None:
        import ipywidgets as widgets  # type: ignore[import-untyped]  # notebooks only

        self.tap = tap
        self.last = last
        self._handshakes = widgets.HTML()
        self._table = widgets.HTML()
        self.box = widgets.VBox([self._handshakes, self._table])
        self.box.add_class("wslib-inspector")
        self._pending = False
        self._seen_heads = -1
        self.refresh()
        self._unsubscribe = tap.subscribe(self._on_event)

    def refresh(self) -> None:
        """Show the tap's current state now."""
        self._pending = False
        events = self.tap.events
        heads = sum(1 for event in events if event.kind == "HTTP")
        if heads != self._seen_heads:  # the headers change only with a new HTTP head
            self._seen_heads = heads
            self._handshakes.value = render_handshakes(list(self.tap.log.connections))
        self._table.value = render_table(events[-self.last :] if self.last else [], len(events))

    def close(self) -> None:
        """Stop following the tap and close the widgets."""
        self._unsubscribe()
        self.box.close()
        self._handshakes.close()
        self._table.close()

    def _on_event(self, event: WireEvent) -> None:
        # One burst of frames becomes one update: refresh once the loop has handled it.
        if self._pending:
            return
        self._pending = True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called outside a loop, as a test might
            self.refresh()
            return
        # The tap's tasks carry the context of the cell that created the tap, and ipykernel
        # tags widget updates with the request found in the context. An empty context makes
        # it fall back to the request running now, so a notebook run by nbclient saves the
        # view's latest state with the cell that was running, not an old one's.
        loop.call_soon(self.refresh, context=contextvars.Context())

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        bundle: dict[str, Any] | None = self.box._repr_mimebundle_(**kwargs)
        if bundle is not None:
            bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        return f"<InspectorView of {self.tap.url}>"
