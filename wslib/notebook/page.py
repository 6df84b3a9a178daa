"""The browser pages seen from a notebook: their URLs, and an iframe to show one.

The kit's server answers a plain ``GET /`` with its chat page, a chat client that uses only
the browser's own ``WebSocket``, and ``GET /playground`` with the JavaScript playground,
where a notebook's JavaScript runs (``wslib.notebook.playground``); both files live in
``wslib/server/static``. The chat page finds the chat next to itself (same host, same path
prefix, ``wss:`` under https, the same ``?token=``), so it works whether the browser reaches
the server directly or through jupyter-server-proxy.

Usage in a notebook::

    server = wslib.start(port=0)
    wslib.show_page(server)        # a frame; works locally and on Binder alike

``show_page`` shows the page through ``wslib.notebook.loader``'s frame, which passes
JupyterLab's light or dark theme on to the page, also when the learner switches it.
"""

from __future__ import annotations

import os
from typing import Literal, Protocol
from urllib.parse import urlsplit, urlunsplit

from .loader import PageFrame

__all__ = ["PROXY_PREFIX_ENV", "Theme", "page_url", "show_page"]

#: A page's colours: ``page_url(..., theme=...)`` fixes them with ``?theme=``.
Theme = Literal["light", "dark"]

#: Set by JupyterHub (and so by Binder) to the user's server prefix, e.g. ``/user/ada/``.
PROXY_PREFIX_ENV = "JUPYTERHUB_SERVICE_PREFIX"


class _Served(Protocol):
    @property
    def http_url(self) -> str: ...


def page_url(
    server: _Served,
    *,
    proxy: str | bool | None = None,
    path: str = "",
    theme: Theme | None = None,
) -> str:
    """Return the URL of a page of ``server``, for a link or an iframe in the notebook.

    A browser next to the kernel can open ``http://127.0.0.1:PORT/`` directly. A browser
    elsewhere (a remote JupyterLab, JupyterHub, Binder) cannot; it reaches the port through
    jupyter-server-proxy at ``{base_url}proxy/PORT/``, a path on the notebook's own site.

    Args:
        server: A ``Server`` or ``BackgroundServer`` (anything with ``http_url``).
        proxy: ``None`` (the default): use the proxy when ``JUPYTERHUB_SERVICE_PREFIX``
            is set, as it is on JupyterHub and Binder. ``True``: use the proxy under that
            prefix, or under ``/``. ``False``: never. A string: the Jupyter server's base
            URL to use, e.g. ``"/"`` or ``"/user/ada/"``.
        path: The page's path under the server's root: ``""`` for the chat page,
            ``"playground"`` for the JavaScript playground.
        theme: ``"light"`` or ``"dark"``, whatever the notebook's theme; ``None`` (the
            default): in a notebook frame (``show_page``) the page follows JupyterLab's
            theme, elsewhere the browser's preference.

    Returns:
        ``server.http_url`` (with ``path``), or the proxied path, e.g.
        ``/user/ada/proxy/8080/playground``, keeping any ``?token=``; a ``theme`` joins
        the query as ``theme=dark``.

    Raises:
        ValueError: ``theme`` is neither ``"light"``, ``"dark"`` nor ``None``.
    """
    if theme not in (None, "light", "dark"):
        raise ValueError(f"theme must be 'light', 'dark' or None, not {theme!r}")
    parts = urlsplit(server.http_url)
    query = "&".join(filter(None, [parts.query, f"theme={theme}" if theme else ""]))
    prefix = os.environ.get(PROXY_PREFIX_ENV)
    if proxy is True:
        base = prefix or "/"
    elif isinstance(proxy, str):
        base = proxy
    elif proxy is None and prefix:
        base = prefix
    else:
        return urlunsplit(parts._replace(path=f"/{path}", query=query))
    root = f"/{base.strip('/')}/" if base.strip("/") else "/"
    return f"{root}proxy/{parts.port}/{path}{'?' if query else ''}{query}"


def show_page(
    server: _Served,
    *,
    proxy: str | bool | None = None,
    width: int | str = "100%",
    height: int = 380,
    theme: Theme | None = None,
) -> PageFrame:
    """Return a frame showing the chat page, in JupyterLab's theme; a notebook cell shows it.

    In JupyterLab (and Notebook 7) the page takes the notebook's light or dark theme, and
    follows it when the learner switches; elsewhere, the browser's preference. The frame
    loads the page again until its server answers (``wslib.notebook.loader``).

    Args:
        server: A ``Server`` or ``BackgroundServer``.
        proxy: As for ``page_url``.
        width: The frame's width, in pixels or as a CSS length such as ``"100%"``.
        height: The frame's height in pixels.
        theme: ``"light"`` or ``"dark"`` to fix the page's colours whatever the notebook's
            theme; ``None`` (the default) to follow it.

    Returns:
        A ``PageFrame``: a notebook shows the frame; its text form names the page's URL.
    """
    url = page_url(server, proxy=proxy, theme=theme)
    return PageFrame(
        url, height=height, width=width, title="wslib chat page", css_class="wslib-page"
    )
