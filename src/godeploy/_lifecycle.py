"""Ending what one owns: `async with` over `aclose()`, and stopping a child process."""

from __future__ import annotations

import subprocess
from types import TracebackType
from typing import Any, Self

__all__ = ["AsyncClosing", "stop_process"]


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


def stop_process(process: subprocess.Popen[Any], grace: float) -> None:
    """SIGTERM a child, SIGKILL it if it has not exited after `grace` seconds, and reap it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
