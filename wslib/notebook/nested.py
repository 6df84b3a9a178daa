"""Let ``asyncio.run()`` work inside a notebook cell, on request.

A Jupyter kernel already runs an event loop, so a script that ends in
``asyncio.run(main())`` fails in a cell with "asyncio.run() cannot be called from a
running event loop". nest-asyncio2 (the maintained fork of nest-asyncio, which ipykernel
itself uses) makes the running loop re-entrant. The kit never does this on import: you
ask for it, once, in the notebook.
"""

from __future__ import annotations

import asyncio

__all__ = ["allow_nested_asyncio"]


def allow_nested_asyncio() -> None:
    """Make the running (or current) event loop re-entrant, so ``asyncio.run`` works in cells.

    Raises:
        ModuleNotFoundError: nest-asyncio2 is not installed (``pip install 'wslib[lab]'``).
    """
    import nest_asyncio2  # type: ignore[import-untyped,unused-ignore]

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    nest_asyncio2.apply(loop)
