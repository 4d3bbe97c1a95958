"""The bearer token: a string, or an async callable asked again (once) when a 401 says so.

The core awaits the token within the deadline of the call that needs it, so a token provider
that hangs fails that call with `APITimeoutError` instead of hanging every call of the client.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

from godeploy._exceptions import RequestValidationError

__all__ = ["TokenProvider", "TokenSource", "check_token"]

TokenProvider = str | Callable[[], Awaitable[str]]
"""A bearer token, or an async callable that returns a fresh one (rotating JWTs)."""

_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def check_token(token: object, *, source: str = "token") -> str:
    """Return a token fit for an Authorization header, or raise `RequestValidationError`."""
    if not isinstance(token, str) or not token.strip():
        # The value is not shown: it may be a token after all.
        raise RequestValidationError(
            f"{source} must be a non-empty string", {"token": ["a non-empty string"]}
        )
    if _CONTROL_CHARACTERS.search(token):
        # It could not go in a header: refused here rather than by aiohttp mid-request.
        raise RequestValidationError(
            f"{source} must not contain control characters", {"token": ["no control characters"]}
        )
    return token


class TokenSource:
    """Hands out the bearer token; asks a callable again, once, when a 401 shows it is stale.

    A token from a callable is kept until a 401 answers a request made with it. Then the first
    request to notice asks the callable once more; requests that carried the same stale token
    wait for that one refresh instead of starting their own.
    """

    def __init__(self, token: TokenProvider) -> None:
        if isinstance(token, str):
            self._current: str | None = check_token(token)
            self._provider: Callable[[], Awaitable[str]] | None = None
        elif callable(token):
            self._current = None
            self._provider = token
        else:
            raise RequestValidationError(
                "token must be a string or an async callable",
                {"token": ["a string or an async callable"]},
            )
        self._generation = 0
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    @property
    def refreshable(self) -> bool:
        """Whether a stale token can be replaced."""
        return self._provider is not None

    @property
    def refresh_count(self) -> int:
        """How many times a stale token was replaced (the first fetch is not a refresh)."""
        return max(0, self._generation - 1)

    def cached(self) -> tuple[str, int] | None:
        """The token to use and its generation when no await is needed (the common case)."""
        if self._current is None:
            return None
        return self._current, self._generation

    async def get(self) -> tuple[str, int]:
        """Return the token to use and its generation."""
        if self._current is not None:
            return self._current, self._generation
        async with self._loop_lock():
            if self._current is None:
                await self._fetch()
            assert self._current is not None
            return self._current, self._generation

    async def refresh(self, stale_generation: int) -> None:
        """Replace the token of `stale_generation` unless another request already did."""
        if self._provider is None:
            return
        async with self._loop_lock():
            if self._generation == stale_generation:
                await self._fetch()

    def _loop_lock(self) -> asyncio.Lock:
        """The lock of the running event loop.

        An asyncio.Lock stays bound to the loop it first waited in, and a client may move on to
        the next loop once the first has stopped: each loop gets a lock of its own.
        """
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock

    async def _fetch(self) -> None:
        """Ask the callable for a token (under the lock)."""
        assert self._provider is not None
        token = await self._provider()
        self._current = check_token(token, source="the token callable's token")
        self._generation += 1

    def __repr__(self) -> str:
        kind = "callable" if self._provider is not None else "static"
        return f"<TokenSource {kind} token=***>"
