"""Per-connection and per-server limits, as plain logic: rate, origin, connection cap.

Each function or class here decides; the server enforces (close code or HTTP status).
"""

from __future__ import annotations

import sys
from collections.abc import Collection
from urllib.parse import urlsplit

__all__ = ["DEFAULT_MAX_CONNECTIONS", "RateLimiter", "connection_cap", "origin_allowed"]

DEFAULT_MAX_CONNECTIONS = 20_000
# Kept free below the open-file limit: 64 for listening sockets, files and the loop's own,
# and 64 more for connections past the cap that are told 503 (wslib.server.admission).
_RESERVED_DESCRIPTORS = 128


class RateLimiter:
    """A token bucket: ``rate`` messages per second on average, bursts up to ``burst``.

    Usage::

        limiter = RateLimiter(rate=20, burst=40)
        if not limiter.allow(now=time.monotonic()):
            ...  # close with 1008
    """

    def __init__(self, rate: float, burst: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate, self.burst = rate, burst
        self._tokens = burst
        self._last: float | None = None

    def wait(self, now: float) -> float:
        """Return how many seconds from ``now`` until a token is there (0 if one is)."""
        tokens = self._tokens
        if self._last is not None:
            tokens = min(self.burst, tokens + (now - self._last) * self.rate)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def allow(self, now: float) -> bool:
        """Take one token at time ``now`` (seconds); return whether one was there."""
        if self._last is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


def connection_cap(requested: int | None = None) -> int:
    """Return how many connections a server may hold: ``requested``, or a safe default.

    The default is ``DEFAULT_MAX_CONNECTIONS``, lowered to stay below this process's soft
    limit on open file descriptors (each connection holds one) where that is known.
    """
    if requested is not None:
        return requested
    if sys.platform == "win32":
        return DEFAULT_MAX_CONNECTIONS
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return DEFAULT_MAX_CONNECTIONS
    return max(1, min(DEFAULT_MAX_CONNECTIONS, soft - _RESERVED_DESCRIPTORS))


def _authority(url_or_host: str) -> str:
    if "://" in url_or_host:
        parts = urlsplit(url_or_host)
        default = {"http": 80, "ws": 80, "https": 443, "wss": 443}.get(parts.scheme)
        port = parts.port or default
        return f"{(parts.hostname or '').lower()}:{port}"
    host = url_or_host.strip().lower()
    return host if ":" in host.rsplit("]", 1)[-1] else f"{host}:80"


def origin_allowed(
    origin: str | None,
    host: str | None,
    forwarded_host: str | None = None,
    allowed: Collection[str] | None = None,
) -> bool:
    """Return whether a WebSocket handshake from ``origin`` may proceed.

    Browsers always send ``Origin``; the kernel, scripts and the CLI do not, and they are
    accepted. A browser page is accepted when it is the kit's own (its origin's host and
    port equal the ``Host`` the request was sent to, or ``X-Forwarded-Host`` behind a
    proxy such as jupyter-server-proxy) or is listed in ``allowed``. Any other page could
    be a stranger's site driving the learner's browser into their local chat (cross-site
    WebSocket hijacking), so it is refused.

    Args:
        origin: The ``Origin`` header, or ``None``.
        host: The ``Host`` header.
        forwarded_host: The ``X-Forwarded-Host`` header, if any (first value is used).
        allowed: Extra origins to accept, e.g. ``["https://example.org"]``; ``"*"`` for all.
    """
    if origin is None:
        return True
    if allowed is not None and ("*" in allowed or origin in allowed):
        return True
    if origin == "null":
        return False
    mine = [h for h in (host, (forwarded_host or "").split(",")[0].strip() or None) if h]
    try:
        authority = _authority(origin)
        return any(authority == _authority_for(origin, h) for h in mine)
    except ValueError:  # a malformed header (bad port, unclosed IPv6 bracket) from a stranger
        return False


def _authority_for(origin: str, host: str) -> str:
    scheme = urlsplit(origin).scheme
    return _authority(f"{scheme}://{host}")
