"""Chat panes for notebooks: ipywidgets views of live clients, and of a server's log.

Usage in a notebook::

    server = wslib.start(port=0)
    panes = wslib.chat_panes(server, "Alice", "Bob")   # two live relay clients, side by side
    alice, bob = panes
    panes                                              # shows them

    alice.send("hi Bob")                   # the same as typing it and pressing Enter
    bob.wait_for_line("hi Bob")            # blocks until Bob's log has it
    wslib.ServerLog(server)                # the server's output lines, live

How a pane works:

1. Its state is a ``Transcript`` (``wslib.transcript``): status and lines, no widgets.
2. Its client runs on the kit's background loop (``wslib.runtime``), so messages keep
   arriving, and the pane keeps updating, while a cell blocks.
3. What you type goes to that loop with ``runtime.submit``; the kernel handles the widget's
   event first, so while a cell is running, a send waits for the kernel to be free.
4. The view is updated by setting widget traits from the loop, never through an
   ``Output`` context. The header is an ``HTML`` widget, whose texts are escaped; the log
   is a ``LiveLog`` (``wslib.notebook.livelog``): its live region lasts, new lines are
   appended to it as text, so a screen reader announces each one.

The text box and Send are a ``ChatInput`` (``wslib.notebook.chatinput``): Enter or a
click on Send sends the box's text and empties the box; leaving the box sends nothing and
keeps the text there. The browser's message carries the text itself, so no keystroke typed
before Enter can be lost, however fast Enter follows it.
"""

from __future__ import annotations

import asyncio
import contextvars
import html
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any, Literal

import ipywidgets as widgets  # type: ignore[import-untyped]

from ..client.chatclient import ChatClient
from ..client.client import Backoff, Client, Status
from ..client.transcript import Kind, Line, Report, Transcript
from ..core.display import printable
from ..sync import runtime
from ..sync.background import BackgroundServer
from .chatinput import ChatInput
from .livelog import LiveLog

__all__ = [
    "ChatPane",
    "PaneMode",
    "PaneRow",
    "ServerLog",
    "View",
    "chat_panes",
    "side_by_side",
]

PaneMode = Literal["relay", "chat"]

# Titles take JupyterLab's first text colour and a pane's status its second, as the logs'
# lines do (static/livelog.css), so both follow its light and dark themes and pass WCAG AA
# in each; the fallbacks are the light theme's values.
_FONT = "var(--jp-ui-font-color1, rgba(0, 0, 0, 0.87))"
_FAINT = "var(--jp-ui-font-color2, rgba(0, 0, 0, 0.54))"


def _css_name(name: str) -> str:
    """Return ``name`` as a piece of a CSS class name (letters, digits, ``-``, ``_``)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", name) or "-"


def _escape(text: str) -> str:
    """Return ``text`` safe to place inside HTML: printable, then HTML-escaped."""
    return html.escape(printable(text), quote=True)


def _shown(line: Line) -> tuple[str, str]:
    """Return how a pane's log shows ``line``: its CSS classes and its text with its mark."""
    return f"chat-line chat-{line.kind}", str(line)


class View:
    """Display as ``self.widget`` does, but with this object's own text ``repr``.

    The views below hold their widget rather than being one: an ipywidget already owns
    names such as ``log`` and ``send``, which a pane needs for its own meaning.
    """

    widget: Any

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        data: dict[str, Any] = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        data["text/plain"] = repr(self)  # nbval compares this text
        return data


class ChatPane(View):
    """Show a live client of the kit's server: name, status, log, text box and Send.

    Args:
        target: A server from ``wslib.start`` or a URL; with a server, ``mode`` picks
            the relay (``/``) or the chat (``/chat``).
        name: The participant's name: the pane's title and, in chat mode, the name it joins
            with. The pane's widget (``widget``, a ``VBox``) gets the CSS classes
            ``chat-pane`` and ``chat-pane-<name>``.
        mode: ``"relay"`` (the article's broadcast) or ``"chat"`` (the JSON chat).
        reconnect: Passed on to the client: a ``Backoff``, ``True`` or ``False``.
        keep: How many lines the log keeps.
        wait: Block until the pane is open (in chat mode: joined) before returning.
        timeout: How long ``wait`` may take, in seconds.

    Raises:
        ConnectionError: ``wait`` was set and the connection closed before it opened.
        TimeoutError: ``wait`` was set and the pane did not open within ``timeout``.
    """

    name: str
    url: str
    transcript: Transcript

    def __init__(
        self,
        target: BackgroundServer | str,
        name: str,
        *,
        mode: PaneMode = "relay",
        reconnect: Backoff | bool = True,
        keep: int = 500,
        wait: bool = True,
        timeout: float = 10.0,
    ) -> None:
        if mode not in ("relay", "chat"):
            raise ValueError(f"mode must be 'relay' or 'chat', not {mode!r}")
        if isinstance(target, BackgroundServer):
            url = target.chat_url if mode == "chat" else target.url
        else:
            url = target
        # Re-running the cell that made a pane replaces it: the earlier pane with this name
        # on this URL closes (1000) instead of chatting on beside the new one.
        for earlier in runtime.running():
            if isinstance(earlier, ChatPane) and (earlier.name, earlier.url) == (name, url):
                earlier.stop()
                earlier.transcript.system("replaced by a new pane")
        self.name, self.mode, self.url = name, mode, url
        self.transcript = Transcript(name, keep=keep)
        self.client: Client | ChatClient = (
            ChatClient(url, name, reconnect=reconnect)
            if mode == "chat"
            else Client(url, reconnect=reconnect)
        )

        self.header = widgets.HTML()
        self.log_view = LiveLog(f"{printable(name)}'s messages", keep=keep)
        self.input = ChatInput(
            f"Message from {printable(name)}", placeholder=f"message from {name}, then Enter"
        )
        self.header.add_class("chat-header")
        self.log_view.add_class("chat-log-view")
        self.widget = widgets.VBox(
            [self.header, self.log_view, self.input],
            layout=widgets.Layout(width="360px", margin="0 8px 8px 0"),
        )
        self.widget.add_class("chat-pane")
        self.widget.add_class(f"chat-pane-{_css_name(name)}")

        self._render_lock = threading.Lock()
        self._rendered = -1
        # Sends run as separate tasks; a FIFO lock keeps them, and their local lines, in the
        # order they were typed even when the socket makes one of them wait.
        self._send_lock = asyncio.Lock()
        self._render()
        self.input.on_send(self.send)
        self._unsubscribe = self.transcript.subscribe(self._schedule_render)
        self.client.listen(self._on_event)
        runtime.remember(self)
        self._started = runtime.submit(self.client.start(None))
        if wait:
            try:
                self.wait_open(timeout)
            except BaseException:
                self.stop()  # a pane that never opened leaves nothing registered behind
                raise

    # -- state, readable from Python -----------------------------------------------

    @property
    def status(self) -> str:
        """Return the status line, e.g. ``open`` or ``closed (1000)``."""
        return self.transcript.status

    @property
    def lines(self) -> list[Line]:
        """Return the log's kept lines, oldest first."""
        return self.transcript.lines

    def wait_open(self, timeout: float = 10.0) -> None:
        """Block until the connection is open (in chat mode: until the server welcomed us).

        Raises:
            ConnectionError: The connection closed for good before it opened.
            TimeoutError: It did not open within ``timeout`` seconds.
        """
        client = self.client

        def settled() -> bool:
            if isinstance(client, ChatClient):
                return client.joined or bool(client.errors) or client.status.state == "closed"
            return client.status.state in ("open", "closed")

        runtime.run(client.wait_for(settled, timeout), timeout + 1)
        if client.status.state == "closed":
            raise ConnectionError(f"{self.name} could not connect to {self.url}: {client.status}")
        if isinstance(client, ChatClient) and not client.joined:
            raise ConnectionError(f"{self.name} could not join: {client.errors[-1]}")
        self._render()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Block until ``predicate()`` holds, then bring the view up to date.

        Raises:
            TimeoutError: It did not hold within ``timeout`` seconds.
        """
        self.transcript.wait_for(predicate, timeout)
        self._render()

    def wait_for_line(self, text: str, kind: Kind | None = None, timeout: float = 10.0) -> Line:
        """Block until a line contains ``text`` (and is of ``kind``); return that line.

        Raises:
            TimeoutError: No such line arrived within ``timeout`` seconds.
        """
        line = self.transcript.wait_for_line(text, kind, timeout)
        self._render()
        return line

    # -- actions -------------------------------------------------------------------

    def send(self, text: str) -> None:
        """Send ``text`` from this pane, as if typed; return at once.

        In relay mode a ``local`` line records it once the server has it; in chat mode the
        server's copy of the message comes back and is shown as ``local``.
        """
        runtime.submit(self._send(text))

    def drop(self) -> None:
        """Cut the connection with no close frame, as a failing network would; it reconnects."""
        runtime.run(self.client.drop(), 10.0)

    def stop(self) -> None:
        """Close the connection (1000) and stop reconnecting; the pane keeps its log."""
        runtime.run(self.client.stop(), 10.0)
        runtime.forget(self)
        self._render()

    def __repr__(self) -> str:
        # nbval compares this text: it must not change with the connection's state.
        return f"ChatPane(name={self.name!r}, mode={self.mode!r})"

    # -- internals -----------------------------------------------------------------

    async def _send(self, text: str) -> None:
        async with self._send_lock:
            await self._send_now(text)

    async def _send_now(self, text: str) -> None:
        try:
            if isinstance(self.client, ChatClient):
                client = self.client
                if client.status.state != "closed" and not (client.joined and client.is_open):
                    self.transcript.system(f"waiting to reconnect before sending: {text}")
                await client.send(text)  # closed for good: it raises NotConnectedError
            else:
                await self.client.send(text)
                self.transcript.local(text)
        except Exception as exc:  # shown in the pane: there is no cell to raise into
            self.transcript.error(f"not sent, {exc}: {text}")

    def _on_event(self, event: Report) -> None:
        self.transcript.record(event)
        if isinstance(event, Status) and event.state == "closed":
            runtime.forget(self)  # closed for good: nothing left for stop_all to stop

    def _schedule_render(self) -> None:
        # Draw on the kit's loop, in an empty context: ipykernel then tags the widget
        # messages with the request it is handling now (not the cell that made the pane),
        # so nbclient keeps them in the saved widget state.
        runtime.kit_loop().call_soon_threadsafe(self._render, context=contextvars.Context())

    def _render(self) -> None:
        with self._render_lock:
            status, lines, version, added = self.transcript.snapshot()
            if version == self._rendered:
                return
            self.header.value = (
                f"<b>{_escape(self.name)}</b> "
                f'<span class="chat-status" style="color: {_FAINT}">{_escape(status)}</span>'
            )
            self.log_view.show([_shown(line) for line in lines], added)
            self._rendered = version


class PaneRow(View):
    """Show views (chat panes, a server log) side by side; iterate over it to get them back.

    Usage::

        row = side_by_side(alice, bob)
        alice, bob = row
        row["Alice"] is alice
    """

    def __init__(self, views: tuple[View, ...]) -> None:
        self.views = views
        self.widget = widgets.HBox(
            [view.widget for view in views], layout=widgets.Layout(flex_flow="row wrap")
        )
        self.widget.add_class("chat-panes")

    def __iter__(self) -> Iterator[View]:
        return iter(self.views)

    def __getitem__(self, key: int | str) -> View:
        if isinstance(key, int):
            return self.views[key]
        for view in self.views:
            if getattr(view, "name", None) == key:
                return view
        raise KeyError(key)

    def __repr__(self) -> str:
        return f"PaneRow({', '.join(map(repr, self.views))})"


def side_by_side(*views: View) -> PaneRow:
    """Return one row that shows ``views`` (chat panes, a server log) next to each other."""
    return PaneRow(views)


def chat_panes(
    target: BackgroundServer | str,
    *names: str,
    mode: PaneMode = "relay",
    reconnect: Backoff | bool = True,
    timeout: float = 10.0,
) -> PaneRow:
    """Open one pane per name, wait until all are open, and return them side by side.

    Args:
        target: A server from ``wslib.start`` or a URL.
        *names: One name per pane, e.g. ``"Alice", "Bob"``.
        mode: ``"relay"`` or ``"chat"``, as for ``ChatPane``.
        reconnect: Passed on to each client.
        timeout: How long to wait for all of them to open, in seconds.

    Returns:
        A ``PaneRow``: display it to show the panes; unpack it to get them.

    Raises:
        ConnectionError: A pane's connection closed before it opened.
        TimeoutError: A pane did not open within ``timeout`` seconds.
    """
    panes = tuple(
        ChatPane(target, name, mode=mode, reconnect=reconnect, wait=False) for name in names
    )
    for pane in panes:  # they connect at the same time; wait for each in turn
        pane.wait_open(timeout)
    return PaneRow(panes)


class ServerLog(View):
    """Show a server's output lines (``Received message: …``) live, newest at the bottom.

    The lines go to a ``LiveLog`` (``log_view``) under a title: a live region that lasts,
    so a screen reader announces each new line.

    Args:
        server: A server from ``wslib.start``.
        keep: How many of the latest lines to show.
    """

    def __init__(self, server: BackgroundServer, *, keep: int = 200) -> None:
        self.server = server
        self.keep = keep
        self.title = widgets.HTML(
            f'<div style="font-weight: bold; color: {_FONT}">Server log</div>'
        )
        self.log_view = LiveLog("Server log", keep=keep, box_class="chat-log server-log-lines")
        self.widget = widgets.VBox(
            [self.title, self.log_view], layout=widgets.Layout(width="360px")
        )
        self.widget.add_class("server-log")
        self._pending = False
        self._added = 0
        self._unsubscribe = runtime.run(self._follow(), 10.0)

    @property
    def lines(self) -> list[str]:
        """Return the server's output lines that the widget shows."""
        return list(self.server.lines[-self.keep :])

    def refresh(self) -> None:
        """Bring the view up to date now (a cell that waited for a line calls this)."""
        runtime.run(self._refresh(), 10.0)

    def stop(self) -> None:
        """Stop following the server's log; the widget keeps what it shows."""
        runtime.run(self._unfollow(), 10.0)

    def __repr__(self) -> str:
        # nbval compares this text: it must not change with the log.
        return f"ServerLog({self.server.url!r})"

    # The server writes its lines on the kit's loop, so everything below runs there: the
    # count of lines (which numbers them for the LiveLog) and the lines never disagree.

    async def _follow(self) -> Callable[[], None]:
        self._added = len(self.server.lines)
        self._render()
        return self.server.log.subscribe(self._on_line)

    async def _refresh(self) -> None:
        self._render()

    async def _unfollow(self) -> None:
        self._unsubscribe()

    def _on_line(self, _line: str) -> None:
        # Called for every line: count it, and draw once per burst, in an empty context
        # (as ChatPane does, for the saved widget state).
        self._added += 1
        if not self._pending:
            self._pending = True
            runtime.kit_loop().call_soon(self._render, context=contextvars.Context())

    def _render(self) -> None:
        self._pending = False
        self.log_view.show([("log-line", line) for line in self.lines], self._added)
