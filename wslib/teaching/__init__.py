"""Teaching instruments: frames and handshakes by hand, a wire tap, polling, a throw-away Redis.

May import ``wslib.core``, ``wslib.sync`` and ``wslib.exceptions``.
"""
