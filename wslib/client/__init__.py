"""Asyncio clients that reconnect by themselves, and the terminal chat's view.

May import ``wslib.core`` and ``wslib.exceptions``.
"""
