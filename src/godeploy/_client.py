"""`GoDeployClient`: the SDK's entry point, its lifecycle, configuration and resources."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any
from uuid import UUID

from yarl import URL

from godeploy._auth import TokenProvider, TokenSource
from godeploy._config import (
    DEFAULT_BASE_URL,
    Timeout,
    check_base_url,
    check_business_unit_id,
    check_option,
    coerce_timeout,
    instance_of,
    integer_at_least,
    optional,
)
from godeploy._core import ClientCore
from godeploy._exceptions import RequestValidationError
from godeploy._hooks import Hooks
from godeploy._lifecycle import AsyncClosing
from godeploy._pacing import Limits, LocalLimits, RetryBudget
from godeploy._retry import RetryPolicy, with_max_retries
from godeploy._telemetry import Telemetry
from godeploy._transport import (
    DEFAULT_MAX_RESPONSE_BYTES,
    AiohttpTransport,
    AsyncTransport,
    SSLOption,
)
from godeploy._version import __version__
from godeploy.resources import FeatureSets, OrderItems, Orders, Products

if TYPE_CHECKING:
    # For the annotation only: _transport is the one module that uses the aiohttp client.
    import aiohttp
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

__all__ = ["GoDeployClient"]


class GoDeployClient(AsyncClosing):
    """An async client of the go deploy Order API.

    Use it as an async context manager, or call `aclose()` when done::

        async with GoDeployClient(token="…", business_unit_id="…") as client:
            async for order in client.orders.list():
                ...

    Args:
        token: the JWT, or an async callable returning one (asked again, once, after a 401).
        business_unit_id: the default business unit of every call (each call can override it).
        base_url: the API's root; `https://lms.godeploy.it/` unless you point it elsewhere.
        session: an `aiohttp.ClientSession` to use; the client never closes it.
        transport: an `AsyncTransport` to use instead of aiohttp (tests, custom stacks).
        max_connections: the connection pool's limit (own session only).
        timeout: seconds, or a `Timeout` (connect, each attempt, whole call).
        max_retries: retries of a failed GET (connection errors, 408, 429, 5xx).
        retry_policy: the whole retry policy (`max_retries` overrides its count).
        retry_budget: the client-wide token bucket that pays for retries (local limits).
        max_requests_per_second: a client-wide rate limit (a token bucket) when set.
        limits: the pacing (rate limit, 429 pause, retry budget) to use instead of this
            client's own: a `LocalLimits` shared by several clients, or a
            `godeploy.fleet.FleetLimits` shared by a fleet. The client does not close it.
        allow_insecure_http: allow `http://` to a host that is not loopback.
        hooks: callables told of each request, response, retry, rate-limit wait, finished call
            and fan-out progress (see `Hooks`).
        tracer_provider: the OpenTelemetry tracer provider for the client's spans (default:
            the global one; needs `godeploy[otel]`).
        meter_provider: the OpenTelemetry meter provider for the client's metrics (default:
            the global one).
        max_response_bytes: the largest response body read, after decompression (32 MiB);
            a larger one raises `ResponseTooLargeError`.
        trust_env: honour `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`/`NO_PROXY` (own session only).
        ssl: TLS verification (own session only): True (the system's CAs), a CA bundle path,
            an `ssl.SSLContext`, or False (no checks). See `AiohttpTransport`.

    Raises:
        RequestValidationError: a bad option.
    """

    def __init__(
        self,
        token: TokenProvider,
        business_unit_id: UUID | str | None = None,
        *,
        base_url: str | URL = DEFAULT_BASE_URL,
        session: aiohttp.ClientSession | None = None,
        transport: AsyncTransport | None = None,
        max_connections: int = 100,
        timeout: float | Timeout | None = None,
        max_retries: int | None = None,
        retry_policy: RetryPolicy | None = None,
        retry_budget: RetryBudget | None = None,
        max_requests_per_second: float | None = None,
        limits: Limits | None = None,
        allow_insecure_http: bool = False,
        hooks: Hooks | None = None,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        trust_env: bool = True,
        ssl: SSLOption = True,
    ) -> None:
        if session is not None and transport is not None:
            raise RequestValidationError(
                "pass session= or transport=, not both",
                {"session": ["not with transport="], "transport": ["not with session="]},
            )
        check_option("transport", transport, optional(instance_of(AsyncTransport)))
        if transport is not None and (
            max_response_bytes != DEFAULT_MAX_RESPONSE_BYTES
            or trust_env is not True
            or ssl is not True
        ):
            raise RequestValidationError(
                "max_response_bytes=, trust_env= and ssl= configure the aiohttp transport: "
                "with transport=, set them on your transport"
            )
        if limits is not None and (retry_budget is not None or max_requests_per_second is not None):
            raise RequestValidationError(
                "pass limits=, or retry_budget=/max_requests_per_second=, not both",
                {"limits": ["not with retry_budget= or max_requests_per_second="]},
            )
        check_option("limits", limits, optional(instance_of(Limits)))
        check_option("retry_policy", retry_policy, optional(instance_of(RetryPolicy)))
        check_option("max_retries", max_retries, optional(integer_at_least(0)))
        check_option("max_connections", max_connections, integer_at_least(1))
        policy = with_max_retries(retry_policy or RetryPolicy(), max_retries)
        unit = None if business_unit_id is None else check_business_unit_id(business_unit_id)
        url = check_base_url(base_url, allow_insecure_http=allow_insecure_http)
        tokens = TokenSource(token)
        if limits is None:
            limits = LocalLimits(
                max_requests_per_second=max_requests_per_second, retry_budget=retry_budget
            )
        telemetry = Telemetry.from_options(
            hooks=hooks,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            budget=limits.budget,
        )
        self._owns_transport = transport is None
        self._transport: AsyncTransport = transport or AiohttpTransport(
            session=session,
            max_connections=max_connections,
            max_response_bytes=max_response_bytes,
            trust_env=trust_env,
            ssl=ssl,
        )
        self._core = ClientCore(
            transport=self._transport,
            base_url=url,
            token=tokens,
            business_unit_id=unit,
            timeout=coerce_timeout(timeout, Timeout()),
            retry_policy=policy,
            limits=limits,
            user_agent=f"godeploy-python/{__version__}",
            telemetry=telemetry,
        )
        self.products = Products(self._core)
        self.feature_sets = FeatureSets(self._core)
        self.orders = Orders(self._core)
        self.order_items = OrderItems(self._core)

    @property
    def base_url(self) -> URL:
        """The API's root URL."""
        return self._core.base_url

    @property
    def business_unit_id(self) -> str | None:
        """The default business unit."""
        return self._core.business_unit_id

    @property
    def transport(self) -> AsyncTransport:
        """The transport in use."""
        return self._transport

    @property
    def limits(self) -> Limits:
        """The pacing in use: rate limit, 429 pause and retry budget."""
        return self._core.limits

    @property
    def is_closed(self) -> bool:
        """Whether `aclose()` was called."""
        return self._core.closed

    @property
    def stats(self) -> dict[str, int]:
        """Counters of this client: requests (attempts), retries, token refreshes."""
        return dict(self._core.stats)

    async def aclose(self) -> None:
        """Close the client and what it owns (not a session or transport passed in); idempotent."""
        if self._core.closed:
            return
        # Calls asleep in a backoff, a pause or the rate limit wake with ClientClosedError.
        self._core.close()
        if self._owns_transport:
            await self._transport.aclose()

    def __repr__(self) -> str:
        state = "closed" if self._core.closed else "open"
        return (
            f"<GoDeployClient {state} base_url={str(self._core.base_url)!r} "
            f"business_unit_id={self._core.business_unit_id!r}>"
        )

    def __del__(self, _warnings: Any = warnings) -> None:
        core = getattr(self, "_core", None)
        transport = getattr(self, "_transport", None)
        if core is None or core.closed or not getattr(self, "_owns_transport", False):
            return
        session = getattr(transport, "session", None)
        if session is not None and not session.closed:
            _warnings.warn(
                f"unclosed {self!r}: use `async with GoDeployClient(...)` or await aclose()",
                ResourceWarning,
                stacklevel=2,
                source=self,
            )
