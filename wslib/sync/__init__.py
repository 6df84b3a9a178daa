"""The kit's background event loop thread, and what plain code runs on it: start, blocking clients.

May import ``wslib.core``, ``wslib.server``, ``wslib.client`` and ``wslib.exceptions``.
"""
