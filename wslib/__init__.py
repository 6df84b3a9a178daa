"""wslib: WebSockets in ten minutes, live in Jupyter."""

from __future__ import annotations

__version__ = "0.1.0"
