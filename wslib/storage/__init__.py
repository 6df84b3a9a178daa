"""Where a chat keeps its log, ids, dedupe and resume tokens: memory, SQLite, Redis.

May import ``wslib.core`` and ``wslib.exceptions``.
"""
