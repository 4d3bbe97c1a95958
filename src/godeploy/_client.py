"""`GoDeployClient`: the SDK's entry point, its lifecycle, configuration and resources."""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from uuid import UUID

from yarl import URL

from godeploy._auth import TokenProvider, TokenSource, check_token
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
from godeploy._environment import (
    BASE_URL_VARIABLE,
    BUSINESS_UNIT_VARIABLE,
    TOKEN_VARIABLE,
    configure_logging,
    from_environment,
)
from godeploy._exceptions import ClientClosedError, RequestValidationError
from godeploy._hooks import Hooks, HooksObserver
from godeploy._lifecycle import AsyncClosing
from godeploy._observers import Telemetry
from godeploy._options import NO_EXTRAS, check_headers, merge_headers
from godeploy._otel import OtelObserver
from godeploy._pacing import Limits, LocalLimits, RetryBudget
from godeploy._retry import RetryPolicy, with_max_retries
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

    Without `token`, `business_unit_id` or `base_url`, the client reads `GODEPLOY_TOKEN`,
    `GODEPLOY_BUSINESS_UNIT_ID` and `GODEPLOY_BASE_URL` (the CLI's variables; an empty one
    counts as unset). With `GODEPLOY_LOG=info` or `debug` in the environment, the first client
    made sends the `godeploy` logger to stderr, unless the application configured logging.

    Args:
        token: the JWT, or an async callable returning one (asked again, once, after a 401);
            default: `GODEPLOY_TOKEN`.
        business_unit_id: the default business unit of every call (each call can override it);
            default: `GODEPLOY_BUSINESS_UNIT_ID`, if set.
        base_url: the API's root; default: `GODEPLOY_BASE_URL`, else `https://lms.godeploy.it/`.
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
        default_headers: headers added to every request (not `Authorization`: the SDK owns it).

    Raises:
        RequestValidationError: a bad option, a bad `GODEPLOY_*` variable, or no token at all.
    """

    def __init__(
        self,
        token: TokenProvider | None = None,
        business_unit_id: UUID | str | None = None,
        *,
        base_url: str | URL | None = None,
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
        default_headers: Mapping[str, str] | None = None,
    ) -> None:
        configure_logging()
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
        check_option("max_connections", max_connections, integer_at_least(1))
        policy = _retry_policy(retry_policy, max_retries, RetryPolicy())
        unit = _business_unit(business_unit_id)
        url = _base_url(base_url, allow_insecure_http)
        headers = (
            NO_EXTRAS
            if default_headers is None
            else check_headers(default_headers, "default_headers")
        )
        tokens = TokenSource(_token(token))
        if limits is None:
            limits = LocalLimits(
                max_requests_per_second=max_requests_per_second, retry_budget=retry_budget
            )
        # Hooks first: their request event fires before the attempt's span is current, so
        # that a hook's own HTTP calls are traced as usual.
        telemetry = Telemetry.of(
            HooksObserver.of(hooks),
            OtelObserver.of(
                tracer_provider=tracer_provider, meter_provider=meter_provider, budget=limits.budget
            ),
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
            default_headers=headers,
        )
        self._attach(self._core, ())

    def _attach(self, core: ClientCore, ancestors: tuple[weakref.WeakSet[ClientCore], ...]) -> None:
        """Give the client its core, its resources and its place among derived clients."""
        self._core = core
        # The cores of the clients derived from this one (and from those): closed with it.
        # Weak: a derived client nobody holds (and no call uses) needs no closing.
        self._derived: weakref.WeakSet[ClientCore] = weakref.WeakSet()
        self._ancestors = (self._derived, *ancestors)
        for family in ancestors:
            family.add(core)
        self.products = Products(core)
        self.feature_sets = FeatureSets(core)
        self.orders = Orders(core)
        self.order_items = OrderItems(core)

    def with_options(
        self,
        *,
        business_unit_id: UUID | str | None = None,
        timeout: float | Timeout | None = None,
        max_retries: int | None = None,
        retry_policy: RetryPolicy | None = None,
        default_headers: Mapping[str, str] | None = None,
    ) -> GoDeployClient:
        """A client with some settings changed that shares this one's connections.

        The derived client uses this client's transport (its connection pool), its limits
        (rate limit, 429 pause, retry budget), its token and its telemetry; what is not given
        stays as this client has it::

            patient = client.with_options(timeout=300, max_retries=8)
            other_unit = client.with_options(business_unit_id=other_id)

        Closing the derived client leaves this one open; closing this one ends both (a call on
        the derived client then raises `ClientClosedError`). A derived client owns nothing, so
        one that is never closed does not warn.

        Args:
            business_unit_id: the default business unit of its calls.
            timeout: seconds, or a `Timeout`.
            max_retries: retries of a failed GET (applied to `retry_policy` or this client's).
            retry_policy: the whole retry policy.
            default_headers: headers added to every request, on top of this client's.

        Returns:
            The derived client.

        Raises:
            RequestValidationError: a bad option.
            ClientClosedError: this client is closed.
        """
        parent = self._core
        if parent.closed:
            raise ClientClosedError("the client is closed: derive from an open one")
        headers = parent.default_headers
        if default_headers is not None:
            headers = merge_headers(headers, check_headers(default_headers, "default_headers"))
        core = ClientCore(
            transport=parent.transport,
            base_url=parent.base_url,
            token=parent.token,
            business_unit_id=parent.business_unit_id
            if business_unit_id is None
            else _business_unit(business_unit_id),
            timeout=coerce_timeout(timeout, parent.timeout),
            retry_policy=_retry_policy(retry_policy, max_retries, parent.retry_policy),
            limits=parent.limits,
            user_agent=parent.user_agent,
            telemetry=parent.telemetry,
            default_headers=headers,
        )
        derived = object.__new__(GoDeployClient)
        derived._owns_transport = False
        derived._transport = self._transport
        derived._attach(core, self._ancestors)
        return derived

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
        for derived in list(self._derived):
            derived.close()
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


def _token(token: TokenProvider | None) -> TokenProvider:
    """The token given, else `GODEPLOY_TOKEN`'s, else a refusal naming both."""
    if token is not None:
        return token
    value = from_environment(TOKEN_VARIABLE)
    if value is None:
        raise RequestValidationError(
            f"no token: pass token= or set {TOKEN_VARIABLE}", {"token": ["required"]}
        )
    return check_token(value, source=TOKEN_VARIABLE)


def _business_unit(value: UUID | str | None) -> str | None:
    """The business unit given, else `GODEPLOY_BUSINESS_UNIT_ID`'s (None: each call says)."""
    if value is not None:
        return check_business_unit_id(value)
    variable = from_environment(BUSINESS_UNIT_VARIABLE)
    if variable is None:
        return None
    try:
        return check_business_unit_id(variable.strip())
    except RequestValidationError:
        raise RequestValidationError(
            f"{BUSINESS_UNIT_VARIABLE} must be a UUID, got {variable!r}",
            {BUSINESS_UNIT_VARIABLE: ["must be a UUID"]},
        ) from None


def _base_url(value: str | URL | None, allow_insecure_http: bool) -> URL:
    """The base URL given, else `GODEPLOY_BASE_URL`'s, else the API's, checked."""
    if value is not None:
        return check_base_url(value, allow_insecure_http=allow_insecure_http)
    variable = from_environment(BASE_URL_VARIABLE)
    if variable is None:
        return check_base_url(DEFAULT_BASE_URL, allow_insecure_http=allow_insecure_http)
    try:
        return check_base_url(variable.strip(), allow_insecure_http=allow_insecure_http)
    except RequestValidationError as error:
        raise RequestValidationError(
            f"{BASE_URL_VARIABLE}: {error}", {BASE_URL_VARIABLE: [str(error)]}
        ) from None


def _retry_policy(
    retry_policy: RetryPolicy | None, max_retries: int | None, default: RetryPolicy
) -> RetryPolicy:
    """The retry policy of a client: `retry_policy` (else `default`) with `max_retries` set."""
    check_option("retry_policy", retry_policy, optional(instance_of(RetryPolicy)))
    check_option("max_retries", max_retries, optional(integer_at_least(0)))
    return with_max_retries(retry_policy or default, max_retries)
