"""A "Stop everything" button: what the kit runs in this kernel, and one click to stop it.

A notebook that ends with ``wslib.stop_all()`` leaves nothing live after *Run All*: the
learner scrolls up to panes that read ``closed``. So a notebook ends with this button
instead. Run All shows it and stops nothing; the learner presses it when done (or calls
``wslib.stop_all()``, or shuts the kernel down, which stops everything too).

Usage in a notebook::

    StopButton()          # shows: [Stop everything]  running: 2 servers, 3 clients
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import ipywidgets as widgets  # type: ignore[import-untyped]

from ..sync import runtime
from ..sync.background import BackgroundServer
from ..sync.process import WslibProcess
from ..teaching.inspector import WireTap
from ..teaching.redis_server import RedisServer
from .panes import View

__all__ = ["StopButton", "describe_running"]


def _kind(item: object) -> str:
    if isinstance(item, BackgroundServer):
        return "server"
    if isinstance(item, RedisServer):
        return "Redis server"
    if isinstance(item, WireTap):
        return "wire tap"
    if isinstance(item, WslibProcess):
        return "process"
    return "client"  # a pane, a SyncClient, a SyncChatClient


def describe_running(items: list[Any]) -> str:
    """Return ``items`` counted by kind, in words: ``2 servers, 3 clients`` or ``nothing``.

    Servers from ``wslib.start`` are servers, ``wslib`` commands from ``wslib.spawn`` are
    processes, a throw-away ``RedisServer`` is a Redis server, a ``WireTap`` a wire tap, and
    everything else the kit keeps running (panes and clients) is a client.
    """
    counts = Counter(_kind(item) for item in items)
    plurals = {
        "server": "servers",
        "process": "processes",
        "Redis server": "Redis servers",
        "wire tap": "wire taps",
        "client": "clients",
    }
    parts = [
        f"{counts[kind]} {kind if counts[kind] == 1 else plural}"
        for kind, plural in plurals.items()
        if counts[kind]
    ]
    return ", ".join(parts) or "nothing"


class StopButton(View):
    """Show what the kit runs in this kernel, with a button that stops all of it.

    The text next to the button says what was running when the button was shown; a click
    stops everything (as ``wslib.stop_all()`` does) and says how many things it stopped.
    """

    def __init__(self) -> None:
        self.button = widgets.Button(
            description="Stop everything", button_style="danger", icon="stop"
        )
        self.button.add_class("stop-everything")
        self.running = describe_running(runtime.running())
        self.note = widgets.Label(f"running: {self.running}")
        self.widget = widgets.HBox([self.button, self.note])
        self.stopped: int | None = None
        self.button.on_click(self._on_click)

    def stop(self) -> int:
        """Stop every server and client the kit started in this kernel; return how many."""
        running = describe_running(runtime.running())
        self.stopped = runtime.stop_all()
        self.note.value = f"stopped {self.stopped}: {running}"
        return self.stopped

    def __repr__(self) -> str:
        # nbval compares this text: what runs when the notebook reaches its last cell.
        return f"StopButton(running: {self.running})"

    def _on_click(self, _button: Any) -> None:
        self.stop()
