"""What an HTTP request on the kit's port gets before any WebSocket opens, as plain logic.

The server hands ``answer`` the request's target, its headers and a snapshot of its own
state; it gets back an ``Answer`` to send, or ``None`` to let the WebSocket handshake go on.
Nothing here touches a socket, so every branch is tested with a plain dict of headers.

- ``GET /healthz``: 200 with a small JSON body, or 503 while the backplane is degraded;
- ``GET /``: the browser chat page (``state.pages``, read by ``wslib.server.assets``);
- ``GET /playground``: the JavaScript playground page (the same way);
- ``GET /favicon.ico``: 204 with no content, so a browser's console stays clean;
- any other path: 404;
- a WebSocket without the access token: 401 (``wslib.access``);
- a WebSocket from another site's page: 403 (``wslib.limits.origin_allowed``);
- a WebSocket once ``max_connections`` are open: 503;
- a chat WebSocket while the backplane is degraded: 503, which clients retry with backoff;
- a header given twice: 400, since the request is ambiguous;
- a target that is no path (``//[``, ``*``, ``http://...``): 400;
- any request, on any route, sent to a name that is not this machine's at the server's own
  port while the server is bound to loopback: 403 (DNS rebinding;
  ``wslib.core.access.host_allowed``; another port means a proxy in front, as on Binder).

The 401, the 403s, the 503 over the cap and the repeated header's 400 each carry one
warning line for the server's log; a 404, a bad target's 400 and the degraded chat's 503
are routine and carry none.

Every answer carries ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``
and a ``Content-Security-Policy`` whose ``frame-ancestors`` lets the page be framed by this
machine's pages (JupyterLab on another local port), by its own origin (JupyterLab behind
jupyter-server-proxy, where the page shares the notebook's origin) and by the listed hosts.
No ``X-Frame-Options`` is sent: it can say only ``DENY`` or ``SAMEORIGIN``, and the latter
would break the frame in JupyterLab on another port; browsers that know ``frame-ancestors``
ignore it anyway.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from websockets.datastructures import MultipleValuesError

from .access import LOCAL_HOSTNAMES, host_allowed, host_name, token_matches
from .display import printable
from .limits import origin_allowed
from .routes import Route, classify

__all__ = [
    "JSON_CONTENT_TYPE",
    "PAGE",
    "PAGE_CONTENT_TYPE",
    "PLAYGROUND",
    "TEXT_CONTENT_TYPE",
    "Answer",
    "BackplaneStatus",
    "HeaderLookup",
    "State",
    "answer",
    "frame_ancestors",
    "page_policy",
]

#: The content type of the gate's short messages; websockets' ``respond()`` says the same.
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"

#: The content type of the health check's body.
JSON_CONTENT_TYPE = "application/json"

#: The content type of the pages; websockets' ``respond()`` would say ``text/plain``.
PAGE_CONTENT_TYPE = "text/html; charset=utf-8"

#: The files (in ``wslib/server/static``) of the chat page and of the JavaScript playground.
PAGE = "chat.html"
PLAYGROUND = "playground.html"

#: What a backplane says of itself: ``"degraded"`` while it has lost its link.
BackplaneStatus = Literal["ok", "degraded"]


class HeaderLookup(Protocol):
    """Request headers as the gate reads them: a ``dict``, or websockets' ``Headers``."""

    def get(self, name: str, /) -> str | None:
        """Return the header's value, or ``None`` if it is absent.

        Raises:
            MultipleValuesError: websockets' ``Headers`` raise it for a repeated header.
        """
        ...

    def __contains__(self, name: object, /) -> bool:
        """Return whether the header is present (once or more)."""
        ...


# Not frozen: the server makes one for every request, and a frozen dataclass's __init__
# takes three times as long (object.__setattr__ for each field). The gate only reads it.
@dataclass(slots=True)
class State:
    """What the gate needs to know about the server as a request arrives.

    Attributes:
        mode: What the server does on ``/`` (``"relay"`` or ``"echo"``), for the health check.
        token: The access token the server requires, or ``None`` for none.
        origins: Extra origins whose pages may connect (``Limits.origins``).
        active: How many connections hold a place ahead of this one: WebSockets open
            and handshakes in progress (``wslib.server.admission``).
        max_connections: How many may be open at once.
        backplane: The backplane's status: ``"ok"`` or ``"degraded"``.
        hosts: The names besides loopback ones that requests may be sent to
            (``wslib.access.host_allowed``), or ``None`` for any (a server bound beyond
            loopback).
        pages: The pages' HTML by file name (``PAGE``, ``PLAYGROUND``), read by the server
            once (``wslib.server.assets``): the gate decides, it never reads a file.
        port: The port the server listens on: a foreign ``Host`` naming another port came
            through a proxy (``wslib.core.access.host_allowed``); ``None`` accepts none.
    """

    mode: str
    token: str | None
    origins: Collection[str] | None
    active: int
    max_connections: int
    backplane: BackplaneStatus
    hosts: Collection[str] | None = None
    pages: Mapping[str, str] = field(default_factory=dict)
    port: int | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP response to send instead of opening a WebSocket.

    Attributes:
        status: The HTTP status code.
        body: The body, as text (sent as UTF-8).
        content_type: The ``Content-Type``; ``None`` for an answer with no content at all,
            which then has neither ``Content-Type`` nor ``Content-Length``.
        warning: A line for the server's log, for a refusal worth a warning; else ``None``.
        headers: Further headers to send (the security headers), as (name, value) pairs.
    """

    status: int
    body: str
    content_type: str | None = TEXT_CONTENT_TYPE
    warning: str | None = None
    headers: tuple[tuple[str, str], ...] = field(default=(), compare=False)


def answer(target: str, headers: HeaderLookup, state: State) -> Answer | None:
    """Decide what a request gets before any WebSocket opens.

    The checks run in this order, and the first that answers wins:

    0. the target must be a path, and the ``Host`` this machine's (when bound to loopback);
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
    host: str | None = None
    try:
        reply = _decide(target, headers, state)
        if reply is None:
            return None
        host = headers.get("Host")
    except MultipleValuesError as exc:  # e.g. two Origin headers: ambiguous, so refuse
        reply = Answer(
            400,
            f"Repeated header: {exc}\n",
            warning=f"refused a request with a repeated {printable(str(exc))} header",
        )
    page = reply.content_type == PAGE_CONTENT_TYPE
    policy = page_policy(reply.body) + "; " if page and page_policy(reply.body) else ""
    policy += f"frame-ancestors {frame_ancestors(host, state.hosts)}"
    security = (
        ("Content-Security-Policy", policy),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
    )
    return Answer(reply.status, reply.body, reply.content_type, reply.warning, security)


# An origin-form request target (RFC 9112, section 3.2.1): "/" and path characters, then
# an optional query. Anything else ("//[", "*", "http://...") is not a path on this server.
_ORIGIN_FORM = re.compile(
    r"/(?!/)[A-Za-z0-9\-._~%!$&'()*+,;=:@/]*(\?[A-Za-z0-9\-._~%!$&'()*+,;=:@/?]*)?"
)

# A name or address that may appear in a CSP source: letters, digits, dots, dashes. CSP's
# host-source grammar has no IPv6 literals (Chromium says so in the console), so a page
# framed from [::1] is not covered: JupyterLab on 127.0.0.1 or localhost is.
_CSP_HOST = re.compile(r"[a-z0-9.-]+")


def page_policy(html: str) -> str:
    """Return a page's ``Content-Security-Policy``, less its ``frame-ancestors``.

    The chat page needs nothing but its own inline script and style (allowed by their
    SHA-256 hashes, so no other inline code can run even if a peer's text were ever taken
    for markup), its empty ``data:`` icon, and WebSockets to its own origin (``connect-src
    'self'``, which covers ``ws:`` and ``wss:`` to the same host in CSP Level 3).
    Everything else is refused. A page that states its own policy in a ``<meta>`` tag (the
    playground, which must run the learner's code) gets ``""``: a second policy would only
    narrow its own.

    Args:
        html: The page, e.g. ``wslib.server.assets.page_html()``.
    """
    if 'http-equiv="Content-Security-Policy"' in html:
        return ""  # each server's playground differs (its run key): nothing to remember
    return _hashed_policy(html)


@functools.cache
def _hashed_policy(html: str) -> str:
    sources = {
        tag: " ".join(
            f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
            for body in re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.DOTALL)
        )
        for tag in ("script", "style")
    }
    return (
        f"default-src 'none'; script-src {sources['script']}; style-src {sources['style']}; "
        "img-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'"
    )


def frame_ancestors(host: str | None, hosts: Collection[str] | None) -> str:
    """Return the ``frame-ancestors`` sources for the page: who may show it in a frame.

    The page is framed by JupyterLab. Opened directly, it is ``http://127.0.0.1:PORT/``
    inside JupyterLab's page on another local port (or another listed host): a different
    origin, so those hosts are listed with any port. Behind jupyter-server-proxy, the page
    is ``{notebook origin}/proxy/PORT/``, the same origin as JupyterLab: ``'self'``.
    A server bound beyond loopback also accepts the name it was reached by, any port.

    Args:
        host: The request's ``Host`` header, or ``None``.
        hosts: The server's extra allowed names, or ``None`` when any ``Host`` is accepted.
    """
    names = [*LOCAL_HOSTNAMES, "127.0.0.1"]
    extra = [*(hosts or ()), *([host] if host is not None and hosts is None else [])]
    for item in extra:
        name = host_name(item)
        if _CSP_HOST.fullmatch(name) and name not in names:
            names.append(name)
    sources = [
        "'self'",
        *(f"{scheme}://{name}:*" for name in names for scheme in ("http", "https")),
    ]
    return " ".join(sources)


def _optional(headers: HeaderLookup, name: str) -> str | None:
    """Return a header that requests usually lack, or ``None`` when it is absent.

    websockets' ``Headers.get`` finds a header absent by raising and catching a
    ``KeyError`` (0.8 µs against 0.2 µs for ``in``), and a relay client's handshake lacks
    ``Origin``, ``Authorization`` and ``X-Forwarded-Host``. A repeated one still raises.
    """
    return headers.get(name) if name in headers else None


def _decide(target: str, headers: HeaderLookup, state: State) -> Answer | None:
    if not _ORIGIN_FORM.fullmatch(target):
        return Answer(400, "Bad request target: expected a path such as /chat.\n")
    host = headers.get("Host")
    if not host_allowed(host, state.hosts, state.port):
        return Answer(
            403,
            "This server answers only to this machine's names, such as 127.0.0.1. To reach it "
            "by another name, start it with allowed_hosts=[NAME] (wslib serve --allow-host).\n",
            warning=f"refused a request sent to host {printable(host or '')} (not this machine's"
            " name; allow it with --allow-host)",
        )
    route = classify(target, headers.get("Upgrade"))
    if route is Route.HEALTH:
        body = {"status": state.backplane, "mode": state.mode, "clients": state.active}
        code = 200 if state.backplane == "ok" else 503
        return Answer(code, json.dumps(body), JSON_CONTENT_TYPE)
    if route is Route.PAGE:
        return Answer(200, state.pages.get(PAGE, ""), PAGE_CONTENT_TYPE)
    if route is Route.PLAYGROUND:
        return Answer(200, state.pages.get(PLAYGROUND, ""), PAGE_CONTENT_TYPE)
    if route is Route.ICON:  # no icon, but an answer, so the browser's console stays clean
        return Answer(204, "", None)
    if route is Route.NOT_FOUND:
        return Answer(404, f"Not found: {target}\n")
    if not token_matches(target, _optional(headers, "Authorization"), state.token):
        return Answer(
            401,
            "This server needs its access token (?token=...).\n",
            warning="refused a WebSocket without the access token",
        )
    origin = _optional(headers, "Origin")
    if not origin_allowed(origin, host, _optional(headers, "X-Forwarded-Host"), state.origins):
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
