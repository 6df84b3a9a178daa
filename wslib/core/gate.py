"""What an HTTP request on the kit's port gets before any WebSocket opens, as plain logic.

The server hands ``answer`` the request's target, its headers and a snapshot of its own
state; it gets back an ``Answer`` to send, or ``None`` to let the WebSocket handshake go on.
Nothing here touches a socket, so every branch is tested with a plain dict of headers.

- ``GET /healthz``: 200 with a small JSON body, or 503 while the backplane is degraded;
- ``GET /``: the browser chat page (``wslib.page``);
- ``GET /playground``: the JavaScript playground page (``wslib.page``);
- ``GET /favicon.ico``: 204 with no content, so a browser's console stays clean;
- any other path: 404;
- a WebSocket without the access token: 401 (``wslib.access``);
- a WebSocket from another site's page: 403 (``wslib.limits.origin_allowed``);
- a WebSocket once ``max_connections`` are open: 503;
- a chat WebSocket while the backplane is degraded: 503, which clients retry with backoff;
- a header given twice: 400, since the request is ambiguous.

The 401, the 403, the 503 over the cap and the 400 each carry one warning line for the
server's log; a 404 and the degraded chat's 503 are routine and carry none.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from websockets.datastructures import MultipleValuesError

from ..notebook.page import PAGE_CONTENT_TYPE, page_html, playground_html
from ..server.backplane import BackplaneStatus
from .access import token_matches
from .display import printable
from .limits import origin_allowed
from .routes import Route, classify

__all__ = ["JSON_CONTENT_TYPE", "TEXT_CONTENT_TYPE", "Answer", "HeaderLookup", "State", "answer"]

#: The content type of the gate's short messages; websockets' ``respond()`` says the same.
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"

#: The content type of the health check's body.
JSON_CONTENT_TYPE = "application/json"


class HeaderLookup(Protocol):
    """Request headers as the gate reads them: a ``dict``, or websockets' ``Headers``."""

    def get(self, name: str, /) -> str | None:
        """Return the header's value, or ``None`` if it is absent.

        Raises:
            MultipleValuesError: websockets' ``Headers`` raise it for a repeated header.
        """
        ...


@dataclass(frozen=True, slots=True)
class State:
    """What the gate needs to know about the server as a request arrives.

    Attributes:
        mode: What the server does on ``/`` (``"relay"`` or ``"echo"``), for the health check.
        token: The access token the server requires, or ``None`` for none.
        origins: Extra origins whose pages may connect (``Limits.origins``).
        active: How many WebSocket connections are open.
        max_connections: How many may be open at once.
        backplane: The backplane's status: ``"ok"`` or ``"degraded"``.
    """

    mode: str
    token: str | None
    origins: Collection[str] | None
    active: int
    max_connections: int
    backplane: BackplaneStatus


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP response to send instead of opening a WebSocket.

    Attributes:
        status: The HTTP status code.
        body: The body, as text (sent as UTF-8).
        content_type: The ``Content-Type``; ``None`` for an answer with no content at all,
            which then has neither ``Content-Type`` nor ``Content-Length``.
        warning: A line for the server's log, for a refusal worth a warning; else ``None``.
    """

    status: int
    body: str
    content_type: str | None = TEXT_CONTENT_TYPE
    warning: str | None = None


def answer(target: str, headers: HeaderLookup, state: State) -> Answer | None:
    """Decide what a request gets before any WebSocket opens.

    The checks run in this order, and the first that answers wins:

    1. the route (``wslib.routes``): the health check, the pages, the icon and unknown paths
       are answered here, with no token needed;
    2. the access token: 401 without it;
    3. the origin: 403 for another site's page;
    4. the connection cap: 503 once ``max_connections`` are open;
    5. the backplane: 503 for the chat while it is degraded.

    Args:
        target: The request target, e.g. ``/chat?token=abc``.
        headers: The request headers: anything with ``get(name)``, such as a ``dict`` or
            websockets' ``Headers`` (a header given twice in those gets 400).
        state: The server's state as the request arrives.

    Returns:
        The answer to send, or ``None`` to let the WebSocket handshake proceed.
    """
    try:
        return _decide(target, headers, state)
    except MultipleValuesError as exc:  # e.g. two Origin headers: ambiguous, so refuse
        return Answer(
            400,
            f"Repeated header: {exc}\n",
            warning=f"refused a request with a repeated {printable(str(exc))} header",
        )


def _decide(target: str, headers: HeaderLookup, state: State) -> Answer | None:
    route = classify(target, headers.get("Upgrade"))
    if route is Route.HEALTH:
        body = {"status": state.backplane, "mode": state.mode, "clients": state.active}
        code = 200 if state.backplane == "ok" else 503
        return Answer(code, json.dumps(body), JSON_CONTENT_TYPE)
    if route is Route.PAGE:
        return Answer(200, page_html(), PAGE_CONTENT_TYPE)
    if route is Route.PLAYGROUND:
        return Answer(200, playground_html(), PAGE_CONTENT_TYPE)
    if route is Route.ICON:  # no icon, but an answer, so the browser's console stays clean
        return Answer(204, "", None)
    if route is Route.NOT_FOUND:
        return Answer(404, f"Not found: {target}\n")
    if not token_matches(target, headers.get("Authorization"), state.token):
        return Answer(
            401,
            "This server needs its access token (?token=...).\n",
            warning="refused a WebSocket without the access token",
        )
    # Read Host even without an Origin: a repeated one must still get its 400.
    origin = headers.get("Origin")
    if not origin_allowed(
        origin, headers.get("Host"), headers.get("X-Forwarded-Host"), state.origins
    ):
        return Answer(
            403,
            "This origin may not connect to this server.\n",
            warning=f"refused a WebSocket from origin {printable(origin or '')}",
        )
    if state.active >= state.max_connections:
        return Answer(
            503,
            "Too many connections; try again later.\n",
            warning=f"refused a connection: {state.active} connections open",
        )
    if route is Route.CHAT and state.backplane != "ok":  # clients retry a 503 with backoff
        return Answer(503, "The chat is unavailable for now; try again later.\n")
    return None
