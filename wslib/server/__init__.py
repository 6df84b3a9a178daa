"""The asyncio server: a thin adapter that feeds sockets to the rules and writes what they return.

May import ``wslib.core``, ``wslib.storage`` and ``wslib.exceptions``.
"""
