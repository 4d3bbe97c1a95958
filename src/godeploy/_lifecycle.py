"""`async with` for the objects that own something and close it with `aclose()`."""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ["AsyncClosing"]


class AsyncClosing:
    """Mixin: `async with x` gives `x` and awaits `x.aclose()` on the way out, error or not.

    A class that must open something on the way in overrides `__aenter__` (and returns `self`).
    """

    __slots__ = ()

    async def aclose(self) -> None:
        """Release what the object owns; idempotent."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
