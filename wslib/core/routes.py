"""Which route a request on the kit's one port takes, decided from the request alone.

======================  =================================================
``ws://HOST:PORT/``     the article's relay (or echo, or your own handler)
``ws://HOST:PORT/chat`` the JSON chat (docs/chat-protocol.md)
``GET /``               the browser chat page (``wslib/server/static/chat.html``)
``GET /playground``     the JavaScript playground (``.../static/playground.html``)
``GET /favicon.ico``    204, so a browser's console stays clean
``GET /healthz``        200 with a small JSON body
anything else           404
======================  =================================================
"""

from __future__ import annotations

import enum

__all__ = ["Route", "classify"]


class Route(enum.Enum):
    """Where a request goes."""

    RELAY = "relay"
    CHAT = "chat"
    PAGE = "page"
    PLAYGROUND = "playground"
    HEALTH = "health"
    ICON = "icon"
    NOT_FOUND = "not_found"


_WEBSOCKET_ROUTES = {"/": Route.RELAY, "/chat": Route.CHAT}
_HTTP_ROUTES = {
    "/": Route.PAGE,
    "/playground": Route.PLAYGROUND,
    "/healthz": Route.HEALTH,
    "/favicon.ico": Route.ICON,
}


def classify(target: str, upgrade: str | None) -> Route:
    """Return the route for a request.

    Args:
        target: The request target, e.g. ``/chat?x=1``; the query is ignored.
        upgrade: The value of the ``Upgrade`` header, or ``None``.

    Returns:
        The route; WebSocket paths need ``Upgrade: websocket``, plain pages must not have it.
    """
    path = target.partition("?")[0].partition("#")[0] or "/"
    if upgrade is not None and upgrade.strip().lower() == "websocket":
        return _WEBSOCKET_ROUTES.get(path, Route.NOT_FOUND)
    return _HTTP_ROUTES.get(path, Route.NOT_FOUND)
