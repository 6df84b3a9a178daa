"""Give objects that start and stop a ``with`` (or ``async with``) block, written once.

Servers, clients, taps and throw-away Redis servers all end the same way: leaving the block
stops them, whether it ended normally or with an exception. Each class only says how it
stops; these two bases supply the block.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ["AsyncStopOnExit", "StopOnExit"]


class StopOnExit:
    """Stop the object when its ``with`` block ends: subclasses define ``stop()``."""

    def stop(self) -> None:
        """Stop whatever the object runs; subclasses say what that is."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class AsyncStopOnExit:
    """Start the object on ``async with`` and stop it when the block ends."""

    async def start(self) -> None:
        """Start whatever the object runs; subclasses say what that is."""
        raise NotImplementedError

    async def stop(self) -> None:
        """Stop whatever the object runs; subclasses say what that is."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
