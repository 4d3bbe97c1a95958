"""Raw responses: status, headers and request id beside the model the plain call returns.

`client.orders.with_raw_response.get(...)` gives an `APIResponse`.

A raw call *is* the plain call: the wrapper runs the resource's own method (its checks, its
retries, and for `orders.create` every guarantee: never repeated blindly,
`OrderOutcomeUnknownError`) while a context variable asks the core to keep the successful
answer. A plain call pays one context-variable read for it.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Generic, ParamSpec, TypeVar

from attrs import define, field
from yarl import URL

from godeploy._exceptions import request_id_from
from godeploy._transport import TransportResponse

__all__ = ["RAW_CAPTURE", "APIResponse", "RawCapture", "raw_response_wrapper"]

T = TypeVar("T")
P = ParamSpec("P")


class RawCapture:
    """Where the core leaves the successful answer of a call made for `with_raw_response`."""

    __slots__ = ("method", "response", "url")

    def __init__(self) -> None:
        self.response: TransportResponse | None = None
        self.method = ""
        self.url = URL()

    def captured(self, response: TransportResponse, method: str, url: URL) -> None:
        """Keep the answer that the call decodes (the last one wins: it is the call's)."""
        self.response, self.method, self.url = response, method, url


RAW_CAPTURE: ContextVar[RawCapture | None] = ContextVar("godeploy_raw_capture", default=None)
"""Set by `raw_response_wrapper` around one call; None (no capture) otherwise."""


@define(frozen=True, kw_only=True)
class APIResponse(Generic[T]):
    """A successful answer of the API, with the model the plain call returns.

    Attributes:
        status_code: the HTTP status (200, or 201 for a created order).
        headers: the response headers, read-only and case-insensitive (the same type as
            `APIStatusError.headers`).
        request_id: the server's request id, from the same headers the errors read
            (`X-Request-Id`, `Request-Id`, `X-Correlation-Id`, `X-Trace-Id`), or None.
        elapsed: seconds from the call's start to its answer, retries and waits included.
        method: the HTTP method.
        url: the request URL (no credentials: the token travels in a header).
        content: the response body, as received.
    """

    status_code: int
    headers: Mapping[str, str]
    request_id: str | None
    elapsed: float
    method: str
    url: URL
    content: bytes = field(repr=False)
    _parsed: T = field(repr=False, alias="parsed")

    def parse(self) -> T:
        """The model the plain call returns (decoded once, by the call itself)."""
        return self._parsed


def raw_response_wrapper(
    method: Callable[P, Awaitable[T]],
) -> Callable[P, Awaitable[APIResponse[T]]]:
    """Wrap a resource method so that it returns an `APIResponse` of its model.

    Args:
        method: a bound resource method that makes one API call (`orders.get`).

    Returns:
        An async function taking the same arguments.
    """

    @functools.wraps(method)
    async def raw(*args: P.args, **kwargs: P.kwargs) -> APIResponse[T]:
        capture = RawCapture()
        clock = asyncio.get_running_loop().time
        started = clock()
        # The method runs in this task, so it sees the variable; the reset keeps any other
        # call (in this task or a task it starts later) from being captured.
        reset = RAW_CAPTURE.set(capture)
        try:
            parsed = await method(*args, **kwargs)
        finally:
            RAW_CAPTURE.reset(reset)
        elapsed = clock() - started
        response = capture.response
        assert response is not None, "a successful call always passes its answer on"
        return APIResponse(
            status_code=response.status,
            headers=response.headers,
            request_id=request_id_from(response.headers),
            elapsed=elapsed,
            method=capture.method,
            url=capture.url,
            content=response.body,
            parsed=parsed,
        )

    return raw
