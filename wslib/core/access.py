"""Who may connect: loopback by default, an access token when the server is exposed.

Binding ``127.0.0.1`` keeps strangers on the network out, but not other users of the same
machine (a shared JupyterHub, say), so a token is available everywhere and is switched on
by default as soon as the server binds anything but loopback. A client presents it in the
URL (``ws://host:port/chat?token=…``) or as ``Authorization: Bearer …``.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from typing import Literal
from urllib.parse import parse_qs, urlsplit

__all__ = ["TokenSetting", "is_loopback", "resolve_token", "token_matches", "with_token"]

TokenSetting = str | Literal["auto"] | None


def is_loopback(host: str) -> bool:
    """Return whether ``host`` names only this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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
    offered = parse_qs(urlsplit(target).query).get("token", [""])[0]
    if authorization is not None and authorization.lower().startswith("bearer "):
        offered = authorization[7:].strip()
    return hmac.compare_digest(offered.encode(), expected.encode())


def with_token(url: str, token: str | None) -> str:
    """Return ``url`` with ``?token=…`` added when there is a token."""
    return url if token is None else f"{url}?token={token}"
