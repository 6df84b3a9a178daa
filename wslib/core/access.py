"""Who may connect: loopback by default, an access token when the server is exposed.

Binding ``127.0.0.1`` keeps strangers on the network out, but not other users of the same
machine (a shared JupyterHub, say), so a token is available everywhere and is switched on
by default as soon as the server binds anything but loopback. A client presents it in the
URL (``ws://host:port/chat?token=…``) or as ``Authorization: Bearer …``.

Binding loopback does not keep out a web page, though: a site can make its own name
resolve to ``127.0.0.1`` (DNS rebinding), and the learner's browser then sends that page's
requests to the kit's port with ``Host: evil.example:PORT``. So a server bound to loopback
answers only requests whose ``Host`` names this machine (``host_allowed``), as Jupyter
Server does when it is not allowed remote access (``ServerApp.local_hostnames``).
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import secrets
from collections.abc import Collection
from typing import Literal
from urllib.parse import parse_qs

__all__ = [
    "LOCAL_HOSTNAMES",
    "TokenSetting",
    "host_allowed",
    "host_name",
    "host_port",
    "is_loopback",
    "resolve_token",
    "token_matches",
    "with_token",
]

TokenSetting = str | Literal["auto"] | None

#: Names that always mean this machine (RFC 6761 reserves ``localhost`` for loopback).
LOCAL_HOSTNAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    """Return whether ``host`` names only this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_name(host: str) -> str:
    """Return the name or address in a ``Host`` header, without its port or IPv6 brackets.

    ``"127.0.0.1:8080"`` gives ``"127.0.0.1"``, ``"[::1]:8080"`` gives ``"::1"``, and
    ``"LocalHost."`` gives ``"localhost"`` (names are case-insensitive; a final dot is the
    same name, fully qualified).
    """
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    if host.count(":") == 1:  # name:port; more colons would be a bare IPv6 address
        host = host.partition(":")[0]
    return host.rstrip(".")


def host_port(host: str) -> int | None:
    """Return the port a ``Host`` header names, or ``None`` when it names none.

    ``"127.0.0.1:8080"`` gives ``8080``; ``"example.org"`` and ``"[::1]"`` give ``None``.
    """
    host = host.strip()
    tail = host.rpartition("]")[2] if host.startswith("[") else host
    if tail.count(":") != 1:  # no port, or a bare IPv6 address
        return None
    port = tail.rpartition(":")[2]
    return int(port) if port.isdigit() else None


def host_allowed(
    host: str | None, allowed: Collection[str] | None, port: int | None = None
) -> bool:
    """Return whether a request sent to ``host`` may be answered by a loopback server.

    Browsers always send ``Host``, so a request without one is not a browser's, and DNS
    rebinding is a browser's attack: it is accepted.

    A rebinding page reaches the server only by connecting to the server's own port, so its
    ``Host`` always names that port (or names none, meaning 80 or 443, when the server
    listens there). A ``Host`` that names another port came through a proxy in front of the
    server: jupyter-server-proxy, as on JupyterHub and Binder, passes the browser's ``Host``
    (the hub's name and port) on. Given the server's ``port``, such a request is accepted.

    Args:
        host: The request's ``Host`` header (any port), or ``None``.
        allowed: Extra names (or addresses) to accept besides loopback ones, e.g.
            ``["my-laptop.local"]``; ``None`` turns the check off (a server bound beyond
            loopback, where the access token is the guard); ``"*"`` in it accepts any.
        port: The port the server listens on, or ``None`` to accept no other names.
    """
    if host is None or allowed is None or "*" in allowed:
        return True
    return _host_verdict(host, tuple(allowed), port)


# Every request asks, and a server is asked about very few distinct Host values (its own
# name at its own port), so the verdicts are kept: parsing the name as an IP address was
# most of a request's cost in the gate. The cache is bounded: a client sending a new name
# each time only evicts old verdicts, which are then worked out again. The verdict depends
# on nothing but the arguments, so a cache shared by servers on other threads is safe
# (functools.lru_cache is thread-safe), as page_policy's in wslib.core.gate.
@functools.lru_cache(maxsize=256)
def _host_verdict(host: str, allowed: tuple[str, ...], port: int | None) -> bool:
    name = host_name(host)
    if name in LOCAL_HOSTNAMES or name in {host_name(extra) for extra in allowed}:
        return True
    try:
        if ipaddress.ip_address(name).is_loopback:
            return True
    except ValueError:
        pass
    if port is None:
        return False
    named = host_port(host)
    return named != port if named is not None else port not in (80, 443)


def resolve_token(host: str, token: TokenSetting) -> str | None:
    """Return the token a server on ``host`` requires, or ``None`` for none.

    Args:
        host: The bind address.
        token: A token to require, ``None`` for none, or ``"auto"``: a new random token
            when ``host`` is not loopback, none otherwise.
    """
    if token == "auto":
        return None if is_loopback(host) else secrets.token_urlsafe(16)
    return token


def token_matches(target: str, authorization: str | None, expected: str | None) -> bool:
    """Return whether a request carries ``expected`` (always true when none is expected).

    Args:
        target: The request target, e.g. ``/chat?token=abc``.
        authorization: The ``Authorization`` header, or ``None``.
        expected: The server's token, or ``None``.
    """
    if expected is None:
        return True
    # partition, not urlsplit: a target such as "//[" is no URL, and urlsplit raises on it.
    offered = parse_qs(target.partition("?")[2]).get("token", [""])[0]
    if authorization is not None and authorization.lower().startswith("bearer "):
        offered = authorization[7:].strip()
    return hmac.compare_digest(offered.encode(), expected.encode())


def with_token(url: str, token: str | None) -> str:
    """Return ``url`` with ``?token=…`` added when there is a token."""
    return url if token is None else f"{url}?token={token}"
