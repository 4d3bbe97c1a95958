"""The HTTP seam: the only module that imports the aiohttp client.

`GoDeployClient` holds an `AsyncTransport` and hands it one fully built request at a time; the
transport sends it, reads the whole body (so the connection goes back to the pool before the
caller sees anything; never more than `max_response_bytes`) and returns a `TransportResponse`,
or raises `APIConnectionError` / `APITimeoutError` whose `request_sent` says whether any byte
may have reached the server. Tests and users can swap the transport for their own:
`MockTransport(handler)` answers in memory.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import inspect
import os
import urllib.request
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from contextvars import ContextVar
from ssl import SSLContext, SSLError, create_default_context
from typing import TYPE_CHECKING, Protocol, TypeAlias, runtime_checkable

import aiohttp
from attrs import define, evolve, field
from multidict import CIMultiDictProxy
from yarl import URL

from godeploy._config import (
    check_option,
    instance_of,
    integer_at_least,
    is_callable,
    optional,
    refuse,
    strict_bool,
)
from godeploy._exceptions import (
    NO_HEADERS,
    APIConnectionError,
    APITimeoutError,
    EventLoopError,
    RequestValidationError,
    ResponseTooLargeError,
    read_only_headers,
)
from godeploy._slots import new, setters

__all__ = [
    "DEFAULT_MAX_ERROR_BYTES",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "AiohttpTransport",
    "AsyncTransport",
    "MockHandler",
    "MockTransport",
    "SSLOption",
    "TransportRequest",
    "TransportResponse",
    "build_request",
    "check_loop_free",
]

DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024
"""The largest body read (after decompression) unless the client is told otherwise: 32 MiB."""

DEFAULT_MAX_ERROR_BYTES = 64 * 1024
"""How much of an error body (status >= 400) is read: the rest is cut, never parsed."""

SSLOption: TypeAlias = "SSLContext | str | os.PathLike[str] | bool"
"""`ssl=`: an `SSLContext`, a CA bundle's path, True (the system's CAs) or False (no checks)."""


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
    """A whole HTTP response: status, headers and the body, fully read.

    Attributes:
        status: the HTTP status code.
        headers: the response headers, read-only and case-insensitive (a plain mapping given
            here is converted).
        body: the body, decompressed; an error body (status >= 400) may be cut short.
        url: the request URL (empty when a hand-made response does not say).
    """

    status: int
    headers: CIMultiDictProxy[str] = field(default=NO_HEADERS, converter=read_only_headers)
    body: bytes = field(default=b"", repr=False)
    url: URL = field(factory=URL)


# A request and its response are made for every attempt: slot by slot, for 40% less.
_REQUEST_SLOTS = setters(
    TransportRequest, ("method", "url", "headers", "body", "timeout", "connect_timeout")
)
_RESPONSE_SLOTS = setters(TransportResponse, ("status", "headers", "body", "url"))


def build_request(
    method: str,
    url: URL,
    headers: Mapping[str, str],
    body: bytes | None,
    timeout: float | None,
    connect_timeout: float | None,
) -> TransportRequest:
    """`TransportRequest(...)`, slot by slot (`godeploy._slots`), of the core's checked values."""
    request: TransportRequest = new(TransportRequest)
    _REQUEST_SLOTS[0](request, method)
    _REQUEST_SLOTS[1](request, url)
    _REQUEST_SLOTS[2](request, headers)
    _REQUEST_SLOTS[3](request, body)
    _REQUEST_SLOTS[4](request, timeout)
    _REQUEST_SLOTS[5](request, connect_timeout)
    return request


def _build_response(
    status: int, headers: CIMultiDictProxy[str], body: bytes, url: URL
) -> TransportResponse:
    """`TransportResponse(...)`, slot by slot, of headers that are read-only already."""
    response: TransportResponse = new(TransportResponse)
    _RESPONSE_SLOTS[0](response, status)
    _RESPONSE_SLOTS[1](response, headers)
    _RESPONSE_SLOTS[2](response, body)
    _RESPONSE_SLOTS[3](response, url)
    return response


@runtime_checkable
class AsyncTransport(Protocol):
    """What the client needs from an HTTP transport."""

    async def send(self, request: TransportRequest) -> TransportResponse:
        """Send a request and return the whole response, or raise `APIConnectionError`."""
        ...

    async def aclose(self) -> None:
        """Release what the transport owns; calling it twice is harmless."""
        ...


MockHandler: TypeAlias = Callable[
    [TransportRequest], "TransportResponse | Awaitable[TransportResponse]"
]
"""What `MockTransport` calls for each request: a plain or an async function."""


class MockTransport:
    """An in-memory `AsyncTransport`: a function answers each request; no socket is opened.

    Like `httpx.MockTransport`, for tests of the logic above the wire (retries, the 429 pause,
    deadlines, token refresh)::

        def handler(request: TransportRequest) -> TransportResponse:
            return TransportResponse(status=200, headers={"Content-Type": "application/json"},
                                     body=b'{"items": [], "pageInfo": {}}')

        client = GoDeployClient("token", unit_id, transport=MockTransport(handler))

    The handler may be async, and may raise `APIConnectionError`/`APITimeoutError` to act out a
    network failure. A response without a `url` gets the request's. The client does not close a
    transport it was given: close it yourself (`aclose()`), after which `send` raises
    `APIConnectionError` as `AiohttpTransport` does.

    Args:
        handler: called with each `TransportRequest`, returns (or awaits to) its response.
    """

    def __init__(self, handler: MockHandler) -> None:
        check_option("handler", handler, is_callable)
        self._handler = handler
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether `aclose()` was called."""
        return self._closed

    async def send(self, request: TransportRequest) -> TransportResponse:
        """Answer one request with the handler; see `AsyncTransport.send`."""
        if self._closed:
            raise APIConnectionError(
                "transport is closed", method=request.method, url=request.url, request_sent=False
            )
        answer = self._handler(request)
        response = await answer if inspect.isawaitable(answer) else answer
        if not isinstance(response, TransportResponse):
            raise TypeError(
                f"the MockTransport handler returned {type(response).__name__}, "
                "not a TransportResponse"
            )
        return response if response.url else evolve(response, url=request.url)

    async def aclose(self) -> None:
        """Refuse further requests; idempotent."""
        self._closed = True


@functools.lru_cache(maxsize=64)
def _client_timeout(total: float | None, connect: float | None) -> aiohttp.ClientTimeout:
    """The (immutable) aiohttp timeout of an attempt; calls mostly repeat the same pair."""
    return aiohttp.ClientTimeout(total=total, sock_connect=connect)


_ProxyChoice: TypeAlias = "tuple[URL | None, str | None]"
"""A proxy and its `Proxy-Authorization` value, or (None, None) to go direct."""
_NO_PROXY: tuple[None, None] = (None, None)


def _ssl_setting(value: object) -> SSLContext | bool:
    """What the connector is given for `ssl=`: a context, or True/False."""
    if isinstance(value, bool | SSLContext):
        return value
    if isinstance(value, str | os.PathLike):
        path = os.fspath(value)
        if not os.path.exists(path):
            raise RequestValidationError(
                f"ssl: no CA bundle at {path!r}", {"ssl": ["no such file"]}
            )
        try:
            if os.path.isdir(path):
                return create_default_context(capath=path)
            return create_default_context(cafile=path)
        except (SSLError, OSError) as error:
            raise RequestValidationError(
                f"ssl: cannot load the CA bundle {path!r}: {error}", {"ssl": [str(error)]}
            ) from None
    refuse("ssl", "an ssl.SSLContext, a CA bundle path, True or False", value)


@define(frozen=True)
class _EnvironmentProxies:
    """The proxy variables as read once: a proxy (and credentials) per scheme, and NO_PROXY."""

    by_scheme: Mapping[str, tuple[URL, str | None]]
    no_proxy: str

    @classmethod
    def read(cls) -> _EnvironmentProxies:
        """Read HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and NO_PROXY; split credentials off."""
        variables = urllib.request.getproxies_environment()
        by_scheme: dict[str, tuple[URL, str | None]] = {}
        for scheme in ("http", "https", "all"):
            value = variables.get(scheme)
            if not value:
                continue
            url = URL(value if "://" in value else f"http://{value}")
            if url.scheme not in ("http", "https") or not url.host:
                # The value is not shown: it may hold the proxy's password.
                raise RequestValidationError(
                    f"{scheme.upper()}_PROXY: only http:// and https:// proxies are supported "
                    "(GoDeployClient(trust_env=False) ignores the proxy variables)"
                )
            by_scheme[scheme] = (url.with_user(None), _basic_credentials(url))
        return cls(by_scheme, variables.get("no", ""))

    def choose(self, url: URL) -> _ProxyChoice:
        """The proxy of an origin: its scheme's (or ALL_PROXY's) unless NO_PROXY names it."""
        found = self.by_scheme.get(url.scheme) or self.by_scheme.get("all")
        if found is None or url.host is None:
            return _NO_PROXY
        if _bypasses_proxy(url.host, self.no_proxy):
            return _NO_PROXY
        return found


def _basic_credentials(url: URL) -> str | None:
    """The `Proxy-Authorization` value of a proxy URL's user and password, if it has them."""
    if url.user is None:
        return None
    pair = f"{url.user}:{url.password or ''}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


def _bypasses_proxy(host: str, no_proxy: str) -> bool:
    """Whether NO_PROXY (`*` or hosts and domains, comma-separated, as curl reads it) names it."""
    host = host.lower().rstrip(".")
    for entry in no_proxy.lower().replace(" ", ",").split(","):
        if entry.startswith("[") and "]" in entry:
            entry = entry[1 : entry.index("]")]  # a bracketed IPv6 address, maybe with a port
        elif entry.count(":") == 1:
            entry = entry.partition(":")[0]  # the port does not matter
        entry = entry.strip(".")
        if entry == "*" or (entry and (host == entry or host.endswith("." + entry))):
            return True
    return False


if TYPE_CHECKING:
    from aiohttp.client_reqrep import ClientRequest
    from aiohttp.connector import Connection
    from aiohttp.tracing import Trace

_CONNECTED: ContextVar[list[bool] | None] = ContextVar("godeploy_connected", default=None)
"""Set by `send` for the request in progress: whether it got a connection (and so may have
written a byte). A timeout before that point sent nothing, whatever timer fired."""


class _Connector(aiohttp.TCPConnector):
    """The owned session's connector: notes when the request in progress got its connection."""

    async def connect(
        self, req: ClientRequest, traces: list[Trace], timeout: aiohttp.ClientTimeout
    ) -> Connection:
        """Get a connection (from the pool or a new one) and note that it was got."""
        connection = await super().connect(req, traces, timeout)
        marker = _CONNECTED.get()
        if marker is not None:
            marker[0] = True
        return connection


def _connection_error(
    error: BaseException, request: TransportRequest, *, connected: bool = True
) -> APIConnectionError:
    """The SDK's error for what aiohttp raised; `request_sent` is False only before a byte left.

    `connected` is whether the request got a connection: a timeout that fires while it waits for
    one (the pool is full, the host is slow to accept) sent nothing.
    """
    method, url = request.method, request.url
    cls: type[APIConnectionError]
    if isinstance(error, aiohttp.ConnectionTimeoutError):
        cls, message, sent = APITimeoutError, f"timed out connecting to {url.host}", False
    elif isinstance(error, TimeoutError):  # aiohttp's ServerTimeoutError among them
        if connected:
            cls, message, sent = APITimeoutError, f"{method} {url.path} timed out", True
        else:
            cls, sent = APITimeoutError, False
            message = f"{method} {url.path} timed out waiting for a connection; nothing was sent"
    elif isinstance(error, aiohttp.ClientProxyConnectionError):
        # Named by host and port only: the proxy's URL may carry its password.
        cls, sent = APIConnectionError, False
        message = f"cannot connect to the proxy {error.host}:{error.port}: {error.os_error}"
    elif isinstance(error, aiohttp.ClientConnectorError):
        cls, sent = APIConnectionError, False
        message = f"cannot connect to {url.host}:{url.port}: {error.os_error}"
    else:
        cls, sent = APIConnectionError, True
        message = f"{method} {url.path} failed: {type(error).__name__}: {error}"
    return cls(message, method=method, url=url, request_sent=sent)


def check_loop_free(
    owner: asyncio.AbstractEventLoop | None, current: asyncio.AbstractEventLoop, what: str
) -> None:
    """Refuse `current` while `owner`, another loop, is running (in another thread).

    Raises:
        EventLoopError: naming both loops.
    """
    if owner is not None and owner is not current and owner.is_running():
        raise EventLoopError(
            f"{what} is in use by the event loop {owner!r}, which is still running; it cannot "
            f"be used from {current!r} at the same time: make one client per event loop"
        )


async def _session_owner(session: aiohttp.ClientSession) -> AsyncGenerator[None, None]:
    """Close `session` when closed: by `AiohttpTransport.aclose()`, or at its loop's shutdown.

    `asyncio.run`, `asyncio.Runner` (pytest-asyncio's) and uvloop close every async generator
    a loop has started before they close the loop: the one hook a loop offers at its end. A
    client still open when its loop ends gives its connections back there, while the loop
    can still close them, and works on in the next loop with connections of its own.
    """
    try:
        yield
    finally:
        await session.close()


class AiohttpTransport:
    """An `AsyncTransport` over one `aiohttp.ClientSession`.

    It creates and owns a session (with a connection limit) unless one is passed in, in which
    case it only borrows it and never closes it.

    A body is read in chunks up to `max_response_bytes` (counted after decompression, so a gzip
    bomb counts what it inflates to); past that the connection is dropped, not pooled, and the
    call raises `ResponseTooLargeError`. Of an error body (status >= 400) only the first 64 KiB
    are read: the rest is cut before anything parses it.

    The owned session honours `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` (read when
    the session is created, as httpx reads them when its client is), unless `trust_env=False`.
    Unlike aiohttp's own `trust_env`, it never reads `~/.netrc` for the API host: the request
    carries the bearer token. Proxy credentials go in the proxy URL and are never shown.

    A session belongs to one event loop. The owned one is made in the loop of the first request
    and closed when that loop shuts down (`asyncio.run` and pytest-asyncio close what the loop
    started) if `aclose()` did not close it first; a request from the next loop then gets a new
    session. A loop closed without shutting down its async generators leaves its session to the
    garbage collector. Two loops running at once raise `EventLoopError`.

    Args:
        session: a session to borrow; the caller closes it (and sets its own proxy and TLS).
        max_connections: the connector's limit on open connections (own session only).
        max_connections_per_host: the per-host limit (own session only; 0 is no limit).
        max_response_bytes: the largest body read, after decompression (default 32 MiB).
        trust_env: use the proxy environment variables (own session only).
        ssl: TLS verification (own session only): True checks against the system's CAs
            (the default), a path (str or PathLike) names a CA bundle file or directory to
            check against instead, an `ssl.SSLContext` is used as is, and False checks
            nothing (never do that beyond a test: the token goes to whoever answers).

    Raises:
        RequestValidationError: a bad option, `ssl=`/`trust_env=` given with `session=`, or a
            CA bundle that cannot be read.
    """

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession | None = None,
        max_connections: int = 100,
        max_connections_per_host: int = 0,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        trust_env: bool = True,
        ssl: SSLOption = True,
    ) -> None:
        self._max_response_bytes: int = check_option(
            "max_response_bytes", max_response_bytes, integer_at_least(1)
        )
        self._max_error_bytes = min(DEFAULT_MAX_ERROR_BYTES, self._max_response_bytes)
        check_option("trust_env", trust_env, strict_bool)
        check_option("session", session, optional(instance_of(aiohttp.ClientSession)))
        check_option("max_connections", max_connections, integer_at_least(1))
        check_option("max_connections_per_host", max_connections_per_host, integer_at_least(0))
        if session is not None and (ssl is not True or trust_env is not True):
            raise RequestValidationError(
                "ssl= and trust_env= configure the session the transport creates: "
                "with session=, set them on your own aiohttp session"
            )
        self._ssl = _ssl_setting(ssl)
        self._trust_env = trust_env and session is None
        self._borrowed = session
        self._session: aiohttp.ClientSession | None = session
        # The loop of the session in use, and what closes each owned session: the current one,
        # and those of loops that stopped without closing (their shutdown still closes them).
        self._loop: asyncio.AbstractEventLoop | None = None
        self._owners: list[tuple[asyncio.AbstractEventLoop, AsyncGenerator[None, None]]] = []
        self._max_connections = max_connections
        self._max_connections_per_host = max_connections_per_host
        self._proxies: _EnvironmentProxies | None = None
        self._proxy_choices: dict[tuple[str, str | None], _ProxyChoice] = {}
        self._closed = False

    @property
    def session(self) -> aiohttp.ClientSession | None:
        """The session in use (None until the first request of an owned session)."""
        return self._session

    @property
    def max_connections(self) -> int | None:
        """The most connections open at once (None: no limit), of a borrowed session too."""
        if self._borrowed is None:
            limit = self._max_connections
        else:
            connector = self._borrowed.connector
            limit = 0 if connector is None else connector.limit
        return limit or None

    @property
    def max_response_bytes(self) -> int:
        """The largest body this transport reads, after decompression."""
        return self._max_response_bytes

    async def _session_here(self, loop: asyncio.AbstractEventLoop) -> aiohttp.ClientSession:
        """The session of the running loop: the owned one is made on the loop's first request."""
        check_loop_free(self._loop, loop, "this client's connection pool")
        self._loop = loop
        if self._borrowed is not None:
            return self._borrowed
        # The sessions of loops that are closed are closed (or past closing): forget them.
        self._owners = [entry for entry in self._owners if not entry[0].is_closed()]
        if self._trust_env:
            proxies = _EnvironmentProxies.read()
            self._proxies = proxies if proxies.by_scheme else None
            self._proxy_choices = {}
        connector = _Connector(
            limit=self._max_connections,
            limit_per_host=self._max_connections_per_host,
            ssl=self._ssl,
        )
        # No cookies: the API is stateless, and a cookie jar would carry state between
        # business units and tokens. No aiohttp trust_env: it would look for the API host
        # in ~/.netrc (clashing with the bearer token) and the proxy in two threads, on
        # every request; the proxy is chosen here instead, once per origin.
        session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())
        owner = _session_owner(session)
        await owner.asend(None)  # started here, so the loop closes it at its shutdown
        self._owners.append((loop, owner))
        self._session = session
        return session

    def _proxy(self, url: URL) -> _ProxyChoice:
        """The proxy (and its credentials) of a request's origin, looked up once per origin."""
        key = (url.scheme, url.raw_host)
        choice = self._proxy_choices.get(key)
        if choice is None:
            assert self._proxies is not None
            choice = self._proxy_choices[key] = self._proxies.choose(url)
        return choice

    async def send(self, request: TransportRequest) -> TransportResponse:
        """Send one request; see `AsyncTransport.send`.

        Raises:
            ResponseTooLargeError: the body is larger than `max_response_bytes`.
        """
        if self._closed:
            raise APIConnectionError(
                "transport is closed", method=request.method, url=request.url, request_sent=False
            )
        session = self._session
        loop = asyncio.get_running_loop()
        if loop is not self._loop or session is None:
            session = await self._session_here(loop)
        timeout = _client_timeout(request.timeout, request.connect_timeout)
        headers = request.headers
        proxy, proxy_authorization = (
            _NO_PROXY if self._proxies is None else self._proxy(request.url)
        )
        proxy_headers = None
        if proxy_authorization is not None:
            # aiohttp's proxy_auth= is deprecated; its proxy_headers= reach only a CONNECT (an
            # https target). A plain-http target's request goes to the proxy as it is.
            if request.url.scheme == "https":
                proxy_headers = {"Proxy-Authorization": proxy_authorization}
            else:
                headers = {**headers, "Proxy-Authorization": proxy_authorization}
        unreadable = ""
        # A borrowed session's connector does not say when it connected: assume it did.
        connected = [session is self._borrowed]
        marker = _CONNECTED.set(connected)
        try:
            async with session.request(
                request.method,
                request.url,
                headers=headers,
                data=request.body,
                timeout=timeout,
                # A redirect is never followed: it could carry the token to another origin.
                allow_redirects=False,
                auto_decompress=True,
                proxy=proxy,
                proxy_headers=proxy_headers,
            ) as response:
                length = response.content_length
                if (
                    length is not None
                    and length <= self._max_error_bytes
                    and not response.headers.get("Content-Encoding")
                ):
                    # Within every limit, whatever the status: read here, without the
                    # chunked reader (what `_read_body` would do, one coroutine less).
                    body = await response.read()
                else:
                    body = await self._read_body(response, request)
                # aiohttp's headers are read-only, and never changed once the response is
                # parsed: no copy.
                return _build_response(response.status, response.headers, body, request.url)
        except aiohttp.ClientResponseError as error:
            # An answer that is not HTTP. aiohttp's error keeps the request's headers, the token
            # among them, in its `request_info` (and its repr): keep its text, not the error.
            unreadable = f"{type(error).__name__}: {error}"
        except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as error:
            # OSError takes in TimeoutError: aiohttp's timeouts, asyncio's and the socket's.
            raise _connection_error(error, request, connected=connected[0]) from error
        finally:
            _CONNECTED.reset(marker)
        # Raised outside the `except`, so that the error chains neither to it nor from it.
        raise APIConnectionError(
            f"{request.method} {request.url.path} failed: {unreadable}",
            method=request.method,
            url=request.url,
            request_sent=True,
        )

    async def _read_body(
        self, response: aiohttp.ClientResponse, request: TransportRequest
    ) -> bytes:
        """Read the (decompressed) body up to its limit; an error body is cut, not refused."""
        is_error = response.status >= 400
        limit = self._max_error_bytes if is_error else self._max_response_bytes
        length = response.content_length
        if length is not None and not response.headers.get("Content-Encoding"):
            if length <= limit:
                # Exactly `length` bytes will come: the parser stops there.
                return await response.read()
            if not is_error:
                response.close()
                raise self._too_large(request)
        chunks: list[bytes] = []
        size = 0
        content = response.content
        while chunk := await content.readany():
            size += len(chunk)
            if size > limit:
                # Closed, not released: what is left of the body is never read, and the
                # connection it would have left half-read never goes back to the pool.
                response.close()
                if not is_error:
                    raise self._too_large(request)
                chunks.append(chunk[: len(chunk) - (size - limit)])
                break
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, request: TransportRequest) -> ResponseTooLargeError:
        """The error of a body past `max_response_bytes`."""
        return ResponseTooLargeError(
            f"{request.method} {request.url.path}: the response body is larger than "
            f"max_response_bytes ({self._max_response_bytes:,} bytes, after decompression); "
            "the connection was dropped. Raise the limit with "
            "GoDeployClient(max_response_bytes=...)",
            max_bytes=self._max_response_bytes,
            url=request.url,
        )

    async def aclose(self) -> None:
        """Close the session if this transport owns it; idempotent.

        Only the running loop's session can be closed here; one of another loop that stopped
        without closing is closed by that loop's shutdown.
        """
        self._closed = True
        loop = asyncio.get_running_loop()
        check_loop_free(self._loop, loop, "this client's connection pool")
        self._session = None
        owners, self._owners = self._owners, []
        for owner_loop, owner in owners:
            if owner_loop is loop:
                await owner.aclose()
            elif not owner_loop.is_closed():
                self._owners.append((owner_loop, owner))
