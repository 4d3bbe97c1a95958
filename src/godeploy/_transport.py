"""The HTTP seam: the only module that imports the aiohttp client.

`GoDeployClient` holds an `AsyncTransport` and hands it one fully built request at a time; the
transport sends it, reads the whole body (so the connection goes back to the pool before the
caller sees anything) and returns a `TransportResponse`, or raises `APIConnectionError` /
`APITimeoutError` whose `request_sent` says whether any byte may have reached the server. Tests
and users can swap the transport for their own.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import aiohttp
from attrs import define, field
from multidict import CIMultiDictProxy
from yarl import URL

from godeploy._exceptions import APIConnectionError, APITimeoutError

__all__ = [
    "AiohttpTransport",
    "AsyncTransport",
    "TransportRequest",
    "TransportResponse",
]


@define(frozen=True, kw_only=True)
class TransportRequest:
    """One HTTP request, ready to send.

    Attributes:
        method: the HTTP method.
        url: the absolute URL, query included.
        headers: the request headers (they hold the token: never log them).
        body: the encoded body, if any.
        timeout: seconds this attempt may take from start to the last body byte.
        connect_timeout: seconds to get a connection.
    """

    method: str
    url: URL
    headers: Mapping[str, str] = field(repr=False)
    body: bytes | None = None
    timeout: float | None = None
    connect_timeout: float | None = None


@define(frozen=True, kw_only=True)
class TransportResponse:
    """A whole HTTP response: status, headers and the body, fully read."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes = field(repr=False)
    url: URL


@runtime_checkable
class AsyncTransport(Protocol):
    """What the client needs from an HTTP transport."""

    async def send(self, request: TransportRequest) -> TransportResponse:
        """Send a request and return the whole response, or raise `APIConnectionError`."""
        ...

    async def aclose(self) -> None:
        """Release what the transport owns; calling it twice is harmless."""
        ...


@functools.lru_cache(maxsize=64)
def _client_timeout(total: float | None, connect: float | None) -> aiohttp.ClientTimeout:
    """The (immutable) aiohttp timeout of an attempt; calls mostly repeat the same pair."""
    return aiohttp.ClientTimeout(total=total, sock_connect=connect)


class AiohttpTransport:
    """An `AsyncTransport` over one `aiohttp.ClientSession`.

    It creates and owns a session (with a connection limit) unless one is passed in, in which
    case it only borrows it and never closes it.

    Args:
        session: a session to borrow; the caller closes it.
        max_connections: the connector's limit on open connections (own session only).
        max_connections_per_host: the per-host limit (own session only; 0 is no limit).
    """

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession | None = None,
        max_connections: int = 100,
        max_connections_per_host: int = 0,
    ) -> None:
        self._borrowed = session
        self._session: aiohttp.ClientSession | None = session
        self._max_connections = max_connections
        self._max_connections_per_host = max_connections_per_host
        self._closed = False

    @property
    def session(self) -> aiohttp.ClientSession | None:
        """The session in use (None until the first request of an owned session)."""
        return self._session

    def _ensure_session(self) -> aiohttp.ClientSession:
        """Create the owned session on first use, inside the running loop."""
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, limit_per_host=self._max_connections_per_host
            )
            # No cookies: the API is stateless, and a cookie jar would carry state between
            # business units and tokens.
            self._session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar()
            )
        return self._session

    async def send(self, request: TransportRequest) -> TransportResponse:
        """Send one request; see `AsyncTransport.send`."""
        if self._closed:
            raise APIConnectionError(
                "transport is closed", method=request.method, url=request.url, request_sent=False
            )
        session = self._ensure_session()
        timeout = _client_timeout(request.timeout, request.connect_timeout)
        unreadable = ""
        try:
            async with session.request(
                request.method,
                request.url,
                headers=request.headers,
                data=request.body,
                timeout=timeout,
                # A redirect is never followed: it could carry the token to another origin.
                allow_redirects=False,
                auto_decompress=True,
            ) as response:
                body = await response.read()
                return TransportResponse(
                    status=response.status,
                    # Read-only, and never changed once the response is parsed: no copy.
                    headers=response.headers,
                    body=body,
                    url=request.url,
                )
        except aiohttp.ClientResponseError as error:
            # An answer that is not HTTP. aiohttp's error keeps the request's headers, the token
            # among them, in its `request_info` (and its repr): keep its text, not the error.
            unreadable = f"{type(error).__name__}: {error}"
        except aiohttp.ConnectionTimeoutError as error:
            raise APITimeoutError(
                f"timed out connecting to {request.url.host}",
                method=request.method,
                url=request.url,
                request_sent=False,
            ) from error
        except (TimeoutError, aiohttp.ServerTimeoutError) as error:
            raise APITimeoutError(
                f"{request.method} {request.url.path} timed out",
                method=request.method,
                url=request.url,
                request_sent=True,
            ) from error
        except aiohttp.ClientConnectorError as error:
            raise APIConnectionError(
                f"cannot connect to {request.url.host}:{request.url.port}: {error.os_error}",
                method=request.method,
                url=request.url,
                request_sent=False,
            ) from error
        except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as error:
            raise APIConnectionError(
                f"{request.method} {request.url.path} failed: {type(error).__name__}: {error}",
                method=request.method,
                url=request.url,
                request_sent=True,
            ) from error
        # Raised outside the `except`, so that the error chains neither to it nor from it.
        raise APIConnectionError(
            f"{request.method} {request.url.path} failed: {unreadable}",
            method=request.method,
            url=request.url,
            request_sent=True,
        )

    async def aclose(self) -> None:
        """Close the session if this transport owns it; idempotent."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and session is not self._borrowed:
            await session.close()
