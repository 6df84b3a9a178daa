"""The JavaScript playground in a notebook: a script, a Run button and a console, in a frame.

The kit's server serves ``GET /playground`` (``static/playground.html``): an editor, a Run
button and a console that shows, with the time, what the script logs and every event its
WebSockets receive. The script runs in that page, in the browser, against the kit's server,
so a Python pane on the same server sees what it sends and can answer it.

Usage in a notebook::

    server = wslib.start(port=0)
    wslib.Playground(server, '''
    const ws = new WebSocket(RELAY);
    ws.onopen = () => ws.send("hello from the browser");
    ''')                                  # a frame: press Run, read the console

The frame's address holds the script (after ``#``), so the notebook needs no browser to
run: the cell shows the frame, and the script runs only when someone presses Run in it.
A checker's frame runs its script at once: its address holds the server's ``run_key``,
which the page compares with its own copy. Any other page may link to the playground
with a script of its own, but not with the key, so that script waits for Run.
The frame is ``wslib.notebook.loader``'s: it loads the page until its server answers, in
JupyterLab's light or dark theme.
"""

from __future__ import annotations

from typing import Protocol
from urllib.parse import quote, urlencode

from .loader import frame_html
from .page import page_url

__all__ = ["FRAME_CLASS", "Playground", "Served", "playground_url"]

#: The class of every playground frame's element in the notebook (tests find them by it).
FRAME_CLASS = "wslib-playground"


class Served(Protocol):
    """A server whose playground a frame shows: the page's address and its run key."""

    @property
    def http_url(self) -> str: ...

    @property
    def run_key(self) -> str: ...


def playground_url(
    server: Served,
    script: str = "",
    *,
    title: str | None = None,
    run: bool = False,
    port: int | None = None,
    proxy: str | bool | None = None,
) -> str:
    """Return the address of ``server``'s playground, holding ``script`` in its fragment.

    Args:
        server: The kit's server that serves the page (``wslib.start``).
        script: The JavaScript to put in the editor.
        title: The title above the editor; default "WebSocket playground".
        run: Run the script as soon as the page loads (a checker does; learners press Run):
            the fragment then holds ``server.run_key``, without which the page never does.
        port: Aim the script's ``RELAY`` and ``CHAT`` at this port instead of the page's
            own (reached the same way: directly or through the same proxy).
        proxy: As for ``wslib.page_url``: reach the page through jupyter-server-proxy.

    Returns:
        The page's URL, e.g. ``http://127.0.0.1:8080/playground#script=...``.
    """
    fragment: dict[str, str] = {"script": script}
    if title is not None:
        fragment["title"] = title
    if run:
        fragment["run"] = server.run_key
    if port is not None:
        fragment["port"] = str(port)
    page = page_url(server, proxy=proxy, path="playground")
    return f"{page}#{urlencode(fragment, quote_via=quote)}"


class Playground:
    """A playground frame holding ``script``; a notebook cell shows it.

    Args:
        server: The kit's server (``wslib.start``); the page and ``RELAY`` are on its port.
        script: The JavaScript to put in the editor; leading and trailing blank lines go.
        title: The title above the editor.
        height: The frame's height in pixels.
        proxy: As for ``wslib.page_url``.

    Attributes:
        url: The frame's address, with the script in its fragment.
        title: The title shown above the editor.
        height: The frame's height in pixels.
    """

    def __init__(
        self,
        server: Served,
        script: str,
        *,
        title: str = "WebSocket playground",
        height: int = 400,
        proxy: str | bool | None = None,
    ) -> None:
        self.title, self.height = title, height
        self.script = script.strip("\n") + "\n"
        self.url = playground_url(server, self.script, title=title, proxy=proxy)

    def _repr_html_(self) -> str:
        return frame_html(self.url, self.height, title=self.title, css_class=FRAME_CLASS)

    def __repr__(self) -> str:
        # nbval compares this text: the address without the script, and what to do.
        lines = len(self.script.splitlines())
        where = self.url.split("#", 1)[0]
        return f"Playground({self.title!r}, {lines} lines of JavaScript) at {where}: press Run"
